"""Fixtures of the provisioning tests: Mosquitto with dynamic security, an admin token, a collector API served."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from collector.auth import Role, add_user, issue_token
from collector.broker.mosquitto import free_port, wait_port
from collector.db.engine import session_factory
from collector.registry.espaces import add_espace
from devtools.dynsec import DynsecMosquitto, dynsec_available


@pytest.fixture
def dynsec_mosquitto(tmp_path: Path) -> Iterator[DynsecMosquitto]:
    """A real Mosquitto with the dynamic security plugin; only its admin may connect at first."""
    if not dynsec_available():
        pytest.skip("Mosquitto's dynamic security plugin or mosquitto_ctrl is not installed")
    broker = DynsecMosquitto(tmp_path / "dynsec")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def fake_wheel(folder: Path) -> Path:
    """A file named as a borne wheel: what the bundle copies onto the card (never installed in the tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "borne-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    return wheel


def admin_token(engine: Engine, name: str = "technician-admin") -> str:
    with session_factory(engine)() as session, session.begin():
        return issue_token(session, add_user(session, name, Role.ADMIN))


def espaces(engine: Engine, names: dict[str, str]) -> None:
    with session_factory(engine)() as session, session.begin():
        for espace_id, name in names.items():
            add_espace(session, espace_id, name, "22")


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app on uvicorn, on a free port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="test-api", daemon=True)
    thread.start()
    try:
        assert wait_port("127.0.0.1", port, 15), "the API did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def connect_reason(port: int, username: str | None, password: str | None, *, client_id: str | None = None,
                   timeout: float = 10.0) -> str:
    """What the broker answers a connection with these credentials: 'Success', 'Not authorized', ..."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    answer: dict[str, Any] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"probe-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)

    def on_connect(c: Any, userdata: object, flags: object, reason: Any, props: object) -> None:
        answer["reason"] = str(reason)
        done.set()

    def on_disconnect(c: Any, userdata: object, flags: object, reason: Any, props: object) -> None:
        answer.setdefault("reason", f"disconnected: {reason}")
        done.set()

    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        assert done.wait(timeout), "the broker did not answer the connection"
    finally:
        client.disconnect()
        client.loop_stop()
    return str(answer["reason"])


def invoke(args: list[str], env: dict[str, str] | None = None, input: str | None = None) -> Any:
    """``borne ARGS`` through Typer's runner. The root command configures logging onto the runner's stream,
    which closes at the end: the root logger's handlers are put back, or later log lines from threads fail."""
    import logging

    from typer.testing import CliRunner

    from borne.cli import app

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return CliRunner().invoke(app, args, env=env, input=input)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
