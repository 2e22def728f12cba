"""Fuzzing the CSV importers (the ANCT list of espaces, the acts per espace or département): any file ends
either in rows imported and bad rows reported (line, reason), or in one clear :class:`ImportFailed`; never in
another exception.

The inputs are valid files mutated at random (broken quoting, other encodings, BOMs, huge fields, columns or
fields missing, bad département codes, duplicated rows, other separators and line endings, NUL and random
bytes, truncations), plus files hypothesis builds from scratch. Each import runs in a transaction rolled back.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collector.db.engine import session_factory
from collector.registry.activity import ActivityReport, import_activity
from collector.registry.espaces_import import ImportFailed, ImportReport, import_espaces
from devtools.builders import migrated_engine, register

MUTATED_CASES = 5_000  # per importer
GENERATED_CASES = 1_000  # per importer, each through both
FIGURES: Counter[str] = Counter()

ANCT_HEADER = ("id_fs,lib_fs,type_fs,format_fs,groupe_fs,insee_dep,insee_com,lib_com,code_postal,latitude,"
               "longitude,h_lundi,h_mardi")
ANCT_ROWS = [
    'fs-22-001,France services de Lannion,Principal,fixe,Lannion-Trégor,22,22113,Lannion,22300,48.73,-3.46,'
    '"9h-12h\n14h-17h",9h-12h',
    "fs-22-002,Antenne de Plestin,Antenne,fixe_antenne(s),Lannion-Trégor,22,22194,Plestin,22310,48.65,-3.63,,",
    "fs-2a-001,France services d'Ajaccio,Principal,fixe,,2A,2A004,Ajaccio,20000,41.92,8.73,8h-12h,",
    "fs-971-01,France services des Abymes,Principal,bus,,971,97101,Les Abymes,97139,16.27,-61.50,,",
]
ESPACE_ACTS = ["espace_id,month,actes", "fs-22-001,2024-03,120", "fs-22-001,2024-04-01,98", "known-1,2024-03,7"]
IND323 = ["indic_id,enforce_zone_id,metric_enforce_date,maille,indic_vi,indic_va",
          "IND-323,D22,2024-03-01,DEPT,,1200", "IND-323,D2A,2024-03-01,DEPT,300,", "IND-323,R53,2024-03-01,REG,,5000",
          "IND-323,F,2024-03-01,NAT,,90000"]
HOSTILE = ["", " ", "\x00", '"', '""', "\u202e", "é" * 3, "🙂", "x" * 300_000, "'; DROP TABLE espaces; --",
           "<script>alert(1)</script>", "00", "99", "2C", "975", "-1", "1e400", "NaN", "2024-13", "2024-00",
           "9" * 40, "\r", "\n", ";", ","]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    engine: Engine = migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('fuzz-import') / 'c.db'}")
    register(engine, {"k-1": ("known-1", "22"), "k-2": ("fs-22-001", "22")})
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()
        print(f"\nimport fuzzing: {dict(sorted(FIGURES.items()))}")


def _mutate(rng: random.Random, lines: list[str]) -> bytes:
    lines = list(lines)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(14)
        i = rng.randrange(len(lines)) if lines else 0
        if not lines:
            lines.append("")
        elif op == 0:  # a field replaced by a hostile value
            fields = lines[i].split(",")
            fields[rng.randrange(len(fields))] = rng.choice(HOSTILE)
            lines[i] = ",".join(fields)
        elif op == 1:  # a field dropped (a missing column, or a short row)
            fields = lines[i].split(",")
            del fields[rng.randrange(len(fields))]
            lines[i] = ",".join(fields)
        elif op == 2:  # a field added
            fields = lines[i].split(",")
            fields.insert(rng.randrange(len(fields) + 1), rng.choice(HOSTILE))
            lines[i] = ",".join(fields)
        elif op == 3:  # broken quoting
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + '"' + lines[i][pos:]
        elif op == 4:  # duplicated rows
            lines.extend([lines[rng.randrange(1, len(lines))] if len(lines) > 1 else lines[0]] * rng.randint(1, 3))
        elif op == 5:
            del lines[i]
        elif op == 6:  # another separator
            lines = [line.replace(",", rng.choice([";", "\t", "|"])) for line in lines]
        elif op == 7:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", ",,,,", "#", '"', "\x00"]))
        elif op == 8:  # the same line, shuffled
            fields = lines[i].split(",")
            rng.shuffle(fields)
            lines[i] = ",".join(fields)
        elif op == 9:
            lines[i] = lines[i].upper()
        else:
            break  # byte-level mutations below
    text = rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n"])
    encoding = rng.choice(["utf-8", "utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
    data = text.encode(encoding, errors="replace")
    for _ in range(rng.choice([0, 0, 1, 3])):
        op = rng.randrange(4)
        pos = rng.randrange(len(data) + 1)
        if op == 0:
            data = data[:pos]  # truncated
        elif op == 1:
            data = data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]
        elif op == 2:
            data = data[:pos] + rng.randbytes(rng.randint(1, 20)) + data[pos:]
        else:
            data = b"\xef\xbb\xbf" + data  # a (second) BOM
    return data


def _check_espaces(session: Session, data: bytes) -> None:
    try:
        report = import_espaces(session, data)
    except ImportFailed as exc:
        assert str(exc)
        FIGURES["espaces: file refused"] += 1
        return
    finally:
        session.rollback()
    assert isinstance(report, ImportReport)
    assert report.rows == report.imported + len(report.bad)
    for bad in report.bad:
        assert bad.line >= 2 and bad.reason
    FIGURES["espaces: rows imported"] += report.imported
    FIGURES["espaces: bad rows reported"] += len(report.bad)


def _check_activity(session: Session, data: bytes) -> None:
    try:
        report = import_activity(session, data)
    except ImportFailed as exc:
        assert str(exc)
        FIGURES["activity: file refused"] += 1
        return
    finally:
        session.rollback()
    assert isinstance(report, ActivityReport)
    assert report.imported + report.skipped + len(report.bad) <= report.rows
    for bad in report.bad:
        assert bad.line >= 2 and bad.reason
    FIGURES["activity: rows imported"] += report.imported
    FIGURES["activity: bad rows reported"] += len(report.bad)


def _run(sessions: sessionmaker[Session], check: Callable[[Session, bytes], None], data: bytes, name: str) -> None:
    FIGURES[f"{name}: cases"] += 1
    with sessions() as session:
        try:
            check(session, data)
        except Exception as exc:
            exc.add_note(f"{name} import of {data[:300]!r}... ({len(data)} bytes)")
            raise


@pytest.mark.parametrize("seed", range(5))
def test_mutated_anct_lists(sessions: sessionmaker[Session], seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(MUTATED_CASES // 5):
        _run(sessions, _check_espaces, _mutate(rng, [ANCT_HEADER, *rng.sample(ANCT_ROWS, rng.randint(0, 4))]),
             "espaces")


@pytest.mark.parametrize("seed", range(5))
def test_mutated_activity_files(sessions: sessionmaker[Session], seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(MUTATED_CASES // 5):
        _run(sessions, _check_activity, _mutate(rng, rng.choice([ESPACE_ACTS, IND323])), "activity")


_cell = st.one_of(st.sampled_from(HOSTILE[:-16]), st.text(max_size=12))
_header = st.lists(st.sampled_from([*ANCT_HEADER.split(","), "espace_id", "month", "actes", "indic_id",
                                    "enforce_zone_id", "metric_enforce_date", "maille", "indic_va", "x"]),
                   min_size=1, max_size=14)


@st.composite
def _csv(draw: Any) -> bytes:
    header = draw(_header)
    rows = draw(st.lists(st.lists(_cell, min_size=0, max_size=len(header) + 2), max_size=6))
    sep = draw(st.sampled_from([",", ";"]))
    text = "\n".join(sep.join(r) for r in [header, *rows])
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])), errors="replace")


_HYPOTHESIS = settings(max_examples=GENERATED_CASES, deadline=None, database=None,
                       suppress_health_check=list(HealthCheck))


@given(data=_csv())
@_HYPOTHESIS
def test_generated_files(sessions: sessionmaker[Session], data: bytes) -> None:
    _run(sessions, _check_espaces, data, "espaces")
    _run(sessions, _check_activity, data, "activity")
