"""One contract, two sides: the kiosk's pydantic-free :mod:`protocol.wire` against :mod:`protocol.models`.

Everything the kiosk encodes validates with the models and the JSON Schemas (and is written byte for byte as
pydantic writes it); the kiosk's decoders accept and refuse exactly what the models accept and refuse, with the
same reasons, on a table of payloads and on seeded random mixes of awkward values.
"""

from __future__ import annotations

import json
import random
import typing
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kiosk.clock import ManualClock
from kiosk.config import BrokerConfig, UplinkConfig
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from protocol import checks, models, wire
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.schema import SCHEMA_DIR

jsonschema_rs = pytest.importorskip("jsonschema_rs")

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
ID = uuid.UUID("0b6e6a6e-1c1e-4f8e-9a0e-6c2a3c4d5e6f")


def schema_valid(name: str, payload: bytes) -> bool:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return bool(jsonschema_rs.validator_for(schema).is_valid(json.loads(payload)))


def test_the_constants_agree() -> None:
    assert wire.PROTOCOL_VERSION == models.PROTOCOL_VERSION
    assert wire.MAX_PAYLOAD_BYTES == models.MAX_PAYLOAD_BYTES
    assert wire.MAX_VOTES_PER_BATCH == models.MAX_VOTES_PER_BATCH
    assert wire.DEFAULT_QUESTION == models.DEFAULT_QUESTION
    assert wire.FOLLOWUP_QUESTION == models.FOLLOWUP_QUESTION
    language = typing.get_type_hints(models.RemoteConfig)["language"]
    assert typing.get_args(typing.get_args(language)[0]) == checks.LANGUAGES
    assert list(wire.Status) == [wire.Status(s.value) for s in models.Status]
    assert [c.value for c in wire.CheckOutcome] == [c.value for c in models.CheckOutcome]
    for mine, theirs in ((wire.Vote, models.Vote), (wire.FollowUp, models.FollowUp),
                         (wire.StatusMessage, models.StatusMessage), (wire.Telemetry, models.Telemetry),
                         (wire.SelfTestCheck, models.SelfTestCheck), (wire.SelfTestReport, models.SelfTestReport)):
        assert [f.name for f in mine.__dataclass_fields__.values()] == list(theirs.model_fields), mine


# -- what the kiosk encodes ------------------------------------------------------------------------------------

VOTES: list[dict[str, Any]] = [
    {"id": ID, "seq": 1, "answer": 4, "scale": 4, "ts": NOW, "clock_synced": True},
    {"id": uuid.uuid4(), "seq": 2**53, "answer": 1, "scale": 2, "question": "q.2-b_c", "ts": NOW,
     "clock_synced": False, "misuse": True, "boot_id": "b" * 64, "mono_ms": 0},
    {"id": uuid.uuid4(), "seq": 7, "answer": 3, "scale": 5, "clock_synced": True, "mono_ms": 123456,
     "ts": datetime(2026, 1, 5, 9, 0, 0, 120000, tzinfo=timezone(timedelta(hours=1))), "boot_id": "é-boot"},
    {"id": uuid.uuid4(), "seq": 8, "answer": 2, "scale": 3, "clock_synced": True,
     "ts": datetime(2026, 1, 5, 9, 0, 0, 1000, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))},
]
FOLLOWUPS: list[dict[str, Any] | None] = [None, {}, {"answer": "yes"}, {"answer": "no", "question": "fs-x"}]


@pytest.mark.parametrize("vote", VOTES)
@pytest.mark.parametrize("followup", FOLLOWUPS)
def test_a_vote_is_written_as_pydantic_writes_it(vote: dict[str, Any], followup: dict[str, Any] | None) -> None:
    mine = wire.Vote(**vote, followup=None if followup is None else wire.FollowUp(**followup))
    theirs = models.Vote(**vote, followup=None if followup is None else models.FollowUp(**followup))
    assert mine.to_json() == theirs.model_dump_json(exclude_none=True)
    assert models.Vote.model_validate_json(mine.to_json()) == theirs
    batch = f'{{"v":1,"kiosk_id":"k-1","sent_at":"{NOW.isoformat()}","votes":[{mine.to_json()}]}}'.encode()
    assert decode(models.VoteBatch, batch).votes == [theirs]
    assert schema_valid("vote-batch.v1.json", batch)


