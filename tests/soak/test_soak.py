"""The chaos soak, bounded: two minutes of faults in `make test` (BORNE_SOAK_SECONDS to change it; `make soak`
runs a longer one)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.soak.chaos import run_with_own_database


def test_chaos_soak(tmp_path: Path) -> None:
    seconds = float(os.environ.get("BORNE_SOAK_SECONDS", "120"))
    report = run_with_own_database(seconds, kiosks=50, seed=20261123, workdir=tmp_path)
    print("\n".join(report.lines()))
    assert sum(report.faults.values()) > 0
    assert report.acknowledged > 0
    assert report.lost == 0, report.lines()
    assert report.duplicated == 0, report.lines()
    assert report.invented == 0, report.lines()
    assert report.stored == report.recorded, report.lines()
