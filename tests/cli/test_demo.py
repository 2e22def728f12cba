"""`borne demo` starts everything, serves the API with votes in it, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from collector.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "borne", "demo", "--kiosks", "4", "--pace", "0.3", "--data-dir", str(tmp_path),
         "--api-port", str(free_port()), "--mqtt-port", str(free_port())],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    url = None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            found = re.search(r"satisfaction: (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "".join(lines)
        deadline = time.monotonic() + 60
        votes = 0
        while time.monotonic() < deadline and votes == 0:
            time.sleep(1)
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own local API
                body = response.read()
            votes = json.loads(body).get("votes", 0) if b"votes" in body else 0
        assert votes > 0
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode in (0, 130), out
        assert "stopped;" in out and "votes stored" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