@pytest.mark.parametrize(
    "change",
    [
        {"answer": 5}, {"answer": 0}, {"seq": 0}, {"seq": 2**53 + 1}, {"scale": 1}, {"scale": 6},
        {"question": "Bad question"}, {"question": "q\n"}, {"question": ""}, {"ts": datetime(2026, 1, 5, 9)},
        {"boot_id": "b" * 65}, {"mono_ms": -1},
    ],
)
def test_a_vote_the_models_refuse_cannot_be_built(change: dict[str, Any]) -> None:
    values = {**VOTES[0], **change}
    with pytest.raises(ValueError):
        models.Vote(**values)
    with pytest.raises(ValueError):
        wire.Vote(**values)


#: Times at the edges of the calendar and of the protocol's range: valid ISO 8601, refused by both sides alike.
EDGE_TIMES = [
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),            # converting it to UTC overflows
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 59, tzinfo=timezone(timedelta(hours=1))),   # 1969 in UTC
    datetime(2100, 1, 1, tzinfo=UTC),
    datetime(2099, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-1))),  # 2100 in UTC
]
#: The range's own edges, valid on both sides.
INSIDE_TIMES = [checks.TIME_MIN, checks.TIME_MAX - timedelta(microseconds=1),
                datetime(1970, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))),
                datetime(2099, 12, 31, 22, 59, tzinfo=timezone(timedelta(hours=-1)))]


@pytest.mark.parametrize("ts", EDGE_TIMES, ids=str)
def test_times_out_of_range_are_refused_by_both_sides(ts: datetime) -> None:
    values: list[tuple[Any, Any, dict[str, Any]]] = [
        (models.Vote, wire.Vote, {**VOTES[0], "ts": ts}),
        (models.StatusMessage, wire.StatusMessage, {"status": "online", "ts": ts}),
        (models.Telemetry, wire.Telemetry, {"ts": ts, "uptime_s": 1.0, "version": "1", "outbox_depth": 0}),
    ]
    for model, mine, fields in values:
        with pytest.raises(ValueError):
            model(**fields)
        if "status" in fields:
            fields = {**fields, "status": wire.Status.ONLINE}
        with pytest.raises(ValueError):
            mine(**fields)
    check = wire.SelfTestCheck(name="disk", outcome=wire.CheckOutcome.PASSED)
    with pytest.raises(ValueError):
        wire.SelfTestReport(ts=ts, passed=True, checks=(check,))
    with pytest.raises(ValueError):
        models.SelfTestReport(ts=ts, passed=True, checks=[{"name": "disk", "outcome": "passed"}])
    vote = json.dumps({**json.loads(wire.Vote(**VOTES[0]).to_json()), "ts": ts.isoformat()})
    for batch in (f'{{"v":1,"kiosk_id":"k-1","sent_at":"{NOW.isoformat()}","votes":[{vote}]}}',
                  f'{{"v":1,"kiosk_id":"k-1","sent_at":"{ts.isoformat()}","votes":[{wire.Vote(**VOTES[0]).to_json()}]}}'):
        with pytest.raises(ProtocolError) as refused:
            decode(models.VoteBatch, batch.encode())
        assert refused.value.reason == "invalid"


@pytest.mark.parametrize("ts", INSIDE_TIMES, ids=str)
def test_times_at_the_range_edges_are_taken_by_both_sides(ts: datetime) -> None:
    mine = wire.Vote(**{**VOTES[0], "ts": ts})
    assert models.Vote.model_validate_json(mine.to_json()) == models.Vote(**{**VOTES[0], "ts": ts})
    payload = wire.StatusMessage(status=wire.Status.ONLINE, ts=ts).encode()
    assert decode(models.StatusMessage, payload).ts == ts


def test_a_followup_the_models_refuse_cannot_be_built() -> None:
    bads: list[dict[str, Any]] = [{"answer": "maybe"}, {"question": "No"}]
    for bad in bads:
        with pytest.raises(ValueError):
            models.FollowUp(**bad)
        with pytest.raises(ValueError):
            wire.FollowUp(**bad)


@pytest.mark.parametrize("status", list(wire.Status))
@pytest.mark.parametrize("version", [None, "0.1.0"])
def test_status_messages_validate(status: wire.Status, version: str | None) -> None:
    payload = wire.StatusMessage(status=status, ts=NOW, version=version).encode()
    parsed = decode(models.StatusMessage, payload)
    assert parsed.status.value == status.value and parsed.version == version
    assert payload.decode() == parsed.model_dump_json(exclude_none=True)
    assert schema_valid("status.v1.json", payload)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"oldest_unsent_age_s": 12.5, "clock_synced": False, "free_disk_bytes": 10**10, "cpu_temp_c": 48.3,
         "config_version": "r2", "config_rejected": "r3: " + "x" * 296, "disk_low": True, "votes_refused": 0,
         "boot_id": "a" * 64, "clock_offset_s": -3600.25},
        {"cpu_temp_c": float("nan"), "clock_offset_s": None},
    ],
)
def test_telemetry_validates(extra: dict[str, Any]) -> None:
    telemetry = wire.Telemetry(ts=NOW, uptime_s=3.25, version="0.1.0", outbox_depth=3, **extra)
    payload = telemetry.encode()
    parsed = decode(models.Telemetry, payload)
    assert payload.decode() == parsed.model_dump_json(exclude_none=True)
    assert schema_valid("telemetry.v1.json", payload)


