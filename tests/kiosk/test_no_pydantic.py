"""The GPIO kiosk as installed never imports pydantic nor Typer: configuration, remote configuration and receipts
included, from ``borne kiosk run`` (its service's command line) or ``python -m kiosk run``."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from devtools.brokers import Mosquitto
from kiosk.entry import service_args
from protocol.topics import TopicKind, kiosk_topic
from tests.utils.launch import REPORT, borne_command

_LOG = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


def wait_for(path: Path, text: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(encoding="utf-8", errors="replace"):
            return True
        time.sleep(0.05)
    return False


def test_the_gpio_kiosk_runs_without_pydantic(tmp_path: Path, mosquitto: Mosquitto) -> None:
    kiosk_id = "fs-test-lean"
    config = tmp_path / "kiosk.toml"
    config.write_text(f'kiosk_id = "{kiosk_id}"\ndata_dir = "{tmp_path / "data"}"\n[broker]\nport = {mosquitto.port}\n',
                      encoding="utf-8")
    remote = {"v": 1, "version": "r-lean", "repeat_interval_s": 5, "opening_hours": {"mon": "09:00-12:00"}}
    publish.single(kiosk_topic(kiosk_id, TopicKind.CONFIG), json.dumps(remote), qos=1, retain=True,
                   hostname="127.0.0.1", port=mosquitto.port)
    log = tmp_path / "stderr.log"
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "BORNE_KIOSK_STORAGE__RETENTION_DAYS": "7"}
    with log.open("wb") as err:
        proc = subprocess.Popen(borne_command("-v", "kiosk", "run", "-c", str(config)),
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            assert wait_for(log, "connected to 127.0.0.1"), log.read_text()
            assert wait_for(log, "remote configuration r-lean applied"), log.read_text()
            receipt = {"v": 1, "stored": [str(uuid.uuid4())], "rejected": []}
            publish.single(kiosk_topic(kiosk_id, TopicKind.RECEIPTS), json.dumps(receipt), qos=1,
                           hostname="127.0.0.1", port=mosquitto.port)
            publish.single(kiosk_topic(kiosk_id, TopicKind.RECEIPTS), b"not a receipt", qos=1,
                           hostname="127.0.0.1", port=mosquitto.port)
            assert wait_for(log, "ignored an invalid receipt: not-json"), log.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "Traceback" not in text and '"retention_days": 7.0' in text, text[-3000:]
    assert f"{REPORT} none" in text, text[-3000:]


@pytest.mark.parametrize(("command", "code", "says"), [
    (["-m", "kiosk", "run", "-c", "missing.toml"], 2, "borne: error: "),
    (["-m", "kiosk", "--help"], 2, "usage: python -m kiosk"),
    (["-m", "borne", "kiosk", "run", "-c", "missing.toml"], 2, "borne: error: "),
])
def test_the_service_without_borne_or_typer(tmp_path: Path, command: list[str], code: int, says: str) -> None:
    """``python -m kiosk run`` is the service too; both say what is wrong the command line's way."""
    done = subprocess.run([sys.executable, *command], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == code and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kiosk", "run", "-c", "k.toml"], (False, Path("k.toml"), None)),
        (["-v", "kiosk", "run", "--config", "k.toml", "--ui", "touch"], (True, Path("k.toml"), "touch")),
        (["--verbose", "kiosk", "run", "--ui=gpio", "--config=/etc/borne/kiosk.toml"],
         (True, Path("/etc/borne/kiosk.toml"), "gpio")),
        (["kiosk", "run"], None),  # Typer says the option is missing
        (["kiosk", "run", "-c", "k.toml", "--help"], None),
        (["kiosk", "run", "-c", "k.toml", "--ui", "tuch"], None),  # Typer's error, as before
        (["kiosk", "run", "-c"], None),
        (["kiosk", "run", "-c", "a.toml", "-c", "b.toml"], None),
        (["kiosk", "selftest", "-c", "k.toml"], None),
        (["collector", "serve"], None),
        ([], None),
    ],
)
def test_the_service_command_is_read_without_typer(argv: list[str], expected: object) -> None:
    assert service_args(argv) == expected
