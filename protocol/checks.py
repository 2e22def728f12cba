"""Plain checks of the contract's values, without pydantic: what a kiosk needs to validate what it reads.

The kiosk's side of the contract (:mod:`protocol.wire`) and its configuration (:mod:`kiosk.config`) are built on
these, and accept what pydantic's lax mode accepts for the same types, so that a kiosk and a collector agree on
every payload (``tests/protocol/test_wire.py`` holds them to it): a number may come as a string (``"4"``,
``" 2.5"``), an integer as a float without fraction (``4.0``), a boolean as ``0``/``1`` or ``"yes"``/``"off"``.
Each coercer raises :class:`Invalid` with a message that says what was expected.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from protocol.errors import ProtocolError
from protocol.hours import check_table

_LOG = logging.getLogger(__name__)

#: A payload larger than this is refused before it is parsed.
MAX_PAYLOAD_BYTES = 256 * 1024

#: Every time in the protocol (a vote's ``ts``, a batch's ``sent_at``, a status', a heartbeat's, a self-test's) is
#: within ``[TIME_MIN, TIME_MAX)``, whatever its UTC offset. ISO 8601 allows years 0001 to 9999, where converting
#: to UTC or to a local day overflows (``0001-01-01T00:00+01:00``): such a time would pass a type check and then
#: fail in the store. The lower bound is the Unix epoch, not a recent date, because a kiosk without a real-time
#: clock boots in 1970 and its unsynchronised votes must still be valid, so that the collector can re-date them
#: (they are flagged ``clock_synced: false``); the upper bound leaves the fleet's lifetime and more.
TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2100, 1, 1, tzinfo=UTC)

#: Patterns are matched whole (``re.fullmatch``): a trailing newline is not a valid id.
KIOSK_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
QUESTION_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
CONFIG_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}")
RELEASE_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
ROLLOUT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LANGUAGES = ("fr", "en", "es", "de")

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_UUID_HEX = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(rf"[0-9a-fA-F]{{32}}|{_UUID_HEX}|\{{{_UUID_HEX}\}}|urn:uuid:{_UUID_HEX}")


def payload_text(payload: bytes) -> str:
    """What every payload passes before it is parsed, on both sides: its size, then UTF-8."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError("too-large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("not-utf8", str(exc)) from None


class Invalid(ValueError):
    """A value that does not fit; ``where`` is its dotted path (``broker.port``, ``stored.3``)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where

    def at(self, where: str) -> Invalid:
        """The same problem, one level further in: ``at("broker")`` on ``port`` gives ``broker.port``."""
        return Invalid(self.message, f"{where}.{self.where}" if self.where else where)


def as_str(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("should be a string")
    return value


def as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise Invalid(f"should be a boolean (true/false, yes/no, on/off, 1/0), not {value!r}")
    raise Invalid("should be a boolean")


def as_int(value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid("should be a finite number")
        if not value.is_integer():
            raise Invalid("should be a whole number, not one with a fractional part")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not _INT_TEXT.fullmatch(text):
            raise Invalid(f"should be a whole number, not {value!r}")
        return int(text.partition(".")[0])
    raise Invalid("should be a whole number")


def as_float(value: object) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if not text.isascii():
                raise ValueError(text)
            return float(text)
        except ValueError:
            raise Invalid(f"should be a number, not {value!r}") from None
    raise Invalid("should be a number")


def as_uuid_text(value: object) -> str:
    """A UUID in one of its usual spellings, as its canonical lower-case hyphenated form."""
    if not isinstance(value, str):
        raise Invalid("should be a UUID string")
    if not _UUID_RE.fullmatch(value):
        raise Invalid(f"should be a UUID, not {value[:80]!r}")
    hexdigits = value.removeprefix("urn:uuid:").strip("{}").replace("-", "").lower()
    return f"{hexdigits[:8]}-{hexdigits[8:12]}-{hexdigits[12:16]}-{hexdigits[16:20]}-{hexdigits[20:]}"


def time_in_range(value: datetime) -> datetime:
    """``value`` if it is a time with its UTC offset within ``[TIME_MIN, TIME_MAX)``; else :class:`Invalid`.

    Compared as aware times, never converted: converting one at the edge of the calendar is what overflows.
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise Invalid("should be a time with its UTC offset")
    if not TIME_MIN <= value < TIME_MAX:
        raise Invalid(f"should be from {TIME_MIN:%Y-%m-%d} to before {TIME_MAX:%Y-%m-%d} (UTC), "
                      f"not {value.isoformat()[:40]}")
    return value


def in_range(number: float, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
             lt: float | None = None) -> None:
    """Raise :class:`Invalid` unless ``number`` is within the limits (NaN never is)."""
    if ge is not None and not number >= ge:
        raise Invalid(f"should be greater than or equal to {ge}")
    if gt is not None and not number > gt:
        raise Invalid(f"should be greater than {gt}")
    if le is not None and not number <= le:
        raise Invalid(f"should be less than or equal to {le}")
    if lt is not None and not number < lt:
        raise Invalid(f"should be less than {lt}")


def matching(text: str, pattern: re.Pattern[str]) -> str:
    if not pattern.fullmatch(text):
        raise Invalid(f"{text[:80]!r} should match {pattern.pattern}")
    return text


def one_of(value: object, choices: tuple[Any, ...]) -> Any:
    """``value`` if it is one of ``choices`` (strings compared as strings, numbers as numbers)."""
    for choice in choices:
        if isinstance(choice, str):
            if isinstance(value, str) and value == choice:
                return choice
        elif not isinstance(value, str) and isinstance(value, bool | int | float) and value == choice:
            return choice
    raise Invalid(f"should be {' or '.join(repr(c) for c in choices)}")


def opening_hours(value: object) -> dict[str, str]:
    """Per weekday (mon..sun), ``HH:MM-HH:MM`` ranges separated by commas."""
    if not isinstance(value, Mapping):
        raise Invalid("should be a table of weekday = 'HH:MM-HH:MM,...'")
    hours: dict[str, str] = {}
    for day, spec in value.items():
        if not isinstance(spec, str):
            raise Invalid("should be a string", str(day))
        hours[str(day)] = spec
    try:
        return check_table(hours)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


_BROKER_ADDRESS_RE = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?")


def broker_address(value: object, default_port: int) -> tuple[str, int]:
    """``"host"``, ``"host:port"`` or ``"[v6]:port"`` as ``(host, port)``, the port ``default_port`` if none."""
    text = as_str(value).strip()
    match = _BROKER_ADDRESS_RE.fullmatch(text)
    if match is None:
        raise Invalid(f"{text[:100]!r} is not a broker address: 'host' or 'host:port'")
    port = int(match["port"]) if match["port"] else default_port
    if not 1 <= port <= 65535:
        raise Invalid(f"{text!r}: the port should be between 1 and 65535")
    return match["v6"] or match["host"], port
