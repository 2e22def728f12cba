"""The ranking page a page at a time: 130 espaces, shown 100 (or 20, 500, all) at once, each page the API's
ranking cut at the same ranks, turned with the DSFR's pagination, kept in the address (back, reload), back to the
first page when a filter changes; axe finds nothing on a paged ranking, on a desktop and on a phone."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.builders import migrated_engine
from devtools.dashboard import serve
from tests.dashboard.conftest import World
from tests.dashboard.seed import Place, seed
from tests.dashboard.test_accessibility import AXE, RUN_AXE
from tests.dashboard.test_dashboard import sign_in, table, wait_ready

DEPARTEMENTS = ["22", "29", "35", "56", "75", "13", "971", "2A"]


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    rng = random.Random(4)
    places = [Place(f"fs-{i:03d}", f"France services n° {i}", DEPARTEMENTS[i % len(DEPARTEMENTS)],
                    rng.uniform(0.6, 1.0), visitors_per_day=6) for i in range(130)]
    engine = migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('ranking') / 'borne.sqlite3'}")
    seeded = seed(engine, places, days=3, users={"partenaire": ("national", None)}, rollouts=False)
    with serve(engine) as url:
        yield World(url, seeded, engine)
    engine.dispose()


def ranks(page: Any) -> list[tuple[int, str]]:
    return [(int(r[0] or 0), str(r[1])) for r in table(page, "#ranking")]


def api_ranks(world: World, page: Any, **params: Any) -> list[tuple[int, str]]:
    period = {"from": page.get_attribute("body", "data-from"), "to": page.get_attribute("body", "data-to")}
    return [(r["rank"], r["espace_id"]) for r in world.api("partenaire", "/api/v1/kpi/ranking", level="national",
                                                            **period, **params)]


def change(page: Any, selector: str, value: str) -> None:
    page.evaluate("document.body.dataset.ready = 'false'")
    page.select_option(selector, value)
    wait_ready(page)


def test_the_ranking_comes_a_page_at_a_time(page: Any, many: World) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/kpi/ranking" in r.url else None)
    sign_in(page, many, "partenaire", "/dashboard/classement")
    everything = api_ranks(many, page)
    assert len(everything) == 130
    assert ranks(page) == everything[:100]
    assert "(130 espaces), rangs 1 à 100 (page 1 sur 2)" in page.inner_text("#ranking-caption")
    assert page.is_visible("#ranking-pages")
    assert page.get_attribute("#ranking-pages a:text('Première page')", "aria-disabled") == "true"
    assert page.get_attribute("#ranking-pages a[aria-current=page]", "title") == "Page 1"

    before = len(asked)
    page.click("#ranking-pages a:text('Page suivante')")
    page.wait_for_selector("body[data-page='2']", state="attached")
    assert len(asked) == before, "turning a page asked the API again"
    assert re.search(r"[?&]page=2\b", page.url)
    assert ranks(page) == everything[100:]
    assert page.get_attribute("#ranking-pages a[aria-current=page]", "title") == "Page 2"
    assert page.get_attribute("#ranking-pages a:text('Dernière page')", "aria-disabled") == "true"

    page.go_back()
    page.wait_for_selector("body[data-page='1']", state="attached")
    assert ranks(page) == everything[:100]
    page.go_forward()
    page.wait_for_selector("body[data-page='2']", state="attached")
    page.reload()  # a shared link or a reload shows the same page
    wait_ready(page)
    assert page.get_attribute("body", "data-page") == "2" and ranks(page) == everything[100:]

    change(page, "#per-page", "0")  # every espace at once: no pages
    assert ranks(page) == everything and page.is_hidden("#ranking-pages")
    assert not re.search(r"[?&]page=", page.url) and "(130 espaces)" in page.inner_text("#ranking-caption")

    change(page, "#per-page", "20")
    assert ranks(page) == everything[:20]
    page.click("#ranking-pages a:text('Dernière page')")
    page.wait_for_selector("body[data-page='7']", state="attached")
    assert ranks(page) == everything[120:]
    assert [a.inner_text() for a in page.query_selector_all("#ranking-pages li")][2:-2] == ["1", "…", "6", "7"]

    change(page, "#by", "votes")  # another ranking: its first page
    assert page.get_attribute("body", "data-page") == "1" and not re.search(r"[?&]page=", page.url)
    assert ranks(page) == api_ranks(many, page, by="votes")[:20]


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_a_paged_ranking_passes_axe(browser: Any, many: World, viewport: tuple[int, int]) -> None:
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", bypass_csp=True,
                                  viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    try:
        sign_in(page, many, "partenaire", "/dashboard/classement?per_page=20&page=3")
        page.wait_for_function("document.documentElement.hasAttribute('data-fr-js')")
        assert page.get_attribute("body", "data-page") == "3" and len(ranks(page)) == 20
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(RUN_AXE) == []
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport[0], f"scrolls sideways: {width} px"
    finally:
        context.close()
