"""Software updates with real parts: supervisors and kiosks in processes of their own, a real Mosquitto, the
collector's API serving signed releases, the desired release retained; kiosks pressed throughout (a
``sitecustomize`` presses their mock buttons); every recorded vote stored once at the end.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from collector import fleet
from collector.api.app import create_app
from collector.broker.accounts import hash_secret
from collector.broker.mosquitto import free_port, wait_port
from collector.broker.releases import publish
from collector.db.engine import session_factory
from collector.db.models import Kiosk, Vote
from collector.service import Collector
from devtools.brokers import Mosquitto
from devtools.builders import collector_settings, migrated_engine, register, start_collector
from devtools.kiosk_sim import wait_until
from kiosk.config import load_config
from kiosk.releases import Releases
from kiosk.service import Kiosk as KioskService
from kiosk.update import UpdateAgent
from protocol.models import DesiredRelease
from protocol.release import ReleaseInvalid
from provisioning.bundle import CA_FILE, CA_PATH, DATA_DIR, UPDATE_CA_FILE, UPDATE_CA_PATH, BundleOptions, write_bundle
from tests.utils.https import Tls, make_tls, serve_https
from tests.utils.notify import NotifySocket
from tests.utils.releases import new_key, signed_release

ROOT = Path(__file__).resolve().parents[2]
HOOK = Path(__file__).with_name("update_press_hook.py")
SECRET = "s3cret-of-the-tests-only-0123456789abcdef"


@dataclass
class Fleet:
    """A collector with its API, kiosks k-1..k-3 registered with secrets, a release key, a place for files."""

    collector: Collector
    engine: Any
    mosquitto: Mosquitto
    tmp: Path
    key: Ed25519PrivateKey
    public_key: str
    supervisors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.collector.api_url

    def release(self, version: str, *, broken: bool = False, key: Ed25519PrivateKey | None = None) -> str:
        source = signed_release(self.tmp / "signed", version, key or self.key, broken=broken)
        return fleet.add_release(self.collector.settings, source)

    def roll_out(self, version: str, stage: str = "all", target: str | None = None) -> str:
        with session_factory(self.engine)() as session, session.begin():
            rollout, desired = fleet.plan(session, self.collector.settings, version, stage, target)
            rollout_id = rollout.id
        publish(self.collector.settings, desired)
        return rollout_id

    def config(self, kiosk_id: str, *, port: int | None = None, confirm_s: float = 30.0) -> Path:
        data = self.tmp / kiosk_id
        path = self.tmp / f"{kiosk_id}.toml"
        path.write_text(
            f'kiosk_id = "{kiosk_id}"\ndata_dir = "{data}"\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {port or self.mosquitto.port}\n'
            f'username = "kiosk:{kiosk_id}"\npassword = "{SECRET}"\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n'
            "[uplink]\nheartbeat_s = 1\nconfirm_timeout_s = 10\n"
            f'[update]\nurl = "{self.api}"\npublic_key = "{self.public_key}"\nconfirm_s = {confirm_s}\n',
            encoding="utf-8")
        return path

    def start(self, kiosk_id: str, **config: Any) -> subprocess.Popen[bytes]:
        hook = self.tmp / "hook"
        hook.mkdir(exist_ok=True)
        shutil.copy(HOOK, hook / "sitecustomize.py")
        env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "BORNE_TEST_PRESS_S": "0.3",
               "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT)])}
        log = (self.tmp / f"{kiosk_id}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "kiosk.supervisor", "run", "-c",
                                 str(self.config(kiosk_id, **config))],
                                cwd=self.tmp, env=env, stdout=log, stderr=log, start_new_session=True)
        self.supervisors[kiosk_id] = proc
        return proc

    def power_cut(self, kiosk_id: str) -> None:
        """SIGKILL the supervisor and its kiosk at once, as a power cut does."""
        proc = self.supervisors.pop(kiosk_id)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self, kiosk_id: str) -> int:
        proc = self.supervisors.pop(kiosk_id)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(30)

    def telemetry(self, kiosk_id: str) -> dict[str, Any]:
        with session_factory(self.engine)() as session:
            return dict(session.scalar(select(Kiosk.telemetry).where(Kiosk.id == kiosk_id)) or {})

    def releases(self, kiosk_id: str) -> Releases:
        return Releases(self.tmp / kiosk_id / "releases")

    def log(self, kiosk_id: str) -> str:
        return (self.tmp / f"{kiosk_id}.log").read_text(errors="replace")[-3000:]

    def stored(self, kiosk_id: str) -> int:
        with session_factory(self.engine)() as session:
            return len(session.scalars(select(Vote.seq).where(Vote.kiosk_id == kiosk_id)).all())

    def pressed(self, kiosk_id: str) -> bool:
        """Until a press of the running kiosk is stored: on a fast machine an update can be over before the
        test's presser (every BORNE_TEST_PRESS_S) pressed once."""
        return wait_until(lambda: self.stored(kiosk_id) > 0, 30)

    def all_votes_arrive(self, kiosk_id: str) -> int:
        """Drain the kiosk's outbox in-process; every vote recorded is stored once, seq 1..N. Returns N."""
        with KioskService(load_config(self.tmp / f"{kiosk_id}.toml")) as kiosk:
            assert wait_until(lambda: kiosk.outbox.depth() == 0, 60), "the outbox did not drain"
            recorded = kiosk.outbox.stats()["recorded"]
        with session_factory(self.engine)() as session:
            seqs = sorted(session.scalars(select(Vote.seq).where(Vote.kiosk_id == kiosk_id)))
        assert seqs == list(range(1, recorded + 1))
        return int(recorded)

    def close(self) -> None:
        for kiosk_id in list(self.supervisors):
            self.power_cut(kiosk_id)
        self.collector.close()


