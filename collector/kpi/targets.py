"""Satisfaction targets: the barometer's 95 % by default, configurable per level and per zone.

A target set for a level and a code (``departement 22``) wins over one set for the whole level
(``departement``, code empty), which wins over :data:`DEFAULT_TARGET`.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.auth import Level
from collector.db.models import KpiTarget

_LOG = logging.getLogger(__name__)

#: IND-246's target: 95 % of satisfied answers, for every département.
DEFAULT_TARGET = 95.0


def target_for(session: Session, level: Level | str, code: str | None) -> float:
    """The target (in %) for ``level``/``code``."""
    level = Level(level).value
    rows = {row_code: value for row_code, value in session.execute(
        select(KpiTarget.code, KpiTarget.target).where(KpiTarget.level == level, KpiTarget.code.in_([code or "", ""]))
    )}
    if code and code in rows:
        return float(rows[code])
    return float(rows.get("", DEFAULT_TARGET))


def set_target(session: Session, level: Level | str, code: str | None, target: float) -> None:
    """Set the target (in %, 0 to 100) for a level (``code`` None) or one zone of it."""
    if not 0 <= target <= 100:
        raise ValueError(f"a target is a percentage, not {target}")
    level = Level(level).value
    row = session.get(KpiTarget, (level, code or ""))
    if row is None:
        session.add(KpiTarget(level=level, code=code or "", target=target))
    else:
        row.target = target
    _LOG.info("target for %s %s set to %.2f %%", level, code or "(all)", target)
