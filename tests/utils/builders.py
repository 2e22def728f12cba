"""Temporary: the builders moved to :mod:`devtools.builders` (shared with ``bench/``); kept only while
``tests/provisioning/`` imports the old name. Import :mod:`devtools.builders` instead."""

from __future__ import annotations

import logging

from devtools.builders import (
    REGISTERED,
    admin_token,
    api_satisfaction,
    bearer,
    collector_settings,
    migrated_engine,
    register,
    rejects,
    start_collector,
    stored_ids,
    vote_counts,
    wire_batch,
)

__all__ = ["REGISTERED", "admin_token", "api_satisfaction", "bearer", "collector_settings", "migrated_engine",
           "register", "rejects", "start_collector", "stored_ids", "vote_counts", "wire_batch"]

_LOG = logging.getLogger(__name__)
