"""The collector's API against its own OpenAPI, with schemathesis, in-process on the ASGI app.

A migrated SQLite database holds two espaces in two départements, their kiosks and a few votes. Schemathesis
generates requests for every operation of ``/openapi.json`` (valid ones, and the invalid ones its generators
make from the same schema), with an admin token and then a préfecture referent's token: no answer may be a
5xx, and every answer must match the schema and content type the OpenAPI declares for it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from collector.api.app import create_app
from collector.ingest.store import Incoming, Store
from devtools.builders import admin_token, bearer, migrated_engine, register, wire_batch
from protocol.codec import encode
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)

MAX_EXAMPLES = 100
NOW = datetime.now(UTC)
CALLS: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "collector.db"
    engine = migrated_engine(f"sqlite:///{path}")
    register(engine, {"k-22": ("fs-22-001", "22"), "k-29": ("fs-29-001", "29")})
    Store(engine).ingest([
        Incoming(kiosk_topic("k-22", TopicKind.VOTES), encode(wire_batch("k-22", [1, 2, 3, 4, 4])), NOW),
        Incoming(kiosk_topic("k-29", TopicKind.VOTES), encode(wire_batch("k-29", [4, 3])), NOW),
    ])
    tokens = {"admin": admin_token(engine), "prefecture": admin_token(engine, "prefecture", "22")}
    yield create_app(engine), tokens
    engine.dispose()


def _operations(app: FastAPI) -> list[Any]:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in loaded.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI is invalid: {result}"
        operations.append(result.ok())
    return operations


def _check(case: Any, role: str, tokens: dict[str, str]) -> None:
    response = case.call(headers=bearer(tokens[role]))
    CALLS[f"{role} {case.method} {case.path}"] += 1
    STATUSES[response.status_code] += 1
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance,
                                             content_type_conformance])


@pytest.mark.parametrize("role", ["admin", "prefecture"])
def test_api_conforms(role: str, api: tuple[FastAPI, dict[str, str]]) -> None:
    app, tokens = api
    operations = _operations(app)
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            _check(case, role, tokens)

        try:
            run()
        except Exception as exc:
            exc.add_note(f"on {operation.label} as {role}")
            raise


def test_figures() -> None:
    """Runs last in this module: the figures of the runs above (``pytest -s`` shows them)."""
    print(f"\nschemathesis: {sum(CALLS.values())} calls on {len({k.split(' ', 1)[1] for k in CALLS})} "
          f"operations; statuses {dict(sorted(STATUSES.items()))}")
