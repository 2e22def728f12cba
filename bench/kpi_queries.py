"""KPI queries at national scale: 10 million votes, 3,000 espaces, 3 years, on SQLite and on PostgreSQL.

KPIs read the rollups only, so the rollups are generated directly (what ingest would have left): one
``rollup_daily`` row per espace and day (3,000 x 1,095 = 3.3 M rows, 3 or 4 votes each, 10 M votes in all), one
``rollup_hourly`` row per espace and day, and ``rollup_followup_daily`` rows for a third of the espaces (those
asking the follow-up question), then the département, national, monthly, yearly and national hourly rollups,
and the département hourly and monthly ones summed from those (as the migrations that added them do; ingest keeps
them in step). The generated databases are cached under ``/tmp/borne-bench-kpi/`` (an SQLite file, and a
PostgreSQL cluster of their own unless ``BORNE_TEST_POSTGRES_URL`` names a server), so that only the first run
pays for the generation; a cache made before a rollup was added gets it from its migration.

Measured: every query behind a dashboard page, through :mod:`collector.kpi.indicators` (SQL grouping, then Python),
over the last year (which starts and ends on the 31st: the ranking reads a year and two days an espace):
satisfaction (monthly, as the overview shows it, and yearly, as the map and the ranking pages do), the ranking
(of a département's espaces, of a région's, of every espace), the overview's breakdown of a zone into its parts (a
département's espaces, a région's départements, the nation's régions) and the map's (the nation's départements),
the hour x weekday heatmap and the participation, for one espace, one département, one région and the nation where
the page offers it; then the national ranking over the dashboard's other periods (the last 30 days, since the
start) and the national heatmap since the start. p50 and p95 of repeated calls (a different espace, département or
région each time), in blocks taken in turn with CPython's garbage collector as a fresh process has it and as ``borne
collector serve`` settles it after start-up (:func:`collector.service.settle_gc`, called here too). Target: p95 <
100 ms, as served. Then six of them as the dashboard's pages ask them, over HTTP to the app in-process (``HTTP
...``: routing, the token, the route, JSON), for the time a page waits beyond the query. The PostgreSQL cluster runs
with the national deployment's ``random_page_cost`` (1.1, SSDs).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pandas as pd
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from collector.api.app import create_app
from collector.auth import Level, add_user, issue_token
from collector.db.engine import make_engine, session_factory
from collector.db.migrate import upgrade
from collector.db.models import User
from collector.ingest.rollups import BACKFILL as AREA_ROLLUPS_BACKFILL
from collector.ingest.rollups import departement_hours_months_backfill, long_period_backfill
from collector.kpi import indicators
from collector.kpi.selection import Selection
from collector.registry.geography import DEPARTEMENT_REGION, REGIONS, region_of
from collector.service import settle_gc
from devtools.databases import ThrowAwayPostgres, _pg_bin

_LOG = logging.getLogger(__name__)

CACHE = Path("/tmp/borne-bench-kpi")
VERSION = "v1"  # bump when the generated data changes
ESPACES = 3000
FIRST_DAY = date(2023, 1, 1)
DAYS = 3 * 365
YEAR = (FIRST_DAY + timedelta(days=2 * 365), FIRST_DAY + timedelta(days=3 * 365))
TARGET_MS = 100.0
RANDOM_PAGE_COST = 1.1  # as deploy/postgresql/borne-ha.conf sets it


def _espaces() -> list[tuple[str, str]]:
    deps = sorted(DEPARTEMENT_REGION)
    return [(f"bench-fs-{i:04d}", deps[i % len(deps)]) for i in range(ESPACES)]


def _rows() -> Iterator[tuple[str, date, int, int, int, int]]:
    """(espace, day, answer, hour, followup-bucket, votes): one a day and espace, 10 M votes in all."""
    rng = random.Random(4)
    answers = (1, 2, 3, 4)
    weights = (1, 2, 4, 8)
    days = [FIRST_DAY + timedelta(days=d) for d in range(DAYS)]
    for n, (espace, _) in enumerate(_espaces()):
        picks = rng.choices(answers, weights, k=DAYS)
        hours = [rng.randrange(9, 17) for _ in range(DAYS)]
        for d, day in enumerate(days):
            # 3 votes a day, 4 on one day in 23: 3,000 x 1,095 x (3 + 1/23) = 10.0 M votes.
            yield espace, day, picks[d], hours[d], n % 3, 4 if (n + d) % 23 == 0 else 3


def expected_votes() -> int:
    return sum(r[5] for r in _rows())


def _fill_sqlite(path: Path) -> int:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    espaces = _espaces()
    conn.executemany("INSERT INTO espaces (id, name, departement, region, kind) VALUES (?, ?, ?, ?, 'Principal')",
                     [(e, f"France services {e}", d, region_of(d)) for e, d in espaces])
    daily, hourly, follow, rows = [], [], [], 0
    for espace, day, answer, hour, bucket, votes in _rows():
        iso = day.isoformat()
        daily.append((espace, iso, answer, votes))
        hourly.append((espace, iso, hour, answer, votes))
        if bucket == 0:
            follow.append((espace, iso, answer, "yes" if answer > 2 else "no", votes))
        if len(daily) >= 200_000:
            rows += _flush_sqlite(conn, daily, hourly, follow)
    rows += _flush_sqlite(conn, daily, hourly, follow)
    for statement in (*AREA_ROLLUPS_BACKFILL, *long_period_backfill(postgres=False),
                      *departement_hours_months_backfill(postgres=False)):
        conn.execute(statement)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return rows


def _flush_sqlite(conn: sqlite3.Connection, daily: list, hourly: list, follow: list) -> int:
    conn.executemany("INSERT INTO rollup_daily (espace_id, day, scale, answer, misuse, votes) "
                     "VALUES (?, ?, 4, ?, 0, ?)", daily)
    conn.executemany("INSERT INTO rollup_hourly (espace_id, day, hour, scale, answer, misuse, votes) "
                     "VALUES (?, ?, ?, 4, ?, 0, ?)", hourly)
    conn.executemany("INSERT INTO rollup_followup_daily (espace_id, day, scale, answer, misuse, followup, votes) "
                     "VALUES (?, ?, 4, ?, 0, ?, ?)", follow)
    n = len(daily)
    daily.clear()
    hourly.clear()
    follow.clear()
    return n


def _fill_postgres(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY espaces (id, name, departement, region, kind) FROM STDIN") as copy:
            for e, d in _espaces():
                copy.write_row((e, f"France services {e}", d, region_of(d), "Principal"))
        with cur.copy("COPY rollup_daily (espace_id, day, scale, answer, misuse, votes) FROM STDIN") as copy:
            for espace, day, answer, _, _, votes in _rows():
                copy.write_row((espace, day, 4, answer, False, votes))
        with cur.copy("COPY rollup_hourly (espace_id, day, hour, scale, answer, misuse, votes) FROM STDIN") as copy:
            for espace, day, answer, hour, _, votes in _rows():
                copy.write_row((espace, day, hour, 4, answer, False, votes))
        with cur.copy("COPY rollup_followup_daily (espace_id, day, scale, answer, misuse, followup, votes) "
                      "FROM STDIN") as copy:
            for espace, day, answer, _, bucket, votes in _rows():
                if bucket == 0:
                    copy.write_row((espace, day, 4, answer, False, "yes" if answer > 2 else "no", votes))
        for statement in (*AREA_ROLLUPS_BACKFILL, *long_period_backfill(postgres=True),
                          *departement_hours_months_backfill(postgres=True)):
            cur.execute(statement)
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


class _CachedPostgres(ThrowAwayPostgres):
    """A cluster kept under ``CACHE`` between runs (initialised once), stopped at the end."""

    def __init__(self) -> None:
        super().__init__()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = CACHE / "pg"
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.dir, "postgres", "postgres")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop")


@contextlib.contextmanager
def _postgres_url() -> Iterator[str]:
    """The cached database's URL (created and filled on first use)."""
    name = f"borne_bench_kpi_{VERSION}"
    server_url = os.environ.get("BORNE_TEST_POSTGRES_URL")
    cluster = None if server_url else _CachedPostgres()
    # The national deployment's planner setting (deploy/postgresql/borne-ha.conf: SSDs), which a server named by
    # BORNE_TEST_POSTGRES_URL may not have.
    options = f"-c random_page_cost={RANDOM_PAGE_COST}"
    admin_url = server_url or cluster.start(options=options)  # type: ignore[union-attr]
    try:
        admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        done = CACHE / f"{name}.{make_url(admin_url).port}.done" if server_url else CACHE / f"{name}.done"
        if not done.exists():
            started = time.perf_counter()
            _fill_postgres(url)
            done.touch()
            print(f"  generated the PostgreSQL rollups in {time.perf_counter() - started:.0f} s", flush=True)
        yield url
    finally:
        if cluster is not None:
            cluster.stop()


