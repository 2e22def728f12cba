"""The table behind each dashboard view as a file people open: a CSV for French spreadsheets, or an XLSX.

The CSV is what a French spreadsheet opens as it is: UTF-8 with a byte-order mark, semicolon-separated, decimal
comma, French headers, rates in % with one decimal; every row names its zone and its period. The XLSX holds the
same table, with numbers as numbers (rates as fractions shown « 0,0 % »). The API's machine CSV
(``collector.kpi.export``) is another thing and stays as it is.

A text cell a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) gets a leading apostrophe (:func:`collector.kpi.export.neutralise_cell`, the rule of every CSV the collector
writes); numbers stay numbers.
"""

from __future__ import annotations

import csv
import enum
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from collector.kpi.export import neutralise_cell

_LOG = logging.getLogger(__name__)


def neutralise(text: str) -> str:
    """``text`` with a leading apostrophe if a spreadsheet would take it for a formula."""
    return str(neutralise_cell(text))


class Kind(enum.Enum):
    TEXT = "text"
    INT = "int"
    RATE = "rate"  # a fraction (0-1), shown in % with one decimal
    NUMBER = "number"  # shown with one decimal (the 0-100 index, a target in %)


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = Kind.TEXT


@dataclass
class Sheet:
    """One table: its title (the sheet's name), the zone and period it covers, its columns and rows."""

    title: str
    zone: str
    period: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)

    def name(self, extension: str) -> str:
        """A file name saying what, where and when: ``classement_cotes-d-armor-22_du-2026-11-01-au-2026-11-30``."""
        return f"{slug(self.title)}_{slug(self.zone)}_{slug(self.period)}.{extension}"

    def all_columns(self) -> list[Column]:
        return [Column("Zone"), Column("Période"), *self.columns]

    def all_rows(self) -> list[list[Any]]:
        return [[self.zone, self.period, *row] for row in self.rows]


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "tout"


def period_label(start: date | None, end: date | None) -> str:
    """« du 01/11/2026 au 30/11/2026 » for local days ``[start, end)``."""
    if start is None and end is None:
        return "depuis le début"
    if end is None:
        return f"depuis le {start:%d/%m/%Y}"
    last = end - timedelta(days=1)
    if start is None:
        return f"jusqu'au {last:%d/%m/%Y}"
    return f"du {start:%d/%m/%Y} au {last:%d/%m/%Y}"


def _french(value: Any, kind: Kind) -> str:
    """A cell as the French CSV writes it."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if kind is Kind.INT:
        return str(int(value))
    if kind is Kind.RATE:
        return f"{float(value) * 100:.1f}".replace(".", ",")
    if kind is Kind.NUMBER:
        return f"{float(value):.1f}".replace(".", ",")
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return neutralise(str(value))


def to_csv(sheet: Sheet) -> bytes:
    """The French spreadsheet CSV: BOM, ``;``, decimal comma, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    columns = sheet.all_columns()
    writer.writerow([c.header for c in columns])
    for row in sheet.all_rows():
        writer.writerow([_french(v, c.kind) for v, c in zip(row, columns, strict=True)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(sheet: Sheet) -> bytes:
    """The same table as an XLSX workbook of one sheet (openpyxl)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    ws = book.active
    ws.title = sheet.title[:31]
    columns = sheet.all_columns()
    ws.append([c.header for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in sheet.all_rows():
        ws.append([_xlsx_value(v, c.kind) for v, c in zip(row, columns, strict=True)])
    for index, column in enumerate(columns, start=1):
        letter = ws.cell(row=1, column=index).column_letter
        number_format = {Kind.RATE: "0.0 %", Kind.NUMBER: "0.0", Kind.INT: "0"}.get(column.kind)
        if number_format:
            for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
        ws.column_dimensions[letter].width = max(10, min(45, len(column.header) + 4))
    ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_value(value: Any, kind: Kind) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if kind is Kind.INT:
        return int(value)
    if kind in (Kind.RATE, Kind.NUMBER):
        return float(value)
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return value
    return neutralise(str(value))
