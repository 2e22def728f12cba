"""Staff sign in through a real OpenID Connect provider, in headless Chromium: each role sees its scope; people
off the list are told whom to ask; sign-out ends the session here and at the provider; replayed states, expired
sessions and cross-site requests are refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from collector.db.models import AuditEntry, StaffAccess, StaffSession
from tests.staff.conftest import CONTACT, PEOPLE, Staff, provider_login, sign_in


def wait_ready(page: Any) -> None:
    page.wait_for_selector('body[data-ready="true"]', state="attached")


def fetch(page: Any, path: str, method: str = "GET", csrf: bool = False, body: Any = None) -> dict[str, Any]:
    """What the collector answers the page's own script (its cookies, and the CSRF token if asked)."""
    result: dict[str, Any] = page.evaluate(
        """async ([path, method, csrf, body]) => {
             const headers = { Accept: "application/json" };
             if (body !== null) headers["Content-Type"] = "application/json";
             if (csrf) headers["X-CSRF-Token"] = decodeURIComponent(
               (document.cookie.match(/(?:^|;\\s*)borne_csrf=([^;]+)/) || ["", ""])[1]);
             const r = await fetch(path, { method, headers, credentials: "same-origin",
                                           body: body === null ? undefined : JSON.stringify(body) });
             let json = null; try { json = await r.json(); } catch (e) {}
             return { status: r.status, json };
           }""", [path, method, csrf, body])
    return result


def session_cookie(context: Any) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "borne_session")


@pytest.mark.parametrize(("login", "espaces", "outside"), [
    ("admin", ["fs-22a", "fs-22b", "fs-29a", "fs-75a"], None),
    ("national", ["fs-22a", "fs-22b", "fs-29a", "fs-75a"], None),
    ("prefecture", ["fs-22a", "fs-22b"], "/api/v1/kpi/satisfaction?level=departement&code=29"),
    ("agent", ["fs-29a"], "/api/v1/kpi/satisfaction?level=espace&code=fs-22a"),
])
def test_each_role_signs_in_and_reads_its_scope(staff: Staff, context: Any, login: str, espaces: list[str],
                                                 outside: str | None) -> None:
    page = context.new_page()
    sign_in(page, staff, login, "/dashboard/classement")
    assert page.url.startswith(staff.url + "/dashboard/classement")
    wait_ready(page)
    assert page.inner_text("#status") == ""
    assert PEOPLE[login]["email"] in page.inner_text("#who-name") or login == "national"
    listed = fetch(page, "/dashboard/api/espaces")
    assert listed["status"] == 200
    assert sorted(e["id"] for e in listed["json"]) == espaces
    if outside:
        assert fetch(page, outside)["status"] == 403
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["borne_session"]["httpOnly"] and cookies["borne_session"]["sameSite"] == "Lax"
    assert not cookies["borne_csrf"]["httpOnly"] and cookies["borne_csrf"]["sameSite"] == "Strict"
    assert "borne.token" not in page.evaluate("Object.keys(sessionStorage)")
    # Kept hashed: the cookie's value is nowhere in the database.
    with staff.sessions() as db:
        hashes = list(db.scalars(select(StaffSession.token_hash)))
    assert session_cookie(context) not in hashes and len(hashes) >= 1


def test_someone_off_the_list_is_told_whom_to_ask(staff: Staff, context: Any) -> None:
    page = context.new_page()
    sign_in_attempt = page.goto(staff.url + "/dashboard/oidc/login")
    assert sign_in_attempt is not None
    provider_login(page, "inconnu")
    page.wait_for_selector("#staff-message")
    assert page.get_attribute("#staff-message", "data-reason") == "not-listed"
    text = page.inner_text("main")
    assert "pas encore accès" in text and "référent France services à la préfecture" in text and CONTACT in text
    assert PEOPLE["inconnu"]["email"] in text
    assert "borne_session" not in {c["name"] for c in context.cookies()}
    with staff.sessions() as db:
        refused = db.scalars(select(AuditEntry).where(AuditEntry.action == "sign-in.refused")).all()
    assert any(e.actor == PEOPLE["inconnu"]["email"] and e.address == "127.0.0.1" for e in refused)


