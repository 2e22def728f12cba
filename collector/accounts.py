"""Kiosks' broker accounts: each kiosk its own MQTT user, allowed only its own topics.

The collector makes a kiosk's password (32 random bytes, :func:`new_secret`), returns it once, and keeps only
its hash (``kiosks.secret_hash``, see :func:`hash_secret`). The broker is told through a :class:`BrokerAccounts`:

- :class:`DynsecAccounts`, for Mosquitto: its dynamic security plugin, driven over MQTT through
  ``$CONTROL/dynamic-security/v1`` by an admin client. Changes apply at once, without a reload, from any host
  that reaches the broker, and deleting or disabling a client disconnects it. Password and ACL files would need
  the collector on the broker's host, allowed to signal it, and a reload that re-reads every account.
- :class:`FileAccounts`, for the embedded broker (:mod:`collector.broker_auth`): a JSON file the collector
  rewrites atomically and the broker re-reads when it changes, holding the same hashes as the database.

Either way a kiosk ``<id>`` (user name ``<id>``) may publish only under ``fs/v1/kiosks/<id>/`` and subscribe
only to its ``receipts`` and ``config``; a collector account may read every kiosk topic and write receipts
and configurations.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocol.topics import ROOT, TopicKind, kiosk_topic, valid_kiosk_id

_LOG = logging.getLogger(__name__)

_HASHER = PasswordHasher()
SHA256_PREFIX = "sha256$"
DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
COLLECTOR_ROLE = "borne-collector"


class AccountsError(RuntimeError):
    """The broker refused or did not answer an account change; the message says which and why."""


def new_secret() -> str:
    """A kiosk's MQTT password: 32 random bytes, URL-safe (it goes in a TOML file and an env variable)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """``sha256$<hex>``: a kiosk's secret is 32 random bytes, which no dictionary or brute force reaches, so a
    slow KDF adds nothing but cost, and the broker checks every kiosk again after a restart (``bench/``:
    argon2 ~100 ms a check here, 5,000 kiosks = minutes of a blocked broker). Argon2 hashes, for passwords
    people chose, are still accepted by :func:`verify_secret` and the embedded broker."""
    return SHA256_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    if not secret_hash:
        return False
    if secret_hash.startswith(SHA256_PREFIX):
        return hmac.compare_digest(secret_hash, hash_secret(secret))
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Grants:
    """What one account may do: topic filters it may publish to and subscribe to."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def kiosk_grants(kiosk_id: str) -> Grants:
    """A kiosk publishes under its own prefix only, and reads only its receipts and its configuration."""
    if not valid_kiosk_id(kiosk_id):
        raise ValueError(f"invalid kiosk id {kiosk_id!r}")
    return Grants(
        publish=(f"{ROOT}/kiosks/{kiosk_id}/#",),
        subscribe=(kiosk_topic(kiosk_id, TopicKind.RECEIPTS), kiosk_topic(kiosk_id, TopicKind.CONFIG)),
    )


def collector_grants() -> Grants:
    return Grants(
        publish=(f"{ROOT}/kiosks/+/{TopicKind.RECEIPTS.value}", f"{ROOT}/kiosks/+/{TopicKind.CONFIG.value}"),
        # Mosquitto checks a shared subscription's ACL with its ``$share/<group>/`` prefix.
        subscribe=(f"{ROOT}/kiosks/#", f"$share/+/{ROOT}/kiosks/#"),
    )


class BrokerAccounts(Protocol):
    """What the collector needs from a broker to manage kiosks' accounts."""

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        """Create (or replace) the account of ``kiosk_id``."""

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        """New password; the old one stops working, and a session opened with it is closed."""

    def remove(self, kiosk_id: str) -> None:
        """Delete the account and close its session; removing an unknown account is not an error."""


class NoAccounts:
    """A broker whose accounts the collector does not manage (anonymous, or managed by hand)."""

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        _LOG.warning("broker accounts are not managed (BORNE_MQTT_ACCOUNTS=none): kiosk %s has none", kiosk_id)

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        self.create(kiosk_id, secret, secret_hash)

    def remove(self, kiosk_id: str) -> None:
        _LOG.warning("broker accounts are not managed: kiosk %s keeps whatever access it had", kiosk_id)


# -- Mosquitto's dynamic security plugin ---------------------------------------------------------------------


def _role(kiosk_id: str) -> str:
    return f"kiosk-{kiosk_id}"


def _acls(grants: Grants) -> list[dict[str, Any]]:
    acls: list[dict[str, Any]] = [{"acltype": "publishClientSend", "topic": t, "allow": True}
                                  for t in grants.publish]
    acls += [{"acltype": "subscribePattern", "topic": t, "allow": True} for t in grants.subscribe]
    return acls


