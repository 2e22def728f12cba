"""Users, roles and API tokens: who may read which KPIs.

Four roles: ``admin`` (everything, and managing the fleet), ``national`` (national partner: reads every
figure), ``prefecture`` (préfecture referent: reads one département, its espaces included) and ``agent``
(espace agent: reads one espace). A user holds tokens; a token is 32 random bytes (``secrets``), shown once
when it is made, and kept only as its SHA-256 (a hash of a high-entropy secret needs no slow KDF), so that a
stolen database gives no usable token. Tokens look like ``borne_<prefix>_<secret>``; the prefix is kept in
clear to tell tokens apart in listings. A token may carry an expiry (``expires_at``); an expired token is refused
with its own reason (:class:`TokenExpired`), so that its holder knows to ask for a new one.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector.db.models import ApiToken, Espace, User
from collector.registry.geography import UnknownDepartement, normalise_departement

_LOG = logging.getLogger(__name__)

TOKEN_PREFIX = "borne_"  # noqa: S105 - not a secret: how every token starts


class AuthError(ValueError):
    """A user or token operation that cannot be done; the message says why."""


class TokenExpired(AuthError):
    """The token is genuine but past its expiry."""

    def __init__(self, prefix: str, expired_at: datetime) -> None:
        super().__init__(f"API token {prefix} expired on {expired_at:%Y-%m-%d %H:%M} UTC")
        self.prefix = prefix
        self.expired_at = expired_at


_DURATION = re.compile(r"^\s*(\d{1,5})\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def expiry(expires: str | None = None, expires_at: str | None = None, *,
           now: datetime | None = None) -> datetime | None:
    """When a new token expires: ``expires`` is a duration from now (``90d``, ``12w``, ``8h``), ``expires_at`` a
    date (the token works through that day, UTC) or an ISO time; neither: never. Raises :class:`AuthError`."""
    now = now or datetime.now(UTC)
    if expires and expires_at:
        raise AuthError("give --expires or --expires-at, not both")
    if expires:
        match = _DURATION.match(expires)
        if match is None or int(match.group(1)) == 0:
            raise AuthError(f"--expires {expires!r}: a duration such as 90d, 12w or 8h")
        return now + int(match.group(1)) * _UNITS[match.group(2)]
    if expires_at:
        try:
            when = (datetime.combine(date.fromisoformat(expires_at), time.max, tzinfo=UTC)
                    if len(expires_at.strip()) == 10 else datetime.fromisoformat(expires_at))
        except ValueError:
            raise AuthError(f"--expires-at {expires_at!r}: a date (2026-12-31) or an ISO time") from None
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        if when <= now:
            raise AuthError(f"--expires-at {expires_at}: already past")
        return when
    return None


class Role(enum.StrEnum):
    ADMIN = "admin"
    NATIONAL = "national"
    PREFECTURE = "prefecture"
    AGENT = "agent"


class Level(enum.StrEnum):
    ESPACE = "espace"
    DEPARTEMENT = "departement"
    REGION = "region"
    NATIONAL = "national"


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request's token."""

    user_id: int
    name: str
    role: Role
    scope: str | None  # the département of a préfecture referent, the espace of an agent

    @property
    def reads_all(self) -> bool:
        return self.role in (Role.ADMIN, Role.NATIONAL)

    def can_read(self, level: Level, code: str | None, *, espace_departement: str | None = None) -> bool:
        """Whether this user may read figures of ``level``/``code``.

        For ``level=espace``, pass the espace's département as ``espace_departement`` so that a préfecture
        referent may read the espaces of its département.
        """
        if self.reads_all:
            return True
        if self.role is Role.PREFECTURE:
            if level is Level.DEPARTEMENT:
                return code == self.scope
            if level is Level.ESPACE:
                return espace_departement is not None and espace_departement == self.scope
            return False
        if self.role is Role.AGENT:
            return level is Level.ESPACE and code == self.scope
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, name: str, role: Role | str, scope: str | None = None, *,
             now: datetime | None = None) -> User:
    """Create a user; a préfecture referent needs a département, an agent an espace."""
    role = Role(role)
    name = name.strip()
    if not name:
        raise AuthError("a user needs a name")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise AuthError(f"user {name!r} already exists")
    if role is Role.PREFECTURE:
        if not scope:
            raise AuthError("a préfecture referent needs a département (--scope 22)")
        try:
            scope = normalise_departement(scope)
        except UnknownDepartement as exc:
            raise AuthError(str(exc)) from None
    elif role is Role.AGENT:
        if not scope:
            raise AuthError("an espace agent needs an espace (--scope ID_FS)")
        if session.get(Espace, scope) is None:
            raise AuthError(f"unknown espace {scope}")
    elif scope:
        raise AuthError(f"role {role.value} reads everything: no scope")
    user = User(name=name, role=role.value, scope=scope, created_at=now or datetime.now(UTC))
    session.add(user)
    session.flush()
    _LOG.info("user %s added with role %s (scope %s)", name, role.value, scope or "-")
    return user


def issue_token(session: Session, user: User, *, now: datetime | None = None,
                expires_at: datetime | None = None) -> str:
    """A new token for ``user``: returned once, kept only as its hash; valid until ``expires_at`` (or ever)."""
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=prefix,
                         created_at=now or datetime.now(UTC), expires_at=expires_at))
    session.flush()
    _LOG.info("token %s issued to %s%s", prefix, user.name,
              f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "")
    return token


def authenticate(session: Session, token: str, *, now: datetime | None = None) -> Principal | None:
    """The user a token belongs to, or None if it is unknown, revoked or its user disabled; raises
    :class:`TokenExpired` for a token past its expiry."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = now or datetime.now(UTC)
    digest = hash_token(token)
    row = session.execute(
        select(ApiToken.id, ApiToken.token_hash, User.id, User.name, User.role, User.scope, ApiToken.expires_at,
               ApiToken.prefix)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None), User.disabled_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(row[1], digest):
        return None
    if row[6] is not None and row[6] <= now:
        raise TokenExpired(row[7], row[6])
    session.execute(update(ApiToken).where(ApiToken.id == row[0]).values(last_used_at=now))
    session.commit()
    return Principal(user_id=row[2], name=row[3], role=Role(row[4]), scope=row[5])


def revoke(session: Session, name_or_prefix: str, *, now: datetime | None = None) -> int:
    """Revoke a token by its prefix, or every token of a user (and disable the user) by name.

    Returns how many tokens were revoked.
    """
    now = now or datetime.now(UTC)
    user = session.scalar(select(User).where(User.name == name_or_prefix))
    if user is not None:
        user.disabled_at = user.disabled_at or now
        where = ApiToken.user_id == user.id
    else:
        where = ApiToken.prefix == name_or_prefix
        if session.scalar(select(ApiToken.id).where(where)) is None:
            raise AuthError(f"no user nor token prefix {name_or_prefix!r}")
    result = session.execute(update(ApiToken).where(where, ApiToken.revoked_at.is_(None)).values(revoked_at=now))
    count = int(getattr(result, "rowcount", 0) or 0)
    _LOG.info("revoked %d token(s) of %s", count, name_or_prefix)
    return count


def list_users(session: Session) -> list[tuple[User, list[ApiToken]]]:
    users = list(session.scalars(select(User).order_by(User.name)))
    tokens: dict[int, list[ApiToken]] = {u.id: [] for u in users}
    for token in session.scalars(select(ApiToken).order_by(ApiToken.created_at)):
        tokens.setdefault(token.user_id, []).append(token)
    return [(u, tokens[u.id]) for u in users]
