"""The touch kiosk's screens as a state machine, in plain Python: no Kivy here.

::

    SLEEP <-- closed -- HOME --face--> FOLLOWUP --Oui/Non or timeout--> THANKS --thanks_s--> HOME
                 --- open -->      \\------------- (follow-up off) ------------/

- A face records the vote at once: durable before anything changes on screen. With the follow-up on, it is
  recorded *held* (on disk, not sent) and completed with the follow-up's answer, or with no answer when the
  visitor leaves it for ``followup_timeout_s``. A held vote whose kiosk stops is released at the next start.
- One touch counts once: input is accepted only on the screen that offers it, and not in the first
  ``guard_s`` after a screen change, so that a touch delivered twice (two input providers, a bouncing
  finger) cannot answer the next screen too.
- Outside opening hours the sleep screen shows and faces record nothing.
- A language chosen by one visitor goes back to the default for the next one.

Time comes from an injectable :class:`~kiosk.clock.Clock`; :meth:`Flow.tick` moves the timeouts on (the UI
calls it a few times a second, tests after advancing a ``ManualClock``).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.recorder import Recorder
from kiosk.touch import i18n
from kiosk.touch.hours import OpeningHours
from protocol.wire import FollowUp, Vote

_LOG = logging.getLogger(__name__)

#: Input this soon after a screen change is ignored: a touch delivered twice arrives within milliseconds.
DEFAULT_GUARD_S = 0.4


class Screen(enum.StrEnum):
    HOME = "home"
    FOLLOWUP = "followup"
    THANKS = "thanks"
    SLEEP = "sleep"


@dataclass(frozen=True, slots=True)
class FlowSettings:
    scale: int = 4
    followup: bool = True
    followup_timeout_s: float = 6.0
    thanks_s: float = 2.5
    language: str = i18n.DEFAULT_LANGUAGE
    language_reset_s: float = 60.0
    guard_s: float = DEFAULT_GUARD_S

    @classmethod
    def from_config(cls, config: KioskConfig) -> FlowSettings:
        """The settings in force: ``config.voting`` may come from the collector (remote configuration)."""
        v = config.voting
        return cls(
            scale=v.scale,
            followup=v.followup,
            followup_timeout_s=v.followup_timeout_s,
            thanks_s=v.thanks_s,
            language=v.language,
            language_reset_s=config.touch.language_reset_s,
        )


@dataclass
class FlowCounters:
    votes: int = 0
    followups_answered: int = 0
    followups_skipped: int = 0
    ignored_touches: int = 0
    closed_touches: int = 0
    record_errors: int = 0


class Flow:
    """What the touch kiosk shows and what a touch does. Thread-safe; ``listeners`` hear every change."""

    def __init__(
        self,
        recorder: Recorder,
        clock: Clock,
        settings: FlowSettings | None = None,
        hours: OpeningHours | None = None,
    ) -> None:
        self.recorder = recorder
        self.clock = clock
        self.settings = settings or FlowSettings()
        self.hours = hours or OpeningHours({})
        self.default_language = i18n.check_language(self.settings.language)
        self.language = self.default_language
        self.counters = FlowCounters()
        self.listeners: list[Callable[[Flow], None]] = []
        self.pending: Vote | None = None
        self.last_vote: Vote | None = None
        self._lock = threading.RLock()
        now = clock.monotonic()
        self._entered = now
        self._last_touch = now
        self.screen = Screen.HOME if self.hours.is_open(clock.now()) else Screen.SLEEP

    # -- what a visitor does -------------------------------------------------------------------------------

    def press(self, answer: int) -> Vote | None:
        """A touch on the face of ``answer``; returns the vote once durable, or ``None`` if not counted."""
        with self._lock:
            now = self.clock.monotonic()
            if not self._accepts(Screen.HOME, now):
                return None
            self._last_touch = now
            if not self.hours.is_open(self.clock.now()):
                self.counters.closed_touches += 1
                self._go(Screen.SLEEP, now)
                return None
            hold = self.settings.followup
            try:
                vote = self.recorder.record(answer, hold=hold)
            except Exception:
                # The visitor is not thanked for a vote that is not on disk; the kiosk stays up.
                self.counters.record_errors += 1
                _LOG.exception("could not record answer %d", answer)
                return None
            self.counters.votes += 1
            self.last_vote = vote
            if hold:
                self.pending = vote
                self._go(Screen.FOLLOWUP, now)
            else:
                self._go(Screen.THANKS, now)
            return vote

    def answer_followup(self, answer: Literal["yes", "no"]) -> bool:
        """A touch on Oui or Non; returns whether it was taken."""
        with self._lock:
            now = self.clock.monotonic()
            if not self._accepts(Screen.FOLLOWUP, now):
                return False
            self._last_touch = now
            self.counters.followups_answered += 1
            self._complete(answer)
            self._go(Screen.THANKS, now)
            return True

    def set_language(self, lang: str) -> None:
        with self._lock:
            i18n.check_language(lang)
            self._last_touch = self.clock.monotonic()
            if lang != self.language:
                self.language = lang
                self._notify()

    # -- time ----------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply whatever timeout has passed, and the opening hours."""
        with self._lock:
            now = self.clock.monotonic()
            elapsed = now - self._entered
            if self.screen is Screen.FOLLOWUP and elapsed >= self.settings.followup_timeout_s:
                self.counters.followups_skipped += 1
                self._complete(None)
                self._go(Screen.THANKS, now)
            elif self.screen is Screen.THANKS and elapsed >= self.settings.thanks_s:
                self.language = self.default_language
                self._go(Screen.HOME if self._open() else Screen.SLEEP, now)
            elif self.screen is Screen.HOME:
                if not self._open():
                    self.language = self.default_language
                    self._go(Screen.SLEEP, now)
                elif (self.language != self.default_language
                      and now - self._last_touch >= self.settings.language_reset_s):
                    self.language = self.default_language
                    self._notify()
            elif self.screen is Screen.SLEEP and self._open():
                self._go(Screen.HOME, now)

    def reconfigure(self, settings: FlowSettings, hours: OpeningHours) -> None:
        """New settings from a remote configuration, from now on; a visitor on screen finishes first."""
        with self._lock:
            self.settings = settings
            self.hours = hours
            self.default_language = i18n.check_language(settings.language)
            if self.screen in (Screen.HOME, Screen.SLEEP):
                self.language = self.default_language
            _LOG.info("touch flow reconfigured: %d answers, follow-up %s", settings.scale,
                      "on" if settings.followup else "off")
            self._notify()
            self.tick()

    def seconds_left(self) -> float | None:
        """Time until the current screen's timeout, for a countdown; ``None`` on screens without one."""
        with self._lock:
            limit = {Screen.FOLLOWUP: self.settings.followup_timeout_s, Screen.THANKS: self.settings.thanks_s}
            if self.screen not in limit:
                return None
            return max(0.0, limit[self.screen] - (self.clock.monotonic() - self._entered))

    def close(self) -> None:
        """The kiosk stops: a vote waiting for its follow-up goes with no follow-up answer."""
        with self._lock:
            if self.pending is not None:
                self._complete(None)

    # -- internals -----------------------------------------------------------------------------------------

    def _open(self) -> bool:
        return self.hours.is_open(self.clock.now())

    def _accepts(self, screen: Screen, now: float) -> bool:
        if self.screen is not screen or now - self._entered < self.settings.guard_s:
            self.counters.ignored_touches += 1
            _LOG.debug("touch ignored on %s (%.3f s after it showed)", self.screen, now - self._entered)
            return False
        return True

    def _complete(self, answer: Literal["yes", "no"] | None) -> None:
        vote, self.pending = self.pending, None
        if vote is None:
            return
        try:
            self.recorder.complete(vote, FollowUp(answer=answer))
        except Exception:
            # The vote stays held on disk; the outbox releases it at the next start.
            self.counters.record_errors += 1
            _LOG.exception("could not complete vote %s with its follow-up", vote.id)

    def _go(self, screen: Screen, now: float) -> None:
        _LOG.debug("screen %s -> %s", self.screen, screen)
        self.screen = screen
        self._entered = now
        self._notify()

    def _notify(self) -> None:
        for listener in list(self.listeners):
            try:
                listener(self)
            except Exception:
                _LOG.exception("flow listener failed")
