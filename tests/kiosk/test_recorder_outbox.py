"""The recorder and the outbox: a press becomes a durable vote, repeat presses are flagged, states advance."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.clock import ManualClock
from kiosk.outbox import Outbox, OutboxClosed
from kiosk.recorder import Recorder
from protocol.checks import TIME_MAX, TIME_MIN
from protocol.models import Vote
from protocol.wire import FollowUp


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite3")
    yield box
    box.close()


def test_outbox_is_wal_and_fully_synchronous(outbox: Outbox) -> None:
    db = sqlite3.connect(outbox.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: check ours.
    assert outbox._conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.parametrize(
    ("gaps", "expected_misuse"),
    [
        ([5, 5, 5], [False, False, False, False]),
        ([0.5, 0.5, 5], [False, True, True, False]),
        ([2.9, 0.2, 3.0], [False, True, False, False]),  # 2.9 < 3, then 3.1 since the last counted one
        ([3.0], [False, False]),
    ],
)
def test_repeat_presses_are_kept_and_flagged(outbox: Outbox, gaps: list[float], expected_misuse: list[bool]) -> None:
    clock = ManualClock()
    recorder = Recorder(outbox, clock, repeat_interval=3.0)
    votes = [recorder.record(4)]
    for gap in gaps:
        clock.advance(gap)
        votes.append(recorder.record(3))
    assert [v.misuse for v in votes] == expected_misuse
    assert [v.seq for v in votes] == list(range(1, len(votes) + 1))
    assert outbox.depth() == len(votes)


def test_votes_survive_a_reopen_and_sequence_goes_on(tmp_path: Path) -> None:
    clock = ManualClock()
    with Outbox(tmp_path / "o.sqlite3") as box:
        first = Recorder(box, clock).record(2)
    with Outbox(tmp_path / "o.sqlite3") as box:
        second = Recorder(box, clock).record(4)
        assert [v["id"] for v in box.votes()] == [str(first.id), str(second.id)]
    assert second.seq == first.seq + 1


def test_states_unsent_sent_confirmed(outbox: Outbox) -> None:
    clock = ManualClock()
    recorder = Recorder(outbox, clock)
    votes = [recorder.record(a) for a in (1, 2, 3)]
    ids = [str(v.id) for v in votes]
    assert [p.id for p in outbox.unsent(10, resend_after=60)] == ids
    outbox.mark_sent(ids[:2])
    # Sent, not confirmed: not sent again before the confirmation timeout...
    assert [p.id for p in outbox.unsent(10, resend_after=60)] == ids[2:]
    # ...but sent again after it, in order.
    assert [p.id for p in outbox.unsent(10, resend_after=-1)] == ids
    assert outbox.confirm(ids[:2]) == 2
    assert outbox.confirm(ids[:2]) == 0  # idempotent
    assert outbox.depth() == 1
    assert [p.id for p in outbox.unsent(10, resend_after=-1, exclude=ids[2:])] == []


def test_held_vote_waits_for_its_followup(outbox: Outbox) -> None:
    recorder = Recorder(outbox, ManualClock())
    vote = recorder.record(4, hold=True)
    assert outbox.unsent(10, resend_after=60) == []
    assert outbox.depth() == 1  # durable all the same
    recorder.complete(vote, FollowUp(answer="yes"))
    (pending,) = outbox.unsent(10, resend_after=60)
    sent = Vote.model_validate_json(pending.body)  # what the kiosk stored is what the collector accepts
    assert sent.followup is not None and sent.followup.answer == "yes"


def test_a_restart_releases_held_votes(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        Recorder(box, ManualClock()).record(4, hold=True)
    with Outbox(tmp_path / "o.sqlite3") as box:
        assert len(box.unsent(10, resend_after=60)) == 1


def test_prune_keeps_the_sequence(outbox: Outbox) -> None:
    recorder = Recorder(outbox, ManualClock())
    ids = [str(recorder.record(3).id) for _ in range(3)]
    outbox.confirm(ids)
    assert outbox.prune(older_than=-1) == 3
    assert recorder.record(3).seq == 4


def test_close_twice_and_use_after_close(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.close()
    box.close()
    with pytest.raises(OutboxClosed):
        box.depth()


def test_answers_off_the_scale_are_refused(outbox: Outbox) -> None:
    recorder = Recorder(outbox, ManualClock(), scale=2)
    with pytest.raises(ValueError, match="not on a 2-answer scale"):
        recorder.record(3)
    assert outbox.depth() == 0


@pytest.mark.parametrize(("wall", "recorded"), [
    (datetime(2150, 1, 1, tzinfo=UTC), TIME_MAX - timedelta(seconds=1)),
    (datetime(1969, 7, 21, tzinfo=UTC), TIME_MIN),
])
def test_a_press_on_a_clock_out_of_the_protocols_range_is_kept_flagged(outbox: Outbox, wall: datetime,
                                                                       recorded: datetime) -> None:
    """A dead real-time clock: the press is recorded, dated by the range's edge and flagged unsynchronised, so
    that the collector dates it when it arrives (a vote out of the range would not be valid)."""
    recorder = Recorder(outbox, ManualClock(wall, synced=True))
    vote = recorder.record(3)
    assert (vote.ts, vote.clock_synced) == (recorded, False)
    assert Vote.model_validate_json(vote.to_json()).ts == recorded
