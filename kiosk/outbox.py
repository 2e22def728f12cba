"""The outbox: every vote on the kiosk's own disk, from the press until the collector confirms it.

SQLite in WAL mode with ``synchronous=FULL``: :meth:`Outbox.record` returns only once the vote is durable, and
only then may the visitor be thanked. A vote then goes through three states:

- *unsent*: recorded, waiting for the uplink;
- *sent*: the broker acknowledged it (PUBACK); a broker can still die before delivering it;
- *confirmed*: the collector's receipt says it is committed in the database. Only then is it done.

A sent vote that gets no receipt within the confirmation timeout becomes unsent again and is sent once more;
the vote's id makes that harmless. Confirmed votes are pruned after the retention period.

The outbox is bounded: at ``max_votes`` (counted from the sequence, so it costs nothing per vote) it prunes
confirmed votes early; if every vote is still unconfirmed it refuses the new one with :class:`OutboxFull`. A
disk that fills up gives :class:`DiskFull` the same way, after a checkpoint and a prune. Refused presses are
counted (``refused``) and reported in the heartbeat; the visitor is not thanked for a vote that is not on disk.

A small reserve file is kept next to the database and is never used for votes: on a full disk it is given up
so that receipts can still be written (the *low-space* mode, where a confirmed vote is deleted at once, in
small checkpointed transactions) and the outbox can still be opened after a restart. :meth:`Outbox.reclaim`
gives deleted pages back to the filesystem and makes the reserve again, which ends the mode.

A vote recorded while the clock was not synchronised can have its time corrected later, from its boot's
monotonic clock: :meth:`Outbox.correct_times`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from protocol.wire import FollowUp, Vote

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


class StorageFull(RuntimeError):
    """A vote could not be recorded for lack of room; nothing was written."""


class OutboxFull(StorageFull):
    """The outbox holds ``max_votes`` unconfirmed votes already."""


class DiskFull(StorageFull, OSError):
    """The outbox's disk is full, even after pruning."""


_SQLITE_FULL = 13
WAL_CHECKPOINT_PAGES = 64
WAL_SIZE_LIMIT = 512 * 1024
#: Given up when the disk is full, so that deleting and checkpointing still find room.
RESERVE_BYTES = 256 * 1024


def _is_disk_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == _SQLITE_FULL:
        return True
    return "full" in str(exc).lower()


@dataclass(frozen=True, slots=True)
class PendingVote:
    seq: int
    id: str
    body: str


def _held_for_clock(body: str, boot_id: str, after_mono_ms: int) -> bool:
    if '"clock_synced":false' not in body or boot_id not in body:
        return False
    data = json.loads(body)
    return bool(data.get("boot_id") == boot_id and (data.get("mono_ms") or 0) > after_mono_ms)


