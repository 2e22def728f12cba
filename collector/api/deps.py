"""Dependencies shared by the routes: the database session and the collector's state."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from collector.metrics import Metrics

_LOG = logging.getLogger(__name__)


@dataclass
class AppState:
    """What the routes need, set on ``app.state.borne`` by :func:`collector.api.app.create_app`."""

    engine: Engine
    sessions: sessionmaker[Session]
    metrics: Metrics
    ingest: Any | None = None  # an Ingestor, when this process ingests
    extra: dict[str, Any] = field(default_factory=dict)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.borne
    return state


def get_db(state: Annotated[AppState, Depends(get_state)]) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


StateDep = Annotated[AppState, Depends(get_state)]
SessionDep = Annotated[Session, Depends(get_db)]
