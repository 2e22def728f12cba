"""The touch kiosk in a real Kivy window (SDL offscreen), driven by simulated touches.

Kivy allows one window per process and keeps global state, so each scenario runs in its own child process
(``tests/touch/kivy_child.py``); these tests check what it saw and what it left in the outbox, read here
from the SQLite file itself.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from devtools.brokers import Mosquitto
from kiosk.outbox import Outbox
from protocol.models import VoteBatch

_LOG = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


def run_child(scenario: str, workdir: Path, *args: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    env = {
        **os.environ,
        "KIVY_NO_ARGS": "1",
        "KIVY_HOME": str(workdir / "kivy"),
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_WINDOW": "sdl2",
        "KIVY_LOG_MODE": "PYTHON",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.touch.kivy_child", scenario, str(workdir), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    if proc.returncode != 0:
        pytest.fail(f"the Kivy child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads((workdir / "result.json").read_text(encoding="utf-8"))
    with Outbox(workdir / "data" / "outbox.sqlite3") as outbox:
        votes = outbox.votes()
    return result, votes


@pytest.fixture(scope="module")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return run_child("main", tmp_path_factory.mktemp("kivy-main"))


@pytest.fixture(scope="module")
def yesno_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return run_child("yesno", tmp_path_factory.mktemp("kivy-yesno"))


@pytest.fixture(scope="module")
def five_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return run_child("five", tmp_path_factory.mktemp("kivy-five"))


def test_exactly_one_input_provider_is_configured(main_run: Any) -> None:
    result, _ = main_run
    assert result["input"] == [["mouse", "mouse,disable_multitouch"]]
    # The window's own SDL provider stays (Kivy adds it), but on Linux it ignores finger events: touches
    # reach the app through the one configured provider only.
    assert result["providers"] == ["MouseMotionEventProvider", "SDL2MotionEventProvider"]
    assert result["first_screen"] == "home"


def test_a_touch_on_a_face_puts_its_vote_in_the_outbox(main_run: Any) -> None:
    result, votes = main_run
    face = result["steps"]["face"]
    assert face == {"screen": "followup", "votes": 1, "sendable": 0}  # held during the follow-up
    assert votes[0]["answer"] == 3 and votes[0]["scale"] == 4


def test_the_followup_answer_travels_with_its_vote(main_run: Any) -> None:
    result, votes = main_run
    assert result["steps"]["followup"] == {"screen": "thanks", "sendable": 1}
    assert votes[0]["followup"] == {"question": "fs-resolved-1", "answer": "yes"}
    assert result["steps"]["back_home"] == "home"


def test_one_touch_from_two_providers_makes_one_vote(main_run: Any) -> None:
    result, votes = main_run
    steps = result["steps"]
    assert steps["duplicate"]["votes"] == 2  # the first visitor's, and one for this touch
    assert votes[1]["answer"] == 1
    assert votes[1]["followup"] == {"question": "fs-resolved-1"}  # skipped after the timeout
    late = steps["duplicate_late"]
    assert late["votes"] == 3 and late["hit"]  # the copy landed on « Oui »...
    assert late["pending"] and late["screen"] == "followup"  # ...and did not answer it
    assert late["ignored"] >= 1
    assert len(votes) == 3


def test_language_switch(main_run: Any) -> None:
    result, _ = main_run
    assert result["steps"]["language"] == {
        "lang": "en", "labels": ["Very unhappy", "Unhappy", "Satisfied", "Very satisfied"],
    }


def test_sleep_outside_opening_hours_records_nothing(main_run: Any) -> None:
    result, _ = main_run
    assert result["steps"]["sleep_screen"] == "sleep"
    assert result["steps"]["sleep"] == {"votes_before": 3, "votes_after": 3}
    assert result["steps"]["sleep_lines"] == ["Réouverture demain à 09:00.", "Réouverture aujourd'hui à 09:00."]
    # The backlight (sysfs bl_power: 0 lit, 4 off) off while asleep, on again at opening time.
    assert result["steps"]["backlight"] == ["0", "4"]
    assert result["steps"]["woken"] == {"screen": "home", "backlight": "0"}


def test_no_text_is_clipped(main_run: Any, yesno_run: Any, five_run: Any) -> None:
    for result, _ in (main_run, yesno_run, five_run):
        assert result["steps"]["clipped"] == []


def test_oui_non_without_followup_then_a_remote_configuration(yesno_run: Any) -> None:
    result, votes = yesno_run
    assert result["steps"]["labels"] == ["Non", "Oui"]
    assert result["steps"]["oui"] == {"screen": "thanks", "sendable": 1}
    assert result["steps"]["remote"] == {
        "labels": ["Very unhappy", "Unhappy", "Satisfied", "Very satisfied"], "lang": "en",
    }
    assert [(v["answer"], v["scale"], "followup" in v) for v in votes] == [(2, 2, False), (4, 4, False)]


def test_five_answers(five_run: Any) -> None:
    _, votes = five_run
    assert [(v["answer"], v["scale"]) for v in votes] == [(5, 5)]


def test_the_vote_reaches_the_broker_with_its_followup(tmp_path: Path, mosquitto: Mosquitto) -> None:
    received: list[bytes] = []
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, msg: received.append(bytes(msg.payload))
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("fs/v1/kiosks/+/votes", qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(30)
        result, votes = run_child("broker", tmp_path, str(mosquitto.port))
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert result["steps"] == {"held_sent": 0, "sent": 1}  # nothing went out while the question showed
    batches = [VoteBatch.model_validate_json(p) for p in received]
    sent = [v for b in batches for v in b.votes]
    assert len(sent) == 1
    assert sent[0].answer == 2 and sent[0].followup is not None and sent[0].followup.answer == "no"
    assert str(sent[0].id) == votes[0]["id"]


def test_redrawing_does_not_pile_up_frames(tmp_path: Path) -> None:
    """Each frame is drawn before the next (``TouchApp._finish_frame``): SDL's offscreen swap never flushes, and
    Mesa's llvmpipe kept every undrawn frame's commands, about 4 MB each, while the countdown redrew the window."""
    result, _ = run_child("redraws", tmp_path)
    redraws = result["steps"]["redraws"]
    assert redraws["screen"] == "followup"
    assert redraws["grown_mb"] < 15, redraws  # 40 frames: about 30-90 MB when frames were not drawn
