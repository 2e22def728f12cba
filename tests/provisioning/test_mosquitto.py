"""Provisioning end to end on a real Mosquitto with the dynamic security plugin, through the CLI and the API.

A kiosk registered with ``borne provision kiosk new`` connects with the bundle's kiosk.toml and its vote is
counted; with its credentials it cannot publish as another kiosk; ``rotate`` locks the old password out;
``revoke`` locks the kiosk out.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from paho.mqtt.enums import CallbackAPIVersion

from borne.cli.errors import CliError
from collector.api.app import create_app
from collector.broker.accounts import DynsecAccounts
from devtools.builders import collector_settings, migrated_engine, rejects, start_collector, vote_counts, wire_batch
from devtools.dynsec import DynsecMosquitto
from devtools.kiosk_sim import SimulatedKiosk, wait_until
from kiosk.config import load_config
from protocol.codec import encode
from protocol.topics import TopicKind, kiosk_client_id, kiosk_topic
from provisioning.release import keygen, public_key_of
from tests.provisioning.conftest import admin_token, connect_reason, espaces, fake_wheel, invoke, serve
from tests.utils.https import make_tls

LANNION, PAIMPOL = "fs-22-001", "fs-22-002"


def _cli(args: list[str], url: str, token: str) -> Any:
    return invoke(["provision", "kiosk", *args, "--collector", url], env={"BORNE_ADMIN_TOKEN": token})


def _kiosk_config(bundle: Path, data_dir: Path) -> Any:
    # The bundle's own file; only the outbox moves out of /var/lib/borne, reconnects are quick, and votes do not
    # wait for NTP (this machine's clock may read unsynchronised).
    cfg = load_config(bundle / "kiosk.toml", data_dir=data_dir)
    return dataclasses.replace(
        cfg,
        broker=dataclasses.replace(cfg.broker, reconnect_min_s=0.2, reconnect_max_s=1.0),
        uplink=dataclasses.replace(cfg.uplink, clock_grace_s=0.0),
    )


def _publish_as(port: int, kiosk_id: str, password: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish with kiosk ``kiosk_id``'s credentials (and so its client id, the only one they may use), each message
    on a connection of its own: Mosquitto 2.0.11 answers a refused publish of an MQTT 3.1.1 client with a PUBACK
    carrying a reason code, which paho reads as a protocol error and closes the connection on."""
    username = f"kiosk:{kiosk_id}"
    for topic, payload in messages:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=kiosk_client_id(kiosk_id),
                             protocol=mqtt.MQTTv311)
        client.username_pw_set(username, password)
        client.connect("127.0.0.1", port)
        client.loop_start()
        try:
            # Published before the broker's CONNACK, a message is not sent (paho: "not currently connected").
            assert wait_until(client.is_connected, 10), "the kiosk's credentials were refused"
            info = client.publish(topic, payload, qos=1)
            with contextlib.suppress(RuntimeError):  # refused: the connection may be closed under it
                info.wait_for_publish(10)
        finally:
            client.disconnect()
            client.loop_stop()


