"""The answer buttons and the feedback LEDs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from gpiozero import LED, Button, Device
from gpiozero.pins import Factory

_LOG = logging.getLogger(__name__)


class ButtonPanel:
    """N answer buttons, least satisfied first. ``when_pressed`` is called with the answer (1..N).

    Debounce and repeat-press logic do not live here: gpiozero's mock ignores ``bounce_time``, so that logic
    is the recorder's, driven by a clock that tests control.
    """

    def __init__(
        self,
        pins: Sequence[int | str],
        *,
        pull_up: bool = True,
        pin_factory: Factory | None = None,
    ) -> None:
        if len(pins) < 2:
            raise ValueError("a panel needs at least two buttons")
        self.when_pressed: Callable[[int], None] | None = None
        self._buttons: list[Button] = []
        try:
            for answer, pin in enumerate(pins, start=1):
                button = Button(pin, pull_up=pull_up, pin_factory=pin_factory)
                button.when_pressed = self._handler(answer)
                self._buttons.append(button)
        except Exception:
            self.close()
            raise

    def _handler(self, answer: int) -> Callable[[], None]:
        def pressed() -> None:
            callback = self.when_pressed
            if callback is None:
                return
            try:
                callback(answer)
            except Exception:
                _LOG.exception("press of answer %d failed", answer)

        return pressed

    @property
    def buttons(self) -> tuple[Button, ...]:
        return tuple(self._buttons)

    def __len__(self) -> int:
        return len(self._buttons)

    def close(self) -> None:
        for button in self._buttons:
            button.close()
        self._buttons = []

    def __enter__(self) -> ButtonPanel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FeedbackLeds:
    """A thank-you LED, lit briefly after a vote is on disk, and a status LED lit while offline."""

    def __init__(
        self,
        thanks: int | str | None,
        status: int | str | None = None,
        *,
        pin_factory: Factory | None = None,
    ) -> None:
        self.thanks: Device | None = LED(thanks, pin_factory=pin_factory) if thanks is not None else None
        self.status: Device | None = None
        try:
            self.status = LED(status, pin_factory=pin_factory) if status is not None else None
        except Exception:
            self.close()
            raise

    def thank(self, seconds: float = 1.5) -> None:
        """Light the thank-you LED for ``seconds``, in gpiozero's background thread."""
        if isinstance(self.thanks, LED):
            self.thanks.blink(on_time=seconds, off_time=0, n=1, background=True)

    def set_offline(self, offline: bool) -> None:
        if isinstance(self.status, LED):
            self.status.value = offline

    def close(self) -> None:
        for led in (self.thanks, self.status):
            if led is not None:
                led.close()
        self.thanks = self.status = None

    def __enter__(self) -> FeedbackLeds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