def test_telemetry_the_models_refuse_cannot_be_built() -> None:
    for bad in ({"uptime_s": -1}, {"outbox_depth": -1}, {"version": "v" * 65}, {"config_rejected": "x" * 301},
                {"votes_refused": -2}, {"ts": datetime(2026, 1, 5)}):
        values: dict[str, Any] = {"ts": NOW, "uptime_s": 1.0, "version": "1", "outbox_depth": 0, **bad}
        with pytest.raises(ValueError):
            models.Telemetry(**values)
        with pytest.raises(ValueError):
            wire.Telemetry(**values)


def test_the_uplinks_own_messages_validate(tmp_path: Path) -> None:
    """The batch the uplink joins from stored votes, its status and its heartbeat, as it builds them."""
    clock = ManualClock(NOW)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        uplink = Uplink(outbox, "k-1", BrokerConfig(), UplinkConfig(), clock, boot_id="boot-1")
        votes = [wire.Vote(**v) for v in VOTES]
        payload = uplink._batch_payload([v.to_json() for v in votes])
        assert [str(v.id) for v in decode(models.VoteBatch, payload).votes] == [str(v.id) for v in votes]
        assert schema_valid("vote-batch.v1.json", payload)
        status = uplink._status_payload(wire.Status.ONLINE)
        assert decode(models.StatusMessage, status).status is models.Status.ONLINE
        heartbeat = uplink.telemetry().encode()
        assert decode(models.Telemetry, heartbeat).outbox_depth == 0
        assert schema_valid("telemetry.v1.json", heartbeat)


def test_a_selftest_report_validates() -> None:
    report = wire.SelfTestReport(
        ts=NOW, passed=False, version="0.1.0", technician="Zoé",
        checks=(wire.SelfTestCheck(name="buttons", outcome=wire.CheckOutcome.FAILED, detail="no press « 1 »"),
                wire.SelfTestCheck(name="disk", outcome=wire.CheckOutcome.PASSED)),
    )
    payload = report.encode()
    assert payload.decode() == decode(models.SelfTestReport, payload).model_dump_json(exclude_none=True)
    assert schema_valid("selftest.v1.json", payload)
    with pytest.raises(ValueError, match="cannot have passed"):
        wire.SelfTestReport(ts=NOW, passed=True, checks=report.checks)
    with pytest.raises(ValueError):
        wire.SelfTestCheck(name="Bad Name", outcome=wire.CheckOutcome.PASSED)


# -- what the kiosk decodes ------------------------------------------------------------------------------------

