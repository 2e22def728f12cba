"""The kiosk in the field: what the small WAL costs per vote, how fast a boot's votes are re-dated,
and how many votes a nearly full disk still takes.

- record latency, median, with the outbox's small WAL (checkpoint every 64 pages, truncated to 512 KiB) against
  SQLite's defaults (1000 pages, never truncated), same run, same disk: the ratio is the price of room on a full
  disk;
- :meth:`~kiosk.outbox.Outbox.correct_times` on a boot of 10,000 unsynchronised votes;
- votes recorded on a 2 MB tmpfs before :class:`~kiosk.outbox.DiskFull` (as root only; skipped otherwise).

Run: ``python -m bench kiosk_field``.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kiosk.clock import ManualClock
from kiosk.outbox import Outbox, StorageFull
from kiosk.recorder import Recorder

_LOG = logging.getLogger(__name__)


def record_latency(workdir: Path, votes: int, *, small_wal: bool) -> float:
    with Outbox(workdir / f"o-{small_wal}.sqlite3") as box:
        if not small_wal:
            box._conn().execute("PRAGMA wal_autocheckpoint=1000")
            box._conn().execute("PRAGMA journal_size_limit=-1")
        recorder = Recorder(box, ManualClock(), repeat_interval=0)
        times = []
        for _ in range(votes):
            t = time.perf_counter()
            recorder.record(4)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def correct_times(workdir: Path, votes: int) -> float:
    clock = ManualClock(synced=False)
    with Outbox(workdir / "c.sqlite3") as box:
        recorder = Recorder(box, clock, repeat_interval=0, boot_id="bench-boot")
        for _ in range(votes):
            clock.advance(1)
            recorder.record(3)
        t = time.perf_counter()
        n = box.correct_times("bench-boot", datetime.now(UTC), int(clock.monotonic() * 1000))
        elapsed = time.perf_counter() - t
    assert n == votes
    return elapsed


def votes_on_tiny_disk(workdir: Path) -> int | None:
    mount = workdir / "tiny"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True,
                       capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        with Outbox(mount / "o.sqlite3") as box:
            recorder = Recorder(box, ManualClock(), repeat_interval=0)
            n = 0
            with contextlib.suppress(StorageFull):
                while True:
                    recorder.record(4)
                    n += 1
        return n
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


def main(quick: bool = False) -> None:
    votes = 300 if quick else 2000
    with tempfile.TemporaryDirectory(prefix="bench-field-") as tmp:
        root = Path(tmp)

        def fresh(name: str) -> Path:
            path = root / name
            path.mkdir()
            return path

        small = [record_latency(fresh(f"s{run}"), votes, small_wal=True) for run in range(3)]
        default = [record_latency(fresh(f"d{run}"), votes, small_wal=False) for run in range(3)]
        s, d = statistics.median(small), statistics.median(default)
        print(f"record latency, small WAL:       {s * 1000:.2f} ms (median of medians, {votes} votes x 3)")
        print(f"record latency, SQLite defaults: {d * 1000:.2f} ms")
        print(f"ratio small/default:             {s / d:.2f}")
        n = 2000 if quick else 10_000
        corr = statistics.median(correct_times(fresh(f"c{i}"), n) for i in range(3))
        print(f"correct_times, {n} votes:        {corr:.3f} s ({n / corr:,.0f} votes/s)")
        tiny = votes_on_tiny_disk(root)
        print(f"votes on a 2 MB tmpfs:           {tiny if tiny is not None else 'skipped (not root)'}")


if __name__ == "__main__":
    main()
