"""The embedded MQTT broker for small deployments: a Mosquitto the collector starts and configures itself.

The collector writes its configuration into ``<data_dir>/broker/`` at each start and runs ``mosquitto -c`` on it:
MQTT 5 (shared subscriptions, so ``ingest_workers`` works here too), persistence in that folder, and the limits
of ``deploy/mosquitto/borne.conf`` (:data:`LIMITS`). With accounts (``BORNE_MQTT_ACCOUNTS=embedded``, what
``borne demo`` uses) it loads the dynamic security plugin with a ``dynamic-security.json`` the collector made:
its only account at first is the collector's admin (:data:`ADMIN_USER`, a random password kept in
``<data_dir>/broker-admin.secret``, mode 0600, never logged), who then makes the collector's and the kiosks'
accounts (:class:`collector.broker.accounts.DynsecAccounts`). Without accounts it is anonymous, and listens on loopback
only.

Why Mosquitto rather than amqtt, in-process Python: amqtt 0.12 sent retained messages past subscriptions, let a
Last Will bypass the topic ACL, and touched a session before checking its password (docs/reliability.md, "The
embedded broker", with the figures). Mosquitto is the national broker already: one broker, one set of tests.

Started as root, Mosquitto drops its privileges to the ``mosquitto`` user: the broker's folder is then given to
that user when it can reach it, and otherwise (a private folder, such as a test's) the broker keeps root
(``user root``), which is logged.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import errno
import glob
import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

_LOG = logging.getLogger(__name__)

#: The dynamic security admin of the embedded broker: makes the collector's and the kiosks' accounts, nothing else.
ADMIN_USER = "borne-admin"
ADMIN_SECRET_FILE = "broker-admin.secret"  # noqa: S105 - a file name
#: Publishes kiosks' retained configuration and desired release (the API and the commands on the collector's host):
#: the collector's own accounts are bound to the ingest's client ids, and the admin may do far more.
PUBLISHER_USER = "borne-publisher"
PUBLISHER_SECRET_FILE = "broker-publisher.secret"  # noqa: S105 - a file name
DYNSEC_FILE = "dynamic-security.json"
INSTALL_HINT = "apt-get install mosquitto"

#: What bounds what one client can make the broker hold; the same values as deploy/mosquitto/borne.conf.
LIMITS: dict[str, str] = {
    # A vote batch is at most 256 KiB (protocol.checks.MAX_PAYLOAD_BYTES): a larger packet is refused, and its
    # sender disconnected, before it is stored anywhere.
    "max_packet_size": "266240",
    # Sessions not resumed for 14 days are dropped (the collectors' own expiry is 7 days; kiosks keep none).
    "persistent_client_expiration": "14d",
    # Unlimited queues: the default of 1000 queued messages silently DROPS QoS 1 votes queued for a collector
    # that is away. Only collectors subscribe widely; a kiosk's session queues only its own receipts and config.
    "max_queued_messages": "0",
    "max_queued_bytes": "0",
    "max_inflight_messages": "1000",
    "retain_available": "true",
}


class PortTaken(OSError):
    """The port is already in use, often by a broker already running (Mosquitto listens on 1883)."""


class BrokerMissing(RuntimeError):
    """Mosquitto (or its dynamic security plugin) is not installed."""


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)
    if not found:
        raise BrokerMissing(f"the embedded broker is Mosquitto, which is not installed: {INSTALL_HINT}")
    return found


def find_dynsec_plugin() -> Path:
    candidates = [*sorted(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")),
                  "/usr/lib/mosquitto_dynamic_security.so", "/usr/local/lib/mosquitto_dynamic_security.so"]
    for candidate in candidates:
        if Path(candidate).exists():
            return Path(candidate)
    raise BrokerMissing("Mosquitto's dynamic security plugin (mosquitto_dynamic_security.so) is not installed: "
                        f"{INSTALL_HINT} (2.0 or later)")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # one left by a crash may have another mode: O_EXCL makes ours, 0600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _private_secret(path: Path) -> str:
    """The random password kept in ``path``, made (32 bytes, mode 0600) the first time."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    password = secrets.token_urlsafe(32)
    write_private(path, password + "\n")
    return password


def dynsec_password(password: str) -> dict[str, Any]:
    """A password as Mosquitto 2.0's dynamic security plugin stores it: PBKDF2-SHA512, 101 iterations, as
    ``mosquitto_ctrl dynsec init`` writes it."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": 101}


def _admin_role() -> dict[str, Any]:
    # Only the accounts API: unlike mosquitto_ctrl's default admin, it reads no kiosk message.
    topic = "$CONTROL/dynamic-security/#"
    return {"rolename": ADMIN_USER, "acls": [
        {"acltype": "publishClientSend", "topic": topic, "allow": True},
        {"acltype": "publishClientReceive", "topic": topic, "allow": True},
        {"acltype": "subscribePattern", "topic": topic, "allow": True},
    ]}


def _reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether user ``uid`` (group ``gid``) can traverse every folder above ``path``."""
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    with contextlib.suppress(Exception):
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)  # loaded here, not between fork and exec
except OSError:  # pragma: no cover - not Linux
    _LIBC = None


