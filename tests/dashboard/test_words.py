"""Words and states: French everywhere (the API's refusals included), alerts' times named, the ranking's index
and target explained, plurals, Corse after 19, a favicon, and a rate-limited sign-in that says when to retry."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from devtools.builders import migrated_engine
from devtools.dashboard import serve
from tests.dashboard.conftest import World
from tests.dashboard.seed import Place, seed
from tests.dashboard.test_dashboard import sign_in, wait_ready

ENGLISH = re.compile(r"\b(scope|outside|unknown|needs|the|is|of|not|token)\b")


def test_alerts_say_when_they_were_raised_and_ended(page: Any, world: World) -> None:
    sign_in(page, world, "partenaire", "/dashboard/alertes")
    headers = page.eval_on_selector_all("#alerts thead th", "ths => ths.map(th => th.textContent.trim())")
    assert headers[0] == "Déclenchée le" and headers[-1] == "Terminée le"


def test_refusals_are_in_french(page: Any, world: World) -> None:
    sign_in(page, world, "agent-morlaix")
    page.goto(world.url + "/dashboard/?level=espace&code=fs-22a")
    wait_ready(page)
    text = page.inner_text("#status")
    assert "Hors de votre périmètre" in text and not ENGLISH.search(text), text
    page.goto(world.url + "/dashboard/classement?level=espace&code=nope")
    wait_ready(page)
    text = page.inner_text("#status")
    assert text and not ENGLISH.search(text), text


def test_the_ranking_explains_its_index_and_shows_the_target(page: Any, world: World) -> None:
    sign_in(page, world, "partenaire", "/dashboard/classement")
    assert "Indice" in page.inner_text("#index-help") and "0" in page.inner_text("#index-help")
    assert "95,0" in page.inner_text("#ranking-target")
    attainment = page.eval_on_selector_all("#ranking tbody tr td:last-child", "tds => tds.map(t => t.textContent)")
    assert attainment and all(a in ("✓ atteint", "✗ non atteint") for a in attainment)
    page.close()


def test_one_espace_is_singular(page: Any, world: World) -> None:
    sign_in(page, world, "agent-morlaix", "/dashboard/classement")
    assert page.inner_text("#ranking-caption").endswith("(1 espace)")


def test_corsica_comes_after_19(page: Any, world: World) -> None:
    sign_in(page, world, "partenaire", "/dashboard/carte")
    codes = ["971", "2B", "21", "01", "2A", "19", "976", "95"]
    assert page.evaluate("codes => codes.sort(Borne.compareDepartements)", codes) == [
        "01", "19", "2A", "2B", "21", "95", "971", "976"]


def test_a_favicon(world: World) -> None:
    html = httpx.get(world.url + "/dashboard/connexion").text
    href = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert href is not None
    response = httpx.get(world.url + href.group(1))
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/")


def test_a_rate_limited_sign_in_says_when_to_try_again(page: Any, tmp_path: Path) -> None:
    # A collector of its own: its limiter blocks 127.0.0.1, which the other tests' collector must not do.
    engine = migrated_engine(f"sqlite:///{tmp_path / 'limited.sqlite3'}")
    seeded = seed(engine, [Place("fs-22a", "France services de Guingamp", "22", 0.9)], days=1,
                  users={"partenaire": ("national", None)})
    try:
        with serve(engine) as url:
            for _ in range(10):
                httpx.get(url + "/dashboard/api/session", headers={"Authorization": "Bearer borne_x_wrong"})
            page.goto(url + "/dashboard/connexion")
            # One more wrong token from the blocked address: told when to try again.
            page.fill("#token", "borne_x_wrong")
            page.click("button[type=submit]")
            page.wait_for_selector("#signin-error:not(:empty)")
            text = page.inner_text("#signin-error")
            assert "Trop de tentatives" in text and re.search(r"réessayez dans 5 minutes \(à \d\d:\d\d\)", text), text
            # A valid token is never refused because of failures from its address (they may be someone else's).
            page.fill("#token", seeded.tokens["partenaire"])
            page.click("button[type=submit]")
            page.wait_for_url(lambda address: "connexion" not in address)
    finally:
        engine.dispose()