U = str(ID)
RECEIPTS = [
    "{}", '{"v":1}', f'{{"v":1,"stored":["{U}"]}}', f'{{"v":1,"rejected":["{U}"],"stored":[]}}',
    f'{{"v":1,"stored":["{U.replace("-", "")}"]}}', f'{{"v":1,"stored":["{{{U}}}"]}}',
    f'{{"v":1,"stored":["urn:uuid:{U}"]}}', f'{{"v":1,"stored":["{U.upper()}"]}}',
    f'{{"v":1.0,"stored":["{U}"]}}', '{"v":true}',
    # refused
    '{"v":2}', '{"v":"1"}', '{"v":null}', '{"v":1,"stored":null}', '{"v":1,"stored":"x"}', '{"v":1,"stored":{}}',
    '{"v":1,"stored":[1]}', '{"v":1,"stored":[null]}', f'{{"v":1,"stored":[" {U}"]}}',
    f'{{"v":1,"stored":["{U[:-1]}"]}}', f'{{"v":1,"stored":["{U.replace("-", "", 1)}"]}}',
    f'{{"v":1,"stored":["{U}"],"extra":1}}', '[]', '"receipt"', "null", "1",
    "{", '{"v":1} x', "", "\ufeff{}", '{"v":1,"stored":[' + ",".join([f'"{U}"'] * 501) + "]}",
    '{"v":1,"stored":[' + ",".join([f'"{uuid.uuid4()}"' for _ in range(500)]) + "]}",
]
REMOTE_CONFIGS = [
    '{"v":1,"version":"r1"}', '{"version":"r1"}', '{"v":1,"version":"2026-03-02T10:00:00+01:00"}',
    '{"v":1,"version":"r1","scale":5,"followup":false,"repeat_interval_s":0,"language":"de",'
    '"opening_hours":{"mon":"09:00-12:00, 14:00-17:00","sun":""}}',
    '{"v":1,"version":"r1","scale":null,"followup":null,"repeat_interval_s":null,"opening_hours":null,'
    '"language":null}',
    '{"v":1,"version":"r1","scale":"4"}', '{"v":1,"version":"r1","scale":4.0}',
    '{"v":1,"version":"r1","scale":" 3 "}', '{"v":1,"version":"r1","scale":"4.00"}',
    '{"v":1,"version":"r1","scale":"+4"}', '{"v":1,"version":"r1","scale":true}',
    '{"v":1,"version":"r1","followup":"yes"}', '{"v":1,"version":"r1","followup":"OFF"}',
    '{"v":1,"version":"r1","followup":1}', '{"v":1,"version":"r1","followup":0.0}',
    '{"v":1,"version":"r1","repeat_interval_s":"2.5"}', '{"v":1,"version":"r1","repeat_interval_s":600}',
    '{"v":1,"version":"r1","repeat_interval_s":true}', '{"v":1,"version":"r1","repeat_interval_s":-0.0}',
    '{"v":1,"version":"r1","opening_hours":{"mon":"09:00-12:00,"}}',
    # refused
    '{"v":1}', '{"v":2,"version":"r1"}', '{"v":"1","version":"r1"}', '{"v":1,"version":1}',
    '{"v":1,"version":""}', '{"v":1,"version":"r1\\n"}', '{"v":1,"version":"-r1"}', '{"v":1,"version":"é"}',
    '{"v":1,"version":"' + "r" * 65 + '"}', '{"v":1,"version":"r1","scale":1}', '{"v":1,"version":"r1","scale":6}',
    '{"v":1,"version":"r1","scale":4.5}', '{"v":1,"version":"r1","scale":"four"}',
    '{"v":1,"version":"r1","scale":"4."}',
    '{"v":1,"version":"r1","scale":"1e1"}', '{"v":1,"version":"r1","scale":[4]}', '{"v":1,"version":"r1","scale":NaN}',
    '{"v":1,"version":"r1","scale":Infinity}', '{"v":1,"version":"r1","followup":2}',
    '{"v":1,"version":"r1","followup":"maybe"}', '{"v":1,"version":"r1","followup":" yes"}',
    '{"v":1,"version":"r1","followup":[]}', '{"v":1,"version":"r1","repeat_interval_s":-1}',
    '{"v":1,"version":"r1","repeat_interval_s":601}', '{"v":1,"version":"r1","repeat_interval_s":NaN}',
    '{"v":1,"version":"r1","repeat_interval_s":"soon"}', '{"v":1,"version":"r1","repeat_interval_s":"0x1"}',
    '{"v":1,"version":"r1","language":"FR"}', '{"v":1,"version":"r1","language":"it"}',
    '{"v":1,"version":"r1","language":1}', '{"v":1,"version":"r1","opening_hours":[]}',
    '{"v":1,"version":"r1","opening_hours":{"Mon":"09:00-12:00"}}',
    '{"v":1,"version":"r1","opening_hours":{"mon":"9:00-12:00"}}',
    '{"v":1,"version":"r1","opening_hours":{"mon":"09:00-24:00"}}',
    '{"v":1,"version":"r1","opening_hours":{"mon":null}}', '{"v":1,"version":"r1","opening_hours":{"mon":1}}',
    '{"v":1,"version":"r1","scale":4,"extra":true}', '{"v":1,"version":"r1","scale":9,"language":"xx"}',
    "[]", "{", "", "null", '{"v":1,"version":"r1"}}',
]


def _both(model: type[Any], decoder: Any, payload: bytes) -> tuple[Any, Any]:
    outcomes = []
    for read in (lambda: decode(model, payload), lambda: decoder(payload)):
        try:
            outcomes.append(read())
        except ProtocolError as exc:
            outcomes.append(exc.reason)
    return outcomes[0], outcomes[1]


def _same_receipt(payload: bytes) -> None:
    theirs, mine = _both(models.Receipt, wire.decode_receipt, payload)
    if isinstance(theirs, str):
        assert mine == theirs, (payload[:200], theirs, mine)
    else:
        assert isinstance(mine, wire.Receipt), (payload[:200], mine)
        assert (list(mine.stored), list(mine.rejected)) == (theirs.stored, theirs.rejected)


