"""The kiosk's installed releases on disk (A/B), and the switch between them that a power cut cannot break.

Under ``update.root`` (apart from ``data_dir``'s outbox, which nothing here touches)::

    releases/<version>/        one installed release: release.json, wheels/, site/ (the wheels unpacked)
    releases/<version>.partial being installed; removed at the next install
    downloads/<version>/       files being fetched (``.part`` until their hash is checked)
    current -> releases/<v>    the release the kiosk runs; absent: the factory install (the system's venv)
    previous -> releases/<v>   the one before, kept for a switch back
    pending.json               a switch not yet confirmed healthy: {version, previous, rollout, started}
    last-update.json           the last update's outcome, reported in the heartbeat
    failed.json                (version, rollout) pairs refused or rolled back: not tried again
    revoked.json               releases withdrawn by a signed manifest the kiosk verified: never installed

Every change is a new file fsynced then renamed over the old one, or a symlink made under a temporary name then
renamed over ``current``: at any instant ``current`` names a complete release (or none). ``pending.json`` is
written *before* the switch and removed only once the new release said it is healthy; whoever starts the kiosk
(:mod:`kiosk.supervisor`) and finds it from a start that never confirmed switches back. So a kiosk killed at any
step starts on a release that was working, and its outbox is the same file throughout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from protocol.release import RELEASE_FILE, ReleaseInvalid, valid_version

_LOG = logging.getLogger(__name__)

INSTALLED_MARK = ".installed"


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` in ``path``, whole or not at all, durable once this returns."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _LOG.warning("unreadable %s (%s): ignored", path, exc)
        return None
    return data if isinstance(data, dict) else None


class Releases:
    """The A/B layout under ``root``. Methods are safe to repeat after a crash at any point."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.releases = root / "releases"
        self.downloads = root / "downloads"
        self.current_link = root / "current"
        self.previous_link = root / "previous"
        self.pending_path = root / "pending.json"
        self.result_path = root / "last-update.json"
        self.failed_path = root / "failed.json"
        self.revoked_path = root / "revoked.json"

    def ensure(self) -> Releases:
        self.releases.mkdir(parents=True, exist_ok=True)
        self.downloads.mkdir(parents=True, exist_ok=True)
        return self

    # -- reading -------------------------------------------------------------------------------------------

    def _target(self, link: Path) -> str | None:
        try:
            name = Path(os.readlink(link)).name
        except OSError:
            return None
        return name if valid_version(name) and self.installed(name) else None

    def current(self) -> str | None:
        """The release the kiosk runs (``None``: the factory install)."""
        return self._target(self.current_link)

    def previous(self) -> str | None:
        return self._target(self.previous_link)

    def installed(self, version: str) -> bool:
        return (self.releases / version / INSTALLED_MARK).exists()

    def site(self, version: str) -> Path:
        return self.releases / version / "site"

    def pending(self) -> dict[str, Any] | None:
        return _read_json(self.pending_path)

    def last_result(self) -> dict[str, Any] | None:
        return _read_json(self.result_path)

    def failed(self, version: str, rollout: str | None) -> bool:
        data = _read_json(self.failed_path) or {}
        return f"{version} {rollout or ''}" in data.get("failed", [])

    def revoked(self) -> dict[str, str]:
        """Releases withdrawn, each with the release whose signed manifest withdrew it."""
        data = (_read_json(self.revoked_path) or {}).get("revoked", {})
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def record_revocations(self, by: str, versions: Iterable[str]) -> None:
        """Keep the revocations of ``by``'s signed manifest (checked by its signature before this is called)."""
        known = self.revoked()
        new = {v: by for v in versions if valid_version(v) and v not in known}
        if new:
            known.update(new)
            write_atomic(self.revoked_path, json.dumps({"revoked": known}, sort_keys=True).encode())
            _LOG.warning("release %s revokes %s: never installed here from now on", by, ", ".join(sorted(new)))

    # -- installing ----------------------------------------------------------------------------------------

    def install(self, version: str, release_json: bytes, wheels: list[Path]) -> Path:
        """Unpack ``wheels`` (their hashes already checked) as release ``version``; nothing if it is installed."""
        if not valid_version(version):
            raise ReleaseInvalid(f"invalid version {version!r}")
        final = self.releases / version
        if self.installed(version):
            return final
        partial = self.releases / f"{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)  # an earlier copy without its mark: not complete
        site = partial / "site"
        (partial / "wheels").mkdir(parents=True)
        site.mkdir()
        for wheel in wheels:
            _unpack(wheel, site)
            shutil.copy2(wheel, partial / "wheels" / wheel.name)
        (partial / RELEASE_FILE).write_bytes(release_json)
        _sync_tree(partial)
        write_atomic(partial / INSTALLED_MARK, f"{time.time():.0f}\n".encode())
        os.replace(partial, final)
        _fsync_dir(self.releases)
        _LOG.info("release %s installed in %s", version, final)
        return final

    def wheel(self, version: str, name: str) -> Path | None:
        """A wheel of an installed release, to reuse rather than download again."""
        path = self.releases / version / "wheels" / name
        return path if path.is_file() else None

    # -- switching -----------------------------------------------------------------------------------------

    def _point(self, link: Path, version: str | None) -> None:
        if version is None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
        else:
            tmp = link.with_name(link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(Path("releases") / version, tmp)
            os.replace(tmp, link)
        _fsync_dir(self.root)

    def switch(self, version: str, rollout: object) -> None:
        """Make ``version`` the one to run, pending confirmation; the kiosk must then restart. Made again after
        a cut (``pending.json`` already there), it keeps the ``previous`` that the first attempt recorded."""
        if not self.installed(version):
            raise ReleaseInvalid(f"release {version} is not installed")
        earlier = self.pending()
        running = earlier.get("previous") if earlier and earlier.get("version") == version else self.current()
        pending = {"version": version, "previous": running, "rollout": rollout, "started": False,
                   "at": time.time()}
        write_atomic(self.pending_path, json.dumps(pending).encode())
        self._point(self.previous_link, running)
        self._point(self.current_link, version)
        _LOG.info("switched to release %s (from %s), pending confirmation", version, running or "factory")

    def mark_started(self) -> None:
        """The supervisor is starting the pending release: if this start never confirms, the next one reverts."""
        pending = self.pending()
        if pending is not None and not pending.get("started"):
            write_atomic(self.pending_path, json.dumps({**pending, "started": True}).encode())

    def confirm(self, version: str) -> bool:
        """The pending release ``version`` is healthy: keep it. True if it was pending."""
        pending = self.pending()
        if pending is None or pending.get("version") != version:
            return False
        self._result(version, pending.get("rollout"), "installed", None)
        self.pending_path.unlink()
        _fsync_dir(self.root)
        self.prune()
        _LOG.info("release %s confirmed healthy", version)
        return True

    def revert(self, reason: str) -> str | None:
        """Switch back from the pending release to the one before it; returns the version given up."""
        pending = self.pending()
        if pending is None:
            return None
        version, previous = str(pending.get("version")), pending.get("previous")
        if previous is not None and not self.installed(str(previous)):
            previous = None
        self._point(self.current_link, previous)
        self._result(version, pending.get("rollout"), "rolled_back", reason)
        self._mark_failed(version, pending.get("rollout"))
        self.pending_path.unlink()
        _fsync_dir(self.root)
        _LOG.error("release %s rolled back to %s: %s", version, previous or "factory", reason)
        return version

    def refuse(self, version: str, rollout: str | None, reason: str) -> None:
        """A release that will not be installed (bad signature, bad hash...): said, and not tried again."""
        self._result(version, rollout, "refused", reason)
        self._mark_failed(version, rollout)
        _LOG.error("release %s refused: %s", version, reason)

    def _result(self, version: str, rollout: object, outcome: str, reason: str | None) -> None:
        result = {"version": version, "rollout": rollout, "outcome": outcome, "reason": reason,
                  "at": time.time()}
        write_atomic(self.result_path, json.dumps(result).encode())

    def _mark_failed(self, version: str, rollout: object) -> None:
        data = _read_json(self.failed_path) or {}
        failed = [*data.get("failed", []), f"{version} {rollout or ''}"][-50:]
        write_atomic(self.failed_path, json.dumps({"failed": failed}).encode())

    def prune(self) -> None:
        """Remove releases other than current and previous, and the downloads of installed ones."""
        keep = {self.current(), self.previous()}
        pending = self.pending()
        if pending is not None:
            keep |= {pending.get("version"), pending.get("previous")}
        for path in self.releases.iterdir() if self.releases.exists() else ():
            name = path.name.removesuffix(".partial")
            if name not in keep:
                shutil.rmtree(path, ignore_errors=True)
        for path in self.downloads.iterdir() if self.downloads.exists() else ():
            if self.installed(path.name):
                shutil.rmtree(path, ignore_errors=True)


def _unpack(wheel: Path, site: Path) -> None:
    """A wheel is a zip of a site-packages tree: unpacked, refusing any member that would land outside.

    As an installer does with a wheel's ``<name>.data/`` folder: ``purelib/`` and ``platlib/`` go into the
    tree itself; ``scripts/``, ``data/`` and ``headers/`` are left out (the kiosk runs modules, ``python -m``,
    never an installed script)."""
    base = site.resolve()
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                name = _installed_name(member.filename)
                if name is None:
                    continue
                target = (site / name).resolve()
                if not target.is_relative_to(base) or target == base:
                    raise ReleaseInvalid(f"{wheel.name}: member {member.filename!r} outside the install")
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
    except zipfile.BadZipFile as exc:
        raise ReleaseInvalid(f"{wheel.name}: not a wheel ({exc})") from None


def _installed_name(filename: str) -> str | None:
    """Where a wheel's member goes under the install (``None``: not installed)."""
    top, _, rest = filename.partition("/")
    if not top.endswith(".data"):
        return filename
    scheme, _, path = rest.partition("/")
    return path if scheme in ("purelib", "platlib") and path else None


def _sync_tree(root: Path) -> None:
    for directory, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(directory))
