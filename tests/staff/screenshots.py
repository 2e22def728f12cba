"""Screenshots of the staff sign-in for the docs: ``python -m tests.staff.screenshots``.

The demo's provider and people (``devtools.demo_provider``), a collector with a few espaces; pages shot in headless
Chromium into ``docs/screenshots/staff-*.png``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

from collector.db.engine import session_factory
from collector.staff import access
from devtools.builders import migrated_engine
from devtools.dashboard import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_ENV, serve
from devtools.demo_provider import start_demo_sign_in
from tests.dashboard.seed import Place, seed

_LOG = logging.getLogger(__name__)

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def main() -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        engine = migrated_engine(f"sqlite:///{folder}/borne.sqlite3")
        seed(engine, [Place("demo-22", "France services de Guingamp", "22", 0.9),
                      Place("demo-29", "France services de Morlaix", "29", 0.9)], days=2)
        with serve(engine) as url, sync_playwright() as playwright:
            provider = start_demo_sign_in(engine, url)
            with session_factory(engine)() as db, db.begin():
                access.import_agents(db, "email,id_fs\nagent2@demo.morlaix.fr,demo-29\n",
                                     actor="admin@demo.anct.gouv.fr", address="127.0.0.1")
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV)
            try:
                for name, login, path in [("signin", None, "/dashboard/connexion"),
                                          ("not-listed", "inconnu", None),
                                          ("access", "admin", "/dashboard/acces"),
                                          ("audit", "admin", "/dashboard/journal")]:
                    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
                    page = context.new_page()
                    if login:
                        page.goto(url + "/dashboard/oidc/login")
                        page.fill('input[name="login"]', login)
                        page.fill('input[name="password"]', "demo")
                        page.click('button[type="submit"]')
                        page.wait_for_url(f"{url}/dashboard/**")
                    if path:
                        page.goto(url + path)
                    page.wait_for_selector('body[data-ready="true"], #staff-message', state="attached")
                    page.wait_for_timeout(300)
                    target = OUT / f"staff-{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    _LOG.info("%s", target)
                    context.close()
            finally:
                browser.close()
                provider.stop()
        engine.dispose()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