class DynsecAccounts:
    """Mosquitto's accounts through the dynamic security plugin's MQTT API, as its admin user.

    Each call connects, sends its commands in one message, waits for the answers and disconnects: accounts
    change a few times a day, and a held connection would be one more thing to keep alive.
    """

    def __init__(self, host: str, port: int, username: str, password: str, *, tls: bool = False,
                 ca_file: Path | None = None, timeout: float = 10.0) -> None:
        self.host, self.port = host, port
        self.username, self._password = username, password
        self.tls, self.ca_file, self.timeout = tls, ca_file, timeout

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        grants = kiosk_grants(kiosk_id)
        # Idempotent: whatever an earlier, half-done attempt left is replaced.
        self.execute([{"command": "deleteClient", "username": kiosk_id},
                      {"command": "deleteRole", "rolename": _role(kiosk_id)}], tolerate=("not found",))
        self.execute([
            {"command": "createRole", "rolename": _role(kiosk_id), "acls": _acls(grants)},
            {"command": "createClient", "username": kiosk_id, "password": secret,
             "roles": [{"rolename": _role(kiosk_id)}]},
        ])
        _LOG.info("mosquitto account of kiosk %s created", kiosk_id)

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        # Disabling a client disconnects it: a session opened with the old password does not outlive it.
        self.execute([
            {"command": "setClientPassword", "username": kiosk_id, "password": secret},
            {"command": "disableClient", "username": kiosk_id},
            {"command": "enableClient", "username": kiosk_id},
        ])
        _LOG.info("mosquitto password of kiosk %s replaced", kiosk_id)

    def remove(self, kiosk_id: str) -> None:
        self.execute([{"command": "deleteClient", "username": kiosk_id},
                      {"command": "deleteRole", "rolename": _role(kiosk_id)}], tolerate=("not found",))
        _LOG.info("mosquitto account of kiosk %s removed", kiosk_id)

    def ensure_collector(self, username: str, password: str) -> None:
        """Create or update the collector's own account (reads every kiosk topic, writes receipts/config)."""
        self.execute([{"command": "deleteRole", "rolename": COLLECTOR_ROLE},
                      {"command": "deleteClient", "username": username}], tolerate=("not found",))
        self.execute([
            {"command": "createRole", "rolename": COLLECTOR_ROLE, "acls": _acls(collector_grants())},
            {"command": "createClient", "username": username, "password": password,
             "roles": [{"rolename": COLLECTOR_ROLE}]},
        ])

    def execute(self, commands: list[dict[str, Any]], *, tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Send ``commands``; raise :class:`AccountsError` on an error not containing one of ``tolerate``."""
        responses = self._send(commands)
        for response in responses:
            error = response.get("error")
            if error and not any(t in str(error).lower() for t in tolerate):
                raise AccountsError(f"mosquitto refused {response.get('command')}: {error}")
        return responses

    def _send(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        done = threading.Event()
        connected = threading.Event()
        answer: dict[str, Any] = {}
        refused: list[str] = []
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"borne-accounts-{uuid.uuid4().hex[:12]}",
                             protocol=mqtt.MQTTv311)
        client.username_pw_set(self.username, self._password)
        if self.tls:
            client.tls_set(ca_certs=str(self.ca_file) if self.ca_file else None)

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: Any, props: object) -> None:
            if getattr(reason, "is_failure", False):
                refused.append(str(reason))
                done.set()
                return
            c.subscribe(f"{DYNSEC_TOPIC}/response", qos=1)

        def on_subscribe(c: mqtt.Client, userdata: object, mid: int, reasons: Any, props: object) -> None:
            if any(getattr(r, "is_failure", False) for r in reasons):
                refused.append("not allowed to read the dynamic security responses")
                done.set()
                return
            connected.set()
            c.publish(DYNSEC_TOPIC, json.dumps({"commands": commands}), qos=1)

        def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            try:
                answer.update(json.loads(message.payload))
            except ValueError:
                return
            done.set()

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise AccountsError(f"cannot reach the broker at {self.host}:{self.port}: {exc}") from None
        client.loop_start()
        try:
            if not done.wait(self.timeout):
                what = "answer" if connected.is_set() else "accept the admin connection"
                raise AccountsError(f"mosquitto at {self.host}:{self.port} did not {what} in {self.timeout:.0f}s"
                                    " (is the dynamic security plugin loaded?)")
        finally:
            client.disconnect()
            client.loop_stop()
        if refused:
            raise AccountsError(f"mosquitto refused the accounts admin {self.username!r}: {refused[0]}")
        responses: list[dict[str, Any]] = answer.get("responses", [])
        return responses


# -- the embedded broker: a file --------------------------------------------------------------------------


class FileAccounts:
    """The embedded broker's accounts, in a JSON file rewritten atomically at each change.

    ``{"v": 1, "users": {"<name>": {"hash": "sha256$...", "publish": [...], "subscribe": [...]}}}``. The broker
    re-reads it when its modification time changes (:mod:`collector.broker_auth`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        users: dict[str, dict[str, Any]] = data.get("users", {})
        return users

    def _write(self, users: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"v": 1, "written_at": time.time(), "users": users}, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def put(self, username: str, secret_hash: str, grants: Grants) -> None:
        with self._lock:
            users = self.read()
            users[username] = {"hash": secret_hash, "publish": list(grants.publish),
                               "subscribe": list(grants.subscribe)}
            self._write(users)

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        self.put(kiosk_id, secret_hash, kiosk_grants(kiosk_id))
        _LOG.info("embedded broker account of kiosk %s written", kiosk_id)

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        self.create(kiosk_id, secret, secret_hash)

    def remove(self, kiosk_id: str) -> None:
        with self._lock:
            users = self.read()
            if users.pop(kiosk_id, None) is not None:
                self._write(users)
        _LOG.info("embedded broker account of kiosk %s removed", kiosk_id)

    def ensure_collector(self, username: str, password: str) -> None:
        self.put(username, hash_secret(password), collector_grants())

    def sync(self, kiosks: dict[str, str | None]) -> None:
        """Make the file's kiosk accounts those of ``kiosks`` (id -> secret hash, None when revoked)."""
        with self._lock:
            users = {name: u for name, u in self.read().items() if u.get("publish") == list(
                collector_grants().publish)}
            for kiosk_id, secret_hash in kiosks.items():
                if secret_hash:
                    grants = kiosk_grants(kiosk_id)
                    users[kiosk_id] = {"hash": secret_hash, "publish": list(grants.publish),
                                       "subscribe": list(grants.subscribe)}
            self._write(users)


# -- wiring -------------------------------------------------------------------------------------------------

ACCOUNTS_FILE = "broker-accounts.json"
EMBEDDED_COLLECTOR_USER = "borne-collector"


def accounts_for(settings: Any) -> BrokerAccounts:
    """The accounts backend ``settings`` (a :class:`collector.config.Settings`) asks for.

    For the embedded broker this also makes the collector's own account, with a new random password for this
    run, and sets it in ``settings`` for the ingest to connect with.
    """
    if settings.mqtt_accounts == "dynsec":
        if not settings.mqtt_admin_username or settings.mqtt_admin_password is None:
            raise AccountsError("BORNE_MQTT_ACCOUNTS=dynsec needs BORNE_MQTT_ADMIN_USERNAME and "
                                "BORNE_MQTT_ADMIN_PASSWORD (the dynamic security admin)")
        return DynsecAccounts(settings.mqtt_host, settings.mqtt_port, settings.mqtt_admin_username,
                              settings.mqtt_admin_password.get_secret_value(), tls=settings.mqtt_tls,
                              ca_file=settings.mqtt_ca_file)
    if settings.mqtt_accounts == "embedded":
        from pydantic import SecretStr

        accounts = FileAccounts(settings.data_dir / ACCOUNTS_FILE)
        password = new_secret()
        accounts.ensure_collector(EMBEDDED_COLLECTOR_USER, password)
        settings.mqtt_username, settings.mqtt_password = EMBEDDED_COLLECTOR_USER, SecretStr(password)
        return accounts
    return NoAccounts()


def sync_file_accounts(accounts: BrokerAccounts, engine: Any) -> None:
    """Rebuild the embedded broker's kiosk accounts from the database (the file may be lost, the hashes not)."""
    if not isinstance(accounts, FileAccounts):
        return
    from sqlalchemy import select

    from collector.db.engine import session_factory
    from collector.db.models import Kiosk

    with session_factory(engine)() as session:
        rows = session.execute(select(Kiosk.id, Kiosk.secret_hash, Kiosk.revoked_at)).all()
    accounts.sync({kiosk_id: (None if revoked else secret_hash) for kiosk_id, secret_hash, revoked in rows})


def kiosk_broker(settings: Any) -> dict[str, Any]:
    """Where kiosks reach the broker, as the provisioning API reports it (CA certificate included for TLS)."""
    tls = settings.mqtt_tls if settings.kiosk_mqtt_tls is None else settings.kiosk_mqtt_tls
    ca_pem = None
    if tls and settings.mqtt_ca_file:
        try:
            ca_pem = Path(settings.mqtt_ca_file).read_text(encoding="ascii")
        except OSError as exc:
            _LOG.error("cannot read the broker's CA certificate %s: %s", settings.mqtt_ca_file, exc)
    return {"host": settings.kiosk_mqtt_host or settings.mqtt_host,
            "port": settings.kiosk_mqtt_port or settings.mqtt_port, "tls": bool(tls), "ca_pem": ca_pem}