def test_provisioned_kiosk_on_mosquitto(dynsec_mosquitto: DynsecMosquitto, sqlite_url: str, tmp_path: Path) -> None:
    broker = dynsec_mosquitto
    engine = migrated_engine(sqlite_url)
    espaces(engine, {LANNION: "France services de Lannion", PAIMPOL: "France services de Paimpol"})
    accounts = DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, broker.admin_password)
    result = invoke(["provision", "broker", "collector-account", "--port", str(broker.port)],
                    env={"BORNE_MQTT_ADMIN_USERNAME": broker.admin_user,
                         "BORNE_MQTT_ADMIN_PASSWORD": broker.admin_password})
    assert result.exit_code == 0, result.output
    collector_password = result.output.split("BORNE_MQTT_PASSWORD=")[1].split()[0]
    assert connect_reason(broker.port, None, None) == "Not authorized", "anonymous clients must be refused"

    collector = start_collector(collector_settings(sqlite_url, broker.port, tmp_path / "collector",
                                                   mqtt_username="borne-collector",
                                                   mqtt_password=collector_password))
    app = create_app(engine)
    app.state.borne.extra.update(accounts=accounts,
                                 kiosk_broker={"host": "127.0.0.1", "port": broker.port, "tls": False})
    token = admin_token(engine)
    # The programme's release key: k-a's bundle takes updates (the public key's file, the collector's URL), from
    # a collector whose certificate a private CA signed.
    public = keygen(tmp_path / "release-key.pem")
    update_ca = make_tls(tmp_path / "update-tls", "127.0.0.1").ca
    updates = ["--release-key", str(tmp_path / "release-key.pub"), "--update-url", "https://collecteur.example.fr",
               "--update-ca", str(update_ca)]
    try:
        with serve(app) as url:
            for kiosk_id, espace in (("k-a", LANNION), ("k-b", PAIMPOL)):
                result = _cli(["new", "--espace", espace, "--id", kiosk_id, "--out", str(tmp_path / kiosk_id),
                               "--wheel", str(fake_wheel(tmp_path / "dist")), "--allow-local-collector",
                               *(updates if kiosk_id == "k-a" else [])], url, token)
                assert result.exit_code == 0, result.output
                assert (tmp_path / kiosk_id / "label.png").exists()
            a = _kiosk_config(tmp_path / "k-a", tmp_path / "outbox-a")
            b = _kiosk_config(tmp_path / "k-b", tmp_path / "outbox-b")
            assert (a.update.public_key, a.update.url) == (public, "https://collecteur.example.fr")
            assert (b.update.public_key, b.update.url) == (None, None)
            # The update server's CA, next to kiosk.toml, named as the kiosk finds it on its data partition.
            assert (tmp_path / "k-a" / "borne-update-ca.crt").read_text() == update_ca.read_text()
            assert str(a.update.ca_file) == "/var/lib/borne/update-ca.crt" and b.update.ca_file is None
            assert not (tmp_path / "k-b" / "borne-update-ca.crt").exists()
            assert a.broker.password is not None and b.broker.password is not None
            password_a, password_b = a.broker.password.get_secret_value(), b.broker.password.get_secret_value()

            assert a.broker.username == "kiosk:k-a" and b.broker.username == "kiosk:k-b"

            # With its credentials, k-a cannot publish as k-b: the broker drops it, nothing is counted.
            forged = wire_batch("k-b", [1, 1, 1])
            marker = wire_batch("k-a", [3], start_seq=100)
            _publish_as(broker.port, "k-a", password_a, [
                (kiosk_topic("k-b", TopicKind.VOTES), encode(forged)),
                (kiosk_topic("k-a", TopicKind.VOTES), encode(marker)),
            ])
            assert wait_until(lambda: vote_counts(engine).get(LANNION) == 1, 20), broker.log.read_text()[-3000:]
            assert PAIMPOL not in vote_counts(engine)
            assert not [r for r in rejects(engine) if r.kiosk_id == "k-b"]

            # A provisioned kiosk publishes and its vote is counted.
            with SimulatedKiosk(a) as kiosk:
                kiosk.press(4)
                assert wait_until(lambda: vote_counts(engine).get(LANNION) == 2, 20), broker.log.read_text()[-3000:]
                assert wait_until(lambda: kiosk.kiosk.outbox.depth() == 0, 20), "no receipt reached the kiosk"

                # rotate: the old password stops working, the running session is closed.
                result = invoke(["provision", "kiosk", "rotate", "k-a", "--out", str(tmp_path / "k-a-rotated"),
                                 "--collector", url, *updates[:4]],
                                env={"BORNE_ADMIN_TOKEN": token, "BORNE_KIOSK_UPDATE_CA": str(update_ca)})
                assert result.exit_code == 0, result.output
                uplink = kiosk.kiosk.uplink
                assert uplink is not None
                assert wait_until(lambda: not uplink.connected, 20), "the old session was not closed"
            assert connect_reason(broker.port, "kiosk:k-a", password_a, client_id="kiosk-k-a") == "Not authorized"
            rotated = _kiosk_config(tmp_path / "k-a-rotated", tmp_path / "outbox-a")
            assert rotated.broker.password is not None
            new_password = rotated.broker.password.get_secret_value()
            assert new_password != password_a
            assert (rotated.update.public_key, rotated.update.url) == (public, "https://collecteur.example.fr")
            # The CA came from BORNE_KIOSK_UPDATE_CA; it goes with the new kiosk.toml, which names it.
            assert str(rotated.update.ca_file) == "/var/lib/borne/update-ca.crt"
            assert (tmp_path / "k-a-rotated" / "borne-update-ca.crt").read_text() == update_ca.read_text()
            assert "Copy that kiosk.toml and borne-update-ca.crt onto" in " ".join(result.output.split())
            assert connect_reason(broker.port, "kiosk:k-a", new_password, client_id="kiosk-k-a") == "Success"
            with SimulatedKiosk(rotated) as kiosk:
                kiosk.press(2)
                assert wait_until(lambda: vote_counts(engine).get(LANNION) == 3, 20)

            # revoke: the kiosk is refused.
            assert connect_reason(broker.port, "kiosk:k-b", password_b, client_id="kiosk-k-b") == "Success"
            result = _cli(["revoke", "k-b", "--yes"], url, token)
            assert result.exit_code == 0, result.output
            assert connect_reason(broker.port, "kiosk:k-b", password_b, client_id="kiosk-k-b") == "Not authorized"

            # list, move (with history), verify, label.
            result = _cli(["list"], url, token)
            assert result.exit_code == 0 and "k-a" in result.output and "revoked" in result.output, result.output
            result = _cli(["move", "k-a", "--espace", PAIMPOL], url, token)
            assert result.exit_code == 0 and "France services de Paimpol" in result.output, result.output
            history = [line.split()[0] for line in result.output.splitlines() if line.startswith("  fs-")]
            assert history == [LANNION, PAIMPOL]
            result = _cli(["verify", "k-a"], url, token)
            assert result.exit_code == 1 and "no self-test" in result.output, result.output
            result = _cli(["label", "k-a", "--out", str(tmp_path / "k-a.pdf")], url, token)
            assert result.exit_code == 0 and (tmp_path / "k-a.pdf").read_bytes().startswith(b"%PDF")
    finally:
        collector.close()


