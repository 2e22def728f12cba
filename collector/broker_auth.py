"""The embedded broker's authentication and topic ACL: amqtt plugins reading the collector's accounts file.

The file is written by :class:`collector.accounts.FileAccounts`; it is re-read whenever its modification time or
size changes, so a kiosk registered, revoked or given a new password takes effect at its next packet, without a
restart. A session keeps the hash it authenticated with: once the account is removed or its password replaced,
that session may neither publish nor subscribe any more (amqtt cannot close it from a plugin, but it is mute).

A refused publish is dropped (amqtt still acknowledges it, as MQTT 3.1.1 has no way to say no); a refused
subscription gets the failure return code 0x80.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_LOG = logging.getLogger(__name__)

_HASHER = PasswordHasher()


def topic_matches(filter_: str, topic: str) -> bool:
    """MQTT matching of ``topic`` (or a subscription filter) against a granted ``filter_``."""
    granted, wanted = filter_.split("/"), topic.split("/")
    for i, level in enumerate(granted):
        if level == "#":
            return True
        if i >= len(wanted):
            return False
        if level != "+" and level != wanted[i]:
            return False
        if level == "+" and wanted[i] == "#":
            return False
    return len(wanted) == len(granted)


class _Accounts:
    """The accounts file, re-read when it changes; remembers which password each hash accepted."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self.users: dict[str, dict[str, Any]] = {}
        # An argon2 hash (a password a person chose) costs ~100 ms a check: one verified is remembered (as
        # its SHA-256), so that reconnections do not pay it again.
        self._verified: dict[str, str] = {}

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._stamp is not None:
                _LOG.warning("accounts file %s is gone: every account refused", self.path)
            self._stamp, self.users = None, {}
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp:
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                self.users = dict(json.load(f).get("users", {}))
        except (OSError, ValueError) as exc:
            _LOG.error("accounts file %s unreadable (%s): keeping the previous accounts", self.path, exc)
            return
        self._stamp = stamp
        _LOG.info("%d account(s) loaded from %s", len(self.users), self.path)

    def check_password(self, username: str, password: str) -> str | None:
        """The account's hash if ``password`` is right, else None."""
        self.refresh()
        user = self.users.get(username)
        if user is None:
            return None
        stored = str(user.get("hash", ""))
        digest = hashlib.sha256(password.encode()).hexdigest()
        if stored.startswith("sha256$"):  # what the collector writes for its random secrets
            return stored if hmac.compare_digest(stored, f"sha256${digest}") else None
        known = self._verified.get(stored)
        if known is not None:
            return stored if hmac.compare_digest(known, digest) else None
        try:
            _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        self._verified[stored] = digest
        return stored

    def current_hash(self, username: str) -> str | None:
        self.refresh()
        user = self.users.get(username)
        return str(user.get("hash")) if user is not None else None


_SHARED: dict[str, _Accounts] = {}


def _accounts(path: str) -> _Accounts:
    if path not in _SHARED:
        _SHARED[path] = _Accounts(path)
    return _SHARED[path]


#: client id -> the hash its session authenticated with.
_SESSIONS: dict[str, str] = {}


class AccountsAuthPlugin(BaseAuthPlugin):
    """Lets in only a user name and password found in the accounts file."""

    @dataclass
    class Config:
        accounts_file: str = field(default="")

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._accounts = _accounts(str(self._get_config_option("accounts_file", "")))

    async def authenticate(self, *, session: Session) -> bool | None:
        username, password = session.username, session.password
        if not username or password is None:
            _LOG.warning("connection of %s refused: no user name or password", session.client_id)
            return False
        secret = password.decode() if isinstance(password, bytes) else str(password)
        accepted = self._accounts.check_password(username, secret)
        if accepted is None:
            _LOG.warning("connection of %s refused: bad user name or password for %r", session.client_id,
                         username)
            return False
        _SESSIONS[session.client_id] = accepted
        return True


class AccountsTopicPlugin(BaseTopicPlugin):
    """Lets a session publish and subscribe only where its account's grants say."""

    @dataclass
    class Config:
        accounts_file: str = field(default="")

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._accounts = _accounts(str(self._get_config_option("accounts_file", "")))

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool | None:
        if action is Action.RECEIVE:
            return True  # what a session receives was allowed when it subscribed
        if session is None or not session.username or not topic:
            return False
        current = self._accounts.current_hash(session.username)
        if current is None or _SESSIONS.get(session.client_id) != current:
            _LOG.warning("%s refused on %s: its account was removed or its password replaced",
                         session.client_id, topic)
            return False
        if action is Action.SUBSCRIBE and topic.startswith("$share/"):
            topic = topic.split("/", 2)[2] if topic.count("/") >= 2 else topic
        user = self._accounts.users[session.username]
        granted = user.get("publish" if action is Action.PUBLISH else "subscribe", [])
        allowed = any(topic_matches(str(g), topic) for g in granted)
        if not allowed:
            _LOG.warning("%s (%s) may not %s %s", session.client_id, session.username,
                         "publish to" if action is Action.PUBLISH else "subscribe to", topic)
        return allowed
