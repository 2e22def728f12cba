"""The staff session at the HTTP boundary: cookies, the CSRF check, and the request's person.

:func:`session_principal` is what :func:`collector.api.deps.current_user` calls for a request without a bearer
token: the same routes accept either. A POST, PUT, PATCH or DELETE authenticated by the cookie needs the session's
CSRF token in ``X-CSRF-Token``, and is refused when its ``Origin`` (sent by every browser on such requests) is not
the collector's own.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import HTTPException, Request, Response
from sqlalchemy.orm import Session

from collector.auth import Principal
from collector.staff import access, sessions
from collector.staff.settings import OidcSettings

_LOG = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def secure(request: Request, settings: OidcSettings) -> bool:
    return settings.cookie_secure if settings.cookie_secure is not None else request.url.scheme == "https"


def base_url(request: Request, settings: OidcSettings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def session_principal(request: Request, db: Session, token: str) -> Principal:
    """The person behind a session cookie; 401 for no live session, 403 for a state change without its CSRF
    token or from another origin."""
    settings = OidcSettings()
    try:
        row, entry = sessions.resolve(db, token, idle=timedelta(minutes=settings.session_idle_minutes))
    except sessions.SessionRefused as exc:
        raise HTTPException(401, f"session refused: {exc}; sign in again",
                            headers={"WWW-Authenticate": "Bearer"}) from None
    if request.method not in SAFE_METHODS:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") not in {base_url(request, settings),
                                                            str(request.base_url).rstrip("/")}:
            _LOG.warning("cross-origin %s %s refused (origin %s)", request.method, request.url.path, origin[:100])
            raise HTTPException(403, "cross-origin request refused")
        if not sessions.csrf_ok(row, request.headers.get(sessions.CSRF_HEADER)):
            _LOG.warning("%s %s without a valid CSRF token refused", request.method, request.url.path)
            raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token)")
    return access.principal(entry)


def set_session_cookies(response: Response, request: Request, settings: OidcSettings,
                        new: sessions.NewSession) -> None:
    max_age = settings.session_max_hours * 3600
    is_secure = secure(request, settings)
    response.set_cookie(sessions.COOKIE, new.token, max_age=max_age, path="/", httponly=True, secure=is_secure,
                        samesite="lax")
    response.set_cookie(sessions.CSRF_COOKIE, new.csrf, max_age=max_age, path="/", httponly=False,
                        secure=is_secure, samesite="strict")


def clear_session_cookies(response: Response, request: Request, settings: OidcSettings) -> None:
    is_secure = secure(request, settings)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, secure=is_secure, samesite="lax")
    response.delete_cookie(sessions.CSRF_COOKIE, path="/", secure=is_secure, samesite="strict")
