"""Encoding and decoding of payloads, with the checks that come before parsing."""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from protocol.checks import payload_text
from protocol.errors import ProtocolError

_LOG = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def encode(message: BaseModel) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def decode(model: type[M], payload: bytes) -> M:
    """Parse ``payload`` as ``model``; raise :class:`ProtocolError` with a countable reason otherwise."""
    text = payload_text(payload)
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise ProtocolError("not-json", errors[0]["msg"]) from None
        first = errors[0] if errors else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise ProtocolError("invalid", f"{where}: {first['msg']} ({len(errors)} error(s))") from None
