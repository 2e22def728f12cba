"""The one opening-hours parser (:mod:`protocol.hours`), as tables: the kiosk's strict format, the ANCT list's
lenient one, and the three places that read them (kiosk configuration, remote configuration, the collector's
alerts) agreeing on it."""

from __future__ import annotations

import logging
from datetime import time

import pydantic
import pytest

from protocol import checks
from protocol.hours import Interval, check_table, listed_day, parse_listed, parse_ranges, week
from protocol.models import RemoteConfig

_LOG = logging.getLogger(__name__)


def iv(start: str, end: str) -> Interval:
    return Interval(time.fromisoformat(start), time.fromisoformat(end))


@pytest.mark.parametrize(("spec", "expected"), [
    ("", ()),
    (" , ", ()),
    ("09:00-12:00", (iv("09:00", "12:00"),)),
    ("09:00-12:00,13:30-17:00", (iv("09:00", "12:00"), iv("13:30", "17:00"))),
    (" 09:00-12:00 , 13:30-17:00 ,", (iv("09:00", "12:00"), iv("13:30", "17:00"))),
    ("20:00-02:00", (iv("20:00", "02:00"),)),  # past midnight: kept as written
    ("00:00-23:59", (iv("00:00", "23:59"),)),
])
def test_kiosk_ranges(spec: str, expected: tuple[Interval, ...]) -> None:
    assert parse_ranges(spec) == expected


@pytest.mark.parametrize("spec", ["9:00-12:00", "09:00-24:00", "09:60-10:00", "09:00 - 12:00", "09h00-12h00",
                                  "09:00-12:00/13:30-17:00", "09:00", "09:00-12:00;13:30-17:00"])
def test_kiosk_ranges_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="is not HH:MM-HH:MM"):
        parse_ranges(spec)


@pytest.mark.parametrize(("table", "error"), [
    ({}, None),
    ({"mon": "09:00-12:00,13:30-17:00", "sat": ""}, None),
    ({"monday": "09:00-12:00"}, "unknown weekday 'monday': use mon, tue, wed, thu, fri, sat, sun"),
    ({"lundi": "09:00-12:00"}, "unknown weekday 'lundi'"),
    ({"tue": "9-17"}, "tue: '9-17' is not HH:MM-HH:MM"),
    ({"mon": "09:00-12:00", "wed": "13:30-17:00,18h"}, "wed: '18h' is not HH:MM-HH:MM"),
])
def test_kiosk_table_checked_the_same_on_both_sides(table: dict[str, str], error: str | None) -> None:
    """The kiosk's configuration (plain checks) and the collector's remote configuration (pydantic) agree."""
    if error is None:
        assert check_table(table) == table
        assert checks.opening_hours(table) == table
        assert RemoteConfig(version="1", opening_hours=table).opening_hours == table
        return
    for check in (check_table, checks.opening_hours):
        with pytest.raises(ValueError, match=error):
            check(table)
    with pytest.raises(pydantic.ValidationError, match=error):
        RemoteConfig(version="1", opening_hours=table)


def test_a_week_by_weekday_index() -> None:
    days = week({"mon": "09:00-12:00", "sun": "10:00-11:00"})
    assert sorted(days) == list(range(7))
    assert days[0] == (iv("09:00", "12:00"),) and days[6] == (iv("10:00", "11:00"),)
    assert all(days[i] == () for i in range(1, 6))


@pytest.mark.parametrize(("text", "expected"), [
    ("", ()),
    ("fermé", ()),
    ("09:00 - 12:00", (iv("09:00", "12:00"),)),
    ("09:00 - 12:00 / 13:30 - 17:00", (iv("09:00", "12:00"), iv("13:30", "17:00"))),
    ("09h00 - 12h00", (iv("09:00", "12:00"),)),
    ("9H00-12H30", (iv("09:00", "12:30"),)),
    ("matin 09:00-12:00, après-midi 14:00-17:00", (iv("09:00", "12:00"), iv("14:00", "17:00"))),
    ("12:00 - 09:00", ()),  # does not end after it starts: dropped
    ("20:00 - 24:00", ()),  # 24:00 reads as midnight, before the start: dropped
    ("25:00 - 26:00", ()),  # not a time: dropped
    ("09:75 - 10:00 / 14:00 - 15:00", (iv("14:00", "15:00"),)),
])
def test_listed_ranges(text: str, expected: tuple[Interval, ...]) -> None:
    assert parse_listed(text) == expected


@pytest.mark.parametrize(("table", "weekday", "expected"), [
    (None, 0, ()),
    ({}, 0, ()),
    ({"lundi": "09:00 - 12:00"}, 0, (iv("09:00", "12:00"),)),
    ({"lundi": "09:00 - 12:00"}, 1, ()),
    ({"dimanche": "10h00 - 11h00"}, 6, (iv("10:00", "11:00"),)),
    ({"mon": "09:00-12:00"}, 0, ()),  # the kiosk's weekday names are not the list's
])
def test_listed_day(table: dict[str, str] | None, weekday: int, expected: tuple[Interval, ...]) -> None:
    assert listed_day(table, weekday) == expected
