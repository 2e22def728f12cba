"""Secrets at rest: the bundle's secret files are private from their first byte, secrets stay off the command
line, and the first boot installs nothing unpinned.

``borne provision kiosk new`` runs as a technician runs it, against a real collector API, under a permissive
umask. An audit hook looks at the bundle's folder at every file operation of the command (each open, chmod,
rename): a file holding the MQTT or the Wi-Fi password is never seen readable by others, not even for a moment.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from borne.cli.errors import CliError
from collector.api.app import create_app
from devtools.builders import migrated_engine
from tests.provisioning.conftest import admin_token, espaces, fake_wheel, invoke, serve

WIFI_PASSWORD = "wifi-s3cret-du-bus"
_WATCH: dict[str, Any] = {"folder": None, "secrets": [], "seen": []}
_BUSY = threading.local()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    folder = _WATCH["folder"]
    if folder is None or getattr(_BUSY, "on", False) or not event.startswith(("open", "os.")):
        return
    _BUSY.on = True
    try:
        for path in folder.rglob("*") if folder.exists() else []:
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            if any(secret.encode() in data for secret in _WATCH["secrets"] if secret):
                _WATCH["seen"].append((event, path.name, stat.S_IMODE(path.stat().st_mode)))
    finally:
        _BUSY.on = False


sys.addaudithook(_audit)


@contextmanager
def _watching(folder: Path, secrets: list[str], umask: int) -> Iterator[list[tuple[str, str, int]]]:
    old = os.umask(umask)
    _WATCH.update(folder=folder, secrets=secrets, seen=[])
    try:
        yield _WATCH["seen"]
    finally:
        _WATCH["folder"] = None
        os.umask(old)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[tuple[str, str]]:
    engine = migrated_engine(sqlite_url)
    espaces(engine, {"fs-22-001": "France services de Lannion"})
    token = admin_token(engine)
    with serve(create_app(engine)) as url:
        yield url, token
    engine.dispose()


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_bundle_secrets_are_private_from_the_first_byte(api: tuple[str, str], tmp_path: Path, umask: int) -> None:
    url, token = api
    out = tmp_path / "bundle"
    wheel = fake_wheel(tmp_path / "dist")
    env = {"BORNE_ADMIN_TOKEN": token, "BORNE_WIFI_PASSWORD": WIFI_PASSWORD}
    with _watching(out, [WIFI_PASSWORD], umask) as seen:
        result = invoke(["provision", "kiosk", "new", "--espace", "fs-22-001", "--id", "k-1", "--out", str(out),
                         "--collector", url, "--wifi-ssid", "FS-Lannion", "--wheel", str(wheel),
                         "--allow-local-collector"], env=env)
        assert result.exit_code == 0, result.output
        password = (out / "kiosk.toml").read_text().split('password = "')[1].split('"')[0]
        _WATCH["secrets"].append(password)
        rotated = invoke(["provision", "kiosk", "rotate", "k-1", "--out", str(out), "--collector", url], env=env)
        assert rotated.exit_code == 0, rotated.output
    assert "borne: warning" not in result.output + rotated.output, "secrets from the environment: no warning"
    assert {name for _, name, _ in seen} >= {"kiosk.toml", "network-config"}, seen
    exposed = [(event, name, oct(mode)) for event, name, mode in seen if mode & 0o077]
    assert exposed == [], "a file holding a secret was readable by others"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700, "the bundle's folder is closed to others"
    for name in ("kiosk.toml", "network-config"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    assert WIFI_PASSWORD not in result.output and password not in rotated.output


def test_secret_on_the_command_line_is_warned_about(api: tuple[str, str], tmp_path: Path) -> None:
    url, token = api
    wheel = ["--wheel", str(fake_wheel(tmp_path / "dist")), "--allow-local-collector"]
    given = invoke(["provision", "kiosk", "new", "--espace", "fs-22-001", "--out", str(tmp_path / "a"),
                    "--collector", url, "--token", token, "--wifi-ssid", "FS", "--wifi-password", WIFI_PASSWORD,
                    *wheel])
    assert given.exit_code == 0, given.output
    assert "borne: warning: --token on the command line" in given.stderr
    assert "borne: warning: --wifi-password on the command line" in given.stderr
    # Neither in the environment nor on the command line: asked for, without echo.
    asked = invoke(["provision", "kiosk", "new", "--espace", "fs-22-001", "--out", str(tmp_path / "b"),
                    "--collector", url, "--wifi-ssid", "FS", *wheel], input=f"{token}\n{WIFI_PASSWORD}\n")
    assert asked.exit_code == 0, asked.output
    assert "Admin API token" in asked.output and token not in asked.output and WIFI_PASSWORD not in asked.output
    assert "borne: warning" not in asked.output
    assert WIFI_PASSWORD in (tmp_path / "b" / "network-config").read_text()


def test_the_first_boot_installs_nothing_unpinned(api: tuple[str, str], tmp_path: Path) -> None:
    url, token = api
    env = {"BORNE_ADMIN_TOKEN": token}

    def new(out: str, *args: str) -> Any:
        return invoke(["provision", "kiosk", "new", "--espace", "fs-22-001", "--out", str(tmp_path / out),
                       "--collector", url, "--allow-local-collector", *args], env=env)

    refused = new("unpinned")
    assert isinstance(refused.exception, CliError) and refused.exception.exit_code == 2
    assert "unpinned" in str(refused.exception) and "--wheel" in str(refused.exception)
    unhashed = tmp_path / "requirements.txt"
    unhashed.write_text(f"borne[kiosk]==0.1.0 --hash=sha256:{'a' * 64}\npaho-mqtt>=2 --hash=sha256:{'b' * 64}\n")
    refused = new("unhashed", "--requirement", str(unhashed))
    assert isinstance(refused.exception, CliError) and "line 2: not pinned by hash" in str(refused.exception)
    assert not (tmp_path / "unpinned").exists() and not (tmp_path / "unhashed").exists()
    listed = invoke(["provision", "kiosk", "list", "--json", "--collector", url], env=env)
    assert '"id"' not in listed.output, "nothing was registered for the refused bundles"

    pinned = Path(__file__).parents[1] / "provisioning" / "data" / "requirements-touch.txt"
    result = new("touch", "--ui", "touch", "--requirement", str(pinned))
    assert result.exit_code == 0, result.output
    commands = [c[-1] for c in yaml.safe_load((tmp_path / "touch" / "user-data").read_text())["runcmd"]
                if c[0] == "sh"]
    assert commands == ["/opt/borne/bin/pip install --no-input --require-hashes -r "
                        "/boot/firmware/borne-requirements.txt"]
    assert (tmp_path / "touch" / "borne-requirements.txt").read_bytes() == pinned.read_bytes()
    result = new("wheel", "--ui", "touch", "--wheel", str(fake_wheel(tmp_path / "dist")))
    assert result.exit_code == 0, result.output
    commands = [c[-1] for c in yaml.safe_load((tmp_path / "wheel" / "user-data").read_text())["runcmd"]
                if c[0] == "sh"]
    assert commands == ["/opt/borne/bin/pip install --no-input "
                        "'/boot/firmware/borne-wheels/borne-0.1.0-py3-none-any.whl[touch]'"]