@pytest.fixture
def site(mosquitto: Mosquitto, sqlite_url: str, tmp_path: Path) -> Iterator[Fleet]:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-1", "22"), "k-2": ("fs-1", "22"), "k-3": ("fs-2", "35")})
    with session_factory(engine)() as session, session.begin():
        for kiosk in session.scalars(select(Kiosk)):
            kiosk.secret_hash = hash_secret(SECRET)
    settings = collector_settings(sqlite_url, mosquitto.port, tmp_path / "collector", api_port=free_port())
    collector = start_collector(settings, api=True)
    assert wait_port(settings.api_host, settings.api_port, 15)
    key, public = new_key()
    site = Fleet(collector, engine, mosquitto, tmp_path, key, public)
    try:
        yield site
    finally:
        site.close()


def _reports(site: Fleet, kiosk_id: str, **expected: str) -> bool:
    telemetry = site.telemetry(kiosk_id)
    return all(telemetry.get(k) == v for k, v in expected.items())


@pytest.mark.timeout(180)
def test_a_good_release_rolls_out_to_several_kiosks_and_no_vote_is_lost(site: Fleet) -> None:
    site.release("0.2.0")
    for kiosk_id in ("k-1", "k-2", "k-3"):
        site.start(kiosk_id)
    for kiosk_id in ("k-1", "k-2", "k-3"):
        assert wait_until(lambda: all(site.telemetry(k).get("outbox_depth") is not None for k in site.supervisors),
                          30), site.log(kiosk_id)
    rollout = site.roll_out("0.2.0")
    for kiosk_id in ("k-1", "k-2", "k-3"):
        assert wait_until(partial(_reports, site, kiosk_id, release="0.2.0", update_result="installed 0.2.0"),
                          60), (site.telemetry(kiosk_id), site.log(kiosk_id))
        releases = site.releases(kiosk_id)
        assert releases.current() == "0.2.0" and releases.pending() is None
    with session_factory(site.engine)() as session:
        assert fleet.summary(session, fleet.get(session, rollout)) == {"kiosks": 3, "updated": 3, "failed": 0,
                                                                      "waiting": 0}
    for kiosk_id in ("k-1", "k-2", "k-3"):
        assert site.pressed(kiosk_id), site.log(kiosk_id)
        assert site.stop(kiosk_id) == 0
        assert site.all_votes_arrive(kiosk_id) > 0


