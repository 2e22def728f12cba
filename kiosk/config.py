"""The kiosk's configuration: one validated schema, from a TOML file and the environment.

Every key has a type, limits, a default and a description. The environment overrides the file
(``BORNE_KIOSK_BROKER__PASSWORD=...``: the prefix, then the keys joined by ``__``), so secrets need not live in the
file. Secrets are ``SecretStr``: they print as ``**********`` and :func:`redacted` is what gets logged.

The environment is read here rather than by pydantic-settings, which would add about 3 MB to a kiosk's resident
memory (38 -> 35 MB for ``import kiosk.device``) against budgets of 150 MB (touch) and 60 MB (GPIO).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from protocol.models import DEFAULT_QUESTION, KioskId

_LOG = logging.getLogger(__name__)

_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_WINDOW, MAX_WINDOW = (320, 240), (7680, 4320)


class ConfigInvalid(ValueError):
    """The kiosk's configuration file or environment is not valid; the message says where."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrokerConfig(_Section):
    host: str = Field("127.0.0.1", description="The MQTT broker's host name.")
    port: int = Field(1883, ge=1, le=65535, description="The broker's port (8883 with TLS).")
    username: str | None = Field(None, description="This kiosk's own MQTT user name.")
    password: SecretStr | None = Field(None, description="This kiosk's own MQTT password.")
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: Path | None = Field(None, description="CA certificate to check the broker with (TLS).")
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keep-alive.")
    reconnect_min_s: float = Field(1.0, gt=0, le=60, description="First reconnect delay.")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600, description="Largest reconnect delay (backoff).")


class PanelConfig(_Section):
    buttons: list[int] = Field(
        [5, 6, 13, 19], min_length=2, max_length=5,
        description="BCM pins of the answer buttons, least satisfied first.",
    )
    thanks_led: int | None = Field(26, description="BCM pin of the thank-you LED.")
    status_led: int | None = Field(None, description="BCM pin of the status LED (lit while offline).")
    pull_up: bool = Field(True, description="Buttons wired to ground, with the internal pull-up.")

    @field_validator("buttons")
    @classmethod
    def _distinct(cls, pins: list[int]) -> list[int]:
        if len(set(pins)) != len(pins):
            raise ValueError("a pin is used by two buttons")
        return pins


class VotingConfig(_Section):
    scale: int = Field(4, ge=2, le=5, description="Answers offered: 2 (Oui/Non) to 5.")
    question: str = Field(DEFAULT_QUESTION, description="Id of the question asked.")
    repeat_interval_s: float = Field(
        3.0, ge=0, le=600, description="Presses this soon after a counted vote are flagged as misuse."
    )
    followup: bool = Field(True, description="Ask « Votre demande a-t-elle été traitée ? » after an answer.")
    followup_timeout_s: float = Field(6.0, gt=0, le=60, description="Follow-up skipped after this long.")
    thanks_s: float = Field(2.5, gt=0, le=30, description="How long « Merci ! » stays on screen.")
    language: Literal["fr", "en", "es", "de"] = Field("fr", description="Language shown first.")
    opening_hours: dict[str, str] = Field(
        default_factory=dict,
        description="Per weekday (mon..sun), 'HH:MM-HH:MM' ranges separated by commas; empty = always open.",
    )
    timezone: str = Field("Europe/Paris", description="IANA time zone the opening hours are in.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, hours: dict[str, str]) -> dict[str, str]:
        for day, spec in hours.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}: use {', '.join(WEEKDAYS)}")
            for part in filter(None, (p.strip() for p in spec.split(","))):
                if not _HOURS_RE.match(part):
                    raise ValueError(f"{day}: {part!r} is not HH:MM-HH:MM")
        return hours


