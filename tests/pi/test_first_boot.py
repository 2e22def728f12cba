"""The kiosk's first boot where it will live, emulated: Debian Trixie arm64 (like Raspberry Pi OS Lite),
cloud-init reading the bundle from the boot partition, a network that lets nothing through but the broker.

One card, one boot: the technician's ``borne provision kiosk new --wheelhouse`` (a real collector and a real
Mosquitto on this machine's loopback), the first boot installs offline from the card and reboots, the kiosk's
unit starts under systemd and connects, a press on a pin (gpiozero's mock factory, switched on by this test's
drop-in) is counted by the collector; then a software update, once: release 0.2.0 of this tree's wheel, signed
with the programme's key, stored and asked of the kiosk by the collector, fetched over HTTPS with the kiosk's own
credentials, installed beside the factory install, switched to, confirmed healthy, shown in the heartbeat, and a
vote counted on it; then ``borne kiosk selftest`` over SSH as the technician runs it, and the touch kiosk draws
its home screen offscreen. Figures go to ``.cache/pi/figures.json`` (docs/performance.md).
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import fleet
from collector.api.app import create_app
from collector.broker import releases as desired_releases
from collector.broker.accounts import DynsecAccounts
from collector.config import Settings
from collector.db.engine import session_factory
from collector.db.models import Kiosk
from devtools.builders import collector_settings, migrated_engine, start_collector, vote_counts
from devtools.dynsec import DynsecMosquitto
from devtools.kiosk_sim import wait_until
from provisioning.bundle import VENV
from provisioning.release import keygen, load_private_key, sign
from provisioning.wheelhouse import build_wheelhouse
from tests.pi.card import CACHE, ROOT, build_base, make_card, tools_missing
from tests.pi.emulator import API_IN_GUEST, BROKER_IN_GUEST, EmulatedPi
from tests.provisioning.conftest import admin_token, espaces, invoke, serve
from tests.utils.https import make_tls, serve_https
from tests.utils.releases import reversioned_wheel

pytestmark = [pytest.mark.pi, pytest.mark.timeout(3 * 3600)]


def _devtools_for_screenshots() -> str:
    """``devtools/`` with the touch screenshot maker and its driver, as a base64 tar to unpack in the guest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("__init__.py", "touch_screenshots.py", "touch_driver.py"):
            tar.add(ROOT / "devtools" / name, arcname=f"devtools/{name}")
    return base64.b64encode(buffer.getvalue()).decode()

ESPACE, KIOSK = "fs-22-001", "fs-22-001-pi01"
HOOK_DIR = "/usr/local/lib/borne-test"
MOCK_PINS_DROPIN = f"""[Service]
Environment=GPIOZERO_PIN_FACTORY=mock PYTHONPATH={HOOK_DIR}
"""
BOOT_TIMEOUT_S = 75 * 60  # two boots and an offline install, under TCG on shared cores
UPDATE_VERSION = "0.2.0"
# A new release must confirm itself within update.confirm_s (120 s on a Pi); under TCG a start is many times slower.
UPDATE_CONFIRM_S = 900


def _with_mock_pins(user_data: Path) -> None:
    """The test's only change to the bundle: gpiozero's mock factory for the kiosk's unit, and the press hook."""
    text = user_data.read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    config = yaml.safe_load(text)
    config["write_files"] += [
        {"path": "/etc/systemd/system/borne-kiosk.service.d/50-mock-pins.conf", "permissions": "0644",
         "content": MOCK_PINS_DROPIN},
        {"path": f"{HOOK_DIR}/sitecustomize.py", "permissions": "0644",
         "content": (Path(__file__).parent / "press_hook.py").read_text()},
    ]
    user_data.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000))


def _with_confirm_window(bundle: Path) -> None:
    """A confirmation window for a start under emulation: ``[update] confirm_s`` in kiosk.toml. (The test's CA
    for the collector's HTTPS comes in the bundle, from ``--update-ca``.)"""
    toml = bundle / "kiosk.toml"
    text = toml.read_text()
    assert "\n[update]\n" in text, "the bundle takes updates (--release-key, --update-url)"
    assert (bundle / "borne-update-ca.crt").exists(), "the bundle carries the update server's CA (--update-ca)"
    toml.write_text(text.replace("\n[update]\n", f"\n[update]\nconfirm_s = {UPDATE_CONFIRM_S}\n", 1))


def _telemetry(engine: Any) -> dict[str, Any]:
    with session_factory(engine)() as session:
        kiosk = session.get(Kiosk, KIOSK)
        return dict(kiosk.telemetry or {}) if kiosk is not None else {}


