"""The touchscreen kiosk: a Kivy front end on the same recorder, outbox and uplink as the GPIO kiosk.

The screens' logic (:mod:`kiosk.touch.flow`), the texts (:mod:`kiosk.touch.i18n`), the opening hours
(:mod:`kiosk.touch.hours`) and the colours (:mod:`kiosk.touch.theme`) are plain Python, tested without a
window. Only :mod:`kiosk.touch.ui` and :mod:`kiosk.touch.widgets` import Kivy, and only after
:func:`kiosk.touch.app.configure_kivy` has set it up.
"""

from __future__ import annotations

import logging

_LOG = logging.getLogger(__name__)