def _sqlite_url() -> str:
    path = CACHE / f"kpi-{VERSION}.sqlite3"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        _fill_sqlite(partial)
        partial.rename(path)
        print(f"  generated the SQLite rollups in {time.perf_counter() - started:.0f} s", flush=True)
    return f"sqlite:///{path}"


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return statistics.median(ordered) * 1000, p95 * 1000


def _measure(engine: Engine, runs: int) -> list[tuple[str, float, float, float, float, int]]:
    sessions = session_factory(engine)
    rng = random.Random(5)
    espaces = _espaces()
    deps = sorted({d for _, d in espaces})
    regions = sorted(r for r in REGIONS if any(region_of(d) == r for d in deps))

    def votes_of(result: object) -> int:
        if isinstance(result, pd.DataFrame):
            return int(result["votes"].sum()) if len(result) else 0
        if isinstance(result, httpx.Response):
            body = result.json()
            return int(body["total"]["votes"]) if isinstance(body, dict) else sum(r["votes"] for r in body)
        return int(result.total["votes"])  # type: ignore[attr-defined]

    def one(level: Level) -> Selection:
        code = {Level.ESPACE: lambda: rng.choice(espaces)[0], Level.DEPARTEMENT: lambda: rng.choice(deps),
                Level.REGION: lambda: rng.choice(regions), Level.NATIONAL: lambda: None}[level]()
        return Selection(level, code, *YEAR)

    def case(query: Callable[[Session, Selection], object], level: Level) -> Callable[[Session], object]:
        return lambda s: query(s, one(level))

    levels = {"espace": Level.ESPACE, "dép.": Level.DEPARTEMENT, "région": Level.REGION, "nation": Level.NATIONAL}
    queries: dict[str, Callable[[Session, Selection], object]] = {
        "satisfaction/month": lambda s, v: indicators.satisfaction(s, v, "month"),
        "satisfaction/year": lambda s, v: indicators.satisfaction(s, v, "year"),
        "ranking": lambda s, v: indicators.ranking(s, v, by="votes"),
        # The overview's parts: a département's espaces, a région's départements, the nation's régions.
        "breakdown": lambda s, v: indicators.breakdown(s, v, _CHILD[v.level]),
        "heatmap": indicators.heatmap,
        "participation": lambda s, v: indicators.participation(s, v, "month"),
    }
    cases = {f"{query}, {name}": case(run, level) for query, run in queries.items() for name, level in levels.items()
             if not (query in ("ranking", "breakdown") and level is Level.ESPACE)}
    # The map's table: the départements of the nation.
    cases["breakdown by dép., nation"] = lambda s: indicators.breakdown(s, Selection(Level.NATIONAL, None, *YEAR),
                                                                        "departement")
    # The dashboard's other periods for the widest view: its default (the last 30 days) and "since the start".
    month = (YEAR[1] - timedelta(days=45), YEAR[1] - timedelta(days=15))  # mid-month to mid-month: days only
    cases["ranking 30 days, nation"] = lambda s: indicators.ranking(s, Selection(Level.NATIONAL, None, *month),
                                                                    by="votes")
    cases["ranking all time, nation"] = lambda s: indicators.ranking(s, Selection(Level.NATIONAL), by="votes")
    cases["heatmap all time, nation"] = lambda s: indicators.heatmap(s, Selection(Level.NATIONAL))
    # The same through the API, as the dashboard's pages ask (in-process ASGI: routing, token, JSON; no socket).
    client = TestClient(create_app(engine))
    headers = {"Authorization": f"Bearer {_bench_token(engine)}"}

    def http(path: str, level: Level, **params: object) -> Callable[[Session], object]:
        def call(_: Session) -> object:
            code = one(level).code
            query = {"level": level.value, **({"code": code} if code else {}), **params}
            response = client.get(f"/api/v1/kpi/{path}", params=query, headers=headers)
            response.raise_for_status()
            return response
        return call

    year = {"from": YEAR[0].isoformat(), "to": YEAR[1].isoformat()}
    cases["HTTP ranking 30 days, nation"] = http("ranking", Level.NATIONAL, by="votes", **{
        "from": month[0].isoformat(), "to": month[1].isoformat()})
    cases["HTTP ranking, nation"] = http("ranking", Level.NATIONAL, by="votes", **year)
    cases["HTTP breakdown by dép., nation"] = http("breakdown", Level.NATIONAL, by="departement", **year)
    cases["HTTP breakdown 30 days, nation"] = http("breakdown", Level.NATIONAL, by="departement", **{
        "from": month[0].isoformat(), "to": month[1].isoformat()})
    cases["HTTP satisfaction/month, région"] = http("satisfaction", Level.REGION, granularity="month", **year)
    cases["HTTP heatmap, région"] = http("heatmap", Level.REGION, **year)
    out = []
    with client, sessions() as session:
        for name, query in cases.items():
            started = time.perf_counter()
            query(session)  # warm the caches once
            slow = time.perf_counter() - started > 1.0
            calls = min(runs, 10) if slow else runs  # a slow case: fewer calls, to keep make bench short
            times: dict[bool, list[float]] = {False: [], True: []}
            votes = 0
            # Blocks of calls with CPython's collector as it starts, then as `borne collector serve` settles it,
            # in turn: both sides see the same machine load.
            for block in range(0, calls, _BLOCK):
                for settled in (False, True):
                    with _gc_as(settled):
                        for _ in range(min(_BLOCK, calls - block)):
                            started = time.perf_counter()
                            result = query(session)
                            times[settled].append(time.perf_counter() - started)
                    votes = votes_of(result)
            out.append((name, *_percentiles(times[False]), *_percentiles(times[True]), votes))
    return out