@pytest.mark.timeout(180)
def test_a_release_that_does_not_come_up_is_rolled_back_by_itself(site: Fleet) -> None:
    site.release("0.2.0")
    site.release("0.3.0", broken=True)
    site.start("k-1")
    site.roll_out("0.2.0", "kiosk", "k-1")
    assert wait_until(lambda: _reports(site, "k-1", release="0.2.0", update_result="installed 0.2.0"), 60), \
        site.log("k-1")
    site.roll_out("0.3.0", "espace", "fs-1")
    assert wait_until(lambda: str(site.telemetry("k-1").get("update_result", "")).startswith("rolled_back 0.3.0"),
                      60), (site.telemetry("k-1"), site.log("k-1"))
    assert "exited with 3" in site.telemetry("k-1")["update_result"]
    assert site.telemetry("k-1")["release"] == "0.2.0"
    assert site.releases("k-1").current() == "0.2.0"
    assert "broken release" in site.log("k-1")
    assert site.pressed("k-1"), site.log("k-1")
    assert site.stop("k-1") == 0
    assert site.all_votes_arrive("k-1") > 0


def _agent(site: Fleet, kiosk_id: str) -> UpdateAgent:
    config = load_config(site.config(kiosk_id))
    return UpdateAgent(config, health=lambda: True, restart=lambda: None, running=None, is_supervised=True)


def _desired(agent: UpdateAgent, version: str) -> None:
    agent.handle(DesiredRelease(version=version, rollout="r-test").model_dump_json().encode())


@pytest.mark.timeout(60)
def test_a_kiosk_run_by_hand_reports_the_desired_release_and_leaves_it(site: Fleet) -> None:
    """Reported on the emulated Pi: `borne kiosk run` started by hand after an update took the desired release
    for one to install (no BORNE_RELEASE), switched, and exited for a supervisor that was not there."""
    site.release("0.2.0")
    config = load_config(site.config("k-1"))
    agent = UpdateAgent(config, health=lambda: True, restart=lambda: None, running=None, is_supervised=False)
    _desired(agent, "0.2.0")
    agent.step()
    assert agent.status.startswith("not supervised"), agent.report()
    assert agent.releases.current() is None and agent.releases.pending() is None
    assert not any(agent.releases.downloads.iterdir())


@pytest.mark.timeout(60)
def test_a_release_signed_by_another_key_is_refused(site: Fleet) -> None:
    other, _ = new_key()
    site.release("0.2.0", key=other)
    agent = _agent(site, "k-1")
    _desired(agent, "0.2.0")
    agent.step()
    result = agent.report()["update_result"]
    assert result.startswith("refused 0.2.0: bad signature"), result
    assert agent.releases.current() is None and not agent.releases.installed("0.2.0")
    agent.step()  # not tried again in this rollout
    assert not (agent.releases.downloads / "0.2.0" / "borne-0.2.0-py3-none-any.whl").exists()


