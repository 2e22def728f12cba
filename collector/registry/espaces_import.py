"""Importing the ANCT list of France services structures (``liste-fs-*.csv``) into ``espaces``.

The list is read with :mod:`csv` into a pandas DataFrame (UTF-8, comma-separated, quoted, a field may hold a
newline). Each row is checked; a bad row is reported with its line in the file and the reason, and the others
are imported. Espaces are
upserted by ``id_fs``: re-importing the same list changes nothing. An espace the list no longer holds is closed
(``closed_at``), never deleted, since votes refer to it; one that comes back is reopened. Espaces added by hand
(never listed) are left alone. Antennes are linked to their structure through ``groupe_fs`` when the group has
one Principal (in the same département first). Départements are mapped to régions by
:mod:`collector.registry.geography`.
"""

from __future__ import annotations

import csv
import http.client
import io
import logging
import os
import re
import stat
import time
import urllib.error
import urllib.parse
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
from collector.registry.geography import UnknownDepartement, normalise_departement, region_of
from protocol.hours import LISTED_WEEKDAYS

_LOG = logging.getLogger(__name__)

REQUIRED = ("id_fs", "insee_dep", "lib_fs")
DAYS = LISTED_WEEKDAYS
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


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only (urllib would follow one to ``ftp://``)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise ImportFailed(f"{req.full_url} redirects to {newurl[:200]}: only http(s) URLs are read")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def read_source(source: str | Path) -> bytes:
    """The bytes of a regular file, or of an ``http(s)://`` URL (at most :data:`MAX_DOWNLOAD` bytes).

    Anything else is refused with :class:`ImportFailed`: another URL scheme (``file:``, ``ftp:``...), or a
    redirect to one, a directory, a device (``/dev/zero`` would never end), a FIFO (opening it would wait for a
    writer), a file too large.
    """
    text = str(source)
    scheme = urllib.parse.urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in ("http", "https"):
        return _download(text)
    if scheme:
        raise ImportFailed(f"{text[:200]}: only a file path or an http(s) URL is read, not {scheme}:")
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer; what was opened is checked, not the name.
        fd = os.open(text, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ImportFailed(f"cannot read {text}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_DOWNLOAD:
        os.close(fd)
        raise ImportFailed(f"cannot read {text}: not a regular file" if not stat.S_ISREG(info.st_mode)
                           else f"{text} is larger than {MAX_DOWNLOAD} bytes")
    with os.fdopen(fd, "rb") as file:
        return file.read(MAX_DOWNLOAD + 1)


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "borne-collector"})  # noqa: S310 - http(s) only
    try:
        with _OPENER.open(request, timeout=60) as response:
            data: bytes = response.read(MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ImportFailed(f"cannot download {url[:200]}: {reason}") from None
    if len(data) > MAX_DOWNLOAD:
        raise ImportFailed(f"{url[:200]} is larger than {MAX_DOWNLOAD} bytes")
    return data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _LOG.warning("the list is not UTF-8: reading it as Windows-1252")
        return data.decode("cp1252", errors="replace")


def read_csv(data: bytes, *, id_column: str | None = None) -> tuple[pd.DataFrame, list[BadRow]]:
    """A CSV file as a DataFrame of strings with a ``_line`` column, and the rows of the wrong width.

    One parser (:mod:`csv`) reads the records, so that each row keeps the line it starts on (a quoted field
    may span lines) whatever the line endings. UTF-8 (with or without BOM), else Windows-1252; comma or
    semicolon; a NUL byte reads as U+FFFD; column names are stripped and lower-cased. :class:`ImportFailed`
    for a file that cannot be read as a table (empty, a column twice, a record the parser refuses).
    """
    text = _decode(data).replace("\x00", "\ufffd")
    header_line = text.splitlines()[0] if text else ""
    sep = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFailed("the file is empty") from None
    except csv.Error as exc:
        raise ImportFailed(f"line 1: {exc}") from None
    if len(set(header)) != len(header):
        raise ImportFailed(f"column(s) {', '.join(sorted({h for h in header if header.count(h) > 1}))} twice")
    width = len(header)
    id_at = header.index(id_column) if id_column in header else width
    kept: list[list[str]] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    previous = reader.line_num
    try:
        for record in reader:
            line = previous + 1
            previous = reader.line_num
            if not any(f.strip() for f in record):
                continue
            if len(record) > width:
                bad.append(BadRow(line, None, f"{len(record)} fields, the header has {width}"))
            elif len(record) < width:
                row_id = record[id_at].strip() if id_at < len(record) else ""
                bad.append(BadRow(line, row_id or None, "fields missing at the end of the row"))
            else:
                kept.append(record)
                lines.append(line)
    except csv.Error as exc:
        raise ImportFailed(f"line {reader.line_num}: {exc}") from None
    frame = pd.DataFrame(kept, columns=header, dtype=str)
    frame["_line"] = lines
    return frame, bad


def read_table(data: bytes) -> tuple[pd.DataFrame, list[BadRow]]:
    """The ANCT list as a DataFrame (see :func:`read_csv`), and the rows of the wrong width."""
    frame, bad = read_csv(data, id_column="id_fs")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ImportFailed(f"not an ANCT list: column(s) {', '.join(missing)} missing")
    return frame, bad


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
    if not _ID.fullmatch(espace_id):
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
