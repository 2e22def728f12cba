"""The kiosk as a whole: configuration in, a running outbox, recorder and uplink out.

:class:`Kiosk` is what both front ends (GPIO buttons, touchscreen) sit on. :class:`GpioKiosk` adds the
buttons and LEDs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.clock import Clock, SystemClock
from kiosk.config import KioskConfig
from kiosk.outbox import Outbox
from kiosk.recorder import Recorder
from kiosk.uplink import Uplink
from protocol.models import Vote

if TYPE_CHECKING:
    from gpiozero.pins import Factory

_LOG = logging.getLogger(__name__)

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def read_boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


class Kiosk:
    """Outbox, recorder and uplink for one kiosk. A context manager; :meth:`close` is safe twice."""

    def __init__(self, config: KioskConfig, *, clock: Clock | None = None, connect: bool = True) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.outbox = Outbox(config.outbox_path)
        voting = config.voting
        self.recorder = Recorder(
            self.outbox,
            self.clock,
            scale=voting.scale,
            question=voting.question,
            repeat_interval=voting.repeat_interval_s,
            boot_id=read_boot_id(),
        )
        self.uplink: Uplink | None = None
        if connect:
            self.uplink = Uplink(self.outbox, config.kiosk_id, config.broker, config.uplink, self.clock)
            self.recorder.listeners.append(lambda _vote: self._wake_uplink())
            self.uplink.start()
        self._closed = threading.Event()

    def _wake_uplink(self) -> None:
        if self.uplink is not None:
            self.uplink.wake()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self.uplink is not None:
            self.uplink.close()
        self.outbox.close()

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GpioKiosk(Kiosk):
    """A kiosk with physical buttons: a press records a vote, then lights the thank-you LED.

    ``on_feedback`` is called with each vote at the moment its feedback fires, that is after it is on disk.
    """

    def __init__(
        self,
        config: KioskConfig,
        *,
        clock: Clock | None = None,
        pin_factory: Factory | None = None,
        connect: bool = True,
        on_feedback: Callable[[Vote], None] | None = None,
    ) -> None:
        # Imported here: a touch kiosk need not have gpiozero's pins.
        from hardware.panel import ButtonPanel, FeedbackLeds

        super().__init__(config, clock=clock, connect=connect)
        self.on_feedback = on_feedback
        try:
            panel = config.panel
            self.panel = ButtonPanel(panel.buttons, pull_up=panel.pull_up, pin_factory=pin_factory)
            self.leds = FeedbackLeds(panel.thanks_led, panel.status_led, pin_factory=pin_factory)
        except Exception:
            super().close()
            raise
        self.panel.when_pressed = self._pressed

    def _pressed(self, answer: int) -> None:
        self.press(answer)

    def press(self, answer: int) -> Vote:
        vote = self.recorder.record(answer)
        # The vote is durable: only now may the visitor be thanked.
        self.leds.thank()
        if self.on_feedback is not None:
            self.on_feedback(vote)
        return vote

    def close(self) -> None:
        if self._closed.is_set():
            return
        panel = getattr(self, "panel", None)
        if panel is not None:
            panel.close()
        leds = getattr(self, "leds", None)
        if leds is not None:
            leds.close()
        super().close()
