"""Opening hours, the one parser: the two ways the project writes a week's timetable, read into intervals.

- The **kiosk's** format (its configuration's ``voting.opening_hours``, the collector's remote configuration):
  ``{"mon": "09:00-12:00,13:30-17:00", ...}``, weekdays ``mon``..``sun``, ``HH:MM-HH:MM`` ranges separated by
  commas. It is strict: :func:`check_table` refuses an unknown weekday or a malformed range, on both sides of the
  wire (:func:`protocol.checks.opening_hours` for the kiosk, :class:`protocol.models.RemoteConfig` for the
  collector). A range ending at or before its start runs past midnight (``"20:00-02:00"``); what that means for
  "open now" is the kiosk's business (:mod:`kiosk.touch.hours`).
- The **ANCT list's** format (an espace's ``hours``, imported from the list of France services structures):
  ``{"lundi": "09:00 - 12:00 / 13:30 - 17:00", "samedi": "09h00 - 12h00"}``, French weekdays, written by hand. It
  is read leniently by :func:`parse_listed`: whatever reads as a range is kept, the rest is ignored, and a range
  that does not end after its start is dropped (the collector's alerts count time within these ranges).

Standard library only: the kiosk imports this module, and the kiosk does not import pydantic.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time

_LOG = logging.getLogger(__name__)

#: The kiosk format's weekdays, Monday first (``datetime.weekday()`` indexes them).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The ANCT list's weekdays, Monday first.
LISTED_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

#: One range of the kiosk format, matched whole.
HOURS_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_LISTED_RANGE = re.compile(r"(\d{1,2})[:hH](\d{2})\s*-\s*(\d{1,2})[:hH](\d{2})")


@dataclass(frozen=True, slots=True)
class Interval:
    """One opening range of a day, in local time; ``end <= start`` runs past midnight (kiosk format only)."""

    start: time
    end: time


def _ranges(spec: str) -> list[str]:
    return [part for part in (p.strip() for p in spec.split(",")) if part]


def _time(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def parse_ranges(spec: str) -> tuple[Interval, ...]:
    """``"09:00-12:00,13:30-17:00"`` -> its intervals; ``""`` -> none. Raises :class:`ValueError` on a bad range."""
    out = []
    for part in _ranges(spec):
        if not HOURS_RE.fullmatch(part):
            raise ValueError(f"{part!r} is not HH:MM-HH:MM")
        start, end = part.split("-")
        out.append(Interval(_time(start), _time(end)))
    return tuple(out)


def check_table(table: Mapping[str, str]) -> dict[str, str]:
    """A kiosk-format week, checked and returned as is. Raises :class:`ValueError` saying which day is wrong."""
    for day, spec in table.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r}: use {', '.join(WEEKDAYS)}")
        try:
            parse_ranges(spec)
        except ValueError as exc:
            raise ValueError(f"{day}: {exc}") from None
    return dict(table)


def week(table: Mapping[str, str]) -> dict[int, tuple[Interval, ...]]:
    """A kiosk-format week (already checked) by weekday index; a day missing from the table has no range."""
    return {i: parse_ranges(table.get(name, "")) for i, name in enumerate(WEEKDAYS)}


def parse_listed(text: str) -> tuple[Interval, ...]:
    """``"09:00 - 12:00 / 13:30 - 17:00"`` (or ``09h00``) -> the ranges that read as such and end after they start."""
    out = []
    for h1, m1, h2, m2 in _LISTED_RANGE.findall(text):
        try:
            start, end = time(int(h1), int(m1)), time(int(h2) % 24, int(m2))
        except ValueError:
            continue
        if start < end:
            out.append(Interval(start, end))
    return tuple(out)


def listed_day(table: Mapping[str, str] | None, weekday: int) -> tuple[Interval, ...]:
    """The ranges of an ANCT-format week on ``weekday`` (0 = Monday); none when the day or the table is unknown."""
    return parse_listed((table or {}).get(LISTED_WEEKDAYS[weekday], ""))
