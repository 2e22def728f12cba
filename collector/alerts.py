"""Alerts: rules evaluated on the recent state of espaces and kiosks, raised and cleared with their times.

Three rules:

- ``unhappy``: at an espace, at least ``share`` (50 %) of the last ``window`` (15 minutes) of votes are
  unhappy, with at least ``min_votes`` (4) votes; misuse-flagged votes do not count. An answer is *unhappy*
  when it lies strictly below the middle of its scale (1 on 2 or 3 answers; 1-2 on 4 or 5).
- ``kiosk-offline``: a kiosk has been offline (its ``offline`` status, or no sign of life for ``stale``) for
  more than ``offline_for`` (2 hours) counted during its espace's opening hours (``espaces.hours``, in the
  espace's time zone, read by :func:`protocol.hours.parse_listed`). An espace without known hours is not watched.
- ``rollout-stalled``: an active rollout (:mod:`collector.fleet`) started more than ``rollout_stalled`` (2 hours)
  ago still has kiosks neither on its release nor failed, or has failed kiosks (a failure stops nothing by
  itself: someone should look, then pause or roll back).

:func:`evaluate` raises an alert when a rule starts to hold for a subject and clears it when it stops; an
alert is never raised twice while open. It runs on demand (``borne collector alerts check``, the API) or
every minute in an :class:`AlertLoop`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.db.engine import session_factory
from collector.db.models import Alert, Espace, HourlyRollup, Kiosk, Rollout, Vote
from collector.fleet import STALLED_AFTER
from collector.registry.geography import timezone_of
from protocol.hours import listed_day

_LOG = logging.getLogger(__name__)

UNHAPPY = "unhappy"
OFFLINE = "kiosk-offline"
ROLLOUT_STALLED = "rollout-stalled"


@dataclass(frozen=True)
class Rules:
    window: timedelta = timedelta(minutes=15)
    share: float = 0.5
    min_votes: int = 4
    offline_for: timedelta = timedelta(hours=2)
    stale: timedelta = timedelta(minutes=10)
    rollout_stalled: timedelta = STALLED_AFTER


@dataclass
class Evaluation:
    raised: list[Alert] = field(default_factory=list)
    cleared: list[Alert] = field(default_factory=list)


def opening_intervals(hours: dict[str, str] | None, weekday: int) -> list[tuple[time, time]]:
    """``{"lundi": "09:00 - 12:00 / 13:30 - 17:00"}`` -> the day's intervals; [] when closed or unknown."""
    return [(iv.start, iv.end) for iv in listed_day(hours, weekday)]


