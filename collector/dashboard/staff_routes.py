"""The dashboard's OpenID Connect sign-in, sign-out, and the admins' pages for the access list and its log.

``/dashboard/oidc/login`` sends the browser to the provider; ``/dashboard/oidc/callback`` is the redirect URI to
register with it; ``POST /dashboard/oidc/logout`` ends the session here and returns the provider's end-session
address for the browser to go on to. Someone the provider knows but the access list does not sees, in French,
whom to ask. ``/dashboard/acces`` and ``/dashboard/journal`` are shells whose scripts call
``/api/v1/staff/...`` (admins only).
"""

from __future__ import annotations

import html
import logging
from datetime import timedelta
from string import Template
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from collector.api.deps import SessionDep
from collector.dashboard.pages import TEMPLATES, Page, render
from collector.db.models import StaffAccess
from collector.staff import access, audit, oidc, sessions, web
from collector.staff.settings import OidcSettings

_LOG = logging.getLogger(__name__)

PREFIX = "/dashboard"
router = APIRouter(include_in_schema=False)

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

ACCESS_PAGE = Page("acces", "Accès au tableau de bord", "access.html", ("access.js",), in_nav=False)
AUDIT_PAGE = Page("journal", "Journal des accès", "audit.html", ("audit.js",), in_nav=False)

#: Whom each kind of person asks, when the list does not know them.
WHOM_TO_ASK = (
    "<ul>"
    "<li>agent d'un espace France services : votre référent France services à la préfecture de votre département ;</li>"
    "<li>référent en préfecture : l'équipe nationale du programme France services (ANCT) ;</li>"
    "<li>partenaire national : l'équipe nationale du programme France services (ANCT).</li>"
    "</ul>"
)


def signin_block(prefix: str) -> str:
    """The provider's button on the sign-in page, or nothing when OpenID Connect is not configured."""
    settings = OidcSettings()
    if not settings.enabled:
        return ""
    template = Template((TEMPLATES / "_oidc_signin.html").read_text(encoding="utf-8"))
    return template.substitute(prefix=prefix, provider_name=html.escape(settings.provider_name))


def message(title: str, text: str, *, status: int, reason: str, details: str = "") -> HTMLResponse:
    page = Page("message", title, "staff_message.html", in_nav=False, signed_in=False)
    body = render(page, PREFIX, {"message": html.escape(text), "details": details, "reason": reason})
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


