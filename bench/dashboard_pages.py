"""The dashboard's national pages as staff wait for them: from asking for the page to its figures drawn, in headless
Chromium, on the 10 M-vote data of :mod:`bench.kpi_queries` (3,000 espaces; SQLite, the cache that benchmark makes).

Each round loads, in turn, the overview (the nation's régions), the map (its départements), the ranking a page at a
time (100 espaces) and the ranking with every espace drawn at once (« tous », as the page did before it had pages),
for the dashboard's default period (the last 30 days, the browser's clock set inside the data) and since the start.
Medians of the rounds, and the ratio of the whole ranking to its first page, measured side by side; "rows drawn"
counts the rows of every table on the page (the overview's trend table too). The API runs in this process (uvicorn
in a thread), the browser in its own.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from datetime import datetime
from pathlib import Path

from bench.kpi_queries import YEAR, _bench_token, _sqlite_url
from collector.db.engine import make_engine
from devtools.dashboard import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_ENV, serve

_LOG = logging.getLogger(__name__)

PAGES = {
    "overview (régions)": "/dashboard/?period={period}",
    "map (départements)": "/dashboard/carte?period={period}",
    "ranking, 100 a page": "/dashboard/classement?period={period}&per_page=100",
    "ranking, all 3,000": "/dashboard/classement?period={period}&per_page=0",
}
#: The browser's clock: inside the bench's data, so that the last 30 days hold votes.
NOW = datetime(YEAR[1].year, YEAR[1].month, 20, 12, 0)


def main(quick: bool = False) -> None:
    if not Path(CHROMIUM).exists():
        print(f"dashboard_pages: skipped, {CHROMIUM} is not installed (make system-deps)")
        return
    from playwright.sync_api import sync_playwright

    rounds = 3 if quick else 9
    engine = make_engine(_sqlite_url())
    token = _bench_token(engine)
    print(f"dashboard_pages: national pages, {rounds} rounds, browser's clock {NOW:%Y-%m-%d}", flush=True)
    times: dict[tuple[str, str], list[float]] = {}
    rows: dict[tuple[str, str], int] = {}
    with serve(engine) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV)
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(120_000)
        page = context.new_page()
        page.clock.install(time=NOW)
        page.goto(url + "/dashboard/connexion")
        page.fill("#token", token)
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/dashboard/(\?.*)?$"))
        page.wait_for_selector('body[data-ready="true"]', state="attached")
        for period in ("30", "all"):
            for index in range(rounds + 1):  # the first round warms the caches, not counted
                for name, path in PAGES.items():
                    started = time.perf_counter()
                    page.goto(url + path.format(period=period))
                    page.wait_for_selector('body[data-ready="true"]', state="attached")
                    elapsed = (time.perf_counter() - started) * 1000
                    status = page.inner_text("#status")
                    if status:
                        raise RuntimeError(f"{name}: the page says {status!r}")
                    if index:
                        times.setdefault((period, name), []).append(elapsed)
                    rows[(period, name)] = page.eval_on_selector_all("main table tbody tr", "r => r.length")
        browser.close()
    engine.dispose()
    print(f"  {'period':<8} {'page':<22} {'median ms':>10} {'min':>7} {'max':>7} {'rows drawn':>11}")
    for (period, name), values in times.items():
        label = "30 days" if period == "30" else "all"
        print(f"  {label:<8} {name:<22} {statistics.median(values):10.0f} {min(values):7.0f} {max(values):7.0f} "
              f"{rows[(period, name)]:11,}", flush=True)
    for period in ("30", "all"):
        paged = statistics.median(times[(period, "ranking, 100 a page")])
        whole = statistics.median(times[(period, "ranking, all 3,000")])
        print(f"  ranking ({'30 days' if period == '30' else 'all'}): every espace at once / a page of 100 = "
              f"{whole / paged:.1f}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(quick=True)
