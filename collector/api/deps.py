"""Dependencies shared by the routes: the database session, the collector's state, and who is asking.

Authentication: every protected route takes an ``Authorization: Bearer <token>`` header (see
:mod:`collector.auth`) or a staff session's cookie (see :mod:`collector.staff.web`). ``CurrentUser`` answers 401
without a valid token; ``require_role(...)`` answers 403 to any other role; :func:`ensure_scope` answers 403
outside the user's scope::

    @router.post("/kiosks", dependencies=[Depends(require_role(Role.ADMIN))])
    def provision(...): ...

    @router.get("/espaces/{espace_id}/x")
    def x(espace_id: str, user: CurrentUser, session: SessionDep):
        ensure_scope(session, user, Level.ESPACE, espace_id)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collector.auth import Level, Principal, Role, TokenExpired, authenticate
from collector.db.models import Espace
from collector.db.probe import DatabaseProbe
from collector.metrics import Metrics
from collector.ratelimit import FailureLimiter
from collector.staff.sessions import COOKIE as STAFF_SESSION_COOKIE
from collector.staff.web import session_principal

_LOG = logging.getLogger(__name__)


@dataclass
class AppState:
    """What the routes need, set on ``app.state.borne`` by :func:`collector.api.app.create_app`."""

    engine: Engine
    sessions: sessionmaker[Session]
    metrics: Metrics
    ingest: Any | None = None  # an Ingestor, when this process ingests
    extra: dict[str, Any] = field(default_factory=dict)
    auth_limiter: FailureLimiter = field(default_factory=FailureLimiter)
    metrics_token_hash: str | None = None  # SHA-256 of the token /metrics needs; None: see metrics_open
    metrics_open: bool = True  # without a token: whether /metrics answers (the API listens on loopback)
    database_probe: DatabaseProbe = field(init=False)

    def __post_init__(self) -> None:
        self.database_probe = DatabaseProbe(self.engine)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.borne
    return state


def get_db(state: Annotated[AppState, Depends(get_state)]) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


StateDep = Annotated[AppState, Depends(get_state)]
SessionDep = Annotated[Session, Depends(get_db)]


_bearer = HTTPBearer(auto_error=False, description="An API token made by 'borne collector users add'.")


def current_user(
    request: Request,
    state: StateDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the request's bearer token, or else its staff session; 401 without a valid one, 429
    instead for a wrong token from an address that sent too many wrong tokens lately (see
    :mod:`collector.ratelimit`)."""
    if credentials is None:
        # A person signed in through OpenID Connect: a session cookie (and its CSRF token on state changes).
        cookie = request.cookies.get(STAFF_SESSION_COOKIE)
        if cookie:
            return session_principal(request, session, cookie)
        raise HTTPException(401, "a valid API token is needed", headers={"WWW-Authenticate": "Bearer"})
    # The peer's address, or the client's as a proxy named in ``trusted_proxies`` forwards it (uvicorn).
    address = request.client.host if request.client is not None else "unknown"
    try:
        principal = authenticate(session, credentials.credentials)
    except TokenExpired as exc:
        # A genuine token, only too old: not a guess, so not a failure for the limiter; said as such.
        state.metrics.inc("auth_expired")
        raise HTTPException(401, f"{exc}: ask an admin for a new one ('borne collector users token')",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token", '
                                                         'error_description="the token expired"'}) from None
    if principal is not None:
        return principal  # a valid token is never refused for failures someone else made from this address
    refuse_wrong_credential(state, address, "auth_failures", "a valid API token is needed")


def refuse_wrong_credential(state: AppState, address: str, counter: str, message: str) -> NoReturn:
    """A wrong token from ``address``: 429 while the address is blocked, else 401 (counted in ``counter``), and
    the failure noted by the limiter, which blocks the address after too many."""
    retry_after = state.auth_limiter.retry_after(address)
    if retry_after:
        state.metrics.inc("auth_rate_limited")
        raise HTTPException(429, "too many failed authentications from this address; try again later",
                            headers={"Retry-After": str(retry_after)})
    state.metrics.inc(counter)
    if state.auth_limiter.failure(address):
        state.metrics.inc("auth_blocks")
    raise HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


CurrentUser = Annotated[Principal, Depends(current_user)]


def require_role(*roles: Role | str) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (401 without a token, 403 for another role).

    Use it as ``Depends(require_role(Role.ADMIN))`` on a route or router, or as a parameter's annotation
    ``Annotated[Principal, Depends(require_role("admin"))]`` to get the user too.
    """
    allowed = frozenset(Role(r) for r in roles)

    def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise HTTPException(403, f"this needs the role {' or '.join(sorted(r.value for r in allowed))}")
        return user

    return check


def ensure_scope(session: Session, user: Principal, level: Level | str, code: str | None) -> None:
    """403 unless ``user`` may read ``level``/``code``; 404 for an unknown espace the user could see."""
    level = Level(level)
    espace_departement = None
    if level is Level.ESPACE and not user.reads_all:
        espace = session.get(Espace, code) if code else None
        espace_departement = espace.departement if espace is not None else None
    if not user.can_read(level, code, espace_departement=espace_departement):
        raise HTTPException(403, f"{level.value} {code or ''} is outside the scope of {user.name}".strip())
