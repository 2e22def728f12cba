"""The kiosk's configuration: one validated schema, from a TOML file and the environment.

Every key has a type, limits, a default and a description (dataclasses on :mod:`kiosk.schema`). The environment
overrides the file (``BORNE_KIOSK_BROKER__PASSWORD=...``: the prefix, then the keys joined by ``__``), so secrets
need not live in the file; command-line options override both. Secrets are :class:`SecretStr`: they print as
``**********`` and :func:`redacted` is what gets logged.

No pydantic here, nor pydantic-settings: they would add about 11 MB and 3 MB to a kiosk's resident memory, against
budgets of 150 MB (touch) and 60 MB (GPIO). The collector keeps them.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiosk.schema import ConfigInvalid, SecretStr, Section, build, describe, dump, setting
from protocol.checks import KIOSK_ID_RE, Invalid, broker_address, matching, opening_hours
from protocol.wire import DEFAULT_QUESTION

_LOG = logging.getLogger(__name__)

__all__ = ["ConfigInvalid", "KioskConfig", "SecretStr", "load_config", "redacted"]

MIN_WINDOW, MAX_WINDOW = (320, 240), (7680, 4320)


def _distinct(pins: list[int]) -> list[int]:
    if len(set(pins)) != len(pins):
        raise ValueError("a pin is used by two buttons")
    return pins


def _addresses(addresses: list[str]) -> list[str]:
    for address in addresses:
        broker_address(address, 1883)  # raises Invalid, a ValueError, with the reason
    return addresses


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


def _window(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if not (MIN_WINDOW[0] <= width <= MAX_WINDOW[0] and MIN_WINDOW[1] <= height <= MAX_WINDOW[1]):
        raise ValueError(f"{width}x{height} is not between {MIN_WINDOW[0]}x{MIN_WINDOW[1]} and "
                         f"{MAX_WINDOW[0]}x{MAX_WINDOW[1]}")
    return size


def _kiosk_id(kiosk_id: str) -> str:
    try:
        return matching(kiosk_id, KIOSK_ID_RE)
    except Invalid:
        raise ValueError(f"{kiosk_id!r} is not a kiosk id: lower-case letters, digits and dashes, "
                         "2 to 63 of them") from None


@dataclass(kw_only=True)
class BrokerConfig(Section):
    host: str = setting("127.0.0.1", "The MQTT broker's host name.")
    port: int = setting(1883, "The broker's port (8883 with TLS).", ge=1, le=65535)
    username: str | None = setting(None, "This kiosk's own MQTT user name.")
    password: SecretStr | None = setting(None, "This kiosk's own MQTT password.")
    tls: bool = setting(False, "Connect with TLS.")
    ca_file: Path | None = setting(None, "CA certificate to check the broker with (TLS).")
    keepalive_s: int = setting(30, "MQTT keep-alive.", ge=5, le=600)
    reconnect_min_s: float = setting(1.0, "First reconnect delay.", gt=0, le=60)
    reconnect_max_s: float = setting(60.0, "Largest reconnect delay (backoff).", gt=0, le=3600)
    others: list[str] = setting(
        description="More brokers of the same service, 'host' or 'host:port' (port: as above), tried in turn when "
        "the one in use is unreachable; the same account, TLS and CA on each.",
        factory=list, max_items=8, check=_addresses,
    )
    failover_after_s: float = setting(
        15.0, "Unreachable this long: the next broker is tried (with others set).", gt=0, le=3600
    )
    prefer_first_after_s: float = setting(
        600.0, "Connected this long to another broker: the first one (host, port) is tried again.", gt=0, le=86400
    )

    def addresses(self) -> list[tuple[str, int]]:
        """Every broker as (host, port): the preferred one (``host``, ``port``) first, then ``others``."""
        return [(self.host, self.port), *(broker_address(a, self.port) for a in self.others)]


@dataclass(kw_only=True)
class PanelConfig(Section):
    buttons: list[int] = setting(
        description="BCM pins of the answer buttons, least satisfied first.",
        factory=lambda: [5, 6, 13, 19], min_items=2, max_items=5, check=_distinct,
    )
    thanks_led: int | None = setting(26, "BCM pin of the thank-you LED.")
    status_led: int | None = setting(None, "BCM pin of the status LED (lit while offline).")
    pull_up: bool = setting(True, "Buttons wired to ground, with the internal pull-up.")


@dataclass(kw_only=True)
class VotingConfig(Section):
    scale: int = setting(4, "Answers offered: 2 (Oui/Non) to 5.", ge=2, le=5)
    question: str = setting(DEFAULT_QUESTION, "Id of the question asked.")
    repeat_interval_s: float = setting(
        3.0, "Presses this soon after a counted vote are flagged as misuse.", ge=0, le=600
    )
    followup: bool = setting(True, "Ask « Votre demande a-t-elle été traitée ? » after an answer.")
    followup_timeout_s: float = setting(6.0, "Follow-up skipped after this long.", gt=0, le=60)
    thanks_s: float = setting(2.5, "How long « Merci ! » stays on screen.", gt=0, le=30)
    language: Literal["fr", "en", "es", "de"] = setting("fr", "Language shown first.")
    opening_hours: dict[str, str] = setting(
        description="Per weekday (mon..sun), 'HH:MM-HH:MM' ranges separated by commas; empty = always open.",
        factory=dict, check=opening_hours,
    )
    timezone: str = setting("Europe/Paris", "IANA time zone the opening hours are in.", check=_zone)


@dataclass(kw_only=True)
class TouchConfig(Section):
    input: Literal["mouse", "mtdev", "hidinput"] = setting(
        "mouse",
        "The one input provider Kivy listens to: 'mouse' (SDL's events, under a desktop or KMS), "
        "or the kernel device through 'mtdev' or 'hidinput'. Never two: one touch would count twice.",
    )
    device: str | None = setting(
        None, "/dev/input/eventN for mtdev/hidinput; default: probe sysfs for the touchscreen."
    )
    input_options: str = setting(
        "", "Extra provider options, e.g. 'invert_y=1,rotation=90' (hidinput) for calibration."
    )
    fullscreen: bool = setting(True, "Full screen, no window decorations.")
    window: tuple[int, int] = setting(
        (800, 480),
        "Width and height of the window when not full screen (a trial on a desktop); "
        "800x480 is the official Raspberry Pi 7-inch display.",
        check=_window,
    )
    show_cursor: bool = setting(False, "Show the mouse cursor (off on a kiosk).")
    rotation: Literal[0, 90, 180, 270] = setting(0, "Rotate the interface (screen mounted turned).")
    backlight_off_asleep: bool = setting(
        True, "Turn the screen's backlight off while the kiosk sleeps outside opening hours (sysfs bl_power)."
    )
    backlight_dir: str = setting(
        "/sys/class/backlight", "Where the kernel lists the screen's backlights (one folder each, with bl_power)."
    )
    language_reset_s: float = setting(
        60.0, "Back to the default language after this long without a touch.", gt=0, le=3600
    )


@dataclass(kw_only=True)
class UplinkConfig(Section):
    batch_max: int = setting(100, "Votes per message at most.", ge=1, le=500)
    inflight_max: int = setting(8, "Messages awaiting a PUBACK at most.", ge=1, le=100)
    confirm_timeout_s: float = setting(
        60.0, "A sent vote without the collector's receipt after this is sent again.", gt=0, le=86400
    )
    heartbeat_s: float = setting(60.0, "Telemetry period.", ge=1, le=3600)
    clock_grace_s: float = setting(
        0.0, "While the clock is unsynced, hold this boot's new votes up to this long for NTP (field: 120).",
        ge=0, le=3600,
    )
    drain_rate: float = setting(
        500.0, "Votes per second at most when draining a backlog, not to flood the broker.", gt=0
    )


@dataclass(kw_only=True)
class StorageConfig(Section):
    retention_days: float = setting(30.0, "Confirmed votes are kept this long, then pruned.", gt=0)
    max_votes: int = setting(2_000_000, "The outbox never holds more than this.", ge=1000)


@dataclass(kw_only=True)
class UpdateConfig(Section):
    url: str | None = setting(
        None, "The collector's API as kiosks reach it (https://...), to fetch releases from; none: no updates."
    )
    public_key: str | None = setting(
        None, "The programme's Ed25519 release key (base64): only releases it signed are installed."
    )
    root: Path | None = setting(None, "Where releases are installed (A/B); default: data_dir/releases.")
    ca_file: Path | None = setting(
        None, "CA certificate to check the collector's HTTPS with, and no other; default: the system's CAs and "
        "broker.ca_file."
    )
    confirm_s: float = setting(
        120.0, "A new release must be connected, send a heartbeat and get a receipt within this, or it is "
        "switched back.", gt=0, le=3600,
    )
    timeout_s: float = setting(30.0, "Network timeout of one request while fetching a release.", gt=0, le=600)


ENV_PREFIX = "BORNE_KIOSK_"


@dataclass(kw_only=True)
class KioskConfig(Section):
    """A kiosk's whole configuration. Sections may be given as tables: ``KioskConfig.of(kiosk_id="k-1",
    broker={"port": 1884})``."""

    kiosk_id: str = setting(description="This kiosk's id, as registered with the collector.", check=_kiosk_id)
    data_dir: Path = setting(Path("/var/lib/borne"), "Where the outbox lives (a writable partition).")
    ui: Literal["gpio", "touch"] = setting("gpio", "Physical buttons, or the touchscreen.")
    broker: BrokerConfig = setting(description="The MQTT broker.", factory=BrokerConfig)
    panel: PanelConfig = setting(description="The GPIO kiosk's buttons and LEDs.", factory=PanelConfig)
    voting: VotingConfig = setting(description="The question and its answers.", factory=VotingConfig)
    touch: TouchConfig = setting(description="The touchscreen kiosk's window and input.", factory=TouchConfig)
    uplink: UplinkConfig = setting(description="Sending votes and heartbeats.", factory=UplinkConfig)
    storage: StorageConfig = setting(description="The outbox on disk.", factory=StorageConfig)
    update: UpdateConfig = setting(description="Software updates (signed releases).", factory=UpdateConfig)

    def check(self) -> None:
        if self.ui == "gpio" and len(self.panel.buttons) != self.voting.scale:
            raise ValueError(
                f"voting.scale is {self.voting.scale} but panel.buttons has {len(self.panel.buttons)} pins"
            )

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def releases_root(self) -> Path:
        return self.update.root or self.data_dir / "releases"


_KEYS = frozenset(f.name for f in fields(KioskConfig))


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``BORNE_KIOSK_BROKER__PORT=1884`` -> ``{"broker": {"port": "1884"}}``; values in ``[...]`` or ``{...}`` are
    JSON. Variables whose first key is not a configuration key are left alone (``BORNE_KIOSK_MQTT_HOST`` is the
    collector's)."""
    data: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = name[len(ENV_PREFIX):].lower().split("__")
        if keys[0] not in _KEYS or not all(keys):
            continue
        parsed: Any = value
        if value[:1] in "[{":
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ConfigInvalid(f"{name}: not valid JSON") from None
        node = data
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigInvalid(f"{name}: {key} is not a section")
            node = child
        node[keys[-1]] = parsed
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_config(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None, **overrides: Any
) -> KioskConfig:
    """Read ``path`` (TOML), then the environment over it, then ``overrides`` (command-line options) over both;
    raise :class:`ConfigInvalid` saying what is wrong."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigInvalid(f"{path}: no such file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigInvalid(f"{path}: not valid TOML: {exc}") from None
    data = _merge(_merge(data, from_environment(os.environ if environ is None else environ)), overrides)
    try:
        return build(KioskConfig, data)
    except ConfigInvalid as exc:
        raise ConfigInvalid(f"{path or 'configuration'}: {describe(exc.problems)}", exc.problems) from None


def redacted(config: KioskConfig) -> dict[str, Any]:
    """The configuration as it may be logged: secrets masked."""
    return dump(config)