def _safe_next(value: str | None) -> str:
    """Only back to a page of the dashboard itself: never an address given by someone else."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value \
            and not value.startswith(PREFIX + "/oidc/") and len(value) <= 500:
        return value
    return PREFIX + "/"


def _redirect_uri(request: Request, settings: OidcSettings) -> str:
    return web.base_url(request, settings) + oidc.CALLBACK_PATH


@router.get(PREFIX + "/oidc/login")
async def login(request: Request, db: SessionDep, suite: str | None = None) -> Response:
    settings = OidcSettings()
    if not settings.enabled:
        return message("Connexion", "La connexion des agents publics n'est pas configurée sur ce collecteur.",
                       status=404, reason="not-configured")
    pending = sessions.begin_login(db, _safe_next(suite))
    db.commit()
    try:
        url = await oidc.authorization_url(settings, _redirect_uri(request, settings), state=pending.state,
                                           nonce=pending.nonce, code_verifier=pending.code_verifier)
    except oidc.SignInFailed as exc:
        return message("Connexion impossible", f"Connexion impossible : {exc}.", status=502, reason="provider")
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(sessions.LOGIN_COOKIE, pending.browser_secret,
                        max_age=int(sessions.LOGIN_TTL.total_seconds()), path=PREFIX + "/oidc/", httponly=True,
                        secure=web.secure(request, settings), samesite="lax")
    return response


@router.get(oidc.CALLBACK_PATH)
async def callback(request: Request, db: SessionDep, code: str | None = None, state: str | None = None,
                   error: str | None = None,
                   borne_login: Annotated[str | None, Cookie()] = None) -> Response:
    settings = OidcSettings()
    if not settings.enabled:
        raise HTTPException(404, "OpenID Connect is not configured")
    try:
        pending = sessions.finish_login(db, state, borne_login)
    except sessions.LoginRefused as exc:
        db.commit()
        _LOG.warning("sign-in refused from %s: %s", web.address(request), exc)
        return message("Connexion refusée", "Cette réponse du fournisseur d'identité ne correspond à aucune "
                       "connexion en cours depuis ce navigateur (déjà utilisée, trop ancienne ou venue d'ailleurs). "
                       "Recommencez la connexion.", status=400, reason="state")
    db.commit()
    if error or not code:
        return message("Connexion interrompue", "Le fournisseur d'identité n'a pas confirmé votre identité. "
                       "Recommencez la connexion.", status=401, reason="provider-error")
    try:
        who = await oidc.identity(settings, _redirect_uri(request, settings), code=code, nonce=pending.nonce,
                                  code_verifier=pending.code_verifier)
    except oidc.SignInFailed as exc:
        _LOG.warning("sign-in refused from %s: %s", web.address(request), exc)
        return message("Connexion refusée", f"Connexion refusée : {exc}.", status=401, reason="token")
    entry = access.for_identity(db, who.subject, who.email, who.email_verified)
    address = web.address(request)
    if entry is None or entry.disabled_at is not None:
        audit.record(db, who.email or f"sub:{who.subject}", "sign-in.refused", None, address=address,
                     detail={"reason": "disabled" if entry is not None else "not on the list", **who.claims})
        db.commit()
        contact = settings.access_contact
        details = WHOM_TO_ASK + (f"<p>Contact : <strong>{html.escape(contact)}</strong></p>" if contact else "")
        known = f" ({who.email})" if who.email else ""
        text = (f"Vous êtes bien identifié{known}, mais vous n'avez pas encore accès au tableau de bord de "
                "satisfaction. Demandez-le :" if entry is None else
                f"Votre accès{known} au tableau de bord a été désactivé. Pour le retrouver, demandez à :")
        return message("Accès à demander", text, status=403, reason="not-listed" if entry is None else "disabled",
                       details=details)
    new = sessions.start(db, entry, who.subject, id_token=who.id_token, address=address,
                         max_age=timedelta(hours=settings.session_max_hours))
    if who.name and not entry.name:
        entry.name = who.name[:255]
    audit.record(db, access.label(entry), "sign-in", None, address=address,
                 detail={"role": entry.role, "scope": entry.scope, **who.claims})
    db.commit()
    response = RedirectResponse(pending.next_path, status_code=303, headers={"Cache-Control": "no-store"})
    web.set_session_cookies(response, request, settings, new)
    response.delete_cookie(sessions.LOGIN_COOKIE, path=PREFIX + "/oidc/")
    return response


@router.post(PREFIX + "/oidc/logout")
async def logout(request: Request, db: SessionDep,
                 borne_session: Annotated[str | None, Cookie()] = None,
                 x_csrf_token: Annotated[str | None, Header()] = None) -> Response:
    """End the session (CSRF token needed); answers where the browser goes next: the provider's sign-out."""
    settings = OidcSettings()
    if not borne_session:
        raise HTTPException(401, "no session")
    web.session_principal(request, db, borne_session)  # a live session, its CSRF token and origin checked
    row = sessions.end(db, borne_session)
    id_token = row.id_token if row is not None else None
    if row is not None:
        entry = db.get(StaffAccess, row.access_id)
        audit.record(db, access.label(entry) if entry else f"sub:{row.subject}", "sign-out", None,
                     address=web.address(request))
    db.commit()
    after = web.base_url(request, settings) + oidc.SIGNED_OUT_PATH
    provider = await oidc.logout_url(settings, id_token=id_token, post_logout_redirect_uri=after) \
        if settings.enabled else None
    response = JSONResponse({"redirect": provider or after}, headers={"Cache-Control": "no-store"})
    web.clear_session_cookies(response, request, settings)
    return response


@router.get(oidc.SIGNED_OUT_PATH)
def signed_out() -> HTMLResponse:
    return message("Déconnexion", "Vous êtes déconnecté, ici et chez le fournisseur d'identité.", status=200,
                   reason="signed-out")


@router.get(PREFIX + "/acces", response_class=HTMLResponse)
def access_page() -> HTMLResponse:
    return HTMLResponse(render(ACCESS_PAGE, PREFIX), headers=_HEADERS)


@router.get(PREFIX + "/journal", response_class=HTMLResponse)
def audit_page() -> HTMLResponse:
    return HTMLResponse(render(AUDIT_PAGE, PREFIX), headers=_HEADERS)
