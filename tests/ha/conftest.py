"""Fixtures of the high-availability tests: a PostgreSQL primary with a synchronous standby."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.databases import ReplicatedPostgres


@pytest.fixture
def replicated() -> Iterator[ReplicatedPostgres]:
    """A primary and a synchronous standby (throw-away clusters on free ports), both hosts in :attr:`url`."""
    pair = ReplicatedPostgres()
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()
