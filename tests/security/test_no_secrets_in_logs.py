"""No secret in any log: secrets are planted, the real commands run with logging at DEBUG, and everything they
print or log is scanned for them.

Planted: a kiosk's MQTT password in its kiosk.toml (``borne -v kiosk run`` against a real Mosquitto, with the
right password and with a wrong one), a PostgreSQL password in the database URL and an MQTT password in the
environment (``borne -v collector serve``, which cannot reach that database), an admin API token and wrong tokens
(``borne -v provision kiosk new`` against a real collector API, which logs at DEBUG with its access log), and the
password the provisioning bundle generates.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from collector.api.app import create_app
from collector.broker.accounts import DynsecAccounts, hash_secret
from collector.broker.mosquitto import free_port
from devtools.builders import admin_token, bearer, migrated_engine
from devtools.dynsec import DynsecMosquitto, dynsec_available
from kiosk.config import load_config
from tests.provisioning.conftest import espaces, fake_wheel

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONUNBUFFERED": "1", "DEBUG": "1"}


def _planted(what: str) -> str:
    return f"PLANTED{what}{secrets.token_hex(8)}"


def _assert_clean(texts: dict[str, str], planted: list[str]) -> None:
    for name, text in texts.items():
        for secret in planted:
            assert secret not in text, f"{secret[:12]}... found in {name}: ...{_around(text, secret)}..."


def _around(text: str, secret: str) -> str:
    at = text.find(secret)
    return text[max(0, at - 200):at + len(secret) + 50]


def _run_for(args: list[str], seconds: float, *, env: dict[str, str] | None = None,
             until: str | None = None) -> str:
    """``python -m borne ARGS``: its stdout and stderr, after ``seconds`` (or once ``until`` shows) and SIGTERM."""
    process = subprocess.Popen([sys.executable, "-m", "borne", "-v", *args], cwd=ROOT, env=env or ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if until is not None and any(until in line for line in list(lines)):
            time.sleep(5.0)  # a few seconds of its life: heartbeat, status
            break
        time.sleep(0.1)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    reader.join(10)
    return "".join(lines)


@pytest.mark.timeout(180)
def test_kiosk_run_logs_no_broker_password(tmp_path: Path) -> None:
    if not dynsec_available():
        pytest.skip("Mosquitto's dynamic security plugin is not installed")
    broker = DynsecMosquitto(tmp_path / "dynsec")
    broker.start()
    password, wrong = _planted("mqtt"), _planted("wrongmqtt")
    try:
        DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, broker.admin_password).create(
            "k-1", password, hash_secret(password))
        outputs: dict[str, str] = {}
        for name, secret in (("right password", password), ("wrong password", wrong)):
            config = tmp_path / f"kiosk-{len(outputs)}.toml"
            config.write_text(
                f'kiosk_id = "k-1"\ndata_dir = "{tmp_path / f"outbox-{len(outputs)}"}"\n'
                f'[broker]\nhost = "127.0.0.1"\nport = {broker.port}\nusername = "kiosk:k-1"\npassword = "{secret}"\n'
                'reconnect_min_s = 0.2\nreconnect_max_s = 1.0\n')
            load_config(config)  # a valid file: the kiosk runs
            right = secret == password
            outputs[f"kiosk run ({name})"] = _run_for(["kiosk", "run", "-c", str(config)], 30 if right else 8,
                                                      until="connected to" if right else None)
        assert "k-1" in outputs["kiosk run (right password)"], outputs
        assert "connected to 127.0.0.1" in outputs["kiosk run (right password)"], outputs
        outputs["mosquitto log"] = broker.log.read_text(errors="replace")
        assert "k-1" in outputs["mosquitto log"]
        _assert_clean(outputs, [password, wrong])
    finally:
        broker.stop()


@pytest.mark.timeout(180)
def test_collector_serve_logs_no_database_nor_mqtt_password(tmp_path: Path) -> None:
    db_password, mqtt_password = _planted("pg"), _planted("collectormqtt")
    closed = free_port()
    env = {**ENV, "BORNE_DATABASE_URL": f"postgresql+psycopg://borne:{db_password}@127.0.0.1:{closed}/borne",
           "BORNE_MQTT_PASSWORD": mqtt_password, "BORNE_MQTT_USERNAME": "borne-collector",
           "BORNE_DATA_DIR": str(tmp_path)}
    outputs = {}
    for debug in ("1", "0"):  # with DEBUG=1 a failure prints its traceback
        output = _run_for(["collector", "serve", "--broker", "external", "--mqtt-port", str(free_port()),
                           "--api-port", "0"], 90, env={**env, "DEBUG": debug})
        assert "127.0.0.1" in output and "borne" in output, output[-3000:]  # it did try, and said so
        outputs[f"collector serve (DEBUG={debug})"] = output
    _assert_clean(outputs, [db_password, mqtt_password])


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def _debug_logs() -> Iterator[_Collect]:
    root = logging.getLogger()
    handler, level = _Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@contextmanager
def _serve_debug(app: object) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="debug",  # type: ignore[arg-type]
                                           access_log=True, lifespan="off", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.mark.timeout(180)
def test_provisioning_and_failed_authentications_log_no_token_nor_password(sqlite_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(sqlite_url)
    espaces(engine, {"fs-22-001": "France services de Lannion"})
    token = admin_token(engine)
    wrong = [f"borne_{secrets.token_hex(4)}_{_planted('token')}" for _ in range(12)]
    with _debug_logs() as logs, _serve_debug(create_app(engine)) as url:
        env = {**ENV, "BORNE_ADMIN_TOKEN": token}
        cli = subprocess.run([sys.executable, "-m", "borne", "-v", "provision", "kiosk", "new", "--espace",
                              "fs-22-001", "--id", "k-1", "--out", str(tmp_path / "bundle"), "--collector", url,
                              "--wheel", str(fake_wheel(tmp_path / "dist")), "--allow-local-collector"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        rotate = subprocess.run([sys.executable, "-m", "borne", "-v", "provision", "kiosk", "rotate", "k-1",
                                 "--out", str(tmp_path / "rotated"), "--collector", url],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert rotate.returncode == 0, rotate.stdout + rotate.stderr
        for bad in wrong:  # 401s, then 429s (this address is then blocked: last)
            httpx.get(f"{url}/api/v1/kiosks", headers=bearer(bad), timeout=30)
    passwords = []
    for bundle in ("bundle", "rotated"):
        password = load_config(tmp_path / bundle / "kiosk.toml").broker.password
        assert password is not None
        passwords.append(password.get_secret_value())
    server_log = "\n".join(logs.lines)
    assert "GET /api/v1/kiosks" in server_log and "401" in server_log and "429" in server_log, server_log[-2000:]
    _assert_clean({"collector API log (DEBUG, access log)": server_log,
                   "provision kiosk new (stdout+stderr)": cli.stdout + cli.stderr,
                   "provision kiosk rotate (stdout+stderr)": rotate.stdout + rotate.stderr},
                  [token, *wrong, *passwords])
    engine.dispose()
