"""Monthly reports on a schedule: the collector checks every hour whether last month's reports are due.

Started by :class:`collector.service.Collector` when ``BORNE_REPORT_SUBSCRIPTIONS`` is set. A month's reports
are sent once (recorded in ``reports-sent.json`` in the data folder), on the first check of the month after it;
a failed send (SMTP down) is retried at the next check.
"""

from __future__ import annotations

import logging
import threading
from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collector.dashboard.sheets import zone_name
from collector.db.engine import session_factory
from collector.reports.mail import ReportSettings, send_month
from collector.reports.monthly import Zone, build, previous_month

_LOG = logging.getLogger(__name__)

STATE_FILE = "reports-sent.json"


def last_month(today: date | None = None) -> date:
    return previous_month((today or date.today()).replace(day=1))


def send_reports(sessions: sessionmaker[Session], settings: ReportSettings, month: date,
                 state: Path | None) -> dict[str, list[str]]:
    """Each subscribed zone's report of ``month`` to its subscribers (once, with ``state``)."""
    def make(zone: Zone) -> tuple[str, bytes, str]:
        with sessions() as session:
            return (zone_name(session, zone.level, zone.code), build(session, zone, month),
                    f"satisfaction-{zone.key}-{month:%Y-%m}.pdf")

    return send_month(settings, month, make, state=state)


class ReportLoop:
    """Sends last month's reports when due, every ``interval`` seconds. :meth:`start`, :meth:`close` (twice ok)."""

    def __init__(self, engine: Engine, data_dir: Path, interval: float = 3600.0,
                 settings: ReportSettings | None = None) -> None:
        self._sessions = session_factory(engine)
        self.state = data_dir / STATE_FILE
        self.interval = interval
        self.settings = settings or ReportSettings()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ReportLoop:
        self._thread = threading.Thread(target=self._run, name="reports", daemon=True)
        self._thread.start()
        return self

    def run_once(self, today: date | None = None) -> dict[str, list[str]]:
        return send_reports(self._sessions, self.settings, last_month(today), self.state)

    def _run(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:  # SMTP down, a bad subscriptions file: logged, retried at the next check
                _LOG.exception("monthly reports not sent")
            if self._stop.wait(self.interval):
                return

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
