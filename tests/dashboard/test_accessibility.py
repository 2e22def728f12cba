"""Every page checked by axe-core in Chromium (WCAG 2.1 A and AA: no violation), on a desktop and on a 390 px
wide phone, where nothing may scroll sideways; and every file a page asks for is served.

axe-core is vendored as a test asset (``tests/dashboard/vendor/axe-core/``, MPL-2.0), so the tests need no npm.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import World

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PAGES = ["/dashboard/", "/dashboard/classement", "/dashboard/affluence", "/dashboard/carte", "/dashboard/parc",
         "/dashboard/alertes", "/dashboard/?level=departement&code=22", "/dashboard/?level=espace&code=fs-22a"]
RUN_AXE = """async () => {
  const result = await axe.run(document, { runOnly: { type: "tag",
    values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] });
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " : " + n.failureSummary) }));
}"""


@pytest.fixture(params=[(1280, 900), (390, 844)], ids=["desktop", "phone"])
def viewport_page(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    """A fresh tab; the CSP is bypassed only so that the test can inject axe-core."""
    width, height = request.param
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", bypass_csp=True,
                                  viewport={"width": width, "height": height})
    context.set_default_timeout(30_000)
    page = context.new_page()
    failed: list[str] = []
    # A refused token is the sign-in page's business (its 401); any other error is a missing file or a bug.
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
            if r.status >= 400 and not (r.status == 401 and r.url.endswith("/api/session")) else None)
    # Requests cut short by leaving the page (ERR_ABORTED) are no failure.
    page.on("requestfailed", lambda r: None if "ABORTED" in (r.failure or "") else failed.append(f"failed {r.url}"))
    page.on("pageerror", lambda exc: failed.append(str(exc)))
    try:
        yield page
        assert not failed, failed
    finally:
        context.close()


def sign_in(page: Any, world: World, path: str) -> None:
    page.goto(world.url + "/dashboard/connexion")
    page.fill("#token", world.token("partenaire"))
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.goto(world.url + path)
    page.wait_for_selector('body[data-ready="true"]', state="attached")
    # The DSFR has started (it marks <html>), so that its components are in their final state.
    page.wait_for_function("document.documentElement.hasAttribute('data-fr-js')")


def check(page: Any) -> None:
    page.add_script_tag(path=str(AXE))
    assert page.evaluate(RUN_AXE) == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"scrolls sideways: {width} px"


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_no_violation_and_nothing_scrolls_sideways(viewport_page: Any, world: World, path: str) -> None:
    sign_in(viewport_page, world, path)
    check(viewport_page)


def test_the_sign_in_page_too(viewport_page: Any, world: World) -> None:
    viewport_page.goto(world.url + "/dashboard/connexion")
    viewport_page.wait_for_function("document.documentElement.hasAttribute('data-fr-js')")
    check(viewport_page)
    viewport_page.fill("#token", "borne_00000000_not-a-token")
    viewport_page.click("button[type=submit]")
    viewport_page.wait_for_selector("#signin-error:not(:empty)")
    check(viewport_page)


def test_the_phone_menu_opens_and_signs_out(browser: Any, world: World) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, world, "/dashboard/")
        assert page.is_hidden("#navigation")
        page.click("#menu-button")
        page.wait_for_selector("#navigation a:text('Classement')", state="visible")
        assert "partenaire" in page.inner_text("#who-name-mobile")
        page.click("#signout-mobile")
        page.wait_for_url(re.compile(r"/dashboard/connexion"))
        assert page.evaluate("sessionStorage.getItem('borne.token')") is None
    finally:
        context.close()