def _update_once(pi: EmulatedPi, engine: Any, settings: Settings, key: Path, wheelhouse: Path, out: Path,
                 public: str, figures: dict[str, Any]) -> None:
    """Release 0.2.0 (this tree's wheel, re-versioned, signed) stored, asked of the kiosk, installed, confirmed,
    in the heartbeat; a vote counted on it. Its figures into ``figures`` as they come."""
    release = out / UPDATE_VERSION
    release.mkdir(parents=True)
    reversioned_wheel(next(wheelhouse.glob("borne-*.whl")), release, UPDATE_VERSION)
    sign(release, UPDATE_VERSION, load_private_key(key))
    figures["update_release_mb"] = round(sum(p.stat().st_size for p in release.iterdir()) / 1e6, 1)
    fleet.add_release(settings, release, public)
    with session_factory(engine)() as session, session.begin():
        rollout, desired = fleet.plan(session, settings, UPDATE_VERSION, "kiosk", KIOSK, "test")
        rollout_id = rollout.id
    started = time.monotonic()
    desired_releases.publish(settings, desired)

    def confirmed() -> bool:
        t = _telemetry(engine)
        return t.get("release") == UPDATE_VERSION and str(t.get("update_result", "")).startswith("installed")

    done = wait_until(lambda: confirmed() or not pi.alive(), UPDATE_CONFIRM_S + 1800, interval=5)
    journal = pi.ssh("sudo journalctl -u borne-kiosk --no-pager | tail -60", check=False).stdout
    assert done and confirmed(), f"no confirmed update in the heartbeat: {_telemetry(engine)}\n{journal}"
    figures["update_publish_to_confirmed_s"] = round(time.monotonic() - started)
    telemetry = _telemetry(engine)
    figures["update_heartbeat"] = {k: telemetry.get(k) for k in ("version", "release", "release_desired",
                                                                 "update_status", "update_result")}
    assert telemetry.get("version") == UPDATE_VERSION, "the new release's code runs"
    root = "/var/lib/borne/releases"
    assert pi.ssh(f"sudo readlink {root}/current").stdout.strip().endswith(UPDATE_VERSION)
    assert pi.ssh(f"sudo test -e {root}/pending.json", check=False).returncode == 1, "confirmed: nothing pending"
    assert pi.ssh(f"sudo test -e {root}/releases/{UPDATE_VERSION}/site/kiosk/service.py",
                  check=False).returncode == 0
    with session_factory(engine)() as session:
        assert fleet.summary(session, fleet.get(session, rollout_id))["updated"] == 1

    # A visitor's press on the new release is counted too.
    before = vote_counts(engine).get(ESPACE, 0)
    started = time.monotonic()
    pi.ssh("sudo touch /run/borne-press/vote2-19")
    assert wait_until(lambda: vote_counts(engine).get(ESPACE, 0) == before + 1, 900, interval=2), \
        pi.ssh("sudo journalctl -u borne-kiosk --no-pager | tail -40", check=False).stdout
    figures["update_press_to_counted_s"] = round(time.monotonic() - started)
    child = pi.ssh("pgrep -u borne -f 'python.* -m kiosk .*run' | head -1", check=False).stdout.strip()
    if child:
        figures["updated_kiosk_rss_mib"] = round(_rss_kib(pi, child) / 1024, 1)


def _kiosk_status(url: str, token: str) -> str | None:
    result = invoke(["provision", "kiosk", "list", "--json", "--collector", url], env={"BORNE_ADMIN_TOKEN": token})
    if result.exit_code != 0:
        return None
    text = result.output
    kiosks = json.loads(text[text.index("["):text.rindex("]") + 1])  # log lines may stand around the JSON
    return next((k["status"] for k in kiosks if k["id"] == KIOSK), None)


def _rss_kib(pi: EmulatedPi, pid: str) -> int:
    return int(pi.ssh(f"ps -o rss= -p {pid}").stdout.strip())


