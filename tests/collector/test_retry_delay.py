"""While the database is down, the waiting group is tried again every second or two, never backing off further."""

from __future__ import annotations

import pytest

from collector.ingest.subscriber import RETRY_EVERY_S, RETRY_FIRST_S, RETRY_JITTER_S, retry_delay


@pytest.mark.parametrize("attempt", [1, 2, 5, 10, 100, 10_000])
def test_retries_stay_within_two_seconds(attempt: int) -> None:
    delays = [retry_delay(attempt) for _ in range(200)]
    assert all(RETRY_EVERY_S <= d <= RETRY_EVERY_S + RETRY_JITTER_S for d in delays)
    assert max(delays) <= 2.0
    assert len(set(delays)) > 100  # jittered: collectors do not knock in step


def test_the_first_retry_is_quick() -> None:
    assert retry_delay(0) == RETRY_FIRST_S
