"""Physical devices of a GPIO kiosk, on gpiozero: the answer buttons and the feedback LEDs.

Like gpiozero's own devices, every class takes ``pin_factory=None``; laptops and CI run with
``GPIOZERO_PIN_FACTORY=mock`` (or pass a ``MockFactory``) and press with ``pin.drive_low()``.
"""

from hardware.panel import ButtonPanel, FeedbackLeds

__all__ = ["ButtonPanel", "FeedbackLeds"]
