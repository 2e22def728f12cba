"""The offline, pinned install: a wheelhouse built from a local folder of wheels (no index), installed with
``--no-index --require-hashes`` as the first boot does; the bundle that carries it; the broker host's check.

The wheelhouse for the Pi itself (arm64, CPython 3.13, from PyPI) is built and installed in the emulated Pi:
``make test-pi`` (tests/pi/)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from borne.cli.errors import CliError
from provisioning.bundle import BundleOptions, write_bundle
from provisioning.collector_host import CollectorHostRefused, check_broker_host
from provisioning.wheelhouse import CARD_DIR, HOST, WheelhouseError, build_wheelhouse, verify
from tests.provisioning.conftest import fake_wheel, invoke
from tests.provisioning.test_bundle import _credentials

ROOT = Path(__file__).resolve().parents[2]
# borne[kiosk]'s dependencies, as empty wheels of the same names: the resolution is what is tested.
STUBS = {"pydantic": "2.9.0", "typer": "0.12.5", "gpiozero": "2.0.1", "paho_mqtt": "2.1.0", "cryptography": "42.0.0",
         "pip": "24.2"}


def _stub_wheel(folder: Path, name: str, version: str) -> Path:
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}_stub.py": b"",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},"
                     f"{len(d)}\n" for n, d in files.items()) + f"{dist}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for n, d in files.items():
            wheel.writestr(n, d)
        wheel.writestr(f"{dist}/RECORD", record)
    return path


@pytest.fixture(scope="module")
def borne_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """borne's real wheel (its extras are what the wheelhouse resolves); the build backend comes from the index."""
    out = tmp_path_factory.mktemp("borne-wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(out),
                             str(ROOT)], capture_output=True, text=True, check=False, timeout=280)
    if result.returncode != 0:
        pytest.skip(f"cannot build borne's wheel (setuptools from the index): {result.stderr[-500:]}")
    return next(out.glob("borne-*.whl"))


@pytest.fixture
def wheelhouse(tmp_path: Path, borne_wheel: Path) -> Path:
    index = tmp_path / "index"
    index.mkdir()
    for name, version in STUBS.items():
        _stub_wheel(index, name, version)
    out = tmp_path / "wheelhouse"
    build_wheelhouse(out, "kiosk", borne_wheel=borne_wheel, target=HOST,
                     index_args=["--no-index", "--find-links", str(index)])
    return out


def test_the_wheelhouse_pins_every_wheel_and_installs_offline(wheelhouse: Path, tmp_path: Path) -> None:
    manifest = verify(wheelhouse)
    assert {w.name.lower() for w in manifest.wheels} == {"borne", *STUBS}
    assert manifest.extra == "kiosk" and manifest.borne_version == "0.1.0"
    lines = [line for line in (wheelhouse / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == len(STUBS) + 1
    assert all("==" in line and " --hash=sha256:" in line for line in lines), lines
    assert any(line.startswith("borne[kiosk]==0.1.0 ") for line in lines)
    # What the first boot runs, here into a folder: no index, every hash checked.
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--require-hashes",
                             "--no-deps", "--find-links", str(wheelhouse), "-r", str(wheelhouse / "requirements.txt"),
                             "--target", str(target)], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (target / "kiosk" / "service.py").exists() and (target / "gpiozero_stub.py").exists()


def test_an_altered_or_extra_file_is_refused(wheelhouse: Path, tmp_path: Path) -> None:
    stub = next(wheelhouse.glob("gpiozero-*.whl"))
    with zipfile.ZipFile(stub, "a") as wheel:
        wheel.writestr("gpiozero_evil.py", "import os\n")
    with pytest.raises(WheelhouseError, match="does not match its hash"):
        verify(wheelhouse)
    result = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--require-hashes",
                             "--find-links", str(wheelhouse), "-r", str(wheelhouse / "requirements.txt"),
                             "--target", str(tmp_path / "site")], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "HASHES" in result.stderr.upper()
    stub.unlink()
    with pytest.raises(WheelhouseError, match="missing"):
        verify(wheelhouse)


def test_the_bundle_installs_from_the_card_with_no_network(wheelhouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    write_bundle(out, _credentials(), BundleOptions(wheelhouse=wheelhouse))
    verify(out / CARD_DIR)
    text = (out / "user-data").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    assert "packages" not in data and "package_update" not in data, "no apt at first boot: nothing but the broker"
    install = data["runcmd"][0]
    assert install[:2] == ["sh", "-c"]
    assert "--no-index --require-hashes" in install[2] and f"/boot/firmware/{CARD_DIR}/requirements.txt" in install[2]
    assert "pip-24.2-py3-none-any.whl/pip install" in install[2], "pip from the card: no python3-venv needed"
    assert data["runcmd"][1:] == [["/usr/local/sbin/borne-firstboot"]]
    assert "pip install borne" not in text and "index-url" not in text
    cloud_init = shutil.which("cloud-init")
    if cloud_init is not None:
        result = subprocess.run([cloud_init, "schema", "--config-file", str(out / "user-data")],
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_touch_kiosk_needs_the_touch_extra(wheelhouse: Path, tmp_path: Path) -> None:
    with pytest.raises(WheelhouseError, match="--extra touch"):
        write_bundle(tmp_path / "bundle", _credentials(), BundleOptions(ui="touch", wheelhouse=wheelhouse))
    result = invoke(["provision", "kiosk", "new", "--espace", "fs-22-001", "--out", str(tmp_path / "b"),
                     "--collector", "http://127.0.0.1:9", "--ui", "touch", "--wheelhouse", str(wheelhouse)],
                    env={"BORNE_ADMIN_TOKEN": "t"})
    assert isinstance(result.exception, CliError) and result.exception.exit_code == 2
    assert "--extra touch" in str(result.exception)


@pytest.mark.parametrize(("host", "refused"), [
    ("127.0.0.1", "own address"), ("127.1.2.3", "own address"), ("::1", "own address"), ("[::1]", "own address"),
    ("0.0.0.0", "own address"), ("localhost", "loopback"), ("mqtt.localhost", "loopback"),
    ("borne-collector.invalid", "does not resolve"), ("", "empty"),
    ("10.0.2.100", None), ("192.0.2.10", None), ("2001:db8::1", None),
])
def test_the_broker_host_a_kiosk_cannot_reach_is_refused(host: str, refused: str | None) -> None:
    if refused is None:
        check_broker_host(host)
        return
    with pytest.raises(CollectorHostRefused, match=refused) as caught:
        check_broker_host(host)
    assert "--allow-local-collector" in str(caught.value)


def test_new_refuses_a_loopback_broker_before_registering(tmp_path: Path) -> None:
    args = ["provision", "kiosk", "new", "--espace", "fs-22-001", "--out", str(tmp_path / "b"),
            "--collector", "http://127.0.0.1:9", "--token", "t", "--broker-host", "127.0.0.1",
            "--wheel", str(fake_wheel(tmp_path / "dist"))]
    result = invoke(args)
    assert isinstance(result.exception, CliError) and result.exception.exit_code == 2
    assert "own address" in str(result.exception)
    assert not (tmp_path / "b").exists()
    allowed = invoke([*args, "--allow-local-collector"])
    assert "own address" not in str(allowed.exception)  # it goes on, to the (absent) collector
