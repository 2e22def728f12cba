"""The kiosk: a press becomes a vote on disk, then a message to the collector.

press (hardware/ or the touch UI) -> :mod:`kiosk.recorder` -> :mod:`kiosk.outbox` -> :mod:`kiosk.uplink`
"""

__version__ = "0.1.0"