def _selftest(pi: EmulatedPi) -> tuple[int, str]:
    """``borne kiosk selftest`` over SSH as the technician runs it; the presses it asks for are made on the pins."""
    command = (f"sudo systemctl stop borne-kiosk && sudo -u borne env PYTHONUNBUFFERED=1 GPIOZERO_PIN_FACTORY=mock "
               f"PYTHONPATH={HOOK_DIR} {VENV}/bin/borne kiosk selftest -c /var/lib/borne/kiosk.toml "
               "--press-timeout 90 --technician emulator")
    argv = ["ssh", "-i", str(pi.ssh_key), "-p", str(pi.ssh_port), "-o", "BatchMode=yes", "-o",
            "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "admin@127.0.0.1", command]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("y\n" * 4)  # "Is the LED lit?": yes
    proc.stdin.flush()
    output: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            asked = re.search(r"Press button (\d+) of \d+ \(GPIO (\d+)\)", line)
            if asked:
                pi.ssh(f"sudo touch /run/borne-press/selftest{asked[1]}-{asked[2]}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = proc.wait(timeout=900)
    reader.join(30)
    return code, "".join(output)


def test_first_boot_to_a_counted_vote(dynsec_mosquitto: DynsecMosquitto, sqlite_url: str, tmp_path: Path) -> None:
    missing = tools_missing()
    if missing:
        pytest.fail(f"missing tools: {', '.join(missing)}: run deploy/pi/deps.sh (make test-pi does)")
    figures: dict[str, Any] = {}
    started = time.monotonic()
    base = build_base()
    figures["image_build_or_cache_s"] = round(time.monotonic() - started)

    started = time.monotonic()
    wheelhouse = build_wheelhouse(tmp_path / "wheelhouse", "touch", source=ROOT)
    figures["wheelhouse_s"] = round(time.monotonic() - started)
    figures["wheelhouse_mb"] = round(sum(w.size for w in wheelhouse.wheels) / 1e6, 1)

    broker = dynsec_mosquitto
    engine = migrated_engine(sqlite_url)
    espaces(engine, {ESPACE: "France services de Lannion"})
    result = invoke(["provision", "broker", "collector-account", "--port", str(broker.port)],
                    env={"BORNE_MQTT_ADMIN_USERNAME": broker.admin_user,
                         "BORNE_MQTT_ADMIN_PASSWORD": broker.admin_password})
    assert result.exit_code == 0, result.output
    collector_password = result.output.split("BORNE_MQTT_PASSWORD=")[1].split()[0]
    settings = collector_settings(sqlite_url, broker.port, tmp_path / "collector", mqtt_username="borne-collector",
                                  mqtt_password=collector_password)
    collector = start_collector(settings)
    app = create_app(engine)
    app.state.borne.extra.update(
        accounts=DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, broker.admin_password),
        kiosk_broker={"host": "127.0.0.1", "port": broker.port, "tls": False}, settings=settings)
    # Software updates: the programme's key, and the API over HTTPS where the guest finds the collector.
    public = keygen(tmp_path / "release-key.pem")
    tls = make_tls(tmp_path / "tls", API_IN_GUEST[0])
    token = admin_token(engine)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    bundle = tmp_path / "bundle"
    try:
        with serve(app) as url, serve_https(app, tls) as https_port:
            host, port = BROKER_IN_GUEST
            new = ["provision", "kiosk", "new", "--espace", ESPACE, "--id", KIOSK, "--out", str(bundle),
                   "--collector", url, "--ui", "gpio", "--broker-host", host, "--broker-port", str(port),
                   "--wheelhouse", str(tmp_path / "wheelhouse"), "--ssh-key", f"{key}.pub", "--no-label",
                   "--release-key", str(tmp_path / "release-key.pub"), "--update-url", f"https://{API_IN_GUEST[0]}",
                   "--update-ca", str(tls.ca)]
            refused = invoke([*new, "--broker-host", "127.0.0.1"], env={"BORNE_ADMIN_TOKEN": token})
            assert "own address" in str(refused.exception), "a loopback broker host is refused"
            result = invoke(new, env={"BORNE_ADMIN_TOKEN": token})
            assert result.exit_code == 0, f"{result.output}\n{result.exception}"
            _with_mock_pins(bundle / "user-data")
            _with_confirm_window(bundle)
            card = make_card(base, bundle, tmp_path / "card.img")

            console = CACHE / "console.log"
            with EmulatedPi(base, card, broker_port=broker.port, ssh_key=key, console=console,
                            api_port=https_port) as pi:
                online = wait_until(lambda: _kiosk_status(url, token) == "online" or not pi.alive(),
                                    BOOT_TIMEOUT_S, interval=15)
                assert online and pi.alive(), f"the kiosk never came online; console:\n{pi.console_tail()}"
                figures["boot_to_online_s"] = round(time.monotonic() - pi.started_at)
                assert pi.wait_ssh(600), f"no SSH; console:\n{pi.console_tail()}"

                # A visitor presses the third button (BCM 13): the vote is counted.
                pi.ssh("sudo mkdir -p /run/borne-press && sudo touch /run/borne-press/vote1-13")
                counted = wait_until(lambda: vote_counts(engine).get(ESPACE) == 1, 900, interval=2)
                journal = pi.ssh("sudo journalctl -u borne-kiosk --no-pager | tail -40", check=False).stdout
                assert counted, f"the vote was not counted; kiosk's journal:\n{journal}"
                figures["boot_to_first_counted_vote_s"] = round(time.monotonic() - pi.started_at)

                # What the first boot left: offline install, data partition, the kiosk under systemd.
                status = pi.ssh("cloud-init status --long", check=False).stdout
                figures["cloud_init_status"] = status.strip().splitlines()[0] if status else "?"
                installed = pi.ssh("sudo cat /var/log/cloud-init-output.log").stdout
                assert "Looking in links: /boot/firmware/borne-wheelhouse" in installed, "installed from the card"
                assert "Successfully installed" in installed and "borne-0.1.0" in installed
                source, fstype = pi.ssh("findmnt -no SOURCE,FSTYPE /var/lib/borne").stdout.split()
                assert fstype == "ext4"
                size = int(pi.ssh(f"lsblk -bno SIZE {source}").stdout.strip())
                figures["data_partition_gib"] = round(size / 2**30, 1)
                assert size > 2**30, "the data partition takes the rest of the card, after the root"
                assert pi.ssh("sudo stat -c %a /var/lib/borne/kiosk.toml").stdout.strip() == "600"
                assert pi.ssh("test -e /boot/firmware/kiosk.toml", check=False).returncode == 1, \
                    "the password left the boot partition"
                assert "3.13" in pi.ssh(f"{VENV}/bin/python -V").stdout
                # The card spared: the journal in RAM (the bundle's drop-in), the outbox on the data partition.
                assert pi.ssh("ls /run/log/journal").stdout.strip(), "the journal is volatile"
                # (the first boot's own journal, before the drop-in, stays in /var/log/journal; nothing since)
                assert not pi.ssh('sudo find /var/log/journal -type f -newermt "$(uptime -s)" 2>/dev/null',
                                  check=False).stdout.strip(), "the journal wrote to the card after the first boot"
                assert "outbox" in pi.ssh("sudo ls /var/lib/borne").stdout, "the outbox, on the data partition"
                assert pi.ssh("uname -m").stdout.strip() == "aarch64"
                pid = pi.ssh("systemctl show -p MainPID --value borne-kiosk").stdout.strip()
                figures["gpio_kiosk_rss_mib"] = round(_rss_kib(pi, pid) / 1024, 1)

                # A software update, once, on the same boot.
                _update_once(pi, engine, settings, tmp_path / "release-key.pem", tmp_path / "wheelhouse",
                             tmp_path / "releases", public, figures)

                # The technician's self-test, over SSH.
                code, output = _selftest(pi)
                figures["selftest"] = output.strip().splitlines()[-8:]
                checks = {name: outcome for outcome, name in
                          re.findall(r"^(PASSED|FAILED|SKIPPED)\s+(\w+)", output, re.M)}
                assert checks.get("buttons") == "PASSED" and checks.get("leds") == "PASSED", output
                assert checks.get("disk") == "PASSED" and checks.get("broker") == "PASSED", output
                # No NTP gets through this network: the clock check says so, and only it fails.
                assert {n for n, o in checks.items() if o == "FAILED"} <= {"clock"}, output
                assert code == (1 if "clock" in {n for n, o in checks.items() if o == "FAILED"} else 0), output

                # The touch kiosk, offscreen (Mesa llvmpipe): its home screen, drawn in the guest.
                started = time.monotonic()
                # The screenshot maker is development tooling (devtools/, not in the wheel): brought in for this.
                pi.ssh("base64 -d | tar -x -C /tmp", input=_devtools_for_screenshots())
                shots = pi.ssh(f"cd /tmp && SDL_VIDEODRIVER=offscreen {VENV}/bin/python -m devtools.touch_screenshots "
                               "/tmp/shots >/tmp/shots.log 2>&1; ls /tmp/shots; tail -5 /tmp/shots.log",
                               timeout=1800, check=False).stdout
                figures["touch_screenshots_s"] = round(time.monotonic() - started)
                assert "kiosk-home-800x480.png" in shots, shots
                png = base64.b64decode(pi.ssh("base64 -w0 /tmp/shots/kiosk-home-800x480.png").stdout)
                from PIL import Image

                with Image.open(io.BytesIO(png)) as image:
                    assert image.size == (800, 480)
                    colours = image.convert("RGB").getcolors(800 * 480)
                    assert colours is not None and len(colours) > 50, "the home screen was drawn"
                (CACHE / "kiosk-home-arm64.png").write_bytes(png)
                # ... and the touch kiosk's service as it runs, for its memory.
                pi.ssh("sudo systemctl stop borne-kiosk; sudo -u borne env SDL_VIDEODRIVER=offscreen "
                       f"timeout 300 {VENV}/bin/borne kiosk run -c /var/lib/borne/kiosk.toml --ui touch "
                       "</dev/null >/tmp/touch.log 2>&1 &", check=False)
                time.sleep(120)
                pid = pi.ssh("pgrep -u borne -x borne | head -1", check=False).stdout.strip()
                assert pid, pi.ssh("tail -30 /tmp/touch.log", check=False).stdout
                figures["touch_kiosk_rss_mib"] = round(_rss_kib(pi, pid) / 1024, 1)
    finally:
        collector.close()
        figures["console"] = str(CACHE / "console.log")
        (CACHE / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
        print(json.dumps(figures, indent=1))
