"""The kiosk's side of the contract, without pydantic: the messages a kiosk sends and the ones it reads back.

:mod:`protocol.models` is the contract's one definition (pydantic; the collector validates with it and the JSON
Schemas in ``protocol/schema/`` are exported from it). A kiosk does not import it: pydantic and its core would
cost a touch kiosk about 11 MB of its 150 MB. This module says the same in frozen dataclasses and plain
functions:

- what a kiosk *encodes* (:class:`Vote` with its :class:`FollowUp`, :class:`StatusMessage`, :class:`Telemetry`,
  :class:`SelfTestReport`) is checked when built and written as the compact JSON pydantic writes (``v`` first,
  ``None`` left out, times as ISO 8601 with ``Z`` for UTC);
- what a kiosk *decodes* (:func:`decode_receipt`, :func:`decode_remote_config`) is accepted or refused exactly
  as :func:`protocol.codec.decode` would, with the same :class:`~protocol.errors.ProtocolError` reasons
  (``too-large``, ``not-utf8``, ``not-json``, ``invalid``).

``tests/protocol/test_wire.py`` holds the two sides together: everything encoded here validates with
:mod:`protocol.models` and the JSON Schemas, and a table of good and bad payloads is decoded alike.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from protocol.checks import (
    CONFIG_VERSION_RE,
    LANGUAGES,
    QUESTION_RE,
    RELEASE_VERSION_RE,
    ROLLOUT_RE,
    Invalid,
    as_bool,
    as_float,
    as_int,
    as_str,
    as_uuid_text,
    in_range,
    matching,
    one_of,
    opening_hours,
    payload_text,
    time_in_range,
)
from protocol.checks import MAX_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES  # re-exported: part of the contract
from protocol.errors import ProtocolError
from protocol.scales import MAX_SIZE, MIN_SIZE

_LOG = logging.getLogger(__name__)

PROTOCOL_VERSION: Literal[1] = 1
#: Votes in one batch (and ids in one receipt's list).
MAX_VOTES_PER_BATCH = 500
DEFAULT_QUESTION = "fs-satisfaction-1"
FOLLOWUP_QUESTION = "fs-resolved-1"
MAX_SEQ = 2**53
_CHECK_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class Status(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class CheckOutcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _optional_text(value: str | None, name: str, max_length: int) -> None:
    _require(value is None or (isinstance(value, str) and len(value) <= max_length),
             f"{name} is a string of at most {max_length} characters")


def _aware(ts: datetime, name: str = "ts") -> None:
    try:
        time_in_range(ts)
    except Invalid as exc:
        raise ValueError(f"{name}: {exc.message}") from None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- what a kiosk encodes --------------------------------------------------------------------------------------

class _Message:
    """JSON as pydantic's ``model_dump_json(exclude_none=True)`` writes it: declared order, ``None`` left out."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _jsonable(getattr(self, f.name))
            if value is not None:
                out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def encode(self) -> bytes:
        return self.to_json().encode()


