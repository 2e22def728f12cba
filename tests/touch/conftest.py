"""Fixtures of the touch kiosk's tests: a kiosk without a broker, on a manual clock."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kiosk.clock import ManualClock
from kiosk.config import KioskConfig
from kiosk.service import Kiosk

_LOG = logging.getLogger(__name__)

# Monday 5 January 2026, 10:00 in Paris.
MONDAY_10H = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_config(data_dir: Path, **voting: Any) -> KioskConfig:
    return KioskConfig.of(kiosk_id="fs-test-touch", data_dir=data_dir, ui="touch", voting=voting)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY_10H)


@pytest.fixture
def kiosk_factory(tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    made: list[Kiosk] = []

    def make(**voting: Any) -> Kiosk:
        k = Kiosk(make_config(tmp_path / f"k{len(made)}", **voting), clock=clock, connect=False)
        made.append(k)
        return k

    yield make
    for k in made:
        k.close()
