"""JSON Schemas exported from the payload models, for implementers outside Python."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import BaseModel

from protocol.models import DesiredRelease, Receipt, RemoteConfig, SelfTestReport, StatusMessage, Telemetry, VoteBatch

_LOG = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).parent / "schema"
MODELS: dict[str, type[BaseModel]] = {
    "vote-batch.v1.json": VoteBatch,
    "receipt.v1.json": Receipt,
    "status.v1.json": StatusMessage,
    "telemetry.v1.json": Telemetry,
    "remote-config.v1.json": RemoteConfig,
    "selftest.v1.json": SelfTestReport,
    "desired-release.v1.json": DesiredRelease,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MODELS.items():
        path = directory / name
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written