class Outbox:
    """A durable queue of votes. Thread-safe: the recorder and the uplink share one instance."""

    def __init__(self, path: str | Path, *, wall: Callable[[], float] = time.time,
                 max_votes: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wall = wall
        self._lock = threading.Lock()
        self.max_votes = max_votes
        self.refused = 0
        self.low_space = False
        self.reserve_path = self.path.with_name(self.path.name + ".reserve")
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._open()
        except sqlite3.OperationalError as exc:
            if not _is_disk_full(exc):
                raise
            # Started on a full disk (the WAL and its index need a little room): the reserve is for this.
            self.low_space = True
            self._give_up_reserve()
            self._db = self._open()
        if not self.low_space:
            self.keep_reserve()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            # Before the first table: lets a full disk get pages back from deleted votes (see reclaim()).
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            # A small WAL, checkpointed often and truncated: on a nearly full disk it is room for votes.
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            db.executescript(_SCHEMA)
            # A hold waits for a follow-up answer that a restart has made impossible: release them all.
            db.execute("UPDATE votes SET held = 0 WHERE held = 1")
        except BaseException:
            db.close()
            raise
        return db

    def keep_reserve(self) -> bool:
        """Make sure the reserve file exists (when there is room for it); True if it does.

        Leaves the low-space mode once the reserve could be made again.
        """
        try:
            if self.reserve_path.exists() and self.reserve_path.stat().st_size >= RESERVE_BYTES:
                self.low_space = False
                return True
            if shutil.disk_usage(self.reserve_path.parent).free < 4 * RESERVE_BYTES:
                return False
            with self.reserve_path.open("wb") as f:
                f.write(b"\0" * RESERVE_BYTES)
                f.flush()
                os.fsync(f.fileno())
            self.low_space = False
            return True
        except OSError:
            with contextlib.suppress(OSError):
                self.reserve_path.unlink()
            return False

    def reclaim(self) -> bool:
        """In low-space mode: give the pages of deleted votes back to the filesystem, then try to make the
        reserve again (which ends the mode). True once out of it."""
        with self._lock:
            try:
                self._conn().execute("PRAGMA incremental_vacuum").fetchall()
            except sqlite3.OperationalError as exc:
                _LOG.info("outbox could not reclaim space yet: %s", exc)
            self._checkpoint()
        return self.keep_reserve()

    def _enter_low_space(self) -> None:
        """The disk is full: give up the reserve, and move the WAL into the database so that it shrinks."""
        if not self.low_space:
            _LOG.warning("outbox disk full: low-space mode (confirmed votes are deleted at once)")
        self.low_space = True
        self._give_up_reserve()
        self._checkpoint()

    def _give_up_reserve(self) -> bool:
        try:
            self.reserve_path.unlink()
        except OSError:
            return False
        _LOG.warning("outbox disk full: gave up the reserve file to make room")
        return True

    # -- recording -----------------------------------------------------------------------------------------

    def record(self, build: Callable[[int], Vote], *, hold: bool = False) -> Vote:
        """Build the next vote from its sequence number and commit it; durable when this returns.

        ``hold`` keeps the vote from being sent until :meth:`release` (a follow-up question is on screen).
        Raises :class:`OutboxFull` or :class:`DiskFull` (nothing written) when there is no room left.
        """
        with self._lock:
            try:
                if self.max_votes is not None and self._span() >= self.max_votes:
                    self._make_room()
                try:
                    return self._insert(build, hold)
                except sqlite3.OperationalError as exc:
                    if not _is_disk_full(exc):
                        raise
                    # The reserve is not for votes: it is what lets receipts, and a restart, still work.
                    _LOG.warning("outbox disk full while recording; pruning confirmed votes and retrying")
                    self._checkpoint()
                    with contextlib.suppress(sqlite3.OperationalError):
                        self._prune_locked(None)
                    self._checkpoint()
                    try:
                        return self._insert(build, hold)
                    except sqlite3.OperationalError as exc2:
                        if not _is_disk_full(exc2):
                            raise
                        raise DiskFull(f"no room left for the outbox at {self.path}") from None
            except StorageFull:
                self.refused += 1
                raise

    def _insert(self, build: Callable[[int], Vote], hold: bool) -> Vote:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM votes").fetchone()
            floor = int(self._meta_get(db, "seq_floor") or 0)
            vote = build(max(last, floor) + 1)
            db.execute(
                "INSERT INTO votes (seq, id, body, recorded_at, held) VALUES (?, ?, ?, ?, ?)",
                (vote.seq, str(vote.id), vote.to_json(), self._wall(), int(hold)),
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        return vote

    def _span(self) -> int:
        """Votes on disk at most (from the first to the last sequence number): an index lookup, no scan."""
        lo, hi = self._conn().execute("SELECT MIN(seq), MAX(seq) FROM votes").fetchone()
        return 0 if lo is None else int(hi) - int(lo) + 1

    def _make_room(self) -> None:
        """At the bound: prune confirmed votes now, whatever their age; refuse if that frees nothing."""
        db = self._conn()
        (n,) = db.execute("SELECT COUNT(*) FROM votes").fetchone()
        if n < (self.max_votes or 0):
            return  # confirmations out of order left holes in the sequence: there is room
        self._prune_locked(None)
        (n,) = db.execute("SELECT COUNT(*) FROM votes").fetchone()
        if n >= (self.max_votes or 0):
            raise OutboxFull(f"the outbox holds {n} unconfirmed votes (max_votes={self.max_votes})")

    def _checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

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
                data["followup"] = followup.to_dict()
                body = json.dumps(data, separators=(",", ":"))
            db.execute("UPDATE votes SET body = ?, held = 0 WHERE id = ?", (body, vote_id))

    # -- sending -------------------------------------------------------------------------------------------

    def unsent(self, limit: int, *, resend_after: float, exclude: Iterable[str] = (),
               hold_unsynced: tuple[str, int] | None = None) -> list[PendingVote]:
        """Votes to send, oldest first: never sent, or sent without a receipt for ``resend_after`` seconds.

        ``hold_unsynced=(boot_id, mono_ms)`` leaves out that boot's unsynchronised votes pressed after
        ``mono_ms``: the clock may sync in a moment and correct them (see :meth:`correct_times`).
        """
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
                if hold_unsynced is not None and _held_for_clock(body, *hold_unsynced):
                    continue
                out.append(PendingVote(seq, vote_id, body))
                if len(out) >= limit:
                    break
        return out

    def mark_sent(self, ids: Sequence[str]) -> bool:
        """The broker acknowledged these votes (PUBACK). False if the disk was too full to note it (harmless:
        the caller keeps them aside until the confirmation timeout, the collector ignores a resend)."""
        try:
            self._update("UPDATE votes SET sent_at = ? WHERE confirmed_at IS NULL AND id = ?", ids)
        except sqlite3.OperationalError as exc:
            if not _is_disk_full(exc):
                raise
            return False
        return True

    def awaiting_receipt(self, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` that were sent (PUBACK) and are not confirmed yet: what a receipt may confirm."""
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        with self._lock:
            db = self._conn()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(row[0] for row in db.execute(
                    f"SELECT id FROM votes WHERE sent_at IS NOT NULL AND confirmed_at IS NULL "  # noqa: S608 - marks only
                    f"AND id IN ({marks})", chunk))
        return found

    def confirm(self, ids: Sequence[str]) -> int:
        """The collector committed these votes; returns how many were newly confirmed.

        On a full disk a confirmed vote is deleted at once instead, in small checkpointed transactions: that is
        what makes room for new votes again.
        """
        if not self.low_space:
            try:
                return self._update("UPDATE votes SET confirmed_at = ? WHERE confirmed_at IS NULL AND id = ?", ids)
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
                with self._lock:
                    self._enter_low_space()
        return self._confirm_by_deleting(ids)

    def _confirm_by_deleting(self, ids: Sequence[str]) -> int:
        done = 0
        with self._lock:
            db = self._conn()
            for start in range(0, len(ids), 32):
                db.execute("BEGIN IMMEDIATE")
                try:
                    (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM votes").fetchone()
                    self._meta_set(db, "seq_floor", str(last))
                    done += sum(
                        db.execute("DELETE FROM votes WHERE confirmed_at IS NULL AND id = ?", (i,)).rowcount
                        for i in ids[start:start + 32]
                    )
                    db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
                self._checkpoint()
        return done

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
                with contextlib.suppress(sqlite3.Error):
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
        with self._lock:
            return self._prune_locked(older_than)

    def _prune_locked(self, older_than: float | None) -> int:
        """``older_than=None``: every confirmed vote, whatever its age (making room)."""
        cutoff = float("inf") if older_than is None else self._wall() - older_than
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
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        if n:
            _LOG.info("pruned %d confirmed votes", n)
        return int(n)

    # -- clock correction ----------------------------------------------------------------------------------

    def correct_times(self, boot_id: str, wall_now: datetime, mono_now_ms: int) -> int:
        """Once the clock is synchronised: re-date this boot's unconfirmed, unsynchronised votes.

        Each vote's time becomes ``wall_now - (mono_now - mono_ms)``, its monotonic time read against the
        now trusted wall clock, and it is marked ``clock_synced``. Votes of other boots cannot be corrected
        (their monotonic clock is gone): they stay flagged and the collector bounds them. Returns how many
        votes were corrected.
        """
        corrected = 0
        with self._lock:
            db = self._conn()
            rows = db.execute(
                "SELECT seq, body FROM votes WHERE confirmed_at IS NULL AND body LIKE ? AND body LIKE ?",
                ('%"clock_synced":false%', f'%"boot_id":"{boot_id}"%'),
            ).fetchall()
            if not rows:
                return 0
            db.execute("BEGIN IMMEDIATE")
            try:
                for seq, body in rows:
                    data = json.loads(body)
                    mono = data.get("mono_ms")
                    if data.get("boot_id") != boot_id or mono is None or mono > mono_now_ms:
                        continue
                    ts = wall_now.astimezone(UTC) - timedelta(milliseconds=mono_now_ms - mono)
                    data["ts"] = ts.isoformat().replace("+00:00", "Z")
                    data["clock_synced"] = True
                    db.execute("UPDATE votes SET body = ? WHERE seq = ?",
                               (json.dumps(data, separators=(",", ":")), seq))
                    corrected += 1
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
        return corrected

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
