"""Opening hours: whether the espace is open now, and when it opens next.

Read from ``VotingConfig.opening_hours`` (``{"mon": "09:00-12:00,13:30-17:00", ...}``, already validated, parsed
by :mod:`protocol.hours`) in the configured time zone. An empty table means always open; a weekday missing from a
non-empty table is closed all day. A range ending at or before its start runs past midnight (``"20:00-02:00"``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kiosk.config import VotingConfig
from protocol.hours import Interval, week

_LOG = logging.getLogger(__name__)


class OpeningHours:
    """A weekly timetable in one time zone."""

    def __init__(self, table: dict[str, str], zone: str = "Europe/Paris") -> None:
        self.zone = ZoneInfo(zone)
        self.always_open = not table
        self.days: dict[int, tuple[Interval, ...]] = week(table)

    @classmethod
    def from_config(cls, voting: VotingConfig) -> OpeningHours:
        return cls(voting.opening_hours, voting.timezone)

    def _spans(self, day: datetime) -> list[tuple[datetime, datetime]]:
        """The open spans starting on ``day``'s date, as aware local datetimes."""
        out = []
        for iv in self.days[day.weekday()]:
            start = datetime.combine(day.date(), iv.start, self.zone)
            end = datetime.combine(day.date(), iv.end, self.zone)
            if end <= start:
                end += timedelta(days=1)
            out.append((start, end))
        return out

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` (any aware datetime) falls in an opening range."""
        if self.always_open:
            return True
        local = now.astimezone(self.zone)
        for day in (local - timedelta(days=1), local):
            if any(start <= local < end for start, end in self._spans(day)):
                return True
        return False

    def next_opening(self, now: datetime) -> datetime | None:
        """The next start of an opening range after ``now``, in local time; ``None`` if never (or always)."""
        if self.always_open:
            return None
        local = now.astimezone(self.zone)
        for offset in range(8):
            day = local + timedelta(days=offset)
            starts = sorted(start for start, _ in self._spans(day) if start > local)
            if starts:
                return starts[0]
        return None