@pytest.mark.timeout(60)
def test_a_revoked_release_is_refused_whoever_asks(site: Fleet) -> None:
    """A collector in the wrong hands asks a kiosk to go back to a release the programme withdrew (signed, but
    with a known flaw): the kiosk that installed the release revoking it refuses, before fetching anything."""
    site.release("0.2.0")
    site.release("0.3.0")
    # 0.4.0 withdraws 0.2.0; its signature is checked before its revocations are kept.
    source = signed_release(site.tmp / "signed", "0.4.0", site.key, revokes=("0.2.0",))
    fleet.add_release(site.collector.settings, source)
    def restarted_on(version: str) -> UpdateAgent:
        agent = UpdateAgent(load_config(site.config("k-1")), health=lambda: True, restart=lambda: None,
                            running=version, is_supervised=True)
        agent.step()
        assert agent.releases.pending() is None, f"{version} was not confirmed"
        return agent

    agent = _agent(site, "k-1")
    _desired(agent, "0.4.0")
    agent.step()
    assert agent.releases.current() == "0.4.0" and agent.releases.revoked() == {"0.2.0": "0.4.0"}
    _desired(agent := restarted_on("0.4.0"), "0.3.0")  # not revoked: installed as usual
    agent.step()
    assert agent.releases.current() == "0.3.0"
    _desired(after := restarted_on("0.3.0"), "0.2.0")
    after.step()
    result = after.report()["update_result"]
    assert result == "refused 0.2.0: revoked by 0.4.0", result
    assert after.releases.current() == "0.3.0" and not (after.releases.downloads / "0.2.0").exists()
    # The collector refuses to roll it out at all.
    with session_factory(site.engine)() as session, pytest.raises(fleet.FleetError, match=r"revoked by release 0\.4"):
        fleet.plan(session, site.collector.settings, "0.2.0", "all", None)


@pytest.mark.timeout(60)
def test_a_file_altered_on_the_collector_is_refused(site: Fleet) -> None:
    site.release("0.2.0")
    stored = fleet.release_path(site.collector.settings, "0.2.0")
    assert stored is not None
    wheel = stored / "borne-0.2.0-py3-none-any.whl"
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    agent = _agent(site, "k-1")
    _desired(agent, "0.2.0")
    agent.step()
    result = agent.report()["update_result"]
    assert result.startswith("refused 0.2.0: bad hash"), result
    assert agent.releases.current() is None and not agent.releases.installed("0.2.0")


