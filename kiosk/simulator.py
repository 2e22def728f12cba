"""Temporary: the kiosk simulator moved to :mod:`devtools.kiosk_sim` (development tooling, not shipped).

Kept only while ``tests/provisioning/`` still imports ``kiosk.simulator``; ``tests/test_architecture.py`` allows
this one module to import ``devtools`` until then. Import :mod:`devtools.kiosk_sim` instead.
"""

from __future__ import annotations

import logging

from devtools.kiosk_sim import DEFAULT_WEIGHTS, SimulatedKiosk, simulated_config, wait_until

__all__ = ["DEFAULT_WEIGHTS", "SimulatedKiosk", "simulated_config", "wait_until"]

_LOG = logging.getLogger(__name__)
