"""Command-line traps: a taken API port stops `serve` with a clear message; commands say which database they
open; `borne demo` prints the option that reaches its database; HTTP client logs do not flood the output."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from borne.cli import app
from collector.broker.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_serve_stops_when_the_api_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "borne", "collector", "serve", "--mqtt-port", str(free_port()),
             "--data-dir", str(tmp_path), "--api-port", str(port)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr and "--api-port" in result.stderr, result.stderr
    assert "API on" not in result.stdout  # it never claims to serve


def test_commands_say_which_database_they_open(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["collector", "kiosks", "list", "--data-dir", str(tmp_path)])
    database = (tmp_path / "borne.sqlite3").resolve()
    assert result.exit_code == 0, result.output
    assert f"database: sqlite:///{database}" in result.output


def test_the_technicians_commands_keep_http_client_logs_quiet(tmp_path: Path) -> None:
    CliRunner().invoke(app, ["collector", "kiosks", "list", "--data-dir", str(tmp_path)])
    for name in ("httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING


def test_the_demo_prints_the_option_that_reaches_its_database(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "borne", "demo", "--kiosks", "2", "--history-days", "1", "--duration", "1",
         "--data-dir", str(tmp_path), "--api-port", str(free_port()), "--mqtt-port", str(free_port())],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"database: +(--data-dir \S+|--database-url \S+)", result.stdout)
    assert found, result.stdout
    option = found.group(1).split()
    listed = CliRunner().invoke(app, ["collector", "kiosks", "list", *option])
    assert listed.exit_code == 0 and "kiosk-001" in listed.output and "kiosk-002" in listed.output, listed.output
