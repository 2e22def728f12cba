"""The emulated Raspberry Pi: slow (tens of minutes under TCG), so it runs only with ``make test-pi``
(``BORNE_TEST_PI=1``); the default ``make test`` lists it as skipped."""

from __future__ import annotations

import os

import pytest

from tests.provisioning.conftest import dynsec_mosquitto  # noqa: F401 (a fixture)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("BORNE_TEST_PI") == "1":
        return
    skip = pytest.mark.skip(reason="the emulated Pi runs with 'make test-pi' (BORNE_TEST_PI=1)")
    for item in items:
        if item.get_closest_marker("pi"):
            item.add_marker(skip)