def test_cli_errors_are_one_line(dynsec_mosquitto: DynsecMosquitto, sqlite_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(sqlite_url)
    espaces(engine, {LANNION: "France services de Lannion"})
    app = create_app(engine)
    broker = dynsec_mosquitto
    app.state.borne.extra.update(accounts=DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, "wrong"))
    token = admin_token(engine)
    with serve(app) as url:
        wheel = ["--wheel", str(fake_wheel(tmp_path / "dist"))]
        result = _cli(["new", "--espace", LANNION, "--out", str(tmp_path / "x"), *wheel], url, "borne_bad_token")
        assert result.exit_code != 0 and "401" in str(result.exception)
        result = _cli(["new", "--espace", "fs-unknown", "--out", str(tmp_path / "x"), *wheel], url, token)
        assert "404" in str(result.exception) and "unknown espace" in str(result.exception)
        # The broker refuses the admin: nothing is registered, the call can be made again.
        result = _cli(["new", "--espace", LANNION, "--id", "k-z", "--out", str(tmp_path / "x"), *wheel], url, token)
        assert "502" in str(result.exception), result.output
        result = _cli(["list", "--json"], url, token)
        assert result.exit_code == 0 and "k-z" not in result.output
    result = _cli(["list"], "http://127.0.0.1:9", token)
    assert "cannot reach the collector" in str(result.exception)


