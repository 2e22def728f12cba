"""Installed in the emulated Pi as ``sitecustomize.py`` by the test (never by a real bundle): with
``GPIOZERO_PIN_FACTORY=mock``, a file ``/run/borne-press/<anything>-<BCM pin>`` presses that pin once on the
process's own mock factory, as ``pin.drive_low()`` then ``drive_high()`` (gpiozero's own way in its tests).
Files already there when the process starts are not pressed again."""

import os
import threading
import time

PRESS_DIR = "/run/borne-press"


def _watch() -> None:
    from gpiozero import Device

    try:
        seen = set(os.listdir(PRESS_DIR))
    except OSError:
        seen = set()
    while True:
        time.sleep(0.2)
        try:
            names = sorted(set(os.listdir(PRESS_DIR)) - seen)
        except OSError:
            continue
        factory = Device.pin_factory
        if factory is None:
            continue  # no device yet: press once the kiosk has its pins
        for name in names:
            seen.add(name)
            pin = factory.pin(int(name.rsplit("-", 1)[1]))
            pin.drive_low()
            time.sleep(0.05)
            pin.drive_high()


if os.environ.get("GPIOZERO_PIN_FACTORY") == "mock":
    threading.Thread(target=_watch, name="borne-test-press", daemon=True).start()
