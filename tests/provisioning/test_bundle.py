"""The SD card's bundle: cloud-init's own schema check, systemd-analyze on the units, a kiosk.toml the kiosk
loads, and the label."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from kiosk.config import load_config
from provisioning.bundle import (
    IMPORT_SCRIPT,
    UPDATE_CA_PATH,
    BundleOptions,
    import_unit,
    kiosk_unit,
    write_bundle,
    write_kiosk_toml,
)
from provisioning.certificates import CertificateInvalid, read_ca_certificates
from provisioning.label import qr_payload, write_label
from tests.utils.https import make_tls

CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def _credentials(**broker: Any) -> dict[str, Any]:
    return {"kiosk_id": "fs-22-001-ab12", "espace_id": "fs-22-001", "espace_name": "France services de Lannion",
            "mqtt_username": "fs-22-001-ab12", "mqtt_password": 'p"a\\ss-wörd',
            "broker": {"host": "mqtt.example.fr", "port": 1883, "tls": False, **broker}, "accounts": "dynsec"}


WHEEL = Path(__file__).parent / "data" / "borne-0.1.0-py3-none-any.whl"
REQUIREMENTS = Path(__file__).parent / "data" / "requirements-touch.txt"
OPTIONS = {
    "gpio-ethernet": BundleOptions(wheel=WHEEL),
    "touch-wifi-ssh": BundleOptions(ui="touch", ssh_keys=["ssh-ed25519 AAAAC3Nza test@laptop"], wifi_ssid="FS Wi-Fi",
                                    wifi_password="secret-wifi", hostname="borne-lannion", wheel=WHEEL),
    "hash-pinned-requirements": BundleOptions(ui="touch", requirement=REQUIREMENTS),
}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_user_data_passes_cloud_init_schema(name: str, tmp_path: Path) -> None:
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        pytest.skip("cloud-init is not installed (Debian package cloud-init)")
    write_bundle(tmp_path, _credentials(), OPTIONS[name])
    result = subprocess.run([cloud_init, "schema", "--config-file", str(tmp_path / "user-data")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout
    data = yaml.safe_load((tmp_path / "user-data").read_text())
    assert (tmp_path / "user-data").read_text().startswith("#cloud-config\n")
    assert data["growpart"] == {"mode": "off"}, "the space after the root partition is for the data partition"
    assert 'p"a' not in (tmp_path / "user-data").read_text(), "the MQTT password stays out of user-data"
    if OPTIONS[name].wifi_ssid:
        network = yaml.safe_load((tmp_path / "network-config").read_text())
        assert network["network"]["version"] == 2 and "FS Wi-Fi" in network["network"]["wifis"]["wlan0"][
            "access-points"]
    else:
        assert not (tmp_path / "network-config").exists()


def test_kiosk_toml_is_what_the_kiosk_loads(tmp_path: Path) -> None:
    write_bundle(tmp_path, _credentials(tls=True, port=8883, ca_pem=CA), BundleOptions(wheel=WHEEL))
    cfg = load_config(tmp_path / "kiosk.toml")
    assert cfg.kiosk_id == "fs-22-001-ab12" and cfg.ui == "gpio"
    assert cfg.broker.username == "fs-22-001-ab12" and cfg.broker.password is not None
    assert cfg.broker.password.get_secret_value() == 'p"a\\ss-wörd'
    assert cfg.broker.tls and cfg.broker.port == 8883 and str(cfg.broker.ca_file) == "/var/lib/borne/ca.crt"
    assert str(cfg.data_dir) == "/var/lib/borne"
    assert (tmp_path / "borne-ca.crt").read_text() == CA
    assert (tmp_path / "kiosk.toml").stat().st_mode & 0o077 == 0, "the password's file is private"
    write_bundle(tmp_path / "touch", _credentials(), BundleOptions(ui="touch", wheel=WHEEL))
    touch = load_config(tmp_path / "touch" / "kiosk.toml")
    assert touch.ui == "touch" and touch.touch.input == "mtdev"


def test_the_update_servers_ca_goes_next_to_kiosk_toml(tmp_path: Path) -> None:
    """``--update-ca``: the certificate on the boot partition beside kiosk.toml, copied onto the data partition at
    every boot as the broker's is, and ``[update] ca_file`` naming it there; with the broker's CA beside it."""
    update_ca = make_tls(tmp_path / "tls", "127.0.0.1").ca.read_text()
    options = BundleOptions(wheel=WHEEL, release_key="k" * 43 + "=", update_url="https://collecteur.example.fr",
                            update_ca_pem=update_ca)
    write_bundle(tmp_path / "b", _credentials(tls=True, port=8883, ca_pem=CA), options)
    cfg = load_config(tmp_path / "b" / "kiosk.toml")
    assert str(cfg.update.ca_file) == UPDATE_CA_PATH == "/var/lib/borne/update-ca.crt"
    assert str(cfg.broker.ca_file) == "/var/lib/borne/ca.crt"
    assert (tmp_path / "b" / "borne-update-ca.crt").read_text() == update_ca
    assert (tmp_path / "b" / "borne-ca.crt").read_text() == CA
    assert f"/boot/firmware/borne-update-ca.crt {UPDATE_CA_PATH}" in IMPORT_SCRIPT
    assert "ConditionPathExists=|/boot/firmware/borne-update-ca.crt" in import_unit()
    # rotate (kiosk.toml only): the certificates kiosk.toml names go with it.
    written = write_kiosk_toml(tmp_path / "r", _credentials(tls=True, ca_pem=CA), options)
    assert sorted(p.name for p in written) == ["borne-ca.crt", "borne-update-ca.crt", "kiosk.toml"]
    # Without updates, no update CA (nothing would read it); without --update-ca, no [update] ca_file.
    write_bundle(tmp_path / "n", _credentials(), BundleOptions(wheel=WHEEL, update_ca_pem=update_ca))
    assert not (tmp_path / "n" / "borne-update-ca.crt").exists()
    write_bundle(tmp_path / "s", _credentials(), BundleOptions(wheel=WHEEL, release_key="k" * 43 + "=",
                                                               update_url="https://collecteur.example.fr"))
    assert load_config(tmp_path / "s" / "kiosk.toml").update.ca_file is None
    assert not (tmp_path / "s" / "borne-update-ca.crt").exists()


def _expired_ca(path: Path) -> Path:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=400)).not_valid_after(now - timedelta(days=1))
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_a_ca_file_holds_certificates_and_nothing_else(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "a", "127.0.0.1")
    other = make_tls(tmp_path / "b", "127.0.0.1")
    both = tmp_path / "both.pem"
    both.write_text(tls.ca.read_text() + other.ca.read_text())  # a CA and its successor, say
    assert read_ca_certificates(both) == both.read_text()
    assert read_ca_certificates(tls.cert) == tls.cert.read_text()  # a server's own certificate: pinned
    cert_key = tmp_path / "cert-key.pem"
    cert_key.write_text(tls.cert.read_text() + tls.key.read_text())
    csr = tmp_path / "csr.pem"
    csr.write_text("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
    broken = tmp_path / "broken.pem"
    broken.write_text(CA)
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    refused = {tls.key: "holds a private key", cert_key: "holds a private key",
               csr: "holds CERTIFICATE REQUEST, not only certificates", broken: "a certificate does not parse",
               empty: "not a PEM certificate", _expired_ca(tmp_path / "old.pem"): "CN=old CA expired on",
               tmp_path / "none.pem": "cannot read it"}
    for path, reason in refused.items():
        with pytest.raises(CertificateInvalid, match=reason):
            read_ca_certificates(path)


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    system_units = Path("/usr/lib/systemd/system")
    if analyze is None or not (system_units / "multi-user.target").exists():
        pytest.skip("systemd-analyze or systemd's own units are not installed here")
    write_bundle(tmp_path / "bundle", _credentials(), BundleOptions(wheel=WHEEL))
    # A throw-away root holding the units, the programs they start and systemd's targets: verify checks them all.
    root = tmp_path / "root"
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    for program in ("opt/borne/bin/python", "usr/local/sbin/borne-config-import"):
        path = root / program
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    names = ["borne-kiosk.service", "borne-config-import.service"]
    for name in names:
        shutil.copy(tmp_path / "bundle" / name, units / name)
    result = subprocess.run([analyze, "verify", f"--root={root}", *(f"/etc/systemd/system/{n}" for n in names)],
                            capture_output=True, text=True, check=False)
    if "Failed to" in result.stderr and "sysinit.target" in result.stderr:
        pytest.skip(f"systemd-analyze cannot load the units in this container: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warnings: none allowed
    unit = kiosk_unit(BundleOptions(watchdog_s=20))
    assert "Restart=always" in unit and "WatchdogSec=20" in unit and "Type=notify" in unit


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_label(suffix: str, tmp_path: Path) -> None:
    path = write_label(tmp_path / f"label{suffix}", "fs-22-001-ab12", "fs-22-001",
                       "France services de Lannion, une espace au nom très long qui ne tient pas sur une ligne")
    if suffix == ".pdf":
        assert path.read_bytes().startswith(b"%PDF")
        return
    with Image.open(path) as image:
        assert image.size == (732, 366)
        assert image.getextrema() == (0, 255), "black on white"
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.skip("zbarimg (Debian package zbar-tools) is not installed: the QR code is not read back")
    result = subprocess.run([zbarimg, "--raw", "-q", str(path)], capture_output=True, text=True,
                            check=False)
    assert result.stdout.strip() == qr_payload("fs-22-001-ab12", "fs-22-001"), result.stderr


def test_qr_payload_is_quoted() -> None:
    assert qr_payload("k-1", "FS 22/1") == "borne:kiosk/k-1?espace=FS%2022/1"


def test_user_data_scripts_parse(tmp_path: Path) -> None:
    """The first-boot and import scripts written by user-data are valid POSIX shell (``sh -n``)."""
    write_bundle(tmp_path, _credentials(), BundleOptions(data_size="4G", wheel=WHEEL))
    data = yaml.safe_load((tmp_path / "user-data").read_text())
    scripts = [f for f in data["write_files"] if f["path"].startswith("/usr/local/sbin/")]
    assert {f["path"] for f in scripts} == {"/usr/local/sbin/borne-firstboot", "/usr/local/sbin/borne-config-import"}
    for script in scripts:
        path = tmp_path / Path(script["path"]).name
        path.write_text(script["content"])
        result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{script['path']}: {result.stderr}"
    firstboot = next(f["content"] for f in scripts if f["path"].endswith("firstboot"))
    assert '"$start,4G,L"' in firstboot and "do_overlayfs 0" in firstboot and "consoleblank=0" in firstboot
