"""Put on a kiosk process's ``PYTHONPATH`` as ``sitecustomize`` by the update tests (never by a bundle): with
``GPIOZERO_PIN_FACTORY=mock``, presses the first answer button every ``BORNE_TEST_PRESS_S`` seconds once the
kiosk has its pins, as ``pin.drive_low()`` then ``drive_high()``, so that votes are recorded throughout an
update. Does nothing in a process that never makes a pin factory (the supervisor)."""

import os
import sys
import threading
import time


def _press() -> None:
    period = float(os.environ.get("BORNE_TEST_PRESS_S", "0.2"))
    pin = int(os.environ.get("BORNE_TEST_PRESS_PIN", "5"))
    while True:
        time.sleep(period)
        gpiozero = sys.modules.get("gpiozero")
        factory = getattr(getattr(gpiozero, "Device", None), "pin_factory", None)
        if factory is None:
            continue
        try:
            device = factory.pin(pin)
            device.drive_low()
            time.sleep(0.02)
            device.drive_high()
        except Exception:  # noqa: S112 (a test helper: the kiosk may be closing)
            continue


if os.environ.get("BORNE_TEST_PRESS_S"):
    threading.Thread(target=_press, name="test-presser", daemon=True).start()
