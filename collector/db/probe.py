"""Is the database answering? A question that itself answers within a second, whatever the database does.

A PostgreSQL frozen (SIGSTOP, a storage stall) keeps its connections open and answers nothing: a ``SELECT 1`` on
it waits for as long as the freeze, and the server-side statement timeout cannot fire. So the check runs in a
thread of its own, and the caller waits for it at most ``timeout`` seconds; while one check is still waiting,
no other is started (a health check polled every second would otherwise pile up threads and connections).

On PostgreSQL it also counts this user's sessions whose commit waits for the synchronous standby (``wait_event
= 'SyncRep'``, visible to the user for its own sessions): a standby down shows as commits waiting, which is why
the ingest stalls (``docs/deployment.md``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    #: "ok", or why not, in words an operator can act on.
    detail: str
    #: Commits of this user waiting for the synchronous standby (PostgreSQL), when the check could tell.
    waiting_for_standby: int = 0


class DatabaseProbe:
    """``check()`` says within ``timeout`` seconds whether ``engine``'s database answers a ``SELECT 1``."""

    def __init__(self, engine: Engine, timeout: float = 0.8) -> None:
        self.engine = engine
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None
        self._started = 0.0
        self._result: ProbeResult | None = None

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                if self.engine.dialect.name == "postgresql":
                    waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' "
                                                "AND usename = current_user")).scalar_one()
                else:
                    conn.execute(text("SELECT 1"))
                    waiting = 0
            result = ProbeResult(True, "ok", int(waiting))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
            result = ProbeResult(False, f"unreachable: {reason[0][:200] if reason else type(exc).__name__}")
        with self._lock:
            self._result = result

    def check(self) -> ProbeResult:
        with self._lock:
            running = self._running
            if running is not None and running.is_alive():
                waited = time.monotonic() - self._started
                return ProbeResult(False, f"not answering: a check has been waiting for {waited:.0f} s")
            self._result = None
            thread = threading.Thread(target=self._run, name="database-probe", daemon=True)
            self._running, self._started = thread, time.monotonic()
            thread.start()
        thread.join(self.timeout)
        with self._lock:
            if self._result is not None:
                return self._result
        return ProbeResult(False, f"not answering within {self.timeout:.1f} s")
