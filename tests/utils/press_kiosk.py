"""A kiosk in a process of its own, for tests that SIGKILL it.

    python -m tests.utils.press_kiosk CONFIG.toml PRESSES INTERVAL_S

Presses PRESSES times on gpiozero's mock pins (answers cycling 1..N) and prints ``FEEDBACK <vote id>`` the moment
each vote's feedback fires (flushed, so a test reading the pipe knows exactly which presses were acknowledged).
Then it keeps sending until its outbox is empty and prints ``DRAINED``. With PRESSES = 0 it only drains.
"""

from __future__ import annotations

import sys
import time

from gpiozero.pins.mock import MockFactory

from kiosk.config import load_config
from kiosk.service import GpioKiosk
from protocol.wire import Vote


def main() -> None:
    config = load_config(sys.argv[1])
    presses, interval = int(sys.argv[2]), float(sys.argv[3])
    factory = MockFactory()

    def feedback(vote: Vote) -> None:
        sys.stdout.write(f"FEEDBACK {vote.id}\n")
        sys.stdout.flush()

    with GpioKiosk(config, pin_factory=factory, on_feedback=feedback) as kiosk:
        pins = config.panel.buttons
        for i in range(presses):
            pin = factory.pin(pins[i % len(pins)])
            pin.drive_low()
            pin.drive_high()
            time.sleep(interval)
        while kiosk.outbox.depth() > 0:
            time.sleep(0.05)
        sys.stdout.write("DRAINED\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
