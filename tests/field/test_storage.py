"""Disk: a bounded outbox, pruning after retention, and a full disk that never crashes the kiosk."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.kiosk_sim import wait_until
from kiosk.clock import ManualClock
from kiosk.config import KioskConfig
from kiosk.outbox import DiskFull, Outbox, OutboxFull, StorageFull
from kiosk.recorder import Recorder
from kiosk.service import GpioKiosk, Kiosk
from tests.field.conftest import Site


class WallClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_the_outbox_is_bounded_and_makes_room_from_confirmed_votes(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3", max_votes=5) as box:
        recorder = Recorder(box, ManualClock(), repeat_interval=0)
        votes = [recorder.record(4) for _ in range(5)]
        with pytest.raises(OutboxFull):
            recorder.record(4)
        assert box.refused == 1 and box.depth() == 5
        box.mark_sent([str(v.id) for v in votes[:2]])
        box.confirm([str(v.id) for v in votes[:2]])
        # Confirmed votes go early, whatever the retention, to make room; the sequence goes on.
        assert [recorder.record(3).seq for _ in range(2)] == [6, 7]
        with pytest.raises(OutboxFull):
            recorder.record(4)
        # Confirmed out of order: holes in the sequence do not make the bound refuse too early.
        box.confirm([str(votes[3].id)])
        assert recorder.record(2).seq == 8
        assert [v["seq"] for v in box.votes()] == [3, 5, 6, 7, 8]


def test_confirmed_votes_are_pruned_after_retention_only(tmp_path: Path) -> None:
    wall = WallClock()
    with Outbox(tmp_path / "o.sqlite3", wall=wall) as box:
        recorder = Recorder(box, ManualClock(), repeat_interval=0)
        votes = [recorder.record(4) for _ in range(4)]
        box.confirm([str(v.id) for v in votes[:3]])
        wall.t += 86400
        box.confirm([str(votes[2].id)])  # already confirmed: keeps its first confirmation time
        assert box.prune(2 * 86400) == 0
        wall.t += 86400 + 1
        assert box.prune(2 * 86400) == 3
        assert [v["seq"] for v in box.votes()] == [4]
        assert recorder.record(1).seq == 5


def test_the_kiosk_prunes_by_itself(tmp_path: Path) -> None:
    config = KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1", storage={"retention_days": 1e-6})
    with Kiosk(config, clock=ManualClock(), connect=False, maintenance_s=0.05) as kiosk:
        vote = kiosk.recorder.record(4)
        kiosk.outbox.confirm([str(vote.id)])
        assert wait_until(lambda: kiosk.outbox.stats()["recorded"] == 0, 10)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs; skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True,
                       capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a small tmpfs here: {exc}")
    try:
        yield mount
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mount)], capture_output=True, timeout=10).returncode == 0:
                break
            time.sleep(0.2)
        else:  # something still holds a file open there: detach it anyway
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


def fill(kiosk: GpioKiosk, limit: int = 100_000) -> int:
    """Record until the disk refuses; returns how many votes were recorded."""
    for n in range(limit):
        try:
            kiosk.press(1 + n % 4)
        except StorageFull:
            return n
    raise AssertionError("the disk never filled up")


def test_a_full_disk_keeps_recording_as_long_as_it_can_and_never_crashes(tiny_disk: Path, site: Site) -> None:
    from gpiozero.pins.mock import MockFactory

    config = KioskConfig.of(kiosk_id="k-1", data_dir=tiny_disk / "borne",
                         broker={"port": site.port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
                         uplink={"heartbeat_s": 1})
    factory = MockFactory()
    kiosk = GpioKiosk(config, clock=ManualClock(), pin_factory=factory, connect=False, maintenance_s=0.05)
    try:
        recorded = fill(kiosk)
        assert recorded > 1000, "the reserve and the bound should not stop recording this early"
        with pytest.raises(DiskFull):
            kiosk.press(4)
        # A press on the buttons now: not thanked, not a crash, counted.
        before = kiosk.outbox.refused
        pin = factory.pin(config.panel.buttons[0])
        pin.drive_low()
        pin.drive_high()
        assert kiosk.outbox.refused == before + 1
        health = kiosk.health()
        assert health["disk_low"] is True and health["votes_refused"] == before + 1
        assert kiosk.outbox.depth() == recorded  # nothing recorded was lost
        time.sleep(0.2)  # the maintenance thread went round on a full disk
        assert kiosk._maintenance.is_alive()
    finally:
        kiosk.close()
        factory.close()

    # Back on the network: the backlog drains, receipts confirm it, and recording resumes.
    factory = MockFactory()
    kiosk = GpioKiosk(config, clock=ManualClock(), pin_factory=factory, maintenance_s=0.05)
    try:
        assert wait_until(lambda: kiosk.outbox.depth() == 0, 120), f"depth {kiosk.outbox.depth()}"
        kiosk.press(4)  # room is made from confirmed votes, at once
        assert kiosk.outbox.depth() <= 1
        # The pages of the deleted votes go back to the filesystem, the reserve is made again.
        assert wait_until(lambda: not kiosk.outbox.low_space, 20)
        assert kiosk.outbox.reserve_path.exists()
    finally:
        with contextlib.suppress(Exception):
            kiosk.close()
        factory.close()


def test_the_heartbeat_says_the_disk_is_full(tiny_disk: Path, site: Site) -> None:
    from sqlalchemy import select

    from collector.db.engine import session_factory
    from collector.db.models import Kiosk as KioskRow

    config = KioskConfig.of(kiosk_id="k-2", data_dir=tiny_disk / "borne", ui="touch",
                         broker={"port": site.port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
                         uplink={"heartbeat_s": 1}, storage={"max_votes": 1000})
    with Kiosk(config, clock=ManualClock(), connect=False, maintenance_s=3600) as kiosk:
        filler = tiny_disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        with pytest.raises(StorageFull):
            for _ in range(10_000):
                kiosk.recorder.record(4)

    def telemetry() -> dict[str, Any]:
        with session_factory(site.engine)() as session:
            row = session.scalars(select(KioskRow).where(KioskRow.id == "k-2")).one()
            return dict(row.telemetry or {})

    with Kiosk(config, clock=ManualClock(), maintenance_s=3600) as kiosk:
        with pytest.raises(StorageFull):
            for _ in range(10_000):
                kiosk.recorder.record(4)
        assert wait_until(lambda: telemetry().get("votes_refused", 0) >= 1, 30), telemetry()
        seen = telemetry()
        assert seen["disk_low"] is True and seen["free_disk_bytes"] < 100_000
