"""What a Raspberry Pi needs that a PC does not, written by the bundle as drop-ins (the units stay as they are).

- **The SD card spared.** The journal lives in RAM (``Storage=volatile``, at most 32 MB): a kiosk logs for
  months and a card wears out with writes. The outbox and ``kiosk.toml`` are on the data partition already
  (``/var/lib/borne``), the root is read-only (overlay) after the first boot.
- **The pins.** gpiozero picks its pin driver itself: ``lgpio`` first (the only one for the Pi 5's RP1, and
  Raspberry Pi OS's default on every model), then ``rpigpio`` or ``pigpio`` on older Pis. ``--pin-factory``
  forces one (``GPIOZERO_PIN_FACTORY`` in the kiosk's unit): ``lgpio``, ``rpigpio``, ``pigpio``, ``native``.
- **The touchscreen without a desktop.** The system unit has no display server: SDL draws straight on the
  screen with its ``kmsdrm`` driver (``SDL_VIDEODRIVER=kmsdrm``), and the touches come from the kernel through
  ``[touch] input = "mtdev"`` (kiosk.toml). Rotation and calibration stay in kiosk.toml (``[touch] rotation``,
  ``input_options``): Kivy turns its drawing and the touch coordinates together (docs/kiosk.md).
- **The backlight off while asleep.** The touch kiosk turns the screen's backlight off outside opening hours
  (:mod:`kiosk.touch.backlight`, sysfs ``bl_power``); a udev rule lets the ``video`` group, which the kiosk's user
  is in, write it.
"""

from __future__ import annotations

import logging
from typing import Any

_LOG = logging.getLogger(__name__)

PIN_FACTORIES = ("lgpio", "rpigpio", "pigpio", "native", "mock")
JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/50-borne-volatile.conf"
KIOSK_DROPIN = "/etc/systemd/system/borne-kiosk.service.d/10-pi.conf"
BACKLIGHT_RULE = "/etc/udev/rules.d/90-borne-backlight.rules"

BACKLIGHT = """# borne: the kiosk's user (group video) may switch the screen's backlight off while it sleeps.
SUBSYSTEM=="backlight", ACTION=="add", RUN+="/bin/chgrp video /sys%p/bl_power /sys%p/brightness", \\
  RUN+="/bin/chmod g+w /sys%p/bl_power /sys%p/brightness"
"""

JOURNALD = """# borne: the journal in RAM only, to spare the SD card (lost at each reboot; no vote is in it).
[Journal]
Storage=volatile
RuntimeMaxUse=32M
"""


def kiosk_dropin(ui: str, pin_factory: str | None) -> str | None:
    """The kiosk unit's Pi-specific environment, or ``None`` when it needs none."""
    lines = []
    if pin_factory is not None:
        if pin_factory not in PIN_FACTORIES:
            raise ValueError(f"the pin factory is one of {', '.join(PIN_FACTORIES)}, not {pin_factory!r}")
        lines.append(f"Environment=GPIOZERO_PIN_FACTORY={pin_factory}")
    if ui == "touch":
        lines.append("Environment=SDL_VIDEODRIVER=kmsdrm")
    if not lines:
        return None
    return "# borne: what the kiosk needs on a Raspberry Pi (provisioning/pi.py)\n[Service]\n" + "\n".join(lines) + "\n"


def pi_files(ui: str, pin_factory: str | None = None) -> list[dict[str, Any]]:
    """cloud-init ``write_files`` entries: the volatile journal, the kiosk unit's drop-in, and for a touchscreen the
    backlight's udev rule."""
    files: list[dict[str, Any]] = [{"path": JOURNALD_DROPIN, "permissions": "0644", "content": JOURNALD}]
    dropin = kiosk_dropin(ui, pin_factory)
    if dropin is not None:
        files.append({"path": KIOSK_DROPIN, "permissions": "0644", "content": dropin})
    if ui == "touch":
        files.append({"path": BACKLIGHT_RULE, "permissions": "0644", "content": BACKLIGHT})
    return files
