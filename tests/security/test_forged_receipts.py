"""A forged receipt on a kiosk's receipts topic: only votes the kiosk sent and awaits count; the rest is ignored.

A real Mosquitto; the kiosk's outbox and uplink as they run on the device; the forger publishes with paho on
``fs/v1/kiosks/<id>/receipts``, as anyone able to write there could. A receipt naming votes the kiosk never sent
(still unsent, held, unknown, or already confirmed) changes nothing in the outbox, and is logged once.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devtools.brokers import Mosquitto
from devtools.kiosk_sim import wait_until
from kiosk.clock import ManualClock
from kiosk.config import BrokerConfig, UplinkConfig
from kiosk.outbox import Outbox
from kiosk.uplink import Uplink
from protocol.topics import TopicKind, kiosk_topic
from protocol.wire import Vote

KIOSK = "k-forged"


def _forge(port: int, stored: list[str], rejected: list[str] | None = None) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"forger-{secrets.token_hex(3)}",
                         protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        payload = json.dumps({"v": 1, "stored": stored, "rejected": rejected or []}).encode()
        client.publish(kiosk_topic(KIOSK, TopicKind.RECEIPTS), payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def _state(outbox: Outbox) -> dict[str, tuple[bool, bool]]:
    return {v["id"]: (v["_sent"], v["_confirmed"]) for v in outbox.votes()}


@pytest.mark.timeout(60)
def test_a_forged_receipt_confirms_nothing_unsent(mosquitto: Mosquitto, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()

    def vote(seq: int) -> Vote:
        return Vote(id=uuid.uuid4(), seq=seq, answer=4, scale=4, ts=clock.now(), clock_synced=True)

    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        sent = str(outbox.record(vote).id)
        held = str(outbox.record(vote, hold=True).id)  # a follow-up question on screen: not sent yet
        uplink = Uplink(outbox, KIOSK, BrokerConfig(port=mosquitto.port), UplinkConfig(confirm_timeout_s=600),
                        clock)
        with caplog.at_level(logging.INFO, logger="kiosk.uplink"), uplink:
            assert wait_until(lambda: _state(outbox)[sent] == (True, False), 15), "the vote was not sent"
            never = str(uuid.uuid4())

            # 1. Ids the kiosk never sent: an unknown one, and its held (unsent) vote.
            before = len(caplog.records)
            _forge(mosquitto.port, [never, held], [held])
            wait_until(lambda: _ignored(caplog) == 1 or outbox.depth() < 2, 10)
            assert _state(outbox) == {sent: (True, False), held: (False, False)}
            assert outbox.depth() == 2 and uplink.stats.votes_confirmed == 0
            assert _ignored(caplog) == 1, "the forged receipt was not logged"
            assert len([r for r in caplog.records[before:] if "receipt" in r.getMessage()]) == 1, "logged once"

            # 2. The vote it sent: confirmed once; naming it again (already confirmed) changes nothing more.
            _forge(mosquitto.port, [sent])
            assert wait_until(lambda: _state(outbox)[sent] == (True, True), 10)
            _forge(mosquitto.port, [sent, held])
            assert wait_until(lambda: _ignored(caplog) == 2, 10)
            assert uplink.stats.votes_confirmed == 1
            assert uplink.stats.receipts_ignored == 2

            # 3. The held vote is still the kiosk's to send, and goes once released.
            outbox.release(held)
            uplink.wake()
            assert wait_until(lambda: _state(outbox)[held] == (True, False), 15), "the unsent vote was not sent"


def _ignored(caplog: pytest.LogCaptureFixture) -> int:
    return len([r for r in caplog.records if r.name == "kiosk.uplink" and "ignored" in r.getMessage()
                and "receipt" in r.getMessage()])
