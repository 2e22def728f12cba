"""Importing the ANCT list of France services structures (``liste-fs-*.csv``) into ``espaces``.

The list is read with pandas (UTF-8, comma-separated, quoted, a field may hold a newline). Each row is checked;
a bad row is reported with its line in the file and the reason, and the others are imported. Espaces are
upserted by ``id_fs``: re-importing the same list changes nothing. An espace the list no longer holds is closed
(``closed_at``), never deleted, since votes refer to it; one that comes back is reopened. Espaces added by hand
(never listed) are left alone. Antennes are linked to their structure through ``groupe_fs`` when the group has
one Principal (in the same département first). Départements are mapped to régions by :mod:`collector.geo`.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Espace
from collector.geo import UnknownDepartement, normalise_departement, region_of

_LOG = logging.getLogger(__name__)

REQUIRED = ("id_fs", "insee_dep", "lib_fs")
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
FORMATS = {
    "fixe": "fixed", "multisites": "fixed", "fixe_antenne(s)": "fixed",
    "bus_équivalent": "bus", "bus": "bus", "itinérante": "itinerant", "itinerante": "itinerant",
}
MAX_DOWNLOAD = 64 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_FIELDS = ("name", "departement", "region", "commune_insee", "commune", "postal_code", "kind", "format", "groupe",
           "latitude", "longitude", "hours")

Progress = Callable[[int, int], None]


class ImportFailed(ValueError):
    """The whole file cannot be imported (unreadable, or a required column missing)."""


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    id_fs: str | None
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    reopened: int = 0
    antennes_linked: int = 0
    antennes_unlinked: int = 0
    bad: list[BadRow] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        return (f"{self.rows} rows: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.closed} closed, {self.reopened} reopened, {len(self.bad)} bad; antennes linked "
                f"{self.antennes_linked}, not linked {self.antennes_unlinked}; {self.seconds:.2f} s")


def read_source(source: str | Path) -> bytes:
    """The bytes of a file, or of an ``http(s)://`` URL."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        request = urllib.request.Request(text, headers={"User-Agent": "borne-collector"})  # noqa: S310 - http(s) only
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - http(s) only
            data: bytes = response.read(MAX_DOWNLOAD + 1)
        if len(data) > MAX_DOWNLOAD:
            raise ImportFailed(f"{text} is larger than {MAX_DOWNLOAD} bytes")
        return data
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise ImportFailed(f"cannot read {text}: {exc.strerror or exc}") from None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _LOG.warning("the list is not UTF-8: reading it as Windows-1252")
        return data.decode("cp1252", errors="replace")


def read_table(data: bytes) -> tuple[pd.DataFrame, list[BadRow]]:
    """The list as a DataFrame of strings with a ``_line`` column, and the rows of the wrong width."""
    text = _decode(data)
    header_line = text.split("\n", 1)[0]
    sep = ";" if header_line.count(";") > header_line.count(",") else ","
    # The line each record starts on (a quoted field may span lines), and its width.
    starts: list[tuple[int, int]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed("the file is empty") from None
    previous = reader.line_num
    for record in reader:
        if record:
            starts.append((previous + 1, len(record)))
        previous = reader.line_num
    header = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFailed(f"not an ANCT list: column(s) {', '.join(missing)} missing")
    width = len(header)
    frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, engine="python",
                        on_bad_lines="skip", skip_blank_lines=True)
    frame.columns = header
    kept = [(line, n) for line, n in starts if n <= width]
    bad = [BadRow(line, None, f"{n} fields, the header has {width}") for line, n in starts if n > width]
    if len(kept) != len(frame):  # pandas and csv disagree: fall back to record numbers
        _LOG.warning("could not map rows to lines (%d records, %d rows)", len(kept), len(frame))
        kept = [(i + 2, width) for i in range(len(frame))]
    frame["_line"] = [line for line, _ in kept]
    short = [n < width for _, n in kept]
    for line, row_id in zip(frame.loc[short, "_line"], frame.loc[short, "id_fs"], strict=True):
        bad.append(BadRow(int(line), row_id or None, "fields missing at the end of the row"))
    return frame[[not s for s in short]], bad


