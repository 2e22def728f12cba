"""Simulated GPIO kiosks: real kiosk code on gpiozero's mock pins, pressed by a visitor model.

Used by ``borne demo`` and the tests. The buttons are pressed the way a visitor would (``drive_low`` then
``drive_high`` on the pin), so the whole path from the pin on is the real one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.service import GpioKiosk
from protocol.wire import Vote

_LOG = logging.getLogger(__name__)

#: Share of each answer on a 4-answer scale, least satisfied first: about 93 % satisfied.
DEFAULT_WEIGHTS = (0.03, 0.04, 0.25, 0.68)


class SimulatedKiosk:
    """A :class:`~kiosk.service.GpioKiosk` on a private ``MockFactory``; :meth:`press` presses a button."""

    def __init__(
        self,
        config: KioskConfig,
        *,
        clock: Clock | None = None,
        connect: bool = True,
        on_feedback: Callable[[Vote], None] | None = None,
    ) -> None:
        self.factory = MockFactory()
        self.config = config
        self.kiosk = GpioKiosk(config, clock=clock, pin_factory=self.factory, connect=connect,
                               on_feedback=on_feedback)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.presses = 0

    def press(self, answer: int) -> None:
        """Press and release the button of ``answer`` (1..N)."""
        pin = self.factory.pin(self.config.panel.buttons[answer - 1])
        pin.drive_low()
        pin.drive_high()
        self.presses += 1

    def visit(self, rng: random.Random, weights: Sequence[float] | None = None) -> None:
        """One visitor's answer, drawn from ``weights`` (default: about 93 % satisfied)."""
        scale = self.config.voting.scale
        w = list(weights or (DEFAULT_WEIGHTS if scale == 4 else [1] * (scale - 1) + [scale * 3]))
        self.press(rng.choices(range(1, scale + 1), weights=w)[0])

    def run_visitors(self, mean_interval: float, *, seed: int | None = None) -> None:
        """Press in a background thread, visitors arriving every ``mean_interval`` seconds on average."""
        rng = random.Random(seed)

        def loop() -> None:
            while not self._stop.wait(rng.expovariate(1 / mean_interval)):
                self.visit(rng)
                if rng.random() < 0.03:  # now and then, an impatient second press
                    self.visit(rng)

        self._thread = threading.Thread(target=loop, name=f"visitors-{self.config.kiosk_id}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.kiosk.close()
        self.factory.close()

    def __enter__(self) -> SimulatedKiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def simulated_config(kiosk_id: str, data_dir: Path, host: str, port: int, **voting: object) -> KioskConfig:
    """A configuration for a simulated kiosk talking to ``host:port``."""
    return KioskConfig.of(
        kiosk_id=kiosk_id,
        data_dir=data_dir / kiosk_id,
        broker={"host": host, "port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 2.0},
        voting=voting,
        uplink={"heartbeat_s": 10, "confirm_timeout_s": 15},
    )


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