def test_sign_out_ends_the_session_here_and_at_the_provider(staff: Staff, context: Any) -> None:
    page = context.new_page()
    sign_in(page, staff, "agent")
    wait_ready(page)
    cookie = session_cookie(context)
    page.click("#signout")
    page.click('button[name="logout"]')  # the provider's own confirmation
    page.wait_for_url(re.compile(r"/dashboard/oidc/deconnecte"))
    assert page.get_attribute("#staff-message", "data-reason") == "signed-out"
    answer = httpx.get(staff.url + "/dashboard/api/session", cookies={"borne_session": cookie})
    assert answer.status_code == 401
    # Signed out at the provider too: signing in again asks who you are.
    page.goto(staff.url + "/dashboard/oidc/login")
    page.wait_for_selector('input[name="login"]')


def test_a_replayed_state_is_refused(staff: Staff, browser: Any, context: Any) -> None:
    page = context.new_page()
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/dashboard/oidc/callback" in r.url else None)
    sign_in(page, staff, "admin")
    wait_ready(page)
    assert len(callbacks) == 1
    page.goto(callbacks[0])
    assert page.get_attribute("#staff-message", "data-reason") == "state"
    # Nor from another browser that never started it (a login CSRF).
    other = browser.new_context()
    try:
        stranger = other.new_page()
        response = stranger.goto(callbacks[0])
        assert response is not None and response.status == 400
        assert "borne_session" not in {c["name"] for c in other.cookies()}
    finally:
        other.close()


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_an_expired_session_is_refused(staff: Staff, context: Any, column: str) -> None:
    page = context.new_page()
    sign_in(page, staff, "prefecture")
    wait_ready(page)
    cookie = session_cookie(context)
    past = datetime.now(UTC) - (timedelta(hours=1) if column == "last_seen_at" else timedelta(seconds=1))
    with staff.sessions() as db, db.begin():
        db.execute(update(StaffSession).where(StaffSession.ended_at.is_(None)).values({column: past}))
    answer = httpx.get(staff.url + "/dashboard/api/session", cookies={"borne_session": cookie})
    assert answer.status_code == 401
    assert ("unused" if column == "last_seen_at" else "too old") in answer.json()["detail"]
    page.goto(staff.url + "/dashboard/")
    page.wait_for_url(re.compile(r"/dashboard/connexion"))


def test_state_changes_need_the_csrf_token(staff: Staff, context: Any, browser: Any) -> None:
    page = context.new_page()
    sign_in(page, staff, "admin")
    wait_ready(page)
    entry = {"email": "csrf@example.gouv.fr", "role": "national"}
    assert fetch(page, "/api/v1/staff/access", "POST", csrf=False, body=entry)["status"] == 403
    # A page of another origin (same site: cookies go along) posting a form and a script's request.
    evil = context.new_page()
    from tests.staff.forger import forging_provider

    with forging_provider("x", "x", "x") as other_origin:
        evil.goto(other_origin.issuer + "/jwks")
        evil.set_content(f"""<form id="f" method="post" action="{staff.url}/api/v1/staff/access"
            enctype="text/plain"><input name='{{"email":"csrf@example.gouv.fr","role":"national","x":"' value='"}}'>
            </form>""")
        with evil.expect_navigation():
            evil.evaluate("document.getElementById('f').submit()")
        assert "403" in evil.content() or "CSRF" in evil.content() or "cross-origin" in evil.content()
        evil.goto(other_origin.issuer + "/jwks")
        evil.evaluate(f"""fetch("{staff.url}/api/v1/staff/access", {{method: "POST", mode: "no-cors",
            credentials: "include", headers: {{"Content-Type": "text/plain"}},
            body: JSON.stringify({{email: "csrf@example.gouv.fr", role: "national"}})}})""")
    with staff.sessions() as db:
        assert db.scalar(select(StaffAccess).where(StaffAccess.email == "csrf@example.gouv.fr")) is None
    # A stolen CSRF cookie alone, without the session it belongs to, does nothing either; the right token does.
    answer = fetch(page, "/api/v1/staff/access", "POST", csrf=True, body=entry)
    assert answer["status"] == 201, answer
    with staff.sessions() as db:
        added = db.scalar(select(AuditEntry).where(AuditEntry.action == "access.add",
                                                   AuditEntry.target == "csrf@example.gouv.fr"))
        assert added is not None and added.actor == PEOPLE["admin"]["email"] and added.address == "127.0.0.1"
