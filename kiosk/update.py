"""The update agent: fetches the release the collector wants, checks it, installs it beside the running one.

The collector publishes the desired release retained on ``fs/v1/kiosks/{id}/release``
(:class:`protocol.wire.DesiredRelease`). When it names another version than the one running, the agent, in its
own thread (votes go on being recorded and sent meanwhile; the outbox is never touched):

1. **download**: ``release.json`` then each wheel from the collector's API over HTTPS, with this kiosk's own
   credentials (HTTP Basic: its broker user name and secret); a file cut short resumes where it stopped
   (``Range``), and wheels already installed in a release on the card are reused, not fetched;
2. **verify**: the signature of ``release.json`` with the programme's public key (``update.public_key``), then
   each file's size and SHA-256 against the signed manifest; a failure refuses the release (reported, not
   retried for this rollout);
3. **install**: unpacked under ``update.root/releases/<version>`` (:mod:`kiosk.releases`);
4. **switch**: ``current`` points to it, ``pending.json`` says it awaits confirmation;
5. **restart**: the kiosk stops cleanly and exits with :data:`kiosk.supervisor.RESTART`; the supervisor starts it
   on the new release;
6. **confirm**: the new release, once connected, having sent a heartbeat and taken a receipt (or having no vote
   waiting for one), confirms itself. The supervisor switches back from one that does not within
   ``update.confirm_s``, or that exits first.

Only a kiosk run by the supervisor updates itself (:data:`kiosk.watchdog.SUPERVISED` in its environment): a kiosk
started by hand (``borne kiosk run``, a technician's check) has no one to start it again on the new release, so
it reports the desired release and leaves it (``update_status`` says so).

Network errors are retried with a growing delay; the heartbeat says where the agent is (``update_status``) and
how the last update ended (``update_result``).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kiosk.config import KioskConfig
from kiosk.releases import Releases
from kiosk.watchdog import SUPERVISED
from protocol.errors import ProtocolError
from protocol.release import (
    MAX_RELEASE_FILE_BYTES,
    RELEASE_FILE,
    Manifest,
    ReleaseFile,
    ReleaseInvalid,
    file_sha256,
    verify,
)
from protocol.wire import DesiredRelease, decode_desired_release

_LOG = logging.getLogger(__name__)

#: The running release, as the supervisor sets it; absent: the factory install.
RELEASE_ENV = "BORNE_RELEASE"
_CHUNK = 256 * 1024


class FetchFailed(OSError):
    """The collector could not be reached or did not serve the file: tried again later."""


def running_release() -> str | None:
    return os.environ.get(RELEASE_ENV) or None


def supervised() -> bool:
    """Whether this kiosk runs under :mod:`kiosk.supervisor`, which starts it again on a new release."""
    return os.environ.get(SUPERVISED) == "1"


class UpdateAgent:
    """One kiosk's updates. ``health()`` says whether this start is healthy (connected, a heartbeat, a receipt);
    ``restart()`` stops the kiosk so that the supervisor starts the new release. :meth:`close` is safe twice."""

    def __init__(self, config: KioskConfig, *, health: Callable[[], bool], restart: Callable[[], None],
                 changed: Callable[[], None] | None = None, running: str | None = None,
                 is_supervised: bool | None = None, retry_min_s: float = 5.0, retry_max_s: float = 600.0) -> None:
        self.config = config
        self.settings = config.update
        self.releases = Releases(config.releases_root).ensure()
        self.health = health
        self.restart = restart
        self.changed = changed or (lambda: None)
        self.running = running if running is not None else running_release()
        self.supervised = supervised() if is_supervised is None else is_supervised
        self.desired: DesiredRelease | None = None
        self.status = "idle"
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self._retry_s = retry_min_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the heartbeat says ---------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        result = self.releases.last_result()
        text = None
        if result is not None:
            text = f"{result.get('outcome')} {result.get('version')}"
            if result.get("reason"):
                text += f": {result['reason']}"
        return {"release": self.running, "release_desired": self.desired.version if self.desired else None,
                "update_status": self.status[:100], "update_result": text[:300] if text else None}

    # -- from the broker -----------------------------------------------------------------------------------

    def handle(self, payload: bytes) -> None:
        """The desired release message (paho's thread): noted, and the agent woken."""
        if not payload:
            self.desired = None
            return
        try:
            self.desired = decode_desired_release(payload)
        except ProtocolError as exc:
            _LOG.warning("ignored an invalid desired release: %s: %s", exc.reason, exc.detail)
            return
        self._wake.set()

    # -- the thread ----------------------------------------------------------------------------------------

    def start(self) -> UpdateAgent:
        self._thread = threading.Thread(target=self._run, name="update-agent", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            self._wake.wait(delay)
            if self._stop.is_set():
                return
            try:
                delay = self.step()
            except Exception:
                _LOG.exception("update step failed; going on")
                delay = self.retry_min_s

    def step(self) -> float:
        """One round: confirm this start, or take the next step towards the desired release; the delay before
        the next round."""
        self._wake.clear()
        pending = self.releases.pending()
        if pending is not None:
            if pending.get("version") == self.running and self.health():
                self.releases.confirm(str(self.running))
                self.status = "idle"
                self.changed()
            elif pending.get("version") == self.running:
                self.status = "confirming"
            return 1.0
        desired = self.desired
        if (desired is None or desired.version == self.running or not self.settings.url
                or not self.settings.public_key or self.releases.failed(desired.version, desired.rollout)):
            if self.status != "idle":
                self.status = "idle"
            return 5.0
        if not self.supervised:
            self.status = "not supervised: updates only under kiosk.supervisor"
            return 5.0
        try:
            self.update(desired)
        except ReleaseInvalid as exc:
            self.releases.refuse(desired.version, desired.rollout, str(exc)[:250])
            self.status = "idle"
            self.changed()
            return 5.0
        except OSError as exc:
            self.status = f"retrying: {exc}"[:100]
            _LOG.warning("release %s not fetched (%s); trying again in %.0fs", desired.version, exc, self._retry_s)
            delay, self._retry_s = self._retry_s, min(self.retry_max_s, self._retry_s * 2)
            return delay
        self._retry_s = self.retry_min_s
        return 1.0

    def update(self, desired: DesiredRelease) -> None:
        """Steps 1 to 5 for ``desired``; raises :class:`ReleaseInvalid` (refused) or ``OSError`` (retry)."""
        version = desired.version
        self._not_revoked(version)
        self.status = f"downloading {version}"
        self.changed()
        release_json = self.fetch_release(version)
        manifest = self.check(release_json, version)
        # Signed by the programme: its revocations hold from now on, whether or not this release installs.
        self.releases.record_revocations(version, manifest.revokes)
        wheels = [self.fetch_file(version, f) for f in manifest.files]
        self.status = f"installing {version}"
        self.releases.install(version, release_json, wheels)
        self.releases.switch(version, desired.rollout)
        self.status = f"restarting into {version}"
        self.changed()
        self.restart()

    # -- the steps -----------------------------------------------------------------------------------------

    def _not_revoked(self, version: str) -> None:
        """A release the programme withdrew is refused before anything is fetched, whoever asks for it: a
        collector in the wrong hands cannot take a kiosk back to a release with a known flaw."""
        by = self.releases.revoked().get(version)
        if by is not None:
            raise ReleaseInvalid(f"revoked by {by}")

    def check(self, release_json: bytes, version: str) -> Manifest:
        """The signed manifest of ``release_json``; it must be release ``version``."""
        manifest = verify(release_json, self.settings.public_key or "")
        if manifest.version != version:
            raise ReleaseInvalid(f"the signed release is {manifest.version}, not {version}")
        return manifest

    def _download_dir(self, version: str) -> Path:
        path = self.releases.downloads / version
        path.mkdir(parents=True, exist_ok=True)
        return path

    def fetch_release(self, version: str) -> bytes:
        if self.releases.installed(version):
            return (self.releases.releases / version / RELEASE_FILE).read_bytes()
        path = self._download_dir(version) / RELEASE_FILE
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # small: fetched whole each time, checked by its signature
        self._get(f"releases/{quote(version)}/{RELEASE_FILE}", path, MAX_RELEASE_FILE_BYTES)
        return path.read_bytes()

    def fetch_file(self, version: str, file: ReleaseFile) -> Path:
        """The file, complete and checked against the signed manifest."""
        done = self._download_dir(version) / file.name
        if done.exists() and file_sha256(done) == file.sha256:
            return done
        for other in {self.running, self.releases.previous()} - {None}:
            reuse = self.releases.wheel(str(other), file.name)
            if reuse is not None and reuse.stat().st_size == file.size and file_sha256(reuse) == file.sha256:
                return reuse
        part = done.with_name(done.name + ".part")
        self._get(f"releases/{quote(version)}/files/{quote(file.name)}", part, file.size)
        if part.stat().st_size != file.size or file_sha256(part) != file.sha256:
            part.unlink()
            raise ReleaseInvalid(f"bad hash: {file.name} is not the file the release signed")
        os.replace(part, done)
        return done

    def _get(self, path: str, into: Path, limit: int) -> None:
        """Fetch ``path`` into ``into``, resuming from its current length; never more than ``limit`` bytes."""
        base = (self.settings.url or "").rstrip("/")
        have = into.stat().st_size if into.exists() else 0
        if have >= limit:
            return
        request = urllib.request.Request(f"{base}/api/v1/{path}")  # noqa: S310 (the configured https URL)
        broker = self.config.broker
        if broker.username and broker.password:
            token = base64.b64encode(f"{broker.username}:{broker.password.get_secret_value()}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s,  # noqa: S310
                                        context=self._tls()) as response:
                if have and response.status != 206:
                    have = 0  # the server sent the whole file
                with into.open("r+b" if have else "wb") as f:
                    f.seek(have)
                    f.truncate()
                    written = have
                    while block := response.read(_CHUNK):
                        written += len(block)
                        if written > limit:
                            raise ReleaseInvalid(f"{into.name}: larger than the release says")
                        f.write(block)
                    f.flush()
                    os.fsync(f.fileno())
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                return  # nothing left to fetch; the hash decides
            raise FetchFailed(f"{path}: HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise FetchFailed(f"{path}: {exc.reason}") from None

    def _tls(self) -> ssl.SSLContext | None:
        """``update.ca_file`` alone when given (a private CA: the kiosk trusts nothing else for updates); else the
        system's CAs, and the broker's CA when it has one. A collector whose certificate comes from the
        programme's own CA, the one that signed the broker's, needs no second copy of it; one with a public
        certificate (the dashboard's, which staff browsers open) keeps working beside a private broker CA, which
        the broker's CA alone would refuse."""
        if not (self.settings.url or "").startswith("https:"):
            return None
        if self.settings.ca_file is not None:
            return ssl.create_default_context(cafile=str(self.settings.ca_file))
        context = ssl.create_default_context()
        if self.config.broker.ca_file is not None:
            context.load_verify_locations(cafile=str(self.config.broker.ca_file))
        return context

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

