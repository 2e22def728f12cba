"""Tables out: CSV (UTF-8, comma-separated, ISO dates) and Parquet (pyarrow)."""

from __future__ import annotations

import enum
import io
import logging

import pandas as pd

_LOG = logging.getLogger(__name__)


class ExportFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


MEDIA_TYPES = {
    ExportFormat.JSON: "application/json",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
}


def to_bytes(frame: pd.DataFrame, fmt: ExportFormat | str) -> bytes:
    """``frame`` as CSV or Parquet bytes; date columns as ISO dates in CSV, as dates in Parquet."""
    fmt = ExportFormat(fmt)
    if fmt is ExportFormat.CSV:
        return frame.to_csv(index=False, lineterminator="\n").encode()
    if fmt is ExportFormat.PARQUET:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, engine="pyarrow")
        return buffer.getvalue()
    raise ValueError(f"{fmt.value} is not a file format")


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as JSON-ready dicts: NaN as None, dates as ISO strings."""
    cleaned = frame.astype(object).where(pd.notna(frame), None)
    out = []
    for row in cleaned.to_dict(orient="records"):
        out.append({str(k): (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()})
    return out
