"""The collector's settings: one ``Settings`` object, from the environment (``BORNE_...``) and arguments.

With nothing set, the collector runs on embedded defaults: an SQLite file in the data folder, an embedded
broker on 127.0.0.1, the API on 127.0.0.1:8000.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.checks import broker_address

_LOG = logging.getLogger(__name__)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BORNE_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("./borne-data"), description="Where the SQLite file and broker data live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql+psycopg://...); default: SQLite in data_dir. A primary and its "
        "synchronous standby: both hosts and target_session_attrs=read-write (postgresql+psycopg://u@db1:5432,"
        "db2:5432/borne?target_session_attrs=read-write): the primary is found after a failover "
        "(docs/deployment.md)."
    )
    database_connect_timeout_s: float = Field(
        5.0, gt=0, le=600, description="PostgreSQL: how long opening a connection may take before it fails."
    )
    database_statement_timeout_s: float = Field(
        60.0, ge=0, le=86400, description="PostgreSQL: a statement running longer is cancelled; 0: no limit."
    )

    mqtt_host: str = Field("127.0.0.1", description="The broker's host.")
    mqtt_port: int = Field(1883, ge=1, le=65535)
    mqtt_more_brokers: str = Field(
        "", description="More brokers of the same service (active-active), 'host:port' separated by commas: the "
        "ingest subscribes on each, with the same account, TLS and CA, and a receipt goes back on the broker its "
        "votes came through; dynsec accounts are made on each (docs/deployment.md).",
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_publisher_username: str | None = Field(
        None, description="The account that publishes kiosks' retained configuration and desired release (the API's "
        "rollout buttons, 'fleet', 'kiosks config'); default: mqtt_username, or on the embedded broker its own "
        "publisher (data_dir/broker-publisher.secret). 'borne provision broker collector-account' makes one.")
    mqtt_publisher_password: SecretStr | None = None
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = None
    mqtt_protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT 5 (Mosquitto, embedded or not) or 3.1.1.")
    mqtt_client_id: str = Field(
        default_factory=lambda: f"borne-collector-{socket.gethostname()}"[:64],
        description="Fixed, so that the broker keeps this collector's session while it restarts.",
    )
    mqtt_session_expiry_s: int = Field(7 * 24 * 3600, ge=0, description="How long the broker keeps our session.")
    mqtt_share_group: str | None = Field(
        "borne", description="Shared-subscription group ($share/<group>/...); empty to subscribe plainly."
    )
    mqtt_receive_maximum: int = Field(1000, ge=1, le=65535, description="Unacknowledged messages in flight.")

    embedded_broker: bool = Field(False, description="Start the embedded broker on mqtt_host:mqtt_port.")
    mqtt_worker_accounts: bool = Field(
        False, description="Each ingest worker logs in as '<mqtt_username>-<n>', an account bound to its client id "
        "('borne provision broker collector-account --client-id ... --workers N'); the embedded broker always does.",
    )

    # Kiosks' broker accounts (collector/broker/accounts.py).
    mqtt_accounts: Literal["none", "dynsec", "embedded"] = Field(
        "none", description="Who keeps kiosks' MQTT accounts: nobody, a national Mosquitto's dynamic security "
        "plugin, or the embedded broker's (the Mosquitto the collector starts, data_dir/broker/).",
    )
    mqtt_admin_username: str | None = Field(None, description="Mosquitto dynamic security admin (dynsec).")
    mqtt_admin_password: SecretStr | None = None
    kiosk_mqtt_host: str | None = Field(None, description="The broker's address as kiosks reach it.")
    kiosk_mqtt_port: int | None = Field(None, ge=1, le=65535, description="Its port for kiosks (8883 with TLS).")
    kiosk_mqtt_tls: bool | None = Field(None, description="Kiosks connect with TLS (default: as mqtt_tls).")
    kiosk_mqtt_more_brokers: str | None = Field(
        None, description="The other brokers as kiosks reach them, 'host:port' separated by commas, in kiosks' "
        "order of preference after the first (default: mqtt_more_brokers).",
    )

    release_public_key: str | None = Field(
        None, description="The programme's Ed25519 release key (base64): 'fleet add' refuses a release it did not "
        "sign. Kiosks check it themselves whatever this says.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=0, le=65535)

    alerts_interval_s: float = Field(60.0, ge=0, description="How often alert rules are evaluated; 0: never.")

    ingest_max_messages: int = Field(
        1000, ge=1,
        description="Messages grouped in one transaction at most: fewer, larger commits (one-vote messages: "
        "+25 % from 500 to 1000, bench/ingest.py).",
    )
    ingest_linger_ms: float = Field(5.0, ge=0, description="How long to wait for more messages to group.")
    ingest_workers: int = Field(
        1, ge=1, le=64,
        description="Ingest processes, each its own session in the share group (collector/ingest/workers.py): one per "
        "core on a machine of several. More than 1 needs an MQTT 5 broker with shared subscriptions.",
    )

    # The store's trust boundary: a stalled ingest shows, rejects are bounded per kiosk (docs/reliability.md).
    ingest_stall_after_s: float = Field(
        60.0, gt=0, description="Messages waiting this long without a group stored: /healthz says 'stalled' (503).",
    )
    rejects_per_kiosk_per_minute: float = Field(
        60.0, ge=0,
        description="Rejects kept in the database per kiosk (and for messages of no kiosk) a minute, with as many "
        "in a burst; beyond, a reject is counted (borne_rejects_dropped_total) and logged, not stored, and its votes "
        "are not receipted (they stay on the kiosk, sent again later). 0: no limit.",
    )

    # Trust boundary: proxies, /metrics. Secrets (metrics_token) never logged.
    trusted_proxies: str = Field(
        "", description="Comma-separated addresses (or networks) of the reverse proxies whose X-Forwarded-For "
        "and X-Forwarded-Proto are believed; empty: none (the peer's address is the client's).",
    )
    metrics_token: SecretStr | None = Field(
        None, description="When set, /metrics needs 'Authorization: Bearer <it>' (Prometheus: authorization "
        "credentials). Unset: /metrics answers only while the API listens on loopback. Make it long and random.",
    )
    metrics_token_file: Path | None = Field(None, description="A file holding metrics_token (a secret mount).")

    @field_validator("mqtt_more_brokers", "kiosk_mqtt_more_brokers")
    @classmethod
    def _broker_list(cls, value: str | None) -> str | None:
        for address in _split(value or ""):
            broker_address(address, 1883)  # raises a ValueError naming the address
        return value

    @property
    def mqtt_brokers(self) -> list[tuple[str, int]]:
        """Every broker the ingest subscribes on, as (host, port): ``mqtt_host``:``mqtt_port`` first."""
        more = [broker_address(a, self.mqtt_port) for a in _split(self.mqtt_more_brokers)]
        return [(self.mqtt_host, self.mqtt_port), *(b for b in more if b != (self.mqtt_host, self.mqtt_port))]

    @property
    def effective_metrics_token(self) -> str | None:
        """The metrics token, from the setting or its file; None when neither is set."""
        if self.metrics_token is not None and self.metrics_token.get_secret_value():
            return self.metrics_token.get_secret_value()
        if self.metrics_token_file is not None:
            token = self.metrics_token_file.read_text(encoding="utf-8").strip()
            if not token:
                raise ValueError(f"{self.metrics_token_file} is empty: no metrics token")
            return token
        return None

    @property
    def api_on_loopback(self) -> bool:
        """Whether the API listens on this machine only."""
        import ipaddress

        if self.api_host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.api_host).is_loopback
        except ValueError:
            return False

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'borne.sqlite3').resolve()}"


def _split(addresses: str) -> list[str]:
    return [a.strip() for a in addresses.split(",") if a.strip()]