@pytest.mark.parametrize("role", ["national", "agent"])
def test_only_admins_provision(role: str, sqlite_url: str) -> None:
    from fastapi.testclient import TestClient

    from collector.auth import add_user, issue_token
    from collector.db.engine import session_factory

    engine = migrated_engine(sqlite_url)
    espaces(engine, {LANNION: "France services de Lannion"})
    with session_factory(engine)() as session, session.begin():
        token = issue_token(session, add_user(session, f"u-{role}", role, LANNION if role == "agent" else None))
    with TestClient(create_app(engine)) as client:
        response = client.post("/api/v1/provision/kiosks", json={"espace_id": LANNION},
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        assert client.get("/api/v1/provision/kiosks").status_code == 401


@pytest.mark.parametrize(("extra", "env", "refused"), [
    (["--release-key", "{private}", "--update-url", "https://c.example.fr"], {}, "is a private key"),
    (["--release-key", "{garbage}", "--update-url", "https://c.example.fr"], {}, "not an Ed25519 public key"),
    (["--release-key", "{missing}", "--update-url", "https://c.example.fr"], {}, "cannot read"),
    (["--release-key", "{public}"], {}, "--release-key without --update-url"),
    (["--update-url", "https://c.example.fr"], {}, "--update-url without --release-key"),
    ([], {"BORNE_KIOSK_UPDATE_URL": "https://c.example.fr"}, "--update-url without --release-key"),
    (["--release-key", "{public}", "--update-url", "http://c.example.fr"], {}, "https:// is needed"),
    # The update server's CA: certificates only, never a key (the card is readable by whoever takes it).
    (["--release-key", "{public}", "--update-url", "https://c.example.fr", "--update-ca", "{server_key}"], {},
     "--update-ca: {server_key}: holds a private key"),
    (["--release-key", "{public}", "--update-url", "https://c.example.fr", "--update-ca", "{cert_and_key}"], {},
     "holds a private key"),
    (["--release-key", "{public}", "--update-url", "https://c.example.fr"], {"BORNE_KIOSK_UPDATE_CA": "{server_key}"},
     "--update-ca: {server_key}: holds a private key"),
    (["--release-key", "{public}", "--update-url", "https://c.example.fr", "--update-ca", "{garbage}"], {},
     "not a PEM certificate"),
    (["--release-key", "{public}", "--update-url", "https://c.example.fr", "--update-ca", "{der}"], {},
     "not a PEM certificate (binary"),
    (["--release-key", "{public}", "--update-url", "https://c.example.fr", "--update-ca", "{missing}"], {},
     "cannot read it"),
    (["--update-ca", "{ca}"], {}, "--update-ca without --update-url"),
    (["--ca-file", "{server_key}"], {}, "--ca-file: {server_key}: holds a private key"),
])
def test_update_settings_are_checked_before_registering(tmp_path: Path, extra: list[str], env: dict[str, str],
                                                        refused: str) -> None:
    keygen(tmp_path / "release-key.pem")
    (tmp_path / "garbage.pub").write_text("not a key\n")
    tls = make_tls(tmp_path / "tls", "127.0.0.1")
    (tmp_path / "cert-and-key.pem").write_text(tls.cert.read_text() + tls.key.read_text())
    (tmp_path / "ca.der").write_bytes(x509.load_pem_x509_certificate(tls.ca.read_bytes()).public_bytes(
        serialization.Encoding.DER))
    files = {"private": tmp_path / "release-key.pem", "public": tmp_path / "release-key.pub",
             "garbage": tmp_path / "garbage.pub", "missing": tmp_path / "none.pub", "ca": tls.ca,
             "server_key": tls.key, "cert_and_key": tmp_path / "cert-and-key.pem", "der": tmp_path / "ca.der"}
    args = ["provision", "kiosk", "new", "--espace", LANNION, "--out", str(tmp_path / "b"), "--collector",
            "http://127.0.0.1:9", "--wheel", str(fake_wheel(tmp_path / "dist")), "--allow-local-collector",
            *(a.format(**files) for a in extra)]
    result = invoke(args, env={"BORNE_ADMIN_TOKEN": "t", **{k: v.format(**files) for k, v in env.items()}})
    assert isinstance(result.exception, CliError) and result.exception.exit_code == 2, result.output
    assert refused.format(**files) in str(result.exception)
    assert not (tmp_path / "b").exists()


def test_the_public_key_may_also_come_as_pem_or_from_the_environment(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from borne.cli.provision import _updates

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "key.pem").write_bytes(pem)
    expected = public_key_of(key)
    assert _updates(tmp_path / "key.pem", "https://c.example.fr") == (expected, "https://c.example.fr")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BORNE_RELEASE_PUBLIC_KEY", expected)
        assert _updates(None, "http://127.0.0.1:8000", allow_local=True) == (expected, "http://127.0.0.1:8000")
