"""Screenshots of the dashboard for the docs: ``python -m tests.dashboard.screenshots [GEOJSON]``.

A collector filled like ``borne demo`` (its espaces in 42 départements, four weeks of votes), one kiosk offline,
an open alert; pages shot in headless Chromium into ``docs/screenshots/dashboard-*.png``. GEOJSON (default: the
boundaries shipped with the collector) draws the map.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

from borne.cli.demo import DEMO_ESPACES
from devtools.builders import migrated_engine
from devtools.dashboard import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_ENV, serve
from devtools.demo_data import happiness_of
from tests.dashboard.seed import Place, seed

_LOG = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
PAGES = [
    ("overview", "/dashboard/", None),
    ("region", "/dashboard/?level=region&code=53", None),
    ("departement", "/dashboard/?level=departement&code=22", "prefecture-22"),
    ("ranking", "/dashboard/classement?per_page=20", None),  # 43 espaces: the pagination shows
    ("heatmap", "/dashboard/affluence", None),
    ("map", "/dashboard/carte", None),
    ("fleet", "/dashboard/parc", None),
    ("alerts", "/dashboard/alertes", None),
    ("signin", "/dashboard/connexion", None),
    ("phone", "/dashboard/?level=departement&code=22", None),  # 390 px wide
]


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    if argv:
        os.environ["BORNE_DEPARTEMENTS_GEOJSON"] = str(Path(argv[0]))
    places = [Place(e, name, dep, happiness_of(e), visitors_per_day=25) for e, name, dep in DEMO_ESPACES]
    places.append(Place("demo-22b", "France services de Lannion", "22", 0.88))
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        engine = migrated_engine(f"sqlite:///{folder}/borne.sqlite3")
        seeded = seed(engine, places, days=28, offline=("demo-23", "demo-973"), unhappy_now=("demo-13",),
                      users={"partenaire": ("national", None), "prefecture-22": ("prefecture", "22")})
        with serve(engine) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV)
            for name, path, user in PAGES:
                context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                              viewport={"width": 390 if name == "phone" else 1280,
                                                        "height": 844 if name == "phone" else 900})
                page = context.new_page()
                if name != "signin":
                    page.goto(url + "/dashboard/connexion")
                    page.fill("#token", seeded.tokens[user or "partenaire"])
                    with page.expect_navigation():
                        page.click("button[type=submit]")
                page.goto(url + path)
                page.wait_for_selector('body[data-ready="true"]', state="attached")
                target = OUT / f"dashboard-{name}.png"
                page.screenshot(path=str(target), full_page=True)
                _LOG.info("%s", target)
                context.close()
            browser.close()
        engine.dispose()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main(sys.argv[1:]))
