"""The contract between kiosks and collectors: MQTT topics, payload models and answer scales.

Everything that crosses the wire is defined here, and only here. Kiosks and collectors import this package;
it imports neither of them. :mod:`protocol.models` (pydantic) is the definition the collector validates with;
:mod:`protocol.wire` is the kiosk's pydantic-free side of it, held to the same checks by the tests.
"""

from __future__ import annotations

import importlib
from typing import Any

from protocol.scales import Scale, scale_for
from protocol.topics import KioskTopic, TopicKind

#: Loaded on first use: importing the package must not import pydantic, which a kiosk never loads
#: (it speaks the contract through :mod:`protocol.wire`).
_FROM_MODELS = frozenset({
    "MAX_PAYLOAD_BYTES", "MAX_VOTES_PER_BATCH", "PROTOCOL_VERSION", "Receipt", "Status", "StatusMessage",
    "Telemetry", "Vote", "VoteBatch",
})


def __getattr__(name: str) -> Any:
    if name in _FROM_MODELS:
        return getattr(importlib.import_module("protocol.models"), name)
    raise AttributeError(f"module 'protocol' has no attribute {name!r}")


__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_VOTES_PER_BATCH",
    "PROTOCOL_VERSION",
    "KioskTopic",
    "Receipt",
    "Scale",
    "Status",
    "StatusMessage",
    "Telemetry",
    "TopicKind",
    "Vote",
    "VoteBatch",
    "scale_for",
]
