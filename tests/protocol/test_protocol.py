"""The contract: topics, scales, payload models and their JSON Schemas."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from protocol.codec import decode, encode
from protocol.errors import ProtocolError
from protocol.models import MAX_PAYLOAD_BYTES, Receipt, Vote, VoteBatch
from protocol.scales import Scale, scale_for
from protocol.schema import MODELS, SCHEMA_DIR, render
from protocol.topics import KioskTopic, TopicKind, kiosk_filter, kiosk_topic, shared

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("fs/v1/kiosks/k-1/votes", KioskTopic("k-1", TopicKind.VOTES)),
        ("fs/v1/kiosks/abc123/status", KioskTopic("abc123", TopicKind.STATUS)),
        ("fs/v1/kiosks/k-1/telemetry", KioskTopic("k-1", TopicKind.TELEMETRY)),
        ("fs/v1/kiosks/k-1/config", KioskTopic("k-1", TopicKind.CONFIG)),
        ("fs/v2/kiosks/k-1/votes", None),
        ("fs/v1/kiosks/K-1/votes", None),
        ("fs/v1/kiosks/k-1/votes/extra", None),
        ("fs/v1/kiosks/k-1/other", None),
        ("fs/v1/kiosks/../votes", None),
        ("", None),
    ],
)
def test_topic_parsing(topic: str, expected: KioskTopic | None) -> None:
    assert KioskTopic.parse(topic) == expected


def test_topic_building() -> None:
    assert kiosk_topic("k-1", TopicKind.VOTES) == "fs/v1/kiosks/k-1/votes"
    assert shared(kiosk_filter(TopicKind.VOTES), "borne") == "$share/borne/fs/v1/kiosks/+/votes"
    assert shared(kiosk_filter(TopicKind.VOTES), None) == "fs/v1/kiosks/+/votes"
    with pytest.raises(ValueError, match="invalid kiosk id"):
        kiosk_topic("a/b", TopicKind.VOTES)


@pytest.mark.parametrize(
    ("size", "satisfied", "weights"),
    [
        (2, (2,), (0, 100)),
        (3, (3,), (0, 50, 100)),
        (4, (3, 4), (0, 100 / 3, 200 / 3, 100)),
        (5, (4, 5), (0, 25, 50, 75, 100)),
    ],
)
def test_scales(size: int, satisfied: tuple[int, ...], weights: tuple[float, ...]) -> None:
    scale = scale_for(size)
    assert scale.satisfied_answers == satisfied
    assert [scale.index_weight(a) for a in scale.answers] == pytest.approx(weights)


@pytest.mark.parametrize("size", [0, 1, 6])
def test_scale_limits(size: int) -> None:
    with pytest.raises(ValueError):
        Scale(size)


def _vote(**overrides: object) -> dict[str, object]:
    vote: dict[str, object] = {"id": str(uuid.uuid4()), "seq": 1, "answer": 4, "scale": 4,
                               "ts": NOW.isoformat(), "clock_synced": True}
    vote.update(overrides)
    return vote


def _batch(*votes: dict[str, object], kiosk_id: str = "k-1") -> bytes:
    return json.dumps({"v": 1, "kiosk_id": kiosk_id, "sent_at": NOW.isoformat(), "votes": list(votes)}).encode()


def test_a_valid_batch_round_trips() -> None:
    batch = decode(VoteBatch, _batch(_vote(), _vote(seq=2, answer=1, misuse=True)))
    assert [v.answer for v in batch.votes] == [4, 1]
    assert batch.votes[1].misuse
    assert decode(VoteBatch, encode(batch)) == batch


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not-json"),
        (b"\xff\xfe", "not-utf8"),
        (b"{}", "invalid"),
        (b"[]", "invalid"),
        (_batch(_vote(answer=5)), "invalid"),  # not on a 4-answer scale
        (_batch(_vote(answer=0)), "invalid"),
        (_batch(_vote(scale=6, answer=6)), "invalid"),
        (_batch(_vote(ts="2026-03-02T10:30:00")), "invalid"),  # no UTC offset
        (_batch(_vote(extra="field")), "invalid"),
        (_batch(), "invalid"),  # no votes
        (_batch(_vote(), kiosk_id="Not A Kiosk"), "invalid"),
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "too-large"),
    ],
)
def test_bad_payloads_have_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(VoteBatch, payload)
    assert caught.value.reason == reason


def test_a_vote_id_twice_in_a_batch_is_refused() -> None:
    vote = _vote()
    with pytest.raises(ProtocolError, match="appears twice"):
        decode(VoteBatch, _batch(vote, {**vote, "seq": 2}))


def test_receipt_round_trip() -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    receipt = Receipt(stored=ids[:2], rejected=ids[2:])
    assert decode(Receipt, encode(receipt)) == receipt


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_schemas_match_the_models(name: str) -> None:
    """protocol/schema/*.json is what `borne protocol schema` writes: run it after changing a model."""
    assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == render(MODELS[name])


def test_vote_model_is_frozen() -> None:
    vote = Vote.model_validate(_vote())
    with pytest.raises(ValueError):
        vote.answer = 1  # type: ignore[misc]
