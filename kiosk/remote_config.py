"""Remote configuration: what the collector sets on ``fs/v1/kiosks/{id}/config``, checked, applied, kept.

The collector publishes a retained :class:`~protocol.models.RemoteConfig`; the kiosk reads it with
:func:`protocol.wire.decode_remote_config` (the same checks, without pydantic) and:

1. decodes and validates it (the payload's own schema, then against this kiosk: a GPIO kiosk with four
   buttons cannot take a five-answer scale);
2. applies it without a restart, by calling its ``appliers`` with the new voting settings;
3. saves it next to the outbox (written to a temporary file, fsynced, renamed), so that after a power cut the
   kiosk starts with it even before it reaches the broker;
4. reports ``version`` in its telemetry.

A configuration that fails any step is refused whole: the previous one stays, and ``rejected`` says which
version and why (the heartbeat carries it). An empty retained message (the collector cleared it) brings the
kiosk back to its local file's settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from kiosk.config import VotingConfig
from kiosk.schema import ConfigInvalid
from protocol.errors import ProtocolError
from protocol.wire import RemoteConfig, decode_remote_config

_LOG = logging.getLogger(__name__)

#: RemoteConfig field -> VotingConfig field.
_FIELDS = {
    "scale": "scale",
    "followup": "followup",
    "repeat_interval_s": "repeat_interval_s",
    "opening_hours": "opening_hours",
    "language": "language",
}

Applier = Callable[[VotingConfig], None]
Check = Callable[[VotingConfig], None]


class ConfigRefused(ValueError):
    """A remote configuration that this kiosk cannot apply; the message says why."""


def merged(base: VotingConfig, remote: RemoteConfig) -> VotingConfig:
    """``base`` with the fields that ``remote`` sets; raises :class:`ConfigRefused` if the result is invalid."""
    changes = {dst: getattr(remote, src) for src, dst in _FIELDS.items() if getattr(remote, src) is not None}
    try:
        return dataclasses.replace(base, **changes)
    except ConfigInvalid as exc:
        first = exc.problems[0]
        raise ConfigRefused(f"{first.where or 'voting'}: {first.message}") from None


class RemoteSettings:
    """The kiosk's side of remote configuration. Thread-safe; :meth:`handle` is paho's callback."""

    def __init__(self, local: VotingConfig, path: Path, *, check: Check | None = None) -> None:
        self.local = local
        self.path = path
        self.check = check
        self.appliers: list[Applier] = []
        self.current = local
        self.version: str | None = None
        self.rejected: str | None = None
        self._lock = threading.Lock()

    # -- start-up ------------------------------------------------------------------------------------------

    def load_saved(self) -> VotingConfig:
        """Take the configuration saved by a previous run, if it is still valid; returns the voting settings."""
        try:
            payload = self.path.read_bytes()
        except FileNotFoundError:
            return self.current
        except OSError as exc:
            _LOG.warning("cannot read the saved remote configuration %s: %s", self.path, exc)
            return self.current
        try:
            remote = decode_remote_config(payload)
            voting = self._validated(remote)
        except (ProtocolError, ConfigRefused) as exc:
            _LOG.warning("ignoring the saved remote configuration %s: %s", self.path, exc)
            return self.current
        with self._lock:
            self.current, self.version = voting, remote.version
        _LOG.info("remote configuration %s restored from %s", remote.version, self.path)
        return voting

    # -- from the broker -----------------------------------------------------------------------------------

    def handle(self, payload: bytes) -> bool:
        """Apply a configuration message; True if it is (now or already) the one in force."""
        with self._lock:
            if not payload:
                return self._revert()
            try:
                remote = decode_remote_config(payload)
            except ProtocolError as exc:
                return self._refuse(_version_hint(payload), f"{exc.reason}: {exc.detail}")
            if remote.version == self.version:
                return True  # the retained message again, at each reconnection
            try:
                voting = self._validated(remote)
                self._apply(voting)
            except ConfigRefused as exc:
                return self._refuse(remote.version, str(exc))
            self._save(payload)
            self.current, self.version, self.rejected = voting, remote.version, None
        _LOG.info("remote configuration %s applied", remote.version)
        return True

    def _validated(self, remote: RemoteConfig) -> VotingConfig:
        voting = merged(self.local, remote)
        if self.check is not None:
            try:
                self.check(voting)
            except ValueError as exc:
                raise ConfigRefused(str(exc)) from None
        return voting

    def _apply(self, voting: VotingConfig) -> None:
        previous = self.current
        done: list[Applier] = []
        try:
            for apply in self.appliers:
                apply(voting)
                done.append(apply)
        except Exception as exc:
            # Put back what was already changed, so that the kiosk is never half configured.
            for apply in done:
                with contextlib.suppress(Exception):
                    apply(previous)
            raise ConfigRefused(f"could not be applied: {exc}") from exc

    def _refuse(self, version: str, why: str) -> bool:
        self.rejected = f"{version}: {why}"[:300]
        _LOG.warning("remote configuration %s refused (%s); keeping %s", version, why, self.version or "local")
        return False

    def _revert(self) -> bool:
        if self.version is None:
            return True
        try:
            self._apply(self.local)
        except ConfigRefused as exc:
            return self._refuse("(cleared)", str(exc))
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        _LOG.info("remote configuration %s cleared: back to the local settings", self.version)
        self.current, self.version, self.rejected = self.local, None, None
        return True

    def _save(self, payload: bytes) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            # Applied but not saved (a full disk, say): it comes back from the retained message anyway.
            _LOG.warning("remote configuration applied but not saved to %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()


def _version_hint(payload: bytes) -> str:
    """The version of a message that did not validate, if it can be read, for the report."""
    try:
        value = json.loads(payload[:4096]).get("version")
    except (ValueError, AttributeError):
        return "?"
    return str(value)[:64] if value is not None else "?"
