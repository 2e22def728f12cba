"""The screens' logic without a window: a ManualClock drives the timeouts, a real outbox takes the votes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kiosk.clock import ManualClock
from kiosk.service import Kiosk
from kiosk.touch.flow import Flow, FlowSettings, Screen
from kiosk.touch.hours import OpeningHours

_LOG = logging.getLogger(__name__)

# Monday in Paris: open 09:00-12:00 (the clock starts at 10:00).
MORNING = {"mon": "09:00-12:00"}


def make_flow(kiosk: Kiosk, clock: ManualClock, hours: dict[str, str] | None = None, **settings: Any) -> Flow:
    v = kiosk.config.voting
    base = {"scale": v.scale, "followup": v.followup, "followup_timeout_s": 6.0, "thanks_s": 2.5}
    flow = Flow(kiosk.recorder, clock, FlowSettings(**{**base, **settings}), OpeningHours(hours or {}))
    clock.advance(1.0)  # past the guard of the first screen
    return flow


def sendable(kiosk: Kiosk) -> list[str]:
    return [p.id for p in kiosk.outbox.unsent(100, resend_after=60)]


def test_face_then_followup_yes_then_thanks_then_home(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock)
    seen: list[Screen] = []
    flow.listeners.append(lambda f: seen.append(f.screen))

    vote = flow.press(3)
    assert vote is not None and vote.answer == 3
    assert flow.screen is Screen.FOLLOWUP
    # Durable at once, but held: not sendable until the follow-up is answered.
    assert [v["id"] for v in kiosk.outbox.votes()] == [str(vote.id)]
    assert sendable(kiosk) == []

    clock.advance(1.0)
    assert flow.answer_followup("yes")
    assert flow.screen is Screen.THANKS
    assert sendable(kiosk) == [str(vote.id)]
    assert kiosk.outbox.votes()[0]["followup"] == {"question": "fs-resolved-1", "answer": "yes"}

    clock.advance(2.4)
    flow.tick()
    assert flow.screen is Screen.THANKS
    clock.advance(0.2)
    flow.tick()
    assert flow.screen is Screen.HOME
    assert seen == [Screen.FOLLOWUP, Screen.THANKS, Screen.HOME]


def test_followup_skipped_after_timeout(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock)
    vote = flow.press(1)
    assert vote is not None
    clock.advance(5.9)
    flow.tick()
    assert flow.screen is Screen.FOLLOWUP and sendable(kiosk) == []
    clock.advance(0.2)
    flow.tick()
    assert flow.screen is Screen.THANKS
    assert flow.counters.followups_skipped == 1
    assert sendable(kiosk) == [str(vote.id)]
    assert kiosk.outbox.votes()[0]["followup"] == {"question": "fs-resolved-1"}


def test_without_followup_the_vote_goes_at_once(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory(followup=False, scale=2)
    flow = make_flow(kiosk, clock, followup=False, scale=2)
    vote = flow.press(2)
    assert vote is not None and flow.screen is Screen.THANKS
    assert sendable(kiosk) == [str(vote.id)]
    assert "followup" not in kiosk.outbox.votes()[0]


def test_one_touch_delivered_twice_counts_once(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock)
    assert flow.press(4) is not None
    # The same touch again from a second input provider, a few milliseconds later: it lands on the
    # follow-up screen, which must not take it either.
    clock.advance(0.005)
    assert flow.press(4) is None
    assert not flow.answer_followup("no")
    assert len(kiosk.outbox.votes()) == 1
    assert flow.counters.ignored_touches == 2


def test_a_second_visitor_is_counted_and_flagged_by_the_recorder(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory(followup=False, repeat_interval_s=3.0, thanks_s=0.5)
    flow = make_flow(kiosk, clock, followup=False, thanks_s=0.5)
    assert flow.press(1) is not None
    clock.advance(0.6)
    flow.tick()
    clock.advance(0.5)  # past the guard, still within the repeat interval
    second = flow.press(1)
    assert second is not None and second.misuse
    clock.advance(1.2)
    flow.tick()
    clock.advance(3.0)
    third = flow.press(2)
    assert third is not None and not third.misuse


def test_closed_hours_sleep_and_record_nothing(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock, hours={"tue": "09:00-12:00"})
    assert flow.screen is Screen.SLEEP
    assert flow.press(2) is None
    assert kiosk.outbox.votes() == []


def test_closing_time_sends_home_to_sleep_and_opening_wakes_it(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock, hours=MORNING)  # 10:00:01
    assert flow.screen is Screen.HOME
    clock.advance(2 * 3600)  # 12:00:01
    assert flow.press(2) is None  # the tick has not run yet: the press itself checks
    assert flow.screen is Screen.SLEEP
    assert flow.counters.closed_touches == 1
    clock.advance(7 * 86400)  # next Monday, 12:00:01: closed
    flow.tick()
    assert flow.screen is Screen.SLEEP
    clock.advance(22 * 3600)  # Tuesday 10:00: closed (not in the table)
    flow.tick()
    assert flow.screen is Screen.SLEEP
    clock.advance(6 * 86400)  # Monday 10:00
    flow.tick()
    assert flow.screen is Screen.HOME
    assert kiosk.outbox.votes() == []


def test_a_visitor_at_closing_time_finishes_then_sleep(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock, hours=MORNING)
    clock.advance(2 * 3600 - 5)  # 11:59:56
    assert flow.press(3) is not None
    clock.advance(10)
    flow.tick()  # follow-up times out after closing time: the vote still goes
    assert flow.screen is Screen.THANKS
    clock.advance(3)
    flow.tick()
    assert flow.screen is Screen.SLEEP
    assert len(sendable(kiosk)) == 1


def test_language_switch_and_reset(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock, language_reset_s=60.0)
    flow.set_language("es")
    assert flow.language == "es"
    clock.advance(59)
    flow.tick()
    assert flow.language == "es"
    clock.advance(2)
    flow.tick()
    assert flow.language == "fr"
    # After a vote, the next visitor starts in French too.
    flow.set_language("de")
    clock.advance(1)
    flow.press(2)
    clock.advance(7)
    flow.tick()
    clock.advance(3)
    flow.tick()
    assert flow.screen is Screen.HOME and flow.language == "fr"
    with pytest.raises(ValueError):
        flow.set_language("xx")


def test_record_failure_is_counted_not_thanked(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock)
    kiosk.outbox.close()
    assert flow.press(2) is None
    assert flow.screen is Screen.HOME
    assert flow.counters.record_errors == 1


def test_close_releases_the_held_vote(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock)
    vote = flow.press(4)
    assert vote is not None
    flow.close()
    assert sendable(kiosk) == [str(vote.id)]
    flow.close()


def test_seconds_left(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock)
    assert flow.seconds_left() is None
    flow.press(1)
    clock.advance(2)
    assert flow.seconds_left() == pytest.approx(4.0)


def test_reconfigure_takes_effect_from_now_on(kiosk_factory: Any, clock: ManualClock) -> None:
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock)
    first = flow.press(4)
    assert first is not None
    flow.reconfigure(FlowSettings(scale=2, followup=False, language="en"), OpeningHours(MORNING))
    # The visitor on the follow-up finishes it.
    assert flow.screen is Screen.FOLLOWUP and flow.language == "fr"
    clock.advance(1)
    assert flow.answer_followup("no")
    clock.advance(3)
    flow.tick()
    assert flow.screen is Screen.HOME and flow.language == "en"
    kiosk.recorder.apply(scale=2)
    clock.advance(1)
    second = flow.press(2)
    assert second is not None and second.scale == 2 and flow.screen is Screen.THANKS
    assert [str(first.id), str(second.id)] == sendable(kiosk)


def test_without_the_guard_a_late_copy_would_answer_the_followup(kiosk_factory: Any, clock: ManualClock) -> None:
    # The control for the test above: what the guard prevents.
    kiosk = kiosk_factory()
    flow = make_flow(kiosk, clock, guard_s=0.0)
    assert flow.press(4) is not None
    clock.advance(0.005)
    assert flow.answer_followup("yes")  # a visitor's vote would carry an answer nobody gave
