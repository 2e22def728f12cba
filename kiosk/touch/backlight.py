"""The screen's backlight, off while the kiosk sleeps (outside opening hours), on again when it wakes.

A Raspberry Pi's display driver (the official 7-inch and Touch Display 2, most DSI panels) exposes its backlight in
sysfs: ``/sys/class/backlight/<name>/bl_power``, ``0`` lit, ``4`` off (the kernel's ``FB_BLANK_UNBLANK`` and
``FB_BLANK_POWERDOWN``). The kiosk runs as an unprivileged user: the bundle's udev rule gives the ``video`` group
write access to that file (:mod:`provisioning.pi`). A screen without a backlight in sysfs (HDMI, a desktop) has
nothing to switch: the sleep screen alone shows, and that is said once in the log.

Nothing here may disturb the kiosk: a write that fails is logged, never raised. The touchscreen still takes
touches with its backlight off, and the flow wakes the screen at opening time whatever happens to a touch.
"""

from __future__ import annotations

import logging
from pathlib import Path

_LOG = logging.getLogger(__name__)

SYSFS = Path("/sys/class/backlight")
LIT, OFF = "0", "4"


class Backlight:
    """Switches every backlight under ``root`` (``/sys/class/backlight``); a no-op when ``enabled`` is false."""

    def __init__(self, root: Path = SYSFS, *, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled
        self._lit: bool | None = None  # as last set; None: not yet
        self._said_none = False

    def _controls(self) -> list[Path]:
        try:
            return sorted(p for p in self.root.glob("*/bl_power") if p.is_file())
        except OSError:
            return []

    def set(self, lit: bool) -> None:
        """Light the screen, or turn its backlight off; only a change is written."""
        if not self.enabled or lit == self._lit:
            return
        self._lit = lit
        controls = self._controls()
        if not controls:
            if not self._said_none:
                _LOG.info("no backlight under %s: the screen stays lit while asleep (the sleep screen shows)",
                          self.root)
                self._said_none = True
            return
        for control in controls:
            try:
                control.write_text(LIT if lit else OFF, encoding="ascii")
            except OSError as exc:
                _LOG.warning("backlight %s not switched %s: %s (the kiosk's user needs write access: the "
                             "bundle's udev rule gives it to the video group)", control.parent.name,
                             "on" if lit else "off", exc.strerror or exc)
            else:
                _LOG.info("backlight %s %s", control.parent.name, "on" if lit else "off (asleep)")

    def close(self) -> None:
        """Leave the screen lit (a stopped kiosk must not leave a black screen that looks dead)."""
        if self.enabled and self._lit is False:
            self.set(True)
