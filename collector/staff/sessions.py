"""Server-side sessions of signed-in people, and the sign-ins under way.

A session is a row of ``staff_sessions``; the browser holds its key in an ``HttpOnly`` cookie (``SameSite=Lax``,
``Secure`` over HTTPS) and the collector keeps only its SHA-256, so that a stolen database opens no session. A
session ends after ``session_idle_minutes`` unused, ``session_max_hours`` after sign-in, at sign-out, or when its
person's entry is disabled. Each session has a CSRF token: the browser's script reads it from a cookie of its own
(readable by script, ``SameSite=Strict``) and sends it in ``X-CSRF-Token`` with every POST, PUT, PATCH and
DELETE; the collector checks it against the session's hash (a per-session token checked server-side, so a cookie
planted by a neighbouring site does not pass).

A sign-in under way is a row of ``oidc_logins`` keyed by the SHA-256 of its ``state``, bound to the browser that
started it by a random secret in a short-lived ``HttpOnly`` cookie. The PKCE verifier and the nonce are derived
from that secret and the state (HMAC-SHA256), so the database holds nothing that completes a sign-in; the row is
deleted when the provider sends the browser back, so a ``state`` is good once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from collector.db.models import OidcLogin, StaffAccess, StaffSession

_LOG = logging.getLogger(__name__)

COOKIE = "borne_session"
CSRF_COOKIE = "borne_csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_COOKIE = "borne_login"
LOGIN_TTL = timedelta(minutes=10)
#: last_seen_at is written at most this often (one write a request would be one too many).
TOUCH_EVERY = timedelta(seconds=30)


class SessionRefused(Exception):
    """The cookie names no live session; the message says why (unknown, ended, idle, too old, disabled)."""


class LoginRefused(Exception):
    """The provider's answer matches no sign-in under way from this browser; the message says why."""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _derive(secret: str, purpose: str, state: str) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{state}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(frozen=True)
class Login:
    state: str
    browser_secret: str  # for the login cookie
    nonce: str
    code_verifier: str
    next_path: str


def begin_login(session: Session, next_path: str, *, now: datetime | None = None) -> Login:
    now = now or datetime.now(UTC)
    session.execute(delete(OidcLogin).where(OidcLogin.created_at < now - LOGIN_TTL))
    state, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(OidcLogin(state_hash=digest(state), browser_hash=digest(browser), next_path=next_path[:500],
                          created_at=now))
    return Login(state, browser, _derive(browser, "nonce", state), _derive(browser, "pkce", state), next_path)


def finish_login(session: Session, state: str | None, browser_secret: str | None, *,
                 now: datetime | None = None) -> Login:
    """The sign-in ``state`` belongs to, used up; :class:`LoginRefused` for an unknown, replayed, expired or
    foreign one."""
    now = now or datetime.now(UTC)
    if not state or len(state) > 200:
        raise LoginRefused("no state")
    row = session.get(OidcLogin, digest(state))
    if row is None:
        raise LoginRefused("unknown or already used state")
    session.delete(row)
    session.flush()
    if not browser_secret or not hmac.compare_digest(row.browser_hash, digest(browser_secret)):
        raise LoginRefused("the sign-in was started in another browser")
    if row.created_at < now - LOGIN_TTL:
        raise LoginRefused("the sign-in took too long")
    return Login(state, browser_secret, _derive(browser_secret, "nonce", state),
                 _derive(browser_secret, "pkce", state), row.next_path)


@dataclass(frozen=True)
class NewSession:
    token: str  # for the session cookie
    csrf: str  # for the CSRF cookie
    expires_at: datetime


def start(session: Session, entry: StaffAccess, subject: str, *, id_token: str | None, address: str | None,
          max_age: timedelta, now: datetime | None = None) -> NewSession:
    now = now or datetime.now(UTC)
    session.execute(delete(StaffSession).where(or_(StaffSession.expires_at < now - timedelta(days=1),
                                                   StaffSession.ended_at < now - timedelta(days=1))))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(StaffSession(token_hash=digest(token), csrf_hash=digest(csrf), access_id=entry.id, subject=subject,
                             id_token=id_token, address=(address or "")[:64] or None, created_at=now,
                             last_seen_at=now, expires_at=now + max_age))
    entry.last_sign_in_at = now
    return NewSession(token, csrf, now + max_age)


def resolve(session: Session, token: str, *, idle: timedelta, now: datetime | None = None
            ) -> tuple[StaffSession, StaffAccess]:
    """The live session behind a cookie and its person's entry; :class:`SessionRefused` otherwise. Commits."""
    now = now or datetime.now(UTC)
    if not token or len(token) > 200:
        raise SessionRefused("no session")
    found = session.execute(select(StaffSession, StaffAccess)
                            .join(StaffAccess, StaffAccess.id == StaffSession.access_id)
                            .where(StaffSession.token_hash == digest(token))).first()
    if found is None:
        raise SessionRefused("unknown session")
    row, entry = found
    if row.ended_at is not None:
        raise SessionRefused("the session was ended")
    if entry.disabled_at is not None:
        raise SessionRefused("this person's access is disabled")
    if row.expires_at <= now:
        raise SessionRefused("the session is too old")
    if row.last_seen_at + idle <= now:
        raise SessionRefused("the session was left unused too long")
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.commit()
    return row, entry


def csrf_ok(row: StaffSession, header: str | None) -> bool:
    return bool(header) and len(header or "") <= 200 and hmac.compare_digest(row.csrf_hash, digest(header or ""))


def end(session: Session, token: str | None, *, now: datetime | None = None) -> StaffSession | None:
    """End the session behind ``token`` (if live); returns it, for its ID token."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == digest(token),
                                                    StaffSession.ended_at.is_(None)))
    if row is not None:
        row.ended_at = now or datetime.now(UTC)
    return row