@pytest.mark.timeout(60)
def test_a_download_cut_short_resumes_where_it_stopped(site: Fleet) -> None:
    site.release("0.2.0")
    agent = _agent(site, "k-1")
    stored = fleet.release_path(site.collector.settings, "0.2.0")
    assert stored is not None
    source = stored / "borne-0.2.0-py3-none-any.whl"
    part = agent.releases.downloads / "0.2.0" / (source.name + ".part")
    part.parent.mkdir(parents=True)
    half = source.read_bytes()[: source.stat().st_size // 2]
    part.write_bytes(half)
    _desired(agent, "0.2.0")
    agent.step()
    assert agent.releases.current() == "0.2.0", agent.report()
    assert agent.releases.pending() is not None  # switched, awaiting the restart and the confirmation


# -- power cuts at each step ---------------------------------------------------------------------------------

STEPS_HELPER = """
import os, signal, sys
from kiosk.config import load_config
from kiosk import releases as releases_module
from kiosk.update import UpdateAgent
from protocol.wire import DesiredRelease

config, step, version, rollout = sys.argv[1:5]
agent = UpdateAgent(load_config(config), health=lambda: False, restart=lambda: None, is_supervised=True)
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
desired = DesiredRelease(version, rollout)
release_json = agent.fetch_release(version)
manifest = agent.check(release_json, version)
if step == "download":
    original = agent._get
    def cut(path, into, limit):
        original(path, into, limit)
        with into.open("r+b") as f:
            f.truncate(into.stat().st_size // 2)
            f.flush(); os.fsync(f.fileno())
        die()
    agent._get = cut
wheels = [agent.fetch_file(version, f) for f in manifest.files]
if step == "verify":
    die()
if step == "install":
    unpack = releases_module._unpack
    def cut_unpack(wheel, site):
        unpack(wheel, site)
        die()
    releases_module._unpack = cut_unpack
agent.releases.install(version, release_json, wheels)
if step == "switch":
    point = agent.releases._point
    def cut_point(link, to):
        point(link, to)
        die()
    agent.releases._point = cut_point
agent.releases.switch(version, desired.rollout)
die()  # "restart": switched, the kiosk not started again yet
"""


def _cut(site: Fleet, step: str, version: str, rollout: str) -> None:
    code = subprocess.run([sys.executable, "-c", STEPS_HELPER, str(site.tmp / "k-1.toml"), step, version,
                           rollout], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False).returncode
    assert code == -signal.SIGKILL


@pytest.mark.timeout(240)
@pytest.mark.parametrize("step", ["download", "verify", "install", "switch", "restart", "confirm"])
def test_a_power_cut_at_each_step_leaves_a_working_kiosk_with_all_its_votes(site: Fleet, step: str) -> None:
    site.release("0.2.0")
    site.release("0.3.0")
    site.start("k-1")
    site.roll_out("0.2.0", "kiosk", "k-1")
    assert wait_until(lambda: _reports(site, "k-1", release="0.2.0", update_result="installed 0.2.0"), 60), \
        site.log("k-1")
    assert site.stop("k-1") == 0
    rollout = site.roll_out("0.3.0", "kiosk", "k-1")  # retained: the kiosk takes it up again after the cut
    releases = site.releases("k-1")
    if step == "confirm":
        # The new release starts but cannot confirm (no broker where it looks): the power goes meanwhile.
        _cut(site, "restart", "0.3.0", rollout)
        site.start("k-1", port=free_port())
        assert wait_until(lambda: (releases.pending() or {}).get("started") is True, 30), site.log("k-1")
        assert wait_until(lambda: "starting the kiosk on release 0.3.0" in site.log("k-1"), 10)
        site.power_cut("k-1")
    else:
        _cut(site, step, "0.3.0", rollout)
        if step == "download":
            parts = list((releases.downloads / "0.3.0").glob("*.part"))
            assert parts and parts[0].stat().st_size > 0  # half a file, resumed below
    # Power back: the kiosk starts on a working release, with the same outbox.
    site.start("k-1")
    if step == "confirm":
        assert wait_until(lambda: _reports(site, "k-1", release="0.2.0") and str(
            site.telemetry("k-1").get("update_result")).startswith("rolled_back 0.3.0"), 60), site.log("k-1")
        assert releases.current() == "0.2.0"
    else:
        assert wait_until(lambda: _reports(site, "k-1", release="0.3.0", update_result="installed 0.3.0"), 60), \
            (site.telemetry("k-1"), site.log("k-1"))
        assert releases.current() == "0.3.0" and releases.previous() == "0.2.0"
    assert releases.pending() is None
    assert site.pressed("k-1"), site.log("k-1")
    assert site.stop("k-1") == 0
    assert site.all_votes_arrive("k-1") > 0


@pytest.mark.timeout(60)
def test_releases_come_over_https_only_from_a_collector_the_kiosk_trusts(site: Fleet, tmp_path: Path) -> None:
    site.release("0.2.0")
    app = create_app(site.engine)
    app.state.borne.extra["settings"] = site.collector.settings
    tls = make_tls(tmp_path / "tls", "127.0.0.1")
    with serve_https(app, tls) as port:
        config = load_config(site.config("k-1"))

        def agent(ca_file: Path | None) -> UpdateAgent:
            update = dataclasses.replace(config.update, url=f"https://127.0.0.1:{port}", ca_file=ca_file)
            return UpdateAgent(dataclasses.replace(config, update=update), health=lambda: True,
                               restart=lambda: None, running=None, is_supervised=True)

        untrusted = agent(None)  # the system's CAs: not this collector's
        _desired(untrusted, "0.2.0")
        untrusted.step()
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.status, untrusted.status
        assert untrusted.releases.current() is None
        trusted = agent(tls.ca)
        _desired(trusted, "0.2.0")
        trusted.step()
        assert trusted.releases.current() == "0.2.0", trusted.report()


def _bundled_agent(site: Fleet, out: Path, url: str, *, update_ca: Path | None = None,
                   broker_ca: Path | None = None) -> UpdateAgent:
    """Kiosk k-1 as ``borne provision kiosk new`` makes it (``--update-ca``, ``--ca-file``), on a card: the bundle's
    certificates copied onto the data partition where kiosk.toml names them, as ``borne-config-import`` does at
    boot (``out/data`` standing for /var/lib/borne)."""
    credentials = {"kiosk_id": "k-1", "espace_id": "fs-1", "espace_name": "France services", "mqtt_username":
                   "kiosk:k-1", "mqtt_password": SECRET,
                   "broker": {"host": "127.0.0.1", "port": site.mosquitto.port, "tls": broker_ca is not None,
                              "ca_pem": broker_ca.read_text() if broker_ca else None}}
    options = BundleOptions(wheel=ROOT / "tests/provisioning/data/borne-0.1.0-py3-none-any.whl",
                            release_key=site.public_key, update_url=url,
                            update_ca_pem=update_ca.read_text() if update_ca else None)
    write_bundle(out, credentials, options)
    data = out / "data"
    data.mkdir()
    for on_boot, on_data in ((CA_FILE, CA_PATH), (UPDATE_CA_FILE, UPDATE_CA_PATH)):
        if (out / on_boot).exists():
            shutil.copy(out / on_boot, data / Path(on_data).relative_to(DATA_DIR))
    config = load_config(out / "kiosk.toml", data_dir=data)
    if update_ca is not None:
        assert str(config.update.ca_file) == UPDATE_CA_PATH, "kiosk.toml names the bundle's CA"
    on_card = {name: data / Path(str(path)).relative_to(DATA_DIR)
               for name, path in (("update", config.update.ca_file), ("broker", config.broker.ca_file)) if path}
    config = dataclasses.replace(
        config, update=dataclasses.replace(config.update, ca_file=on_card.get("update")),
        broker=dataclasses.replace(config.broker, ca_file=on_card.get("broker")))
    return UpdateAgent(config, health=lambda: True, restart=lambda: None, running=None, is_supervised=True)


@pytest.mark.timeout(90)
def test_a_kiosk_takes_releases_from_a_collector_whose_private_ca_came_in_its_bundle(
        site: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector's HTTPS certificate is signed by the programme's own CA (``private``), given to ``kiosk new``
    as ``--update-ca`` or, when the same CA signed the broker's, as ``--ca-file`` only. ``public`` stands for the
    CAs every system trusts (``SSL_CERT_FILE``, which OpenSSL reads for the system's store)."""
    site.release("0.2.0")
    app = create_app(site.engine)
    app.state.borne.extra["settings"] = site.collector.settings
    private = make_tls(tmp_path / "private", "127.0.0.1")
    public = make_tls(tmp_path / "public", "127.0.0.1")
    other = make_tls(tmp_path / "other", "127.0.0.1")  # the broker's CA, when it is not the collector's
    monkeypatch.setenv("SSL_CERT_FILE", str(public.ca))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    def takes(server: Tls, name: str, **cas: Path) -> str:
        with serve_https(app, server) as port:
            agent = _bundled_agent(site, tmp_path / name, f"https://127.0.0.1:{port}", **cas)
            _desired(agent, "0.2.0")
            agent.step()
            return "installed" if agent.releases.current() == "0.2.0" else agent.status

    # --update-ca: that CA, and it alone (not the system's, even for a collector they would vouch for).
    assert takes(private, "update-ca", update_ca=private.ca) == "installed"
    assert "CERTIFICATE_VERIFY_FAILED" in takes(public, "update-ca-only", update_ca=private.ca)
    # No --update-ca: the broker's CA from the same PKI is not given twice; a public certificate keeps working
    # beside a private broker CA (the broker's CA alone refused it); anything else is refused.
    assert takes(private, "broker-ca", broker_ca=private.ca) == "installed"
    assert takes(public, "public-beside-broker-ca", broker_ca=other.ca) == "installed"
    assert "CERTIFICATE_VERIFY_FAILED" in takes(private, "unknown-ca", broker_ca=other.ca)
    assert "CERTIFICATE_VERIFY_FAILED" in takes(private, "no-ca")


@pytest.mark.timeout(180)
def test_under_systemd_the_watchdog_is_fed_through_an_update_and_only_the_supervisor_says_stopping(
        site: Fleet, tmp_path: Path) -> None:
    """As systemd runs the unit (Type=notify, NotifyAccess=all, WatchdogSec=): NOTIFY_SOCKET, WATCHDOG_USEC, and
    WATCHDOG_PID naming the supervisor. Reported on the emulated Pi: the service was stopped for a timeout after an
    update (the kiosk child never pinged, WATCHDOG_PID not being its own, and said STOPPING=1 when it exited to be
    started on the new release)."""
    site.release("0.2.0")
    notify = NotifySocket(tmp_path / "notify")
    usec = 3_000_000
    hook = site.tmp / "hook"
    hook.mkdir(exist_ok=True)
    shutil.copy(HOOK, hook / "sitecustomize.py")
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "BORNE_TEST_PRESS_S": "0.3",
           "PYTHONPATH": os.pathsep.join([str(hook), str(ROOT)]),
           "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(usec)}
    log = (site.tmp / "k-1.log").open("ab")
    # exec: the shell's pid ($$) becomes the supervisor's, as systemd's WATCHDOG_PID names the main process.
    proc = subprocess.Popen(["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" -m kiosk.supervisor run -c "$1"', sys.executable,
                             str(site.config("k-1"))], cwd=site.tmp, env=env, stdout=log, stderr=log,
                            start_new_session=True)
    site.supervisors["k-1"] = proc
    try:
        assert wait_until(lambda: bool(notify.times("READY=1")), 30), site.log("k-1")
        assert wait_until(lambda: len(notify.times("WATCHDOG=1")) >= 3, 15), (notify.messages, site.log("k-1"))
        site.roll_out("0.2.0")
        assert wait_until(lambda: _reports(site, "k-1", release="0.2.0", update_result="installed 0.2.0"), 60), \
            site.log("k-1")
        time.sleep(usec / 1e6)
        assert site.stop("k-1") == 0
    finally:
        notify.close()
    ready = notify.times("READY=1")
    pings = [t for t in notify.times("WATCHDOG=1") if t >= ready[0]]
    stopping = notify.times("STOPPING=1")
    assert len(ready) >= 2, "the kiosk started again on the new release"
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) < usec / 1e6, f"the watchdog went {max(gaps):.1f}s without a ping (WatchdogSec=3)"
    assert len(stopping) == 1 and stopping[0] >= pings[-1], "STOPPING=1 only once, from the supervisor stopping"


def test_a_wheels_data_folder_is_installed_as_an_installer_would(tmp_path: Path) -> None:
    """``<name>.data/purelib`` and ``platlib`` go into the release's tree (importable); scripts, data and headers
    are left out; a member that would land outside the install is refused."""
    wheel = tmp_path / "extra-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("extra/__init__.py", "")
        archive.writestr("extra-1.0.data/purelib/extra_pure.py", "PURE = 1\n")
        archive.writestr("extra-1.0.data/platlib/extra_plat/__init__.py", "")
        archive.writestr("extra-1.0.data/scripts/extra-tool", "#!/bin/sh\n")
        archive.writestr("extra-1.0.data/data/share/extra.txt", "x")
    releases = Releases(tmp_path / "root").ensure()
    site = releases.install("1.0", b"{}", [wheel]) / "site"
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "extra/__init__.py", "extra_plat/__init__.py", "extra_pure.py"]
    evil = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("evil-1.0.data/purelib/../../../escaped.py", "")
    with pytest.raises(ReleaseInvalid, match="outside the install"):
        releases.install("1.1", b"{}", [evil])
    assert not (tmp_path / "root" / "escaped.py").exists()
