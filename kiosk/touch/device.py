"""The touch kiosk's device: a :class:`~kiosk.service.Kiosk` whose health includes the window's own loop.

The kiosk pings systemd's watchdog only while it is healthy. For a touchscreen, healthy also means the
interface still turns: the app beats on every tick, and a window frozen for ``ui_stall_s`` makes the kiosk
unhealthy, so systemd restarts it rather than leaving visitors in front of a dead screen.
"""

from __future__ import annotations

import logging
from typing import Any

from kiosk.config import KioskConfig
from kiosk.service import Kiosk

_LOG = logging.getLogger(__name__)

DEFAULT_UI_STALL_S = 30.0


class TouchKiosk(Kiosk):
    """A kiosk driven by the touch interface; :meth:`ui_beat` is called from the interface's loop."""

    def __init__(self, config: KioskConfig, *, ui_stall_s: float = DEFAULT_UI_STALL_S, **kwargs: Any) -> None:
        # Set before the parent starts its maintenance thread, which asks healthy().
        self.ui_stall_s = ui_stall_s
        self._ui_last: float | None = None
        super().__init__(config, **kwargs)

    def ui_beat(self) -> None:
        self._ui_last = self.clock.monotonic()

    def ui_stalled(self) -> bool:
        """Whether the interface has beaten before and not for ``ui_stall_s``."""
        last = self._ui_last
        return last is not None and self.clock.monotonic() - last > self.ui_stall_s

    def healthy(self) -> bool:
        if self.ui_stalled():
            _LOG.error("touch interface frozen for more than %.0f s", self.ui_stall_s)
            return False
        return super().healthy()
