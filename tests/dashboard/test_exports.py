"""Exports people can open: the table behind each view as a French CSV and an XLSX, equal to the API's figures."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.dashboard.exports import Column, Kind, Sheet, neutralise, period_label, to_csv, to_xlsx
from tests.dashboard.conftest import World
from tests.dashboard.test_dashboard import sign_in

VIEWS = ["satisfaction", "classement", "affluence", "carte", "parc", "alertes"]


@pytest.mark.parametrize(("text", "safe"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+33 1 23", "'+33 1 23"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("France services de Lannion", None),
    ("", None),
])
def test_formulas_are_neutralised(text: str, safe: str | None) -> None:
    assert neutralise(text) == (safe if safe is not None else text)


def sample() -> Sheet:
    return Sheet("Classement", "Côtes-d'Armor (22)", period_label(date(2026, 11, 1), date(2026, 12, 1)),
                 [Column("Espace"), Column("Votes", Kind.INT), Column("Taux de satisfaction (%)", Kind.RATE),
                  Column("Écart (pt)", Kind.NUMBER)],
                 [["=cmd|' /C calc'!A0", 1234, 0.8966, -5.25], ["Lannion", 3, None, 2.0]])


def test_the_csv_opens_in_a_french_spreadsheet() -> None:
    body = to_csv(sample())
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows == [
        ["Zone", "Période", "Espace", "Votes", "Taux de satisfaction (%)", "Écart (pt)"],
        ["Côtes-d'Armor (22)", "du 01/11/2026 au 30/11/2026", "'=cmd|' /C calc'!A0", "1234", "89,7", "-5,2"],
        ["Côtes-d'Armor (22)", "du 01/11/2026 au 30/11/2026", "Lannion", "3", "", "2,0"],
    ]
    assert sample().name("csv") == "classement_cotes-d-armor-22_du-01-11-2026-au-30-11-2026.csv"


def test_the_xlsx_holds_numbers_as_numbers() -> None:
    openpyxl = pytest.importorskip("openpyxl")
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(sample()))).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["Zone", "Période", "Espace", "Votes", "Taux de satisfaction (%)", "Écart (pt)"]
    assert rows[1] == ["Côtes-d'Armor (22)", "du 01/11/2026 au 30/11/2026", "'=cmd|' /C calc'!A0", 1234, 0.8966,
                       -5.25]
    assert sheet["E2"].number_format == "0.0 %"
    assert sheet.title == "Classement"


def get(world: World, user: str | None, view: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {world.token(user)}"} if user else {}
    return httpx.get(f"{world.url}/dashboard/api/export/{view}", params=params, headers=headers, timeout=30)


def french(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


def number(text: str) -> float:
    return float(text.replace(",", "."))


def test_the_exports_equal_the_api(world: World) -> None:
    period = {"from": "2020-01-01", "to": "2100-01-01"}
    api = world.api("partenaire", "/api/v1/kpi/ranking", level="region", code="53", **period)
    rows = french(get(world, "partenaire", "classement", level="region", code="53", format="csv", **period))
    assert [r["Identifiant (id_fs)"] for r in rows] == [r["espace_id"] for r in api]
    assert [int(r["Votes"]) for r in rows] == [r["votes"] for r in api]
    assert [number(r["Taux de satisfaction (%)"]) for r in rows] == [round(r["rate"] * 100, 1) for r in api]
    assert {r["Zone"] for r in rows} == {"Bretagne"}
    assert {r["Période"] for r in rows} == {"du 01/01/2020 au 31/12/2099"}

    series = world.api("partenaire", "/api/v1/kpi/satisfaction", granularity="week", **period)["series"]
    rows = french(get(world, "partenaire", "satisfaction", granularity="week", format="csv", **period))
    assert [int(r["Votes"]) for r in rows] == [s["votes"] for s in series]
    assert [r["Période complète"] for r in rows] == ["oui" if s["complete"] else "non" for s in series]

    kiosks = world.api("partenaire", "/api/v1/kiosks")
    rows = french(get(world, "partenaire", "parc", format="csv"))
    assert sorted(r["Borne"] for r in rows) == sorted(k["id"] for k in kiosks)
    alerts = world.api("partenaire", "/api/v1/alerts")
    rows = french(get(world, "partenaire", "alertes", format="csv"))
    assert len(rows) == len(alerts) >= 1 and "Déclenchée le (heure de Paris)" in rows[0]


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_exports_both_formats_within_the_scope(world: World, view: str) -> None:
    assert get(world, None, view).status_code == 401
    for fmt in ("csv", "xlsx"):
        response = get(world, "prefecture-22", view, level="departement", code="22", format=fmt)
        assert response.status_code == 200, response.text
        assert f'.{fmt}"' in response.headers["content-disposition"]
    if view not in ("parc", "alertes"):
        assert get(world, "prefecture-22", view, level="departement", code="29").status_code == 403
    else:  # the user's own kiosks and alerts only
        rows = french(get(world, "prefecture-22", view))
        assert all("(22)" in r["Zone"] for r in rows)


def test_the_button_downloads_the_pages_table(page: Any, world: World, tmp_path: Path) -> None:
    sign_in(page, world, "partenaire", "/dashboard/classement")
    with page.expect_download() as info:
        page.click('[data-export="classement"][data-format="csv"]')
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name.startswith("classement_france-entiere_du-")
    rows = list(csv.DictReader(io.StringIO(saved.read_bytes().decode("utf-8-sig")), delimiter=";"))
    shown = page.eval_on_selector_all("#ranking tbody tr", "rows => rows.length")
    assert len(rows) == shown > 0