def _same_remote_config(payload: bytes) -> None:
    theirs, mine = _both(models.RemoteConfig, wire.decode_remote_config, payload)
    if isinstance(theirs, str):
        assert mine == theirs, (payload[:200], theirs, mine)
    else:
        assert isinstance(mine, wire.RemoteConfig), (payload[:200], mine)
        assert {k: v for k, v in theirs.model_dump().items() if k != "v"} == {
            "version": mine.version, "scale": mine.scale, "followup": mine.followup,
            "repeat_interval_s": mine.repeat_interval_s, "opening_hours": mine.opening_hours,
            "language": mine.language,
        }


@pytest.mark.parametrize("payload", RECEIPTS)
def test_receipts_are_read_alike(payload: str) -> None:
    _same_receipt(payload.encode())


@pytest.mark.parametrize("payload", REMOTE_CONFIGS)
def test_remote_configs_are_read_alike(payload: str) -> None:
    _same_remote_config(payload.encode())


def test_bytes_that_are_no_text_or_too_many_are_refused_alike() -> None:
    for payload in (b'{"v":1,"version":"\xff"}', b"\xc3", b" " * (wire.MAX_PAYLOAD_BYTES + 1)):
        _same_remote_config(payload)
        _same_receipt(payload)


def test_both_tables_hold_good_and_bad_payloads() -> None:
    for table, model in ((RECEIPTS, models.Receipt), (REMOTE_CONFIGS, models.RemoteConfig)):
        good = 0
        for payload in table:
            try:
                decode(model, payload.encode())
                good += 1
            except ProtocolError:
                pass
        assert 8 <= good <= len(table) - 20


AWKWARD: list[Any] = [
    None, True, False, 0, 1, -1, 2, 3, 4, 5, 6, 0.0, 1.0, 2.5, 4.0, 600, 601, -0.5, "", " ", "0", "1", "4", " 4",
    "4.0", "4.5", "2.5", "yes", "no", "on", "OFF", "true", "x", "fr", "en", "de", "FR", "r1", "-r", "r" * 64,
    "r" * 65, "2026-03-02T10:00:00+01:00", [], [1], {}, {"mon": "09:00-12:00"}, {"mon": "9-12"},
    {"xyz": "09:00-10:00"}, {"sun": ""}, {"tue": 5}, str(ID), ID.hex, f"urn:uuid:{ID}", [str(ID)], [str(ID), 1],
    [ID.hex.upper()],
]


def test_random_mixes_of_awkward_values_are_read_alike() -> None:
    rng = random.Random(20260302)
    config_keys = ["v", "version", "scale", "followup", "repeat_interval_s", "opening_hours", "language", "other"]
    for _ in range(3000):
        keys = rng.sample(config_keys, rng.randint(0, 4))
        data = {k: rng.choice(AWKWARD) for k in keys}
        if rng.random() < 0.7:
            data.setdefault("version", "r1")
        _same_remote_config(json.dumps(data).encode())
        receipt = {k: rng.choice(AWKWARD) for k in rng.sample(["v", "stored", "rejected", "x"], rng.randint(0, 3))}
        _same_receipt(json.dumps(receipt).encode())


DESIRED_RELEASES = [
    '{"v":1,"version":"0.2.0","rollout":"r-20261201-ab12"}',
    '{"version":"0.2.0+pi","rollout":"r1"}',
    '{"v":1,"version":"../etc","rollout":"r1"}',
    '{"v":1,"version":"0.2.0/x","rollout":"r1"}',
    '{"v":1,"version":"0.2.0"}',
    '{"v":1,"version":"0.2.0","rollout":"r1","url":"http://elsewhere"}',
    '{"v":2,"version":"0.2.0","rollout":"r1"}',
    '{"v":1,"version":"","rollout":"r1"}',
    '{"v":1,"version":"' + "9" * 65 + '","rollout":"r1"}',
    '{"v":1,"version":2,"rollout":"r1"}',
    "[]",
    "not json",
]


@pytest.mark.parametrize("payload", DESIRED_RELEASES)
def test_desired_releases_are_read_alike(payload: str) -> None:
    theirs, mine = _both(models.DesiredRelease, wire.decode_desired_release, payload.encode())
    if isinstance(theirs, str):
        assert mine == theirs, (payload, theirs, mine)
    else:
        assert isinstance(mine, wire.DesiredRelease), (payload, mine)
        assert (mine.version, mine.rollout) == (theirs.version, theirs.rollout)
