"""Admins keep the access list on the dashboard (add, change scope, disable, import agents) and read its log;
others get the API's refusal."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from collector.db.models import AuditEntry, StaffAccess
from tests.staff.conftest import PEOPLE, Staff, provider_login, sign_in


def wait_ready(page: Any) -> None:
    page.wait_for_selector('body[data-ready="true"]', state="attached")


def row(page: Any, email: str) -> Any:
    return page.locator(f'#access-list tbody tr[data-email="{email}"]')


def test_admin_manages_the_list_and_reads_its_log(staff: Staff, context: Any) -> None:
    page = context.new_page()
    sign_in(page, staff, "admin", "/dashboard/acces")
    wait_ready(page)
    assert page.locator('nav.main a[href="/dashboard/acces"]').count() == 1
    # Add a préfecture referent, who can then sign in.
    page.fill("#add-email", PEOPLE["bientot"]["email"])
    page.select_option("#add-role", "prefecture")
    page.fill("#add-scope", "29")
    page.click("#access-add button[type=submit]")
    row(page, PEOPLE["bientot"]["email"]).wait_for()
    # A wrong scope is refused in French.
    page.fill("#add-email", "faux@example.gouv.fr")
    page.select_option("#add-role", "agent")
    page.fill("#add-scope", "fs-inexistant")
    page.click("#access-add button[type=submit]")
    expect(page.locator("#add-result")).to_contain_text("espace inconnu")
    # Change the referent's département, then disable them.
    line = row(page, PEOPLE["bientot"]["email"])
    line.locator('input[data-field="scope"]').fill("22")
    line.locator('button[data-action="save"]').click()
    expect(row(page, PEOPLE["bientot"]["email"]).locator("td:nth-child(3)")).to_have_attribute("data-value", "22")
    # Import agents from a CSV (semicolons, as spreadsheets write them).
    csv = "email;id_fs;nom\nagent1@mairie.fr;fs-22a;Agent Un\nagent2@mairie.fr;fs-inconnu;Agent Deux\n"
    page.set_input_files("#import-file", files=[{"name": "agents.csv", "mimeType": "text/csv",
                                                 "buffer": csv.encode()}])
    page.click("#access-import button[type=submit]")
    expect(page.locator("#import-result")).to_have_attribute("data-added", "1")
    assert "ligne 3" in page.inner_text("#import-result")
    row(page, "agent1@mairie.fr").wait_for()
    with staff.sessions() as db:
        agent = db.scalar(select(StaffAccess).where(StaffAccess.email == "agent1@mairie.fr"))
        assert agent is not None and (agent.role, agent.scope) == ("agent", "fs-22a")
    # The referent signs in, is disabled meanwhile, and loses the session.
    other = context.browser.new_context()
    try:
        theirs = other.new_page()
        sign_in(theirs, staff, "bientot")
        wait_ready(theirs)
        row(page, PEOPLE["bientot"]["email"]).locator('button[data-action="disable"]').click()
        expect(row(page, PEOPLE["bientot"]["email"]).locator("td:nth-child(5)")).to_have_attribute(
            "data-value", "disabled")
        theirs.reload()
        theirs.wait_for_url(re.compile(r"/dashboard/connexion"))
    finally:
        other.close()
    # The log says who did what, when, from where.
    page.goto(staff.url + "/dashboard/journal")
    wait_ready(page)
    actions = page.eval_on_selector_all("#audit-list tbody tr", "rows => rows.map(r => r.dataset.action)")
    for action in ("access.add", "access.change", "access.import", "access.disable", "sign-in"):
        assert action in actions, actions
    with staff.sessions() as db:
        change = db.scalar(select(AuditEntry).where(AuditEntry.action == "access.change",
                                                    AuditEntry.target == PEOPLE["bientot"]["email"]))
    assert change is not None and change.actor == PEOPLE["admin"]["email"] and change.address == "127.0.0.1"
    assert change.detail == {"scope": ["29", "22"]}


def test_the_list_is_for_admins_only(staff: Staff, context: Any) -> None:
    page = context.new_page()
    sign_in(page, staff, "national", "/dashboard/acces")
    wait_ready(page)
    assert "Réservé aux administrateurs" in page.inner_text("#status")
    assert page.locator('nav.main a[href="/dashboard/acces"]').count() == 0
    assert page.locator("#access-list tbody tr").count() == 0


def test_the_provider_login_page_is_reached_from_the_sign_in_page(staff: Staff, context: Any) -> None:
    page = context.new_page()
    page.goto(staff.url + "/dashboard/connexion")
    assert "S'identifier avec ProConnect" in page.inner_text("#oidc-signin")
    assert page.locator("#token").count() == 1  # the token sign-in stays, for machines
    page.click("#oidc-signin")
    provider_login(page, "agent")
    page.wait_for_url(re.compile(re.escape(staff.url) + r"/dashboard/$"))
