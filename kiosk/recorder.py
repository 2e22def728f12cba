"""The recorder: turns an answer into a vote, flags repeat presses, and commits it to the outbox.

A press within ``repeat_interval`` seconds of the last *counted* vote is kept but flagged ``misuse``: the
market's practice is to keep such votes and leave them out of KPIs, rather than delete them. Time comes from
an injectable :class:`~kiosk.clock.Clock` (gpiozero's mock pins ignore ``bounce_time``, so debounce and
lockout are ours to test).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

from kiosk.clock import Clock
from kiosk.outbox import Outbox
from protocol.checks import TIME_MAX, TIME_MIN
from protocol.scales import scale_for
from protocol.wire import DEFAULT_QUESTION, FollowUp, Vote

_LOG = logging.getLogger(__name__)

DEFAULT_REPEAT_INTERVAL = 3.0


class Recorder:
    """Records answers as votes. ``listeners`` are called with each vote once it is on disk."""

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        *,
        scale: int = 4,
        question: str = DEFAULT_QUESTION,
        repeat_interval: float = DEFAULT_REPEAT_INTERVAL,
        boot_id: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.scale = scale_for(scale)
        self.question = question
        self.repeat_interval = repeat_interval
        self.boot_id = boot_id
        self.listeners: list[Callable[[Vote], None]] = []
        self._last_counted: float | None = None
        self._lock = threading.Lock()

    def record(self, answer: int, *, hold: bool = False) -> Vote:
        """Record one press of ``answer`` (1..scale); returns once the vote is durable.

        ``hold`` keeps the vote from leaving the kiosk until :meth:`complete` (a follow-up is on screen).
        """
        self.scale.check(answer)
        with self._lock:
            mono = self.clock.monotonic()
            misuse = self._last_counted is not None and mono - self._last_counted < self.repeat_interval
            wall = self.clock.now()
            synced = self.clock.synced()
            if not TIME_MIN <= wall < TIME_MAX:
                # A clock outside the protocol's times (a dead RTC): keep the press, dated by the bound and
                # flagged unsynchronised, so that the collector dates it when it arrives.
                wall, synced = (TIME_MIN if wall < TIME_MIN else TIME_MAX - timedelta(seconds=1)), False

            def build(seq: int) -> Vote:
                return Vote(
                    id=uuid.uuid4(),
                    seq=seq,
                    answer=answer,
                    scale=self.scale.size,
                    question=self.question,
                    ts=wall,
                    clock_synced=synced,
                    misuse=misuse,
                    boot_id=self.boot_id,
                    mono_ms=int(mono * 1000),
                )

            vote = self.outbox.record(build, hold=hold)
            if not misuse:
                self._last_counted = mono
        _LOG.debug("vote %s seq=%d answer=%d/%d%s", vote.id, vote.seq, answer, self.scale.size,
                  " (misuse)" if misuse else "")
        for listener in list(self.listeners):
            try:
                listener(vote)
            except Exception:
                _LOG.exception("vote listener failed")
        return vote

    def apply(self, *, scale: int | None = None, repeat_interval: float | None = None) -> None:
        """Change the scale or the repeat interval from now on (a remote configuration); no restart."""
        new_scale = scale_for(scale) if scale is not None else None
        with self._lock:
            if new_scale is not None:
                self.scale = new_scale
            if repeat_interval is not None:
                self.repeat_interval = repeat_interval

    def complete(self, vote: Vote, followup: FollowUp | None) -> None:
        """Attach the follow-up's answer (or its absence) to a held vote and let it go."""
        self.outbox.release(str(vote.id), followup)
