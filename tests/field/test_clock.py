"""Clocks: a kiosk without a real-time clock re-dates its votes once NTP syncs; the collector bounds the rest."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from collector.db.engine import session_factory
from collector.db.models import Vote as VoteRow
from collector.ingest.store import Incoming, Store
from devtools.builders import migrated_engine, register
from devtools.kiosk_sim import wait_until
from kiosk.clock import ManualClock
from kiosk.config import KioskConfig
from kiosk.service import Kiosk
from protocol.codec import encode
from protocol.models import Vote, VoteBatch
from tests.field.conftest import Site

TRUE_START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def config(tmp_path: Path) -> KioskConfig:
    return KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1")


def ts_of(kiosk: Kiosk) -> list[tuple[datetime, bool, str | None]]:
    return [(datetime.fromisoformat(v["ts"]), v["clock_synced"], v.get("boot_id")) for v in kiosk.outbox.votes()]


@pytest.mark.parametrize("error", [
    timedelta(hours=-3),        # fake-hwclock: the time of the last shutdown
    timedelta(days=-20000),     # no saved time at all: 1970
    timedelta(minutes=7),       # a clock ahead
])
def test_votes_before_the_sync_are_redated_from_the_monotonic_clock(tmp_path: Path, error: timedelta) -> None:
    clock = ManualClock(TRUE_START + error, synced=False)
    with Kiosk(config(tmp_path), clock=clock, connect=False, boot_id="boot-a", maintenance_s=3600) as kiosk:
        gaps = [0, 40, 300, 5]
        for gap in gaps:
            clock.advance(gap)
            kiosk.recorder.record(4)
        assert all(not synced for _, synced, _ in ts_of(kiosk))
        clock.advance(12)
        clock.jump(-error.total_seconds())   # NTP steps the clock to the truth
        clock.set_synced(True)
        assert kiosk.check_clock() == len(gaps)
        expected = [TRUE_START + timedelta(seconds=s) for s in (0, 40, 340, 345)]
        assert [(t, s) for t, s, _ in ts_of(kiosk)] == [(e, True) for e in expected]
        assert kiosk.clock_offset_s == pytest.approx(-error.total_seconds())
        assert kiosk.health()["clock_offset_s"] == pytest.approx(-error.total_seconds())
        # Later votes are recorded synchronised and are left alone.
        clock.advance(60)
        kiosk.recorder.record(2)
        assert kiosk.check_clock() == 0
        assert ts_of(kiosk)[-1][:2] == (TRUE_START + timedelta(seconds=417), True)


def test_votes_of_an_earlier_boot_stay_flagged(tmp_path: Path) -> None:
    clock = ManualClock(TRUE_START - timedelta(days=2), synced=False)
    with Kiosk(config(tmp_path), clock=clock, connect=False, boot_id="boot-a", maintenance_s=3600) as kiosk:
        kiosk.recorder.record(3)
    # Power cut; the monotonic clock starts again, and the next boot syncs.
    with Kiosk(config(tmp_path), clock=clock, connect=False, boot_id="boot-b", maintenance_s=3600) as kiosk:
        clock.advance(5)
        kiosk.recorder.record(4)
        clock.jump(2 * 86400)
        clock.set_synced(True)
        assert kiosk.check_clock() == 1
        (_, a_synced, a_boot), (b_ts, b_synced, b_boot) = ts_of(kiosk)
        assert (a_boot, a_synced) == ("boot-a", False)
        assert (b_boot, b_synced, b_ts) == ("boot-b", True, TRUE_START + timedelta(seconds=5))


def test_the_maintenance_thread_notices_the_sync_by_itself(tmp_path: Path) -> None:
    clock = ManualClock(TRUE_START - timedelta(hours=1), synced=False)
    with Kiosk(config(tmp_path), clock=clock, connect=False, boot_id="boot-a", maintenance_s=0.05) as kiosk:
        kiosk.recorder.record(4)
        clock.jump(3600)
        clock.set_synced(True)
        assert wait_until(lambda: ts_of(kiosk)[0][1], 10)
        assert ts_of(kiosk)[0][0] == TRUE_START


def test_a_clock_that_loses_sync_and_finds_it_again(tmp_path: Path) -> None:
    clock = ManualClock(TRUE_START, synced=True)
    with Kiosk(config(tmp_path), clock=clock, connect=False, boot_id="boot-a", maintenance_s=3600) as kiosk:
        kiosk.recorder.record(4)
        clock.set_synced(False)
        kiosk.check_clock()
        clock.advance(30)
        clock.jump(-50)             # drifts while unsynchronised
        kiosk.recorder.record(1)
        clock.jump(50)
        clock.set_synced(True)
        assert kiosk.check_clock() == 1
        assert [(t, s) for t, s, _ in ts_of(kiosk)] == [(TRUE_START, True),
                                                        (TRUE_START + timedelta(seconds=30), True)]


def _batch(ts: datetime, synced: bool) -> VoteBatch:
    vote = Vote(id=uuid.uuid4(), seq=1, answer=4, scale=4, ts=ts, clock_synced=synced, boot_id="b", mono_ms=1)
    return VoteBatch(kiosk_id="k-1", sent_at=ts, votes=[vote])


@pytest.mark.parametrize(("offset", "synced", "stored_offset"), [
    (timedelta(hours=-2), False, timedelta(hours=-2)),    # plausible: kept
    (timedelta(minutes=3), False, timedelta(0)),          # after its receipt: cannot be, dated when received
    (timedelta(days=-20000), False, timedelta(0)),        # 1970: dated when received
    (timedelta(days=-10), True, timedelta(days=-10)),     # synchronised: trusted (a long outage)
    (timedelta(minutes=3), True, timedelta(minutes=3)),   # synchronised, within the tolerance
])
def test_the_collector_bounds_untrusted_times_by_their_receipt(sqlite_url: str, offset: timedelta, synced: bool,
                                                              stored_offset: timedelta) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22")})
    received = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    payload = encode(_batch(received + offset, synced))
    outcome = Store(engine).ingest([Incoming("fs/v1/kiosks/k-1/votes", payload, received)])
    assert outcome.stored == 1
    with session_factory(engine)() as session:
        row = session.scalars(select(VoteRow)).one()
    ts = row.ts if row.ts.tzinfo else row.ts.replace(tzinfo=UTC)
    assert ts == received + stored_offset
    assert row.clock_synced is synced
    assert json.loads(payload)["votes"][0]["clock_synced"] is synced


def test_with_a_grace_period_unsynced_votes_wait_for_the_sync_and_go_out_exact(site: Site, tmp_path: Path) -> None:
    clock = ManualClock(TRUE_START - timedelta(days=3), synced=False)
    config = KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1",
                         broker={"port": site.port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0})
    with Kiosk(config, clock=clock, boot_id="boot-a", maintenance_s=0.05, clock_grace_s=120) as kiosk:
        assert kiosk.uplink is not None
        assert wait_until(lambda: kiosk.uplink is not None and kiosk.uplink.connected, 20)
        kiosk.recorder.record(4)
        clock.advance(10)
        kiosk.recorder.record(2)
        loops = kiosk.uplink.loops
        assert wait_until(lambda: kiosk.uplink is not None and kiosk.uplink.loops >= loops + 3, 20)
        assert kiosk.uplink.stats.votes_published == 0  # waiting for the clock
        clock.jump(3 * 86400)
        clock.set_synced(True)
        assert wait_until(lambda: kiosk.outbox.depth() == 0, 30)
        # Past the grace, an unsynchronised vote goes out anyway, flagged.
        clock.set_synced(False)
        kiosk.recorder.record(3)
        clock.advance(121)
        assert wait_until(lambda: kiosk.outbox.depth() == 0, 30)
    with session_factory(site.engine)() as session:
        rows = session.execute(select(VoteRow.seq, VoteRow.ts, VoteRow.clock_synced).order_by(VoteRow.seq)).all()
    got = [(seq, ts if ts.tzinfo else ts.replace(tzinfo=UTC), synced) for seq, ts, synced in rows]
    assert got[:2] == [(1, TRUE_START, True), (2, TRUE_START + timedelta(seconds=10), True)]
    assert got[2][0] == 3 and got[2][2] is False