def open_time(hours: dict[str, str] | None, tz: Any, start: datetime, end: datetime) -> timedelta:
    """How much of ``[start, end)`` falls within the opening hours (in the time zone ``tz``)."""
    total = timedelta()
    if end <= start:
        return total
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    day = local_start.date()
    while day <= local_end.date():
        for opens, closes in opening_intervals(hours, day.weekday()):
            lo = max(datetime.combine(day, opens, tz), local_start)
            hi = min(datetime.combine(day, closes, tz), local_end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def _unhappy_espaces(session: Session, now: datetime, rules: Rules) -> dict[str, str]:
    since = now - rules.window
    # Only espaces with votes over the last days are candidates; the votes are then read per espace, by index.
    candidates = list(session.scalars(
        select(HourlyRollup.espace_id).where(HourlyRollup.day >= (now - timedelta(days=2)).date()).distinct()
    ))
    firing: dict[str, str] = {}
    if not candidates:
        return firing
    rows = session.execute(
        select(Vote.espace_id, Vote.scale, Vote.answer, func.count())
        .where(Vote.espace_id.in_(candidates), Vote.ts >= since, Vote.ts <= now, Vote.misuse.is_(False))
        .group_by(Vote.espace_id, Vote.scale, Vote.answer)
    ).all()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for espace_id, scale, answer, n in rows:
        totals[espace_id][0] += n
        if answer * 2 < scale + 1:
            totals[espace_id][1] += n
    for espace_id, (votes, unhappy) in totals.items():
        if votes >= rules.min_votes and unhappy >= rules.share * votes:
            firing[espace_id] = f"{unhappy} unhappy of {votes} votes over {int(rules.window.total_seconds() // 60)} min"
    return firing


def _offline_kiosks(session: Session, now: datetime, rules: Rules) -> dict[str, tuple[str, str]]:
    firing: dict[str, tuple[str, str]] = {}
    rows = session.execute(
        select(Kiosk.id, Kiosk.espace_id, Kiosk.status, Kiosk.status_at, Kiosk.last_seen, Espace.hours,
               Espace.departement)
        .join(Espace, Espace.id == Kiosk.espace_id)
        .where(Kiosk.revoked_at.is_(None), Espace.closed_at.is_(None), Espace.hours.is_not(None))
    ).all()
    for kiosk_id, espace_id, status, status_at, last_seen, hours, departement in rows:
        since = None
        if status == "offline" and status_at is not None:
            since = _aware(status_at)
        elif last_seen is not None and _aware(last_seen) < now - rules.stale:
            since = _aware(last_seen)
        if since is None:
            continue
        closed_for = open_time(hours, timezone_of(departement), since, now)
        if closed_for > rules.offline_for:
            firing[kiosk_id] = (espace_id, f"offline since {since:%Y-%m-%d %H:%M} UTC, "
                                           f"{closed_for.total_seconds() / 3600:.1f} h within opening hours")
    return firing


def _stalled_rollouts(session: Session, now: datetime, rules: Rules) -> dict[str, str]:
    from collector import fleet

    firing: dict[str, str] = {}
    for rollout in session.scalars(select(Rollout).where(Rollout.state == fleet.ACTIVE)):
        why = fleet.stalled(rollout, fleet.summary(session, rollout), now, rules.rollout_stalled)
        if why is not None:
            firing[rollout.id] = why
    return firing


def evaluate(session: Session, now: datetime | None = None, rules: Rules | None = None) -> Evaluation:
    """Apply the rules at ``now``: raise new alerts, clear those whose rule no longer holds (caller commits)."""
    now = now or datetime.now(UTC)
    rules = rules or Rules()
    wanted: dict[tuple[str, str], tuple[str | None, str | None, str]] = {}
    for espace_id, detail in _unhappy_espaces(session, now, rules).items():
        wanted[(UNHAPPY, f"espace:{espace_id}")] = (espace_id, None, detail)
    for kiosk_id, (espace_id, detail) in _offline_kiosks(session, now, rules).items():
        wanted[(OFFLINE, f"kiosk:{kiosk_id}")] = (espace_id, kiosk_id, detail)
    for rollout_id, detail in _stalled_rollouts(session, now, rules).items():
        wanted[(ROLLOUT_STALLED, f"rollout:{rollout_id}")] = (None, None, detail)
    result = Evaluation()
    open_alerts = {(a.rule, a.subject): a for a in session.scalars(select(Alert).where(Alert.cleared_at.is_(None)))}
    for key, alert in open_alerts.items():
        if key not in wanted:
            alert.cleared_at = now
            result.cleared.append(alert)
            _LOG.info("alert cleared: %s %s", alert.rule, alert.subject)
    for (rule, subject), (on_espace, on_kiosk, why) in wanted.items():
        if (rule, subject) in open_alerts:
            continue
        alert = Alert(rule=rule, subject=subject, espace_id=on_espace, kiosk_id=on_kiosk, raised_at=now,
                      detail=why)
        session.add(alert)
        result.raised.append(alert)
        _LOG.warning("alert raised: %s %s: %s", rule, subject, why)
    session.flush()
    return result


class AlertLoop:
    """Evaluates the rules every ``interval`` seconds in a thread. :meth:`start`, then :meth:`close` (safe twice)."""

    def __init__(self, engine: Engine, interval: float = 60.0, rules: Rules | None = None) -> None:
        self._sessions = session_factory(engine)
        self.interval = interval
        self.rules = rules or Rules()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlertLoop:
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()
        return self

    def run_once(self) -> Evaluation:
        with self._sessions() as session, session.begin():
            return evaluate(session, rules=self.rules)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a failed round must not end the loop; the next one retries
                _LOG.exception("alert evaluation failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
