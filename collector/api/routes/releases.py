"""Releases, as kiosks fetch them: ``release.json`` and its wheels, with the kiosk's own credentials.

HTTP Basic with the kiosk's broker user name (``kiosk-<id>``) and secret, checked against its hash; a revoked
kiosk, a wrong secret or an unknown name is a 401, counted, and limited per address like API tokens. Files are
served with ``Range`` support (Starlette's :class:`FileResponse`), so that a kiosk cut off mid-download resumes.
What is served needs no secrecy (the kiosk checks the programme's signature); the credentials keep the collector
from serving the whole Internet, and say which kiosk fetched what in the logs.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse

from collector.api.deps import SessionDep, StateDep, refuse_wrong_credential
from collector.broker.accounts import KIOSK_USER_PREFIX, verify_secret
from collector.config import Settings
from collector.db.models import Kiosk
from collector.fleet import release_path
from protocol.release import FILE_NAME_RE, RELEASE_FILE
from protocol.topics import valid_kiosk_id

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/releases", tags=["releases"])


def current_kiosk(request: Request, state: StateDep, session: SessionDep) -> str:
    """The kiosk behind the request's HTTP Basic credentials; 401 otherwise."""
    address = request.client.host if request.client is not None else "unknown"
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        # The user name has a colon (``kiosk:<id>``) and a kiosk's secret none (URL-safe base64): split at the last.
        username, _, secret = base64.b64decode(encoded, validate=True).decode().rpartition(":")
    except (binascii.Error, ValueError):
        username, secret = "", ""
    kiosk_id = username.removeprefix(KIOSK_USER_PREFIX)
    if scheme.lower() == "basic" and username.startswith(KIOSK_USER_PREFIX) and valid_kiosk_id(kiosk_id):
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is not None and kiosk.revoked_at is None and verify_secret(kiosk.secret_hash, secret):
            return kiosk_id
    refuse_wrong_credential(state, address, "release_auth_failures", "a kiosk's credentials are needed")


KioskDep = Annotated[str, Depends(current_kiosk)]


def _settings(state: StateDep) -> Settings:
    settings = state.extra.get("settings")
    if not isinstance(settings, Settings):
        raise HTTPException(404, "this collector serves no releases")
    return settings


@router.get("/{version}/release.json")
def release_json(version: str, kiosk_id: KioskDep, state: StateDep) -> FileResponse:
    path = release_path(_settings(state), version)
    if path is None:
        raise HTTPException(404, f"no release {version[:64]}")
    _LOG.info("kiosk %s fetches release %s", kiosk_id, version)
    return FileResponse(path / RELEASE_FILE, media_type="application/json")


@router.get("/{version}/files/{name}")
def release_file(version: str, name: str, kiosk_id: KioskDep, state: StateDep) -> FileResponse:
    path = release_path(_settings(state), version)
    if path is None or FILE_NAME_RE.fullmatch(name) is None or not (path / name).is_file():
        raise HTTPException(404, "no such file in this release")
    return FileResponse(path / name, media_type="application/octet-stream")
