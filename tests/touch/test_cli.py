"""``borne kiosk run --ui touch`` as a technician runs it: a window, a broker, SIGTERM to stop; no pydantic."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from devtools.brokers import Mosquitto
from tests.utils.launch import REPORT, borne_command

_LOG = logging.getLogger(__name__)


def wait_for(path: Path, text: str, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(encoding="utf-8", errors="replace"):
            return True
        time.sleep(0.1)
    return False


def test_run_touch_until_sigterm(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'kiosk_id = "fs-test-cli"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[broker]\nport = {mosquitto.port}\n[touch]\nfullscreen = false\nwindow = [640, 400]\n',
        encoding="utf-8",
    )
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp_path / "kivy")}
    env.pop("KIVY_NO_ARGS", None)  # the CLI must set it itself, or Kivy would parse borne's arguments
    log = tmp_path / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            borne_command("kiosk", "run", "-c", str(config), "--ui", "touch"),
            stdout=subprocess.DEVNULL, stderr=err, env=env,
        )
        try:
            assert wait_for(log, "touch kiosk ready: home screen drawn (640x400)"), log.read_text()
            assert wait_for(log, "connected to 127.0.0.1"), log.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "Kivy input: exactly one provider: mouse = mouse,disable_multitouch" in text
    assert "kiosk fs-test-cli stopped" in text
    assert "Traceback" not in text
    # The kiosk speaks the contract through protocol.wire: pydantic is the collector's alone.
    assert f"{REPORT} none" in text, text[-2000:]
