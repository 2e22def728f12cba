"""Opening hours: open or closed at a given instant, and the next opening."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kiosk.touch.hours import OpeningHours

_LOG = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
TABLE = {"mon": "09:00-12:00,13:30-17:00", "tue": "09:00-12:00", "sat": "22:00-02:00"}


def paris(day: int, hh: int, mm: int = 0) -> datetime:
    # January 2026: the 5th is a Monday.
    return datetime(2026, 1, day, hh, mm, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("when", "is_open"),
    [
        (paris(5, 8, 59), False),
        (paris(5, 9, 0), True),
        (paris(5, 11, 59), True),
        (paris(5, 12, 0), False),
        (paris(5, 13, 30), True),
        (paris(5, 17, 0), False),
        (paris(6, 10), True),
        (paris(6, 14), False),
        (paris(7, 10), False),  # Wednesday: not in the table, closed
        (paris(10, 23), True),  # Saturday night, past midnight
        (paris(11, 1, 59), True),
        (paris(11, 2, 0), False),
    ],
)
def test_is_open(when: datetime, is_open: bool) -> None:
    assert OpeningHours(TABLE).is_open(when) is is_open


def test_is_open_takes_any_time_zone() -> None:
    hours = OpeningHours(TABLE)
    assert hours.is_open(paris(5, 9, 30).astimezone(ZoneInfo("UTC")))
    reunion = OpeningHours({"mon": "08:00-12:00"}, "Indian/Reunion")
    assert reunion.is_open(datetime(2026, 1, 5, 9, 0, tzinfo=ZoneInfo("Indian/Reunion")))
    assert not reunion.is_open(paris(5, 9, 0))  # 12:00 in La Réunion


def test_empty_table_is_always_open() -> None:
    hours = OpeningHours({})
    assert hours.is_open(paris(7, 3))
    assert hours.next_opening(paris(7, 3)) is None


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (paris(5, 7), paris(5, 9)),
        (paris(5, 12, 30), paris(5, 13, 30)),
        (paris(5, 18), paris(6, 9)),
        (paris(6, 13), paris(10, 22)),
        (paris(11, 3), paris(12, 9)),
    ],
)
def test_next_opening(now: datetime, expected: datetime) -> None:
    assert OpeningHours(TABLE).next_opening(now) == expected