_BLOCK = 10
_CHILD = {Level.DEPARTEMENT: "espace", Level.REGION: "departement", Level.NATIONAL: "region"}


def _bench_token(engine: Engine) -> str:
    """A national partner's API token (the user made once in the cached database, a token each run)."""
    with session_factory(engine)() as session, session.begin():
        user = session.scalar(select(User).where(User.name == "bench-national"))
        return issue_token(session, user or add_user(session, "bench-national", "national"))


@contextlib.contextmanager
def _gc_as(settled: bool) -> Iterator[None]:
    """CPython's garbage collector as a fresh process has it, or as the serving process settles it (the very
    function it calls: :func:`collector.service.settle_gc`); put back as it was after."""
    thresholds = gc.get_threshold()
    if settled:
        settle_gc()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def _count(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return (conn.scalar(text("SELECT count(*) FROM rollup_daily")) or 0,
                conn.scalar(text("SELECT sum(votes) FROM rollup_daily")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_hourly")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_followup_daily")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_departement_daily")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_national_daily")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_monthly")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_yearly")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_national_hourly")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_departement_hourly")) or 0,
                conn.scalar(text("SELECT count(*) FROM rollup_departement_monthly")) or 0)


def main(quick: bool = False) -> None:
    runs = 10 if quick else 40
    print(f"kpi_queries: every dashboard query over {YEAR[0]}..{YEAR[1]} (a year), {runs} calls each; "
          f"cache {CACHE}", flush=True)
    results = []
    for db in ("sqlite", "postgresql"):
        with contextlib.ExitStack() as stack:
            url = _sqlite_url() if db == "sqlite" else stack.enter_context(_postgres_url())
            engine = make_engine(url)
            upgrade(engine)  # a no-op unless a migration came after the cache was made
            with engine.begin() as conn:  # statistics for the tables a migration may just have filled
                for table in ("rollup_monthly", "rollup_yearly", "rollup_national_hourly", "rollup_departement_hourly",
                              "rollup_departement_monthly"):
                    conn.execute(text(f"ANALYZE {table}"))
            (daily, votes, hourly, follow, departement, national, monthly, yearly, national_hourly, departement_hourly,
             departement_monthly) = _count(engine)
            print(f"  {db}: rollup_daily {daily:,} rows ({votes:,} votes), rollup_hourly {hourly:,}, "
                  f"rollup_followup_daily {follow:,}, rollup_departement_daily {departement:,}, "
                  f"rollup_national_daily {national:,}, rollup_monthly {monthly:,}, rollup_yearly {yearly:,}, "
                  f"rollup_national_hourly {national_hourly:,}, rollup_departement_hourly {departement_hourly:,}, "
                  f"rollup_departement_monthly {departement_monthly:,}", flush=True)
            if db == "postgresql":
                with engine.connect() as conn:
                    print(f"  random_page_cost = {conn.scalar(text('SHOW random_page_cost'))}", flush=True)
            results += [(db, *r) for r in _measure(engine, runs)]
            engine.dispose()
    print(f"  {'database':<11} {'query':<32} {'p50 ms':>8} {'p95 ms':>8} {'served p50':>11} {'served p95':>11} "
          f"{'votes':>12}  target (served)")
    for db, name, p50, p95, served_p50, served_p95, votes in results:
        verdict = "met" if served_p95 < TARGET_MS else "MISSED"
        print(f"  {db:<11} {name:<32} {p50:8.1f} {p95:8.1f} {served_p50:11.1f} {served_p95:11.1f} {votes:12,}  "
              f"p95 < {TARGET_MS:.0f} ms: {verdict}", flush=True)

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(quick=True)
