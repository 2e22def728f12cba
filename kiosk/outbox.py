"""The outbox: every vote on the kiosk's own disk, from the press until the collector confirms it.

SQLite in WAL mode with ``synchronous=FULL``: :meth:`Outbox.record` returns only once the vote is durable, and
only then may the visitor be thanked. A vote then goes through three states:

- *unsent*: recorded, waiting for the uplink;
- *sent*: the broker acknowledged it (PUBACK); a broker can still die before delivering it;
- *confirmed*: the collector's receipt says it is committed in the database. Only then is it done.

A sent vote that gets no receipt within the confirmation timeout becomes unsent again and is sent once more;
the vote's id makes that harmless. Confirmed votes are pruned after the retention period.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.models import FollowUp, Vote

_LOG = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    confirmed_at REAL
);
CREATE INDEX IF NOT EXISTS votes_unconfirmed ON votes (seq) WHERE confirmed_at IS NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class OutboxClosed(RuntimeError):
    """The outbox was used after :meth:`Outbox.close`."""


@dataclass(frozen=True, slots=True)
class PendingVote:
    seq: int
    id: str
    body: str


class Outbox:
    """A durable queue of votes. Thread-safe: the recorder and the uplink share one instance."""

    def __init__(self, path: str | Path, *, wall: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wall = wall
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # A hold waits for a follow-up answer that a restart has made impossible: release them all.
        self._db.execute("UPDATE votes SET held = 0 WHERE held = 1")

    # -- recording -----------------------------------------------------------------------------------------

    def record(self, build: Callable[[int], Vote], *, hold: bool = False) -> Vote:
        """Build the next vote from its sequence number and commit it; durable when this returns.

        ``hold`` keeps the vote from being sent until :meth:`release` (a follow-up question is on screen).
        """
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM votes").fetchone()
                floor = int(self._meta_get(db, "seq_floor") or 0)
                vote = build(max(last, floor) + 1)
                db.execute(
                    "INSERT INTO votes (seq, id, body, recorded_at, held) VALUES (?, ?, ?, ?, ?)",
                    (vote.seq, str(vote.id), vote.model_dump_json(exclude_none=True), self._wall(), int(hold)),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return vote

    def release(self, vote_id: str, followup: FollowUp | None = None) -> None:
        """Let a held vote go, with the follow-up's answer added to it when there is one."""
        with self._lock:
            db = self._conn()
            row = db.execute("SELECT body FROM votes WHERE id = ? AND held = 1", (vote_id,)).fetchone()
            if row is None:
                return
            body = row[0]
            if followup is not None:
                data = json.loads(body)
                data["followup"] = followup.model_dump(exclude_none=True)
                body = json.dumps(data, separators=(",", ":"))
            db.execute("UPDATE votes SET body = ?, held = 0 WHERE id = ?", (body, vote_id))

    # -- sending -------------------------------------------------------------------------------------------

    def unsent(self, limit: int, *, resend_after: float, exclude: Iterable[str] = ()) -> list[PendingVote]:
        """Votes to send, oldest first: never sent, or sent without a receipt for ``resend_after`` seconds."""
        excluded = set(exclude)
        cutoff = self._wall() - resend_after
        out: list[PendingVote] = []
        with self._lock:
            cursor = self._conn().execute(
                "SELECT seq, id, body FROM votes WHERE confirmed_at IS NULL AND held = 0 "
                "AND (sent_at IS NULL OR sent_at < ?) ORDER BY seq",
                (cutoff,),
            )
            for seq, vote_id, body in cursor:
                if vote_id in excluded:
                    continue
                out.append(PendingVote(seq, vote_id, body))
                if len(out) >= limit:
                    break
        return out

    def mark_sent(self, ids: Sequence[str]) -> None:
        """The broker acknowledged these votes (PUBACK)."""
        self._update("UPDATE votes SET sent_at = ? WHERE confirmed_at IS NULL AND id = ?", ids)

    def confirm(self, ids: Sequence[str]) -> int:
        """The collector committed these votes; returns how many were newly confirmed."""
        return self._update("UPDATE votes SET confirmed_at = ? WHERE confirmed_at IS NULL AND id = ?", ids)

    def _update(self, sql: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        now = self._wall()
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                changed = sum(db.execute(sql, (now, i)).rowcount for i in ids)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return changed

    # -- figures and upkeep --------------------------------------------------------------------------------

    def depth(self) -> int:
        """Votes recorded and not yet confirmed by the collector."""
        with self._lock:
            (n,) = self._conn().execute("SELECT COUNT(*) FROM votes WHERE confirmed_at IS NULL").fetchone()
        return int(n)

    def oldest_unconfirmed_age(self) -> float | None:
        with self._lock:
            (t,) = self._conn().execute("SELECT MIN(recorded_at) FROM votes WHERE confirmed_at IS NULL").fetchone()
        return None if t is None else max(0.0, self._wall() - t)

    def stats(self) -> dict[str, int]:
        with self._lock:
            row = self._conn().execute(
                "SELECT COUNT(*), COUNT(sent_at), COUNT(confirmed_at), COALESCE(MAX(seq), 0) FROM votes"
            ).fetchone()
        return {"recorded": row[0], "sent": row[1], "confirmed": row[2], "last_seq": row[3]}

    def prune(self, older_than: float) -> int:
        """Delete confirmed votes confirmed more than ``older_than`` seconds ago; the sequence goes on."""
        cutoff = self._wall() - older_than
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM votes").fetchone()
                self._meta_set(db, "seq_floor", str(last))
                n = db.execute(
                    "DELETE FROM votes WHERE confirmed_at IS NOT NULL AND confirmed_at < ?", (cutoff,)
                ).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return int(n)

    def votes(self) -> list[dict[str, Any]]:
        """Every vote still on disk, oldest first, with its state: for tests and the self-test."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT body, sent_at, confirmed_at FROM votes ORDER BY seq"
            ).fetchall()
        return [{**json.loads(b), "_sent": s is not None, "_confirmed": c is not None} for b, s, c in rows]

    # -- lifetime ------------------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxClosed(f"outbox {self.path} is closed")
        return self._db

    @staticmethod
    def _meta_get(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _meta_set(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                   (key, value, value))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @property
    def closed(self) -> bool:
        return self._db is None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
