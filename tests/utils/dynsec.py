"""Temporary: the dynamic-security Mosquitto moved to :mod:`devtools.dynsec` (shared with ``bench/``); kept only
while ``tests/provisioning/`` imports the old name. Import :mod:`devtools.dynsec` instead."""

from __future__ import annotations

import logging

from devtools.dynsec import MOSQUITTO_CTRL, DynsecMosquitto, dynsec_available

__all__ = ["MOSQUITTO_CTRL", "DynsecMosquitto", "dynsec_available"]

_LOG = logging.getLogger(__name__)