def _jsonable(value: object) -> Any:
    if isinstance(value, _Message):
        return value.to_dict()
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, uuid.UUID | enum.Enum):
        return str(value.value if isinstance(value, enum.Enum) else value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # pydantic writes null; left out like any None
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUp(_Message):
    """The follow-up question « Votre demande a-t-elle été traitée aujourd'hui ? »; ``answer`` ``None`` when
    the visitor left without answering."""

    question: str = FOLLOWUP_QUESTION
    answer: Literal["yes", "no"] | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.question, str) and bool(QUESTION_RE.fullmatch(self.question)),
                 f"question {self.question!r} should match {QUESTION_RE.pattern}")
        _require(self.answer in (None, "yes", "no"), f"answer {self.answer!r} is not 'yes', 'no' or None")


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote(_Message):
    """One press of one answer, as recorded on the kiosk's disk (:class:`protocol.models.Vote`)."""

    id: uuid.UUID
    seq: int
    answer: int
    scale: int
    question: str = DEFAULT_QUESTION
    ts: datetime
    clock_synced: bool
    misuse: bool = False
    boot_id: str | None = None
    mono_ms: int | None = None
    followup: FollowUp | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.id, uuid.UUID), "id must be a UUID")
        _require(_whole(self.seq) and 1 <= self.seq <= MAX_SEQ, f"seq must be 1..2**53, not {self.seq!r}")
        _require(_whole(self.scale) and MIN_SIZE <= self.scale <= MAX_SIZE,
                 f"scale must be {MIN_SIZE}..{MAX_SIZE}, not {self.scale!r}")
        _require(_whole(self.answer) and 1 <= self.answer <= self.scale,
                 f"answer {self.answer!r} is not on a {self.scale}-answer scale")
        _require(isinstance(self.question, str) and bool(QUESTION_RE.fullmatch(self.question)),
                 f"question {self.question!r} should match {QUESTION_RE.pattern}")
        _aware(self.ts)
        _require(isinstance(self.clock_synced, bool) and isinstance(self.misuse, bool),
                 "clock_synced and misuse are booleans")
        _optional_text(self.boot_id, "boot_id", 64)
        _require(self.mono_ms is None or (_whole(self.mono_ms) and self.mono_ms >= 0),
                 f"mono_ms must be a whole number >= 0, not {self.mono_ms!r}")
        _require(self.followup is None or isinstance(self.followup, FollowUp), "followup must be a FollowUp")


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusMessage(_Message):
    """Retained on ``fs/v1/kiosks/{kiosk_id}/status``; the ``offline`` one is the kiosk's Last Will."""

    v: Literal[1] = PROTOCOL_VERSION
    status: Status
    ts: datetime
    version: str | None = None

    def __post_init__(self) -> None:
        _require(self.v == PROTOCOL_VERSION and isinstance(self.status, Status), "v 1 and a Status")
        _aware(self.ts)
        _optional_text(self.version, "version", 64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Telemetry(_Message):
    """The kiosk's heartbeat on ``fs/v1/kiosks/{kiosk_id}/telemetry`` (:class:`protocol.models.Telemetry`)."""

    v: Literal[1] = PROTOCOL_VERSION
    ts: datetime
    uptime_s: float
    version: str
    outbox_depth: int
    oldest_unsent_age_s: float | None = None
    clock_synced: bool | None = None
    free_disk_bytes: int | None = None
    cpu_temp_c: float | None = None
    config_version: str | None = None
    config_rejected: str | None = None
    disk_low: bool | None = None
    votes_refused: int | None = None
    boot_id: str | None = None
    clock_offset_s: float | None = None
    release: str | None = None
    release_desired: str | None = None
    update_status: str | None = None
    update_result: str | None = None

    def __post_init__(self) -> None:
        _aware(self.ts)
        _require(_number(self.uptime_s) and self.uptime_s >= 0, "uptime_s must be >= 0")
        _require(isinstance(self.version, str) and len(self.version) <= 64, "version: at most 64 characters")
        for name in ("outbox_depth", "free_disk_bytes", "votes_refused"):
            value = getattr(self, name)
            _require((value is None and name != "outbox_depth") or (_whole(value) and value >= 0),
                     f"{name} must be a whole number >= 0, not {value!r}")
        _require(self.oldest_unsent_age_s is None or (_number(self.oldest_unsent_age_s)
                                                      and self.oldest_unsent_age_s >= 0),
                 "oldest_unsent_age_s must be >= 0")
        for name in ("cpu_temp_c", "clock_offset_s"):
            _require(getattr(self, name) is None or _number(getattr(self, name)), f"{name} must be a number")
        for name in ("clock_synced", "disk_low"):
            _require(getattr(self, name) in (None, True, False), f"{name} must be a boolean")
        _optional_text(self.config_version, "config_version", 64)
        _optional_text(self.config_rejected, "config_rejected", 300)
        _optional_text(self.boot_id, "boot_id", 64)
        _optional_text(self.release, "release", 64)
        _optional_text(self.release_desired, "release_desired", 64)
        _optional_text(self.update_status, "update_status", 100)
        _optional_text(self.update_result, "update_result", 300)


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestCheck(_Message):
    """One check of a self-test: ``buttons``, ``leds``, ``screen``, ``clock``, ``broker``, ``disk``..."""

    name: str
    outcome: CheckOutcome
    detail: str = ""

    def __post_init__(self) -> None:
        _require(isinstance(self.name, str) and bool(_CHECK_NAME.fullmatch(self.name)),
                 f"check name {self.name!r} is not [a-z][a-z0-9_-]{{0,31}}")
        _require(isinstance(self.outcome, CheckOutcome), "outcome must be a CheckOutcome")
        _optional_text(self.detail, "detail", 500)


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfTestReport(_Message):
    """A kiosk's self-test, retained on ``fs/v1/kiosks/{kiosk_id}/selftest``."""

    v: Literal[1] = PROTOCOL_VERSION
    ts: datetime
    passed: bool
    checks: tuple[SelfTestCheck, ...]
    version: str | None = None
    technician: str | None = None

    def __post_init__(self) -> None:
        _aware(self.ts)
        _require(isinstance(self.passed, bool), "passed must be a boolean")
        _require(1 <= len(self.checks) <= 32 and all(isinstance(c, SelfTestCheck) for c in self.checks),
                 "a self-test has 1 to 32 checks")
        _require(not (self.passed and any(c.outcome is CheckOutcome.FAILED for c in self.checks)),
                 "a self-test with a failed check cannot have passed")
        _optional_text(self.version, "version", 64)
        _optional_text(self.technician, "technician", 100)


# -- what a kiosk decodes --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Receipt:
    """The collector's word that votes are committed (``stored``) or quarantined (``rejected``)."""

    stored: tuple[uuid.UUID, ...] = ()
    rejected: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """Settings the collector sets on a kiosk; a field left out (``None``) keeps the kiosk's own."""

    version: str
    scale: int | None = None
    followup: bool | None = None
    repeat_interval_s: float | None = None
    opening_hours: dict[str, str] | None = field(default=None, hash=False)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class DesiredRelease:
    """The release the collector wants this kiosk to run (:class:`protocol.models.DesiredRelease`)."""

    version: str
    rollout: str


T = TypeVar("T")
_Field = tuple[bool, Callable[[Any], Any]]  # (required, check)


def _version_one(value: object) -> int:
    return int(one_of(value, (PROTOCOL_VERSION,)))


def _limited(coerce: Callable[[object], Any], **limits: float) -> Callable[[object], Any]:
    def check(value: object) -> Any:
        number = coerce(value)
        in_range(number, **limits)
        return number
    return check


def _uuids(value: object) -> tuple[uuid.UUID, ...]:
    if not isinstance(value, list):
        raise Invalid("should be an array")
    if len(value) > MAX_VOTES_PER_BATCH:
        raise Invalid(f"should have at most {MAX_VOTES_PER_BATCH} items, not {len(value)}")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(uuid.UUID(as_uuid_text(item)))
        except Invalid as exc:
            raise exc.at(str(i)) from None
    return tuple(out)


def _nullable(check: Callable[[object], T]) -> Callable[[object], T | None]:
    return lambda value: None if value is None else check(value)


_RECEIPT: dict[str, _Field] = {
    "v": (False, _version_one),
    "stored": (False, _uuids),
    "rejected": (False, _uuids),
}
_REMOTE_CONFIG: dict[str, _Field] = {
    "v": (False, _version_one),
    "version": (True, lambda value: matching(as_str(value), CONFIG_VERSION_RE)),
    "scale": (False, _nullable(_limited(as_int, ge=MIN_SIZE, le=MAX_SIZE))),
    "followup": (False, _nullable(as_bool)),
    "repeat_interval_s": (False, _nullable(_limited(as_float, ge=0, le=600))),
    "opening_hours": (False, _nullable(opening_hours)),
    "language": (False, _nullable(lambda value: one_of(value, LANGUAGES))),
}


_DESIRED_RELEASE: dict[str, _Field] = {
    "v": (False, _version_one),
    "version": (True, lambda value: matching(as_str(value), RELEASE_VERSION_RE)),
    "rollout": (True, lambda value: matching(as_str(value), ROLLOUT_RE)),
}


def _read(payload: bytes, fields: Mapping[str, _Field]) -> dict[str, Any]:
    """The checks of :func:`protocol.codec.decode`, in its order: size, UTF-8, JSON, then every field."""
    text = payload_text(payload)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProtocolError("not-json", str(exc)) from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid", "payload: should be an object (1 error(s))")
    problems: list[Invalid] = []
    out: dict[str, Any] = {}
    for name, (required, check) in fields.items():
        if name not in data:
            if required:
                problems.append(Invalid("field required", name))
            continue
        try:
            out[name] = check(data[name])
        except Invalid as exc:
            problems.append(exc.at(name))
    problems += [Invalid("unknown field (extra fields are not permitted)", str(k)) for k in data if k not in fields]
    if problems:
        raise ProtocolError("invalid", f"{problems[0]} ({len(problems)} error(s))")
    out.pop("v", None)
    return out


def decode_receipt(payload: bytes) -> Receipt:
    """A receipt off ``fs/v1/kiosks/{id}/receipts``; raises :class:`ProtocolError` with a countable reason."""
    return Receipt(**_read(payload, _RECEIPT))


def decode_remote_config(payload: bytes) -> RemoteConfig:
    """A remote configuration off ``fs/v1/kiosks/{id}/config``; raises :class:`ProtocolError`."""
    return RemoteConfig(**_read(payload, _REMOTE_CONFIG))


def decode_desired_release(payload: bytes) -> DesiredRelease:
    """The desired release off ``fs/v1/kiosks/{id}/release``; raises :class:`ProtocolError`."""
    return DesiredRelease(**_read(payload, _DESIRED_RELEASE))
