"""Errors raised while reading payloads off the wire."""

from __future__ import annotations

import logging

_LOG = logging.getLogger(__name__)


class ProtocolError(ValueError):
    """A payload that is not a valid message; ``reason`` is short and safe to log and count."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
