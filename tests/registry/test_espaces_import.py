"""Importing the ANCT list: a fixture in its format with bad rows, idempotent re-import, closed espaces."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from borne.cli import app as borne_app
from borne.cli.errors import CliError
from collector.db.engine import session_factory
from collector.db.models import Espace
from collector.registry.espaces_import import ImportFailed, ImportReport, import_espaces
from devtools.builders import migrated_engine, register

HEADER = ["id_fs", "insee_dep", "lib_fs", "adresse", "complement_adresse", "insee_com", "code_postal", "lib_com",
          "latitude", "longitude", "mail", "telephone", "h_lundi", "h_mardi", "h_mercredi", "h_jeudi",
          "h_vendredi", "h_samedi", "prise_rdv", "commentaire", "type_fs", "format_fs", "groupe_fs",
          "labellisation_fs"]
REAL_LIST = Path("/work/shared/data/france-services/liste-fs-20240801.csv")
HOURS = "09:00 - 12:00 / 13:30 - 17:00"


def row(id_fs: str, dep: str, name: str, *, kind: str = "Principal", fmt: str = "Fixe", groupe: str = "",
        lat: str = "46.1", lon: str = "5.8", comment: str = "") -> list[str]:
    values = dict.fromkeys(HEADER, "")
    values.update(id_fs=id_fs, insee_dep=dep, lib_fs=name, insee_com="01033", code_postal="01200",
                  lib_com="Valserhône", latitude=lat, longitude=lon, h_lundi=HOURS, h_mardi="13:30 - 17:00",
                  commentaire=comment, type_fs=kind, format_fs=fmt, groupe_fs=groupe,
                  labellisation_fs="Espace labellisé 01/01/2020", prise_rdv="Non")
    return [values[h] for h in HEADER]


def anct_csv(rows: list[list[str]], extra_line: str | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    text = buffer.getvalue() + (extra_line + "\n" if extra_line else "")
    return text.encode()


GOOD = [
    row("1", "01", "France services de Valserhône", groupe="Haut-Bugey"),
    row("2", "1", "France services Ain antenne", kind="Antenne", groupe="Haut-Bugey"),  # line 3
    row("3", "2A", "France services Ajaccio", comment="ouvert\nle samedi\nsur rendez-vous"),  # lines 4-6
    row("4", "971", "France services Pointe-à-Pitre", fmt="Bus_équivalent"),
    row("5", "978", "France services Saint-Martin", fmt="Itinérante"),
    row("6", "22", "France services antenne orpheline", kind="Antenne", groupe="Nulle part"),
]
BAD = [
    row("7", "99", "Département inconnu"),  # line 10
    row("", "22", "Sans matricule"),  # line 11
    row("8", "22", "Latitude fausse", lat="quarante-six"),  # line 12
    row("1", "22", "Doublon"),  # line 13
    row("9", "22", "Type inconnu", kind="Annexe"),  # line 14
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = migrated_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def run(engine: Engine, data: bytes, **kwargs: Any) -> ImportReport:
    with session_factory(engine)() as session, session.begin():
        return import_espaces(session, data, **kwargs)


def espaces(engine: Engine) -> dict[str, Espace]:
    with session_factory(engine)() as session:
        return {e.id: e for e in session.scalars(select(Espace))}


def test_bad_rows_are_reported_with_their_line_and_the_rest_imported(engine: Engine) -> None:
    data = anct_csv(GOOD + BAD, extra_line='"10","22","Trop de champs"' + ',"x"' * 30)
    report = run(engine, data)
    assert report.created == 6
    assert [(b.line, b.reason.split(" ")[0]) for b in report.bad] == [
        (10, "unknown"), (11, "id_fs"), (12, "latitude"), (13, "id_fs"), (14, "type_fs"), (15, "33")]
    assert "already on line 2" in report.bad[3].reason
    stored = espaces(engine)
    assert set(stored) == {"1", "2", "3", "4", "5", "6"}
    assert (stored["2"].departement, stored["2"].region, stored["2"].parent_id) == ("01", "84", "1")
    assert (stored["3"].departement, stored["3"].region) == ("2A", "94")
    assert (stored["4"].region, stored["4"].format) == ("01", "bus")
    assert (stored["5"].region, stored["5"].format) == ("COM", "itinerant")
    assert stored["6"].parent_id is None and report.antennes_unlinked == 1 and report.antennes_linked == 1
    assert stored["1"].hours == {"lundi": HOURS, "mardi": "13:30 - 17:00"}
    assert stored["1"].latitude == pytest.approx(46.1)


def test_reimport_is_idempotent_and_missing_espaces_are_closed_then_reopened(engine: Engine) -> None:
    register(engine, {"k-hand": ("by-hand", "22")})  # added by hand: never closed by an import
    first = run(engine, anct_csv(GOOD))
    before = {k: (e.name, e.updated_at) for k, e in espaces(engine).items()}
    again = run(engine, anct_csv(GOOD))
    assert (again.created, again.updated, again.unchanged, again.closed) == (0, 0, 6, 0)
    assert {k: (e.name, e.updated_at) for k, e in espaces(engine).items()} == before
    assert first.created == 6

    renamed = [row("1", "01", "France services du Pays de Gex", groupe="Haut-Bugey"), *GOOD[1:4]]
    later = datetime(2030, 1, 1, tzinfo=UTC)
    shrunk = run(engine, anct_csv(renamed), now=later)
    assert (shrunk.updated, shrunk.closed) == (1, 2)
    stored = espaces(engine)
    assert stored["1"].name == "France services du Pays de Gex"
    assert stored["5"].closed_at is not None and stored["6"].closed_at is not None
    assert stored["by-hand"].closed_at is None and len(stored) == 7  # closed, never deleted

    back = run(engine, anct_csv(GOOD))
    assert back.reopened == 2 and espaces(engine)["5"].closed_at is None


def test_a_file_that_is_not_the_list_is_refused(engine: Engine) -> None:
    with pytest.raises(ImportFailed, match="id_fs"):
        run(engine, b"espace_id,month,actes\nfs-1,2024-01,3\n")


def test_cli_import_from_a_path_with_a_progress_bar(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "liste.csv"
    path.write_bytes(anct_csv(GOOD + BAD))
    runner = CliRunner()
    env = {"BORNE_DATABASE_URL": sqlite_url}
    result = runner.invoke(borne_app, ["collector", "espaces", "import", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "6 created" in result.output and "5 bad" in result.output
    assert "line 10: unknown département code '99'" in result.output
    listed = runner.invoke(borne_app, ["collector", "espaces", "list", "--departement", "2a"], env=env)
    assert listed.exit_code == 0 and "France services Ajaccio" in listed.output
    missing = runner.invoke(borne_app, ["collector", "espaces", "import", str(tmp_path / "none.csv")], env=env)
    assert isinstance(missing.exception, CliError) and missing.exception.exit_code == 2
    assert "cannot read" in str(missing.exception)


@pytest.mark.skipif(not REAL_LIST.exists(), reason="the shared ANCT list is not on this machine")
def test_the_real_list_imports_cleanly(sqlite_url: str) -> None:
    engine = migrated_engine(sqlite_url)
    try:
        report = run(engine, REAL_LIST.read_bytes())
        assert (report.rows, report.created, report.bad) == (2845, 2845, [])
        again = run(engine, REAL_LIST.read_bytes())
        assert (again.unchanged, again.closed) == (2845, 0)
        stored = espaces(engine)
        assert len({e.departement for e in stored.values()}) == 102
        assert sum(e.kind == "Antenne" for e in stored.values()) == 124
    finally:
        engine.dispose()
