"""The attack suite: each attack is refused, and counted (a metric, or a row of ``rejects``).

- a kiosk's credentials publishing as another kiosk (real Mosquitto with dynamic security);
- replayed votes, even altered; oversized payloads and batch bombs; many tiny messages (real Mosquitto);
- hostile strings in every field of every payload, and in an espace's name imported from the ANCT list and shown
  by the dashboard (headless Chromium);
- a préfecture referent's token reading another département; repeated bad tokens (rate limited);
- path tricks in the import commands' arguments, and ``..`` tricks on the dashboard's static files.

``pytest -s`` prints a table of the attacks tried and refused.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from collector.api.app import create_app
from collector.broker.accounts import DynsecAccounts, hash_secret
from collector.db.engine import session_factory
from collector.db.models import Kiosk, Reject, Vote
from collector.ingest.store import Incoming, Store
from collector.metrics import Metrics
from collector.ratelimit import FailureLimiter
from collector.registry.espaces import add_kiosk
from collector.registry.espaces_import import import_espaces
from devtools.brokers import Mosquitto
from devtools.builders import (
    admin_token,
    bearer,
    collector_settings,
    migrated_engine,
    register,
    rejects,
    start_collector,
    vote_counts,
    wire_batch,
)
from devtools.dynsec import DynsecMosquitto
from devtools.kiosk_sim import wait_until
from protocol.codec import encode
from protocol.models import MAX_PAYLOAD_BYTES
from protocol.topics import TopicKind, kiosk_topic
from tests.provisioning.conftest import invoke

#: attack -> [tried, refused]
TABLE: dict[str, list[int]] = {}
NOW = datetime.now(UTC)
HOSTILE = [
    "'; DROP TABLE votes; --", "1' OR '1'='1", "<script>window.__pwned=1</script>", '"><img src=x onerror=alert(1)>',
    "\x00", "a\x00b", "\u202eelif.exe", "🙂" * 40, "Ω" * 70, "x" * 100_000, "${jndi:ldap://x/a}", "%s%n%x",
    "../../etc/passwd", "\r\nSet-Cookie: a=b", "",
]


def _count(attack: str, tried: int, refused: int) -> None:
    entry = TABLE.setdefault(attack, [0, 0])
    entry[0] += tried
    entry[1] += refused


def _incoming(topic: str, payload: bytes) -> Incoming:
    return Incoming(topic, payload, datetime.now(UTC))  # received now: a stale time would date votes "in the future"


def _publish(port: int, messages: list[tuple[str, bytes]], *, username: str | None = None,
             password: str | None = None, client_id: str | None = None) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"attacker-{secrets.token_hex(3)}",
                         protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)
    client.max_inflight_messages_set(200)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        # Published before the CONNACK, a QoS 1 message is queued with "not currently connected", which
        # wait_for_publish raises at once (seen under load).
        assert wait_until(client.is_connected, 15), "the broker did not accept the connection"
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


def _publish_refused(port: int, topic: str, payload: bytes, *, username: str, password: str,
                     client_id: str) -> None:
    """Publish once at QoS 1 on a topic the account may not publish on. Mosquitto 2.0 answers an MQTT 3.1.1
    client's refused publish by closing its connection, and paho, reconnecting, would send the message again
    with whatever followed it: one connection a refused message, closed as soon as the broker answered."""
    answered = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)
    client.on_disconnect = lambda *_: answered.set()
    client.on_publish = lambda *_: answered.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert wait_until(client.is_connected, 15), "the broker did not accept the connection"
        client.publish(topic, payload, qos=1)
        assert answered.wait(30), "the broker neither acknowledged the publish nor closed the connection"
    finally:
        client.disconnect()
        client.loop_stop()


# -- MQTT -------------------------------------------------------------------------------------------------------


def test_a_kiosk_cannot_publish_as_another(tmp_path: Path, sqlite_url: str) -> None:
    from devtools.dynsec import dynsec_available

    if not dynsec_available():
        pytest.skip("Mosquitto's dynamic security plugin is not installed")
    broker = DynsecMosquitto(tmp_path / "dynsec")
    broker.start()
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-a": ("fs-22-001", "22"), "k-b": ("fs-29-001", "29")})
    accounts = DynsecAccounts("127.0.0.1", broker.port, broker.admin_user, broker.admin_password)
    collector_password, password_a = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    accounts.ensure_collector("borne-collector", collector_password)
    accounts.create("k-a", password_a, hash_secret(password_a))
    collector = start_collector(collector_settings(sqlite_url, broker.port, tmp_path / "collector",
                                                   mqtt_username="borne-collector",
                                                   mqtt_password=collector_password))
    try:
        forged = wire_batch("k-b", [1, 1, 1])
        lying = wire_batch("k-b", [1, 1])  # on k-a's own topic, but says it is k-b
        marker = wire_batch("k-a", [4])
        as_k_a = {"username": "kiosk:k-a", "password": password_a, "client_id": "kiosk-k-a"}
        _publish_refused(broker.port, kiosk_topic("k-b", TopicKind.VOTES), encode(forged), **as_k_a)
        _publish_refused(broker.port, kiosk_topic("k-b", TopicKind.STATUS), b'{"v":1,"status":"offline","ts":"x"}',
                         **as_k_a)
        _publish(broker.port, [(kiosk_topic("k-a", TopicKind.VOTES), encode(lying)),
                               (kiosk_topic("k-a", TopicKind.VOTES), encode(marker))], **as_k_a)
        assert wait_until(lambda: vote_counts(engine).get("fs-22-001") == 1, 30), broker.log.read_text()[-2000:]
        assert wait_until(lambda: any(r.reason == "kiosk-mismatch" for r in rejects(engine)), 30)
        assert "fs-29-001" not in vote_counts(engine), "a forged vote was counted"
        # The broker dropped the publishes on k-b's topics: the collector never saw them.
        assert [r.reason for r in rejects(engine)] == ["kiosk-mismatch"]
        assert collector.metrics.rejects() == {"kiosk-mismatch": 1}
        _count("publish on another kiosk's topic (broker ACL)", 2, 2)
        _count("payload kiosk_id differs from its topic", 1, 1)
    finally:
        collector.close()
        broker.stop()
        engine.dispose()


def test_replayed_votes_are_counted_once(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-22-001", "22")})
    store = Store(engine, Metrics())
    batch = wire_batch("k-1", [4, 4, 3], ts=NOW)
    topic = kiosk_topic("k-1", TopicKind.VOTES)
    assert store.ingest([_incoming(topic, encode(batch))]).stored == 3
    altered = batch.model_copy(update={"votes": [v.model_copy(update={"answer": 1}) for v in batch.votes]})
    replays = [encode(batch)] * 5 + [encode(altered)] * 5
    for payload in replays:
        store.ingest([_incoming(topic, payload)])
    store.ingest([_incoming(topic, p) for p in replays])  # and all at once, in one group
    with session_factory(engine)() as session:
        answers = sorted(session.scalars(select(Vote.answer)))
    assert answers == [3, 4, 4], "a replay changed or added a stored vote"
    assert store.metrics.get("votes_stored") == 3
    assert store.metrics.get("votes_duplicate") == 3 * 2 * len(replays)
    _count("replayed votes (same ids, some altered)", 3 * 2 * len(replays), store.metrics.get("votes_duplicate"))
    engine.dispose()


def _nested(depth: int) -> bytes:
    return b'{"v":1,"kiosk_id":"k-1","sent_at":"2026-03-02T10:00:00Z","votes":' + b"[" * depth + b"]" * depth + b"}"


def test_oversized_payloads_and_batch_bombs(mosquitto: Mosquitto, sqlite_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-22-001", "22")})
    collector = start_collector(collector_settings(sqlite_url, mosquitto.port, tmp_path / "collector"))
    topic = kiosk_topic("k-1", TopicKind.VOTES)
    try:
        huge = json.dumps({"v": 1, "kiosk_id": "k-1", "sent_at": NOW.isoformat(), "votes": [],
                           "pad": "x" * MAX_PAYLOAD_BYTES}).encode()
        full = json.loads(encode(wire_batch("k-1", [3] * 500, ts=NOW)))
        full["votes"].append({**full["votes"][0], "id": str(uuid.uuid4()), "seq": 501})
        bomb = json.dumps(full).encode()
        bombs = {"too-large": [huge, b" " * (4 * 1024 * 1024)],
                 "invalid": [bomb, _nested(50)],
                 "not-json": [b"[" * 100_000, _nested(200_000)[: MAX_PAYLOAD_BYTES]]}
        messages = [(topic, p) for payloads in bombs.values() for p in payloads]
        _publish(mosquitto.port, messages)
        assert wait_until(lambda: len(rejects(engine)) == len(messages), 60), [r.reason for r in rejects(engine)]
        reasons = sorted(r.reason for r in rejects(engine))
        assert "too-large" in reasons and "invalid" in reasons, reasons
        assert set(reasons) <= {"too-large", "invalid", "not-json"}, reasons
        assert sum(collector.metrics.rejects().values()) == len(messages)
        _count("oversized payloads and batch bombs (> 256 KiB, 501 votes, deep nesting)", len(messages),
               len(rejects(engine)))

        # Many tiny messages: all stored once, and the collector is still there for the next vote.
        tiny = [(topic, encode(wire_batch("k-1", [4], start_seq=1000 + i, ts=NOW))) for i in range(2000)]
        _publish(mosquitto.port, tiny)
        assert wait_until(lambda: vote_counts(engine).get("fs-22-001") == 2000, 120), vote_counts(engine)
        _publish(mosquitto.port, [(topic, encode(wire_batch("k-1", [2], start_seq=9999, ts=NOW)))])
        assert wait_until(lambda: vote_counts(engine).get("fs-22-001") == 2001, 30)
        assert collector.ingest is not None and collector.ingest.connected
        _count("many tiny messages (2000 one-vote batches): all kept, none twice", 2000, 2000)
    finally:
        collector.close()
        engine.dispose()


# -- hostile strings --------------------------------------------------------------------------------------------


def _valid_payloads() -> dict[TopicKind, dict[str, Any]]:
    ts = NOW.isoformat()
    return {
        TopicKind.VOTES: {"v": 1, "kiosk_id": "k-1", "sent_at": ts, "votes": [
            {"id": str(uuid.uuid4()), "seq": 1, "answer": 4, "scale": 4, "ts": ts, "clock_synced": True}]},
        TopicKind.STATUS: {"v": 1, "status": "online", "ts": ts, "version": "1.0"},
        TopicKind.TELEMETRY: {"v": 1, "ts": ts, "uptime_s": 5.0, "version": "1.0", "outbox_depth": 0,
                              "config_rejected": None, "boot_id": "b"},
        TopicKind.SELFTEST: {"v": 1, "ts": ts, "passed": True, "version": "1.0", "technician": "t",
                             "checks": [{"name": "buttons", "outcome": "passed", "detail": "ok"}]},
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))
    else:
        yield prefix


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


def test_hostile_strings_in_every_field(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-1": ("fs-22-001", "22")})
    store = Store(engine, Metrics(), rejects_per_kiosk_per_minute=0)  # every reject kept: they are counted below
    tried = refused = stored_inert = 0
    for kind, valid in _valid_payloads().items():
        for path in _paths(valid):
            for hostile in HOSTILE:
                body = _set(valid, path, hostile)
                if kind is TopicKind.VOTES:
                    body["votes"][0]["id"] = str(uuid.uuid4())
                outcome = store.ingest([_incoming(kiosk_topic("k-1", kind), json.dumps(body).encode())])
                tried += 1
                if outcome.rejected:
                    refused += 1
                    continue
                stored_inert += 1
                if kind in (TopicKind.STATUS, TopicKind.TELEMETRY) and path == ("version",) and hostile:
                    with session_factory(engine)() as session:
                        assert session.scalar(select(Kiosk.version).where(Kiosk.id == "k-1")) == hostile
    with session_factory(engine)() as session:  # every table still there, nothing executed
        assert (session.scalar(select(func.count()).select_from(Vote)) or 0) >= 1
        assert session.scalar(select(func.count()).select_from(Reject)) == refused
    assert refused == sum(store.metrics.rejects().values())
    print(f"\nhostile strings: {tried} payloads, {refused} refused with a reason, {stored_inert} stored as text")
    _count("hostile strings in every payload field", tried, refused)
    _count("  (the others: accepted, stored verbatim as inert text)", stored_inert, 0)
    engine.dispose()


ANCT = ("id_fs,lib_fs,type_fs,format_fs,groupe_fs,insee_dep,insee_com,lib_com,code_postal,latitude,longitude\n"
        'fs-22-666,"<script>window.__pwned=1</script><img src=x onerror=""window.__pwned=2"">",Principal,fixe,,22,'
        '22113,"<b>Lannion</b>",22300,48.7,-3.4\n')


def test_an_espace_name_with_a_script_is_shown_as_text(sqlite_url: str, browser: Any) -> None:
    engine = migrated_engine(sqlite_url)
    with session_factory(engine)() as session, session.begin():
        report = import_espaces(session, ANCT.encode())
    assert report.created == 1, report.summary()
    name = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    token = admin_token(engine)
    with TestClient(create_app(engine)) as client:
        listed = client.get("/dashboard/api/espaces", headers=bearer(token))
        assert listed.headers["content-type"] == "application/json"
        assert [e["name"] for e in listed.json()] == [name]  # kept verbatim, as JSON text
    _count("<script> in an imported espace name (JSON endpoint)", 1, 1)
    _render_in_chromium(engine, token, name, browser)
    engine.dispose()


def _render_in_chromium(engine: Engine, token: str, name: str, browser: Any) -> None:
    from devtools.dashboard import serve

    with session_factory(engine)() as session, session.begin():
        add_kiosk(session, "k-x", "fs-22-666")
    Store(engine).ingest([_incoming(kiosk_topic("k-x", TopicKind.VOTES), encode(wire_batch("k-x", [4, 3])))])
    with serve(engine) as url:
        context = browser.new_context()
        try:
            page = context.new_page()
            dialogs: list[str] = []

            def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.goto(url + "/dashboard/connexion")
            page.fill("#token", token)
            with page.expect_navigation():
                page.click("button[type=submit]")
            page.goto(url + "/dashboard/classement")
            page.wait_for_selector('body[data-ready="true"]', state="attached", timeout=30_000)
            page.wait_for_function("(name) => document.body.innerText.includes(name)", arg=name, timeout=30_000)
            assert page.evaluate("window.__pwned") is None and not dialogs
            assert page.locator("script:not([src])").count() == 0, "a script element came from the data"
            assert page.locator("img[src=x]").count() == 0
        finally:
            context.close()
    _count("<script> in an imported espace name (rendered by Chromium)", 1, 1)


# -- the API ----------------------------------------------------------------------------------------------------


def test_a_prefecture_token_cannot_read_another_departement(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    register(engine, {"k-22": ("fs-22-001", "22"), "k-29": ("fs-29-001", "29")})
    token = admin_token(engine, "prefecture", "22")
    app = create_app(engine)
    kpis = ["/api/v1/kpi/satisfaction", "/api/v1/kpi/ranking", "/api/v1/kpi/heatmap", "/api/v1/kpi/participation"]
    attempts = [(path, params) for path in kpis for params in (
        {"level": "departement", "code": "29"}, {"level": "espace", "code": "fs-29-001"},
        {"level": "region", "code": "53"}, {"level": "national"}, {})]
    attempts += [("/api/v1/kpi/ind-246", {}), ("/api/v1/espaces/fs-29-001/satisfaction", {}),
                 ("/api/v1/kiosks", {"espace": "fs-29-001"})]
    with TestClient(app) as client:
        statuses = {f"{path} {params}": client.get(path, params=params, headers=bearer(token)).status_code
                    for path, params in attempts}
        assert set(statuses.values()) == {403}, {k: v for k, v in statuses.items() if v != 403}
        # Their own département still answers, and the kiosks list holds theirs only.
        assert client.get(kpis[0], params={"level": "departement", "code": "22"},
                          headers=bearer(token)).status_code == 200
        assert [k["id"] for k in client.get("/api/v1/kiosks", headers=bearer(token)).json()] == ["k-22"]
    assert app.state.borne.metrics.get("http_403") == len(attempts)
    _count("préfecture token reading another département", len(attempts), app.state.borne.metrics.get("http_403"))
    engine.dispose()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_bad_tokens_are_rate_limited(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    token = admin_token(engine)
    app = create_app(engine)
    clock = _Clock()
    app.state.borne.auth_limiter = FailureLimiter(max_failures=10, window_s=60, block_s=300, clock=clock)
    metrics = app.state.borne.metrics
    path = "/api/v1/kiosks"
    with TestClient(app, client=("203.0.113.9", 4000)) as attacker, \
            TestClient(app, client=("198.51.100.7", 5000)) as other:
        # Failures spread over more than the window do not block.
        for _ in range(9):
            assert attacker.get(path, headers=bearer(f"borne_x_{secrets.token_hex(8)}")).status_code == 401
        clock.now += 61
        assert attacker.get(path, headers=bearer("borne_x_y")).status_code == 401
        assert attacker.get(path, headers=bearer(token)).status_code == 200
        # Ten failures within a minute block the address's wrong tokens; a valid token still passes.
        for _ in range(9):
            assert attacker.get(path, headers=bearer(f"borne_x_{secrets.token_hex(8)}")).status_code == 401
        refused = [attacker.get(path, headers=bearer(t)) for t in ("borne_guess", token, "borne_guess2")]
        assert [r.status_code for r in refused] == [429, 200, 429]
        assert 1 <= int(refused[0].headers["Retry-After"]) <= 300
        # Another address is not affected; a request without a token is still a 401.
        assert other.get(path, headers=bearer(token)).status_code == 200
        assert attacker.get(path).status_code == 401
        # The block ends.
        clock.now += 301
        assert attacker.get(path, headers=bearer(token)).status_code == 200
    assert metrics.get("auth_failures") == 19
    assert metrics.get("auth_blocks") == 1
    assert metrics.get("auth_rate_limited") == 2 == metrics.get("http_429")
    _count("repeated bad tokens (429 after 10 failures / 60 s)", 2, metrics.get("auth_rate_limited"))
    engine.dispose()


# -- paths ------------------------------------------------------------------------------------------------------


class _Redirect(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        target = {"/file": "file:///etc/passwd", "/ftp": "ftp://127.0.0.1/liste.csv"}.get(self.path, "/")
        self.send_response(302)
        self.send_header("Location", target)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _redirector() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(120)
def test_path_tricks_in_import_arguments(sqlite_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(sqlite_url)
    engine.dispose()
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with _redirector() as base:
        tricks = {
            "file:///etc/passwd": "only a file path or an http(s) URL",
            "../../../../../../etc/passwd": "not an ANCT list",
            "/dev/zero": "not a regular file",
            str(tmp_path): "not a regular file",
            str(fifo): "not a regular file",
            "ftp://127.0.0.1/liste.csv": "only a file path or an http(s) URL",
            f"{base}/file": "edirect",  # urllib refuses it itself
            f"{base}/ftp": "redirects to ftp:",
        }
        refused = 0
        for command in (["collector", "espaces", "import"], ["collector", "activity", "import"]):
            for source, why in tricks.items():
                result = invoke([*command, source, "--database-url", sqlite_url])
                expected = why if command[1] == "espaces" or why != "not an ANCT list" else "neither"
                # A CliError, which ``borne`` prints as one line ``borne: error: ...`` with exit code 2.
                assert type(result.exception).__name__ == "CliError", (source, result.exception, result.output)
                assert expected in str(result.exception), (source, str(result.exception))
                refused += 1
    _count("path tricks in import arguments (file:, ftp:, ../, /dev/zero, dir, FIFO, redirects)",
           2 * len(tricks), refused)


def test_static_route_tricks(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    tricks = ["..%2f..%2fpyproject.toml", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/routes.py", "../routes.py",
              "....//....//etc/passwd", "%252e%252e%252fetc%252fpasswd", "/etc/passwd", "%2fetc%2fpasswd",
              "vendor/..%2f..%2f__init__.py", "..\\..\\routes.py", "%00", "."]
    app = create_app(engine)
    with TestClient(app) as client:
        statuses = {t: client.get(f"/dashboard/static/{t}").status_code for t in tricks}
    assert set(statuses.values()) == {404}, statuses
    _count("'..%2f' tricks on the dashboard's static files", len(tricks), app.state.borne.metrics.get("http_404"))
    engine.dispose()


def test_zz_table() -> None:
    """The figures of this module (``pytest -s`` shows them); runs last."""
    width = max((len(a) for a in TABLE), default=10)
    lines = [f"{'attack':<{width}}  tried  refused", "-" * (width + 17)]
    lines += [f"{attack:<{width}}  {tried:>5}  {refused:>7}" for attack, (tried, refused) in TABLE.items()]
    print("\n" + "\n".join(lines))