class EmbeddedBroker:
    """A Mosquitto of the collector's own, configured in ``<data_dir>/broker/``; a context manager.

    ``accounts``: load the dynamic security plugin and refuse anonymous clients (:meth:`admin` then gives the
    credentials to manage accounts with); without, anonymous clients are let in and it listens on loopback only.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *, data_dir: Path, accounts: bool = True,
                 log_file: Path | None = None) -> None:
        self.host, self.port = host, port
        self.data_dir = data_dir
        self.folder = data_dir / "broker"
        self.accounts = accounts
        self.log_file = log_file or self.folder / "mosquitto.log"
        self._admin_password: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- what is written before it starts -----------------------------------------------------------------------

    def admin(self) -> tuple[str, str, str, int]:
        """``(user, password, host, port)`` of the dynamic security admin; the host as the collector reaches it."""
        if self._admin_password is None:
            raise RuntimeError("the embedded broker has no accounts, or was not started")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "*") else "::1" if self.host == "::" else self.host  # noqa: S104
        return ADMIN_USER, self._admin_password, host, self.port

    def publisher(self) -> tuple[str, str]:
        """``(user, password)`` of the publisher account (:data:`PUBLISHER_USER`), its password kept in
        ``<data_dir>/broker-publisher.secret`` (0600) for the commands run on this host; the account itself is
        made by :func:`collector.broker.accounts.accounts_for`."""
        return PUBLISHER_USER, _private_secret(self.data_dir / PUBLISHER_SECRET_FILE)

    def _admin_secret(self) -> str:
        return _private_secret(self.data_dir / ADMIN_SECRET_FILE)

    def _write_dynsec(self, password: str) -> None:
        """Make (or repair) ``dynamic-security.json``: the accounts the broker kept are left as they are; the admin
        account is written again with the password of ``broker-admin.secret``."""
        path = self.folder / DYNSEC_FILE
        try:
            config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            config = {"clients": [], "groups": [], "roles": [],
                      "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True,
                                           "subscribe": False, "unsubscribe": True}}
        config["clients"] = [c for c in config.get("clients", []) if c.get("username") != ADMIN_USER]
        config["clients"].append({"username": ADMIN_USER, "textName": "borne: the collector's accounts admin",
                                  **dynsec_password(password), "roles": [{"rolename": ADMIN_USER}]})
        config["roles"] = [r for r in config.get("roles", []) if r.get("rolename") != ADMIN_USER]
        config["roles"].append(_admin_role())
        write_private(path, json.dumps(config, indent=1))

    def _run_as(self) -> str | None:
        """The ``user`` line: None when not root (Mosquitto keeps our user)."""
        if os.geteuid() != 0:
            return None
        try:
            user = pwd.getpwnam("mosquitto")
        except KeyError:
            return "root"
        if not _reachable_by(self.folder, user.pw_uid, user.pw_gid):
            _LOG.info("the embedded broker runs as root: the mosquitto user cannot reach %s", self.folder)
            return "root"
        for path in [self.folder, *self.folder.iterdir()]:
            os.chown(path, user.pw_uid, user.pw_gid)
        return "mosquitto"

    def _write_config(self, plugin: Path | None) -> Path:
        lines = [
            "# Written by the collector at each start (collector/broker/mosquitto.py): edits are lost.",
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "protocol mqtt",
            "max_connections -1",
            f"allow_anonymous {'false' if plugin else 'true'}",
            *([f"plugin {plugin}", f"plugin_opt_config_file {self.folder / DYNSEC_FILE}"] if plugin else []),
            "persistence true",
            f"persistence_location {self.folder}/",
            "autosave_interval 60",
            *(f"{key} {value}" for key, value in LIMITS.items()),
            # A file, not stdout: Mosquitto's stdout is block-buffered when it is not a terminal.
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
        ]
        conf = self.folder / "mosquitto.conf"
        run_as = self._run_as()
        if run_as:
            lines.insert(1, f"user {run_as}")
        write_private(conf, "\n".join(lines) + "\n")
        if run_as == "mosquitto":
            user = pwd.getpwnam("mosquitto")
            os.chown(conf, user.pw_uid, user.pw_gid)
        return conf

    # -- running -----------------------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        if not self.accounts and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("without accounts (BORNE_MQTT_ACCOUNTS=embedded) the embedded broker listens on "
                             "loopback only")
        if not port_free(self.host, self.port):
            raise PortTaken(
                f"port {self.port} on {self.host} is taken (another MQTT broker?); "
                f"choose another with --mqtt-port or BORNE_MQTT_PORT"
            )
        binary = find_mosquitto()
        plugin = find_dynsec_plugin() if self.accounts else None
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.accounts:
            self._admin_password = self._admin_secret()
            self._write_dynsec(self._admin_password)
        conf = self._write_config(plugin)
        # What Mosquitto says before its log is open (a configuration error) goes to the same file.
        out = self.log_file.open("ab")
        try:
            # A process group of its own: Ctrl-C in a terminal reaches the collector (or the demo), which stops its
            # clients first and the broker last, instead of every client seeing its broker vanish. And it dies
            # with the collector, were the collector killed.
            self._proc = subprocess.Popen(  # noqa: S603 - Mosquitto, with our own arguments, no shell
                [binary, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT, process_group=0,
                preexec_fn=_die_with_parent if _LIBC is not None else None,
            )
        finally:
            out.close()
        started = time.monotonic()
        while not wait_port(self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1", self.port, 0.2):  # noqa: S104
            if self._proc.poll() is not None or time.monotonic() - started > timeout:
                tail = self._log_tail()
                self.stop()
                raise RuntimeError(f"the embedded broker (mosquitto) did not start on {self.host}:{self.port}: "
                                   f"{tail}")
        _LOG.info("embedded broker (mosquitto, %s) listening on %s:%d", "accounts" if self.accounts else "anonymous",
                  self.host, self.port)
        return self

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence file), then SIGKILL after 5 s. Safe twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
