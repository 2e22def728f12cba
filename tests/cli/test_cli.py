"""The command line: help, errors, missing extras, the documented mosquitto_pub example."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from borne.cli import app
from devtools.brokers import Mosquitto
from devtools.builders import collector_settings, migrated_engine, register, start_collector, vote_counts
from devtools.kiosk_sim import wait_until

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_help_lists_the_sub_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("kiosk", "collector", "provision", "demo", "protocol"):
        assert name in result.output


def test_a_missing_extra_is_named() -> None:
    code = "import sys; sys.modules['paho'] = None; sys.argv = ['borne', 'collector', 'serve']; " \
           "from borne.entry import main; main()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "borne: error:" in result.stderr and "pip install 'borne[collector]'" in result.stderr


def test_a_bad_kiosk_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text('kiosk_id = "k-1"\n[voting]\nscale = 9\n')
    result = subprocess.run([sys.executable, "-m", "borne", "kiosk", "run", "-c", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "borne: error:" in result.stderr and "voting.scale" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_says_which_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "borne", "collector", "serve", "--mqtt-port", str(port),
             "--data-dir", str(tmp_path), "--api-port", "0"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr and "--mqtt-port" in result.stderr


def test_the_documented_mosquitto_pub_example_is_counted(mosquitto: Mosquitto, tmp_path: Path,
                                                         sqlite_url: str) -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    (command,) = [line for line in doc.splitlines() if line.startswith("mosquitto_pub ")]
    message = re.search(r"-m '(.*)'$", command)
    assert message is not None
    engine = migrated_engine(sqlite_url)
    register(engine, {"fs-1234-a": ("fs-1234", "01")})
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path))
    try:
        for _ in range(2):  # twice: counted once
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-q", "1",
                            "-t", "fs/v1/kiosks/fs-1234-a/votes", "-m", message.group(1)], check=True, timeout=30)
        assert wait_until(lambda: collector.metrics.get("votes_duplicate") == 1, 20)
        assert vote_counts(engine) == {"fs-1234": 1}
    finally:
        collector.close()


def test_protocol_example_is_valid() -> None:
    from protocol.codec import decode
    from protocol.models import VoteBatch

    result = runner.invoke(app, ["protocol", "example", "fs-1234-a"])
    assert result.exit_code == 0
    assert decode(VoteBatch, result.output.strip().encode()).kiosk_id == "fs-1234-a"


@pytest.mark.parametrize("command", [["demo", "--duration", "1"], ["sim", "--kiosks", "1", "--duration", "1"]])
def test_demo_and_sim_say_devtools_is_missing(command: list[str]) -> None:
    """An installed borne has no devtools/: the two commands that need it say so, and nothing starts."""
    code = ("import sys; sys.modules['devtools'] = None; sys.argv = ['borne', *sys.argv[1:]]; "
            "from borne.entry import main; main()")
    result = subprocess.run([sys.executable, "-c", code, *command], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 3, result.stderr
    assert f"borne: error: 'borne {command[0]}' needs the development tools (devtools/)" in result.stderr
    assert "Traceback" not in result.stderr