class TouchConfig(_Section):
    input: Literal["mouse", "mtdev", "hidinput"] = Field(
        "mouse",
        description="The one input provider Kivy listens to: 'mouse' (SDL's events, under a desktop or KMS), "
        "or the kernel device through 'mtdev' or 'hidinput'. Never two: one touch would count twice.",
    )
    device: str | None = Field(
        None, description="/dev/input/eventN for mtdev/hidinput; default: probe sysfs for the touchscreen."
    )
    input_options: str = Field(
        "", description="Extra provider options, e.g. 'invert_y=1,rotation=90' (hidinput) for calibration."
    )
    fullscreen: bool = Field(True, description="Full screen, no window decorations.")
    window: tuple[int, int] = Field(
        (800, 480),
        description="Width and height of the window when not full screen (a trial on a desktop); "
        "800x480 is the official Raspberry Pi 7-inch display.",
    )
    show_cursor: bool = Field(False, description="Show the mouse cursor (off on a kiosk).")
    rotation: Literal[0, 90, 180, 270] = Field(0, description="Rotate the interface (screen mounted turned).")
    language_reset_s: float = Field(
        60.0, gt=0, le=3600, description="Back to the default language after this long without a touch."
    )


    @field_validator("window")
    @classmethod
    def _window(cls, size: tuple[int, int]) -> tuple[int, int]:
        width, height = size
        if not (MIN_WINDOW[0] <= width <= MAX_WINDOW[0] and MIN_WINDOW[1] <= height <= MAX_WINDOW[1]):
            raise ValueError(f"{width}x{height} is not between {MIN_WINDOW[0]}x{MIN_WINDOW[1]} and "
                             f"{MAX_WINDOW[0]}x{MAX_WINDOW[1]}")
        return size


class UplinkConfig(_Section):
    batch_max: int = Field(100, ge=1, le=500, description="Votes per message at most.")
    inflight_max: int = Field(8, ge=1, le=100, description="Messages awaiting a PUBACK at most.")
    confirm_timeout_s: float = Field(
        60.0, gt=0, le=86400, description="A sent vote without the collector's receipt after this is sent again."
    )
    heartbeat_s: float = Field(60.0, ge=1, le=3600, description="Telemetry period.")
    clock_grace_s: float = Field(
        0.0, ge=0, le=3600,
        description="While the clock is unsynced, hold this boot's new votes up to this long for NTP (field: 120).",
    )
    drain_rate: float = Field(
        500.0, gt=0, description="Votes per second at most when draining a backlog, not to flood the broker."
    )


class StorageConfig(_Section):
    retention_days: float = Field(30.0, gt=0, description="Confirmed votes are kept this long, then pruned.")
    max_votes: int = Field(2_000_000, ge=1000, description="The outbox never holds more than this.")


ENV_PREFIX = "BORNE_KIOSK_"


class KioskConfig(BaseModel):
    """A kiosk's whole configuration."""

    model_config = ConfigDict(extra="forbid")

    kiosk_id: KioskId = Field(description="This kiosk's id, as registered with the collector.")
    data_dir: Path = Field(Path("/var/lib/borne"), description="Where the outbox lives (a writable partition).")
    ui: Literal["gpio", "touch"] = Field("gpio", description="Physical buttons, or the touchscreen.")
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    panel: PanelConfig = Field(default_factory=PanelConfig)
    voting: VotingConfig = Field(default_factory=VotingConfig)
    touch: TouchConfig = Field(default_factory=TouchConfig)
    uplink: UplinkConfig = Field(default_factory=UplinkConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)

    @model_validator(mode="after")
    def _panel_fits_scale(self) -> KioskConfig:
        if self.ui == "gpio" and len(self.panel.buttons) != self.voting.scale:
            raise ValueError(
                f"voting.scale is {self.voting.scale} but panel.buttons has {len(self.panel.buttons)} pins"
            )
        return self

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / "outbox.sqlite3"


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``BORNE_KIOSK_BROKER__PORT=1884`` -> ``{"broker": {"port": "1884"}}``; values in ``[...]`` or ``{...}`` are
    JSON. Variables whose first key is not a configuration key are left alone (``BORNE_KIOSK_MQTT_HOST`` is the
    collector's)."""
    data: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = name[len(ENV_PREFIX):].lower().split("__")
        if keys[0] not in KioskConfig.model_fields or not all(keys):
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
        return KioskConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigInvalid(f"{path or 'configuration'}: {problems}") from None


def redacted(config: KioskConfig) -> dict[str, Any]:
    """The configuration as it may be logged: secrets masked."""
    return config.model_dump(mode="json")