def _coordinate(text: str, limit: float, name: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not -limit <= value <= limit:
        raise ValueError(f"{name} {value} is out of range")
    return value


def _code(text: str, size: int) -> str | None:
    text = text.strip()
    return text if len(text) == size and text.isalnum() else None


def parse_row(row: dict[str, Any]) -> dict[str, Any]:
    """The espace's fields from one row of the list; ValueError with the reason for a bad row."""
    espace_id = row.get("id_fs", "").strip()
    if not espace_id:
        raise ValueError("id_fs is empty")
    if not _ID.match(espace_id):
        raise ValueError(f"id_fs {espace_id[:40]!r} is not a matricule")
    name = " ".join(row.get("lib_fs", "").split())
    if not name:
        raise ValueError("lib_fs is empty")
    try:
        departement = normalise_departement(row.get("insee_dep", ""))
    except UnknownDepartement as exc:
        raise ValueError(str(exc)) from None
    kind = row.get("type_fs", "").strip().capitalize() or "Principal"
    if kind not in ("Principal", "Antenne"):
        raise ValueError(f"type_fs {kind[:40]!r} is neither Principal nor Antenne")
    raw_format = row.get("format_fs", "").strip()
    hours = {day: " ".join(str(row[f"h_{day}"]).split()) for day in DAYS if str(row.get(f"h_{day}", "")).strip()}
    return {
        "id": espace_id,
        "name": name[:255],
        "departement": departement,
        "region": region_of(departement),
        "commune_insee": _code(row.get("insee_com", ""), 5),
        "commune": (" ".join(row.get("lib_com", "").split()) or None),
        "postal_code": _code(row.get("code_postal", ""), 5),
        "kind": kind,
        "format": FORMATS.get(raw_format.lower(), raw_format[:32] or None),
        "groupe": (" ".join(row.get("groupe_fs", "").split())[:255] or None),
        "latitude": _coordinate(row.get("latitude", ""), 90, "latitude"),
        "longitude": _coordinate(row.get("longitude", ""), 180, "longitude"),
        "hours": hours or None,
    }


def import_espaces(session: Session, source: str | Path | bytes, *, now: datetime | None = None,
                   close_missing: bool = True, progress: Progress | None = None) -> ImportReport:
    """Upsert the list's espaces in ``session`` (the caller commits); report what changed and the bad rows."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    data = source if isinstance(source, bytes) else read_source(source)
    frame, bad = read_table(data)
    report = ImportReport(rows=len(frame) + len(bad), bad=bad)
    listed: dict[str, dict[str, Any]] = {}
    seen_lines: dict[str, int] = {}
    present: set[str] = set()  # every id the file holds, bad rows included: those are not closed
    total = len(frame)
    for i, row in enumerate(frame.to_dict(orient="records")):
        line = int(row["_line"])
        row_id = str(row.get("id_fs", "")).strip() or None
        if row_id:
            present.add(row_id)
        try:
            fields = parse_row(row)
            if fields["id"] in seen_lines:
                raise ValueError(f"id_fs {fields['id']} already on line {seen_lines[fields['id']]}")
        except ValueError as exc:
            report.bad.append(BadRow(line, row_id, str(exc)))
        else:
            seen_lines[fields["id"]] = line
            listed[fields["id"]] = fields
        if progress is not None and (i % 200 == 0 or i == total - 1):
            progress(i + 1, total)
    report.bad.sort(key=lambda b: b.line)
    for bad_row in report.bad:
        _LOG.warning("line %d (id_fs %s): %s", bad_row.line, bad_row.id_fs or "-", bad_row.reason)
    _upsert(session, listed, now, report)
    _link_antennes(session, listed, report)
    if close_missing:
        _close_missing(session, present, now, report)
    report.seconds = time.perf_counter() - started
    _LOG.info("espaces import: %s", report.summary())
    return report


def _upsert(session: Session, listed: dict[str, dict[str, Any]], now: datetime, report: ImportReport) -> None:
    existing = {e.id: e for e in session.scalars(select(Espace))}
    for espace_id, fields in listed.items():
        espace = existing.get(espace_id)
        if espace is None:
            session.add(Espace(**fields, updated_at=now, listed_at=now))
            report.created += 1
            continue
        changed = [k for k in _FIELDS if getattr(espace, k) != fields[k]]
        for key in changed:
            setattr(espace, key, fields[key])
        if espace.closed_at is not None:
            espace.closed_at = None
            report.reopened += 1
            changed.append("closed_at")
        if changed:
            espace.updated_at = now
            report.updated += 1
        else:
            report.unchanged += 1
        espace.listed_at = now
    session.flush()


def _link_antennes(session: Session, listed: dict[str, dict[str, Any]], report: ImportReport) -> None:
    principals: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for espace_id, fields in listed.items():
        if fields["kind"] == "Principal" and fields["groupe"]:
            principals[(fields["groupe"].casefold(), fields["departement"])].append(espace_id)
            principals[(fields["groupe"].casefold(), None)].append(espace_id)
    espaces = {e.id: e for e in session.scalars(select(Espace).where(Espace.id.in_(list(listed))))}
    for espace_id, fields in listed.items():
        parent = None
        if fields["kind"] == "Antenne":
            group = (fields["groupe"] or "").casefold()
            local, anywhere = principals.get((group, fields["departement"]), []), principals.get((group, None), [])
            candidates = local if len(local) == 1 else anywhere
            if group and len(candidates) == 1:
                parent = candidates[0]
                report.antennes_linked += 1
            else:
                report.antennes_unlinked += 1
        espace = espaces[espace_id]
        if espace.parent_id != parent:
            espace.parent_id = parent


def _close_missing(session: Session, present: set[str], now: datetime, report: ImportReport) -> None:
    for espace in session.scalars(select(Espace).where(Espace.listed_at.is_not(None), Espace.closed_at.is_(None))):
        if espace.id not in present:
            espace.closed_at = now
            espace.updated_at = now
            report.closed += 1
            _LOG.info("espace %s (%s) is no longer listed: closed", espace.id, espace.name)
