"""Fuzzing the payload parser and the kiosk's configuration loader: no input makes them raise anything but
their own clear error.

The payload fuzzer mutates valid vote batches (bit flips, truncations, splices, hostile strings in every field,
type swaps, deep nesting, huge numbers) and adds random bytes: 100,000 cases, each either parsed into a valid model or
refused with a :class:`ProtocolError` and a countable reason. A second pass puts a sample of them through the
collector's store, which must keep each as a vote or a reject, never fail.
"""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest.store import Incoming, Store
from devtools.builders import migrated_engine, register, rejects, stored_ids
from kiosk.config import ConfigInvalid, load_config
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.models import Receipt, StatusMessage, Telemetry, VoteBatch

CASES = 100_000
HOSTILE = [
    "", " ", "\x00", "\u202e", "🙂" * 50, "A" * 10_000, "'; DROP TABLE votes; --", "../../etc/passwd",
    "<script>alert(1)</script>", "${jndi:ldap://x}", "%s%s%n", "\ud800", "NaN", "Infinity", "-0", "1e400",
    "9" * 400, "null", "true", "[]", "{}",
]
REASONS = {"not-json", "not-utf8", "too-large", "invalid"}


def _valid(rng: random.Random) -> dict[str, Any]:
    now = datetime(2026, 3, 2, 10, 30, tzinfo=UTC).isoformat()
    votes = [
        {"id": str(uuid.UUID(int=rng.getrandbits(128))), "seq": i + 1, "answer": rng.randint(1, 4), "scale": 4,
         "ts": now, "clock_synced": rng.random() < 0.9, "misuse": rng.random() < 0.05}
        for i in range(rng.randint(1, 5))
    ]
    return {"v": 1, "kiosk_id": "k-fuzz", "sent_at": now, "votes": votes}


def _mutate_value(rng: random.Random, value: Any) -> Any:
    choice = rng.randrange(9)
    if choice == 0:
        return rng.choice(HOSTILE)
    if choice == 1:
        return rng.choice([None, True, False, 0, -1, 2**63, -(2**70), 1.5, float("1e308"), [], {}, [value]])
    if choice == 2 and isinstance(value, int) and not isinstance(value, bool):
        return value + rng.choice([-1, 1, 2**31, -(2**31), 10**20])
    if choice == 3 and isinstance(value, str):
        return value[: rng.randrange(len(value) + 1)]
    if choice == 4:
        nested: Any = value
        for _ in range(rng.randint(1, 60)):
            nested = [nested]
        return nested
    return value


def _mutate(rng: random.Random, obj: Any) -> Any:
    if isinstance(obj, dict):
        out = {k: (_mutate(rng, v) if rng.random() < 0.5 else v) for k, v in obj.items()}
        if rng.random() < 0.15 and out:
            out.pop(rng.choice(list(out)))
        if rng.random() < 0.1:
            out[rng.choice(HOSTILE)] = rng.choice(HOSTILE)
        return out
    if isinstance(obj, list):
        out_list = [_mutate(rng, v) for v in obj]
        if rng.random() < 0.1 and out_list:
            out_list.extend(out_list * rng.randint(1, 200))
        return out_list
    return _mutate_value(rng, obj) if rng.random() < 0.3 else obj


def _case(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 300))
    text = json.dumps(_mutate(rng, _valid(rng)), ensure_ascii=rng.random() < 0.5, allow_nan=True)
    data = text.encode("utf-8", "surrogatepass")
    if kind == 1 and data:  # bit flips
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if kind == 2:  # truncation
        return data[: rng.randrange(len(data) + 1)]
    if kind == 3:  # splice two
        other = json.dumps(_valid(rng)).encode()
        return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]
    return data


def test_payload_parser_100k_cases() -> None:
    rng = random.Random(20261123)
    outcomes = {"parsed": 0, **dict.fromkeys(REASONS, 0)}
    decoded = 0
    for _ in range(CASES):
        payload = _case(rng)
        for model in (VoteBatch,) if rng.random() < 0.85 else (StatusMessage, Telemetry, Receipt):
            decoded += 1
            try:
                decode(model, payload)
                outcomes["parsed"] += 1
            except ProtocolError as exc:
                assert exc.reason in REASONS
                outcomes[exc.reason] += 1
    assert sum(outcomes.values()) == decoded >= CASES
    assert outcomes["parsed"] > 1000 and outcomes["invalid"] > 1000 and outcomes["not-json"] > 1000


def test_fuzzed_payloads_through_the_store(tmp_path: Path) -> None:
    """Each fuzzed message becomes votes or a reject; the store never fails."""
    engine = migrated_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    register(engine, {"k-fuzz": ("fs-1", "59")})
    store = Store(engine, rejects_per_kiosk_per_minute=0)  # every reject kept: they are counted below
    rng = random.Random(7)
    now = datetime.now(UTC)
    messages = [Incoming("fs/v1/kiosks/k-fuzz/votes", _case(rng), now) for _ in range(2000)]
    outcome_total = 0
    for start in range(0, len(messages), 100):
        outcome = store.ingest(messages[start:start + 100])
        outcome_total += sum(outcome.rejected.values())
    accepted = sum(1 for m in messages if _parses(m.payload))
    # A batch that parses is a reject too if a synchronised vote's time is out of its kiosk's (a ``ts`` of 1.5 is
    # 1970-01-01T00:00:01.5Z, before the kiosk's registration).
    out_of_time = [r for r in rejects(engine) if r.reason in ("vote-before-registration", "vote-in-future")]
    assert outcome_total == len(rejects(engine)) == len(messages) - accepted + len(out_of_time)
    assert len(stored_ids(engine)) > 0


def _parses(payload: bytes) -> bool:
    """A valid batch of this kiosk (a valid batch naming another kiosk is a reject too)."""
    try:
        return decode(VoteBatch, payload).kiosk_id == "k-fuzz"
    except ProtocolError:
        return False


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400))
def test_config_loader_takes_any_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("cfg") / "kiosk.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(ConfigInvalid):
        load_config(path)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["kiosk_id", "data_dir", "ui", "broker", "panel", "voting", "uplink"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                        max_size=4),
                                    max_leaves=10)))
def test_config_loader_takes_any_structure(data: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigInvalid):
        load_config(None, **data)
