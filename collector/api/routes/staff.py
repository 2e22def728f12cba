"""``/api/v1/staff``: the access list and its audit log, for admins (a token, or a session with its CSRF token).

Every change is recorded in the audit log with the admin's name, the time, the change and the client's address.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from collector.api.deps import SessionDep, require_role
from collector.auth import Principal, Role
from collector.db.models import AuditEntry, StaffAccess
from collector.staff import access, audit, web

_LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
MAX_CSV_BYTES = 2_000_000


class AccessPublic(BaseModel):
    id: int
    email: str | None
    subject: str | None
    name: str | None
    role: Role
    scope: str | None
    created_at: datetime
    updated_at: datetime
    disabled: bool
    last_sign_in_at: datetime | None

    @classmethod
    def of(cls, entry: StaffAccess) -> AccessPublic:
        return cls(id=entry.id, email=entry.email, subject=entry.subject, name=entry.name, role=Role(entry.role),
                   scope=entry.scope, created_at=entry.created_at, updated_at=entry.updated_at,
                   disabled=entry.disabled_at is not None, last_sign_in_at=entry.last_sign_in_at)


class AccessCreate(BaseModel):
    email: str | None = Field(None, max_length=320)
    subject: str | None = Field(None, max_length=255, description="The provider's sub, when there is no email.")
    name: str | None = Field(None, max_length=255)
    role: Role
    scope: str | None = Field(None, max_length=32, description="An espace's ANCT id, or a département.")


class AccessChange(BaseModel):
    role: Role | None = None
    scope: str | None = Field(None, max_length=32)
    name: str | None = Field(None, max_length=255)
    disabled: bool | None = None


class ImportPublic(BaseModel):
    added: list[str]
    updated: list[str]
    unchanged: int
    errors: list[tuple[int, str]]


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, object] | None
    address: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditPublic:
        return cls(id=entry.id, at=entry.at, actor=entry.actor, action=entry.action, target=entry.target,
                   detail=entry.detail, address=entry.address)


@router.get("/access", response_model=list[AccessPublic])
def list_access(admin: Admin, session: SessionDep) -> list[AccessPublic]:
    return [AccessPublic.of(e) for e in access.entries(session)]


@router.post("/access", response_model=AccessPublic, status_code=201)
def add_access(body: AccessCreate, admin: Admin, session: SessionDep, request: Request) -> AccessPublic:
    try:
        entry = access.add(session, role=body.role.value, scope=body.scope, email=body.email, subject=body.subject,
                           name=body.name, actor=admin.name, address=web.address(request))
    except access.AccessError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return AccessPublic.of(entry)


@router.patch("/access/{entry_id}", response_model=AccessPublic)
def change_access(entry_id: Annotated[int, Path(ge=1, le=2**31 - 1)],  # beyond, SQLite cannot bind it (a 500)
                  body: AccessChange, admin: Admin, session: SessionDep, request: Request) -> AccessPublic:
    if session.get(StaffAccess, entry_id) is None:
        raise HTTPException(404, f"no access entry {entry_id}")
    try:
        entry = access.change(session, entry_id, role=body.role.value if body.role else None, scope=body.scope,
                              name=body.name, disabled=body.disabled, actor=admin.name,
                              address=web.address(request))
    except access.AccessError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return AccessPublic.of(entry)


@router.post("/access/import", response_model=ImportPublic)
def import_access(admin: Admin, session: SessionDep, request: Request,
                  csv_text: Annotated[str, Body(media_type="text/csv", max_length=MAX_CSV_BYTES)]) -> ImportPublic:
    """Espace agents from a CSV body (``email``, ``id_fs``, optionally ``nom``)."""
    try:
        report = access.import_agents(session, csv_text, actor=admin.name, address=web.address(request))
    except access.AccessError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return ImportPublic(added=report.added, updated=report.updated, unchanged=report.unchanged,
                        errors=report.errors)


@router.get("/audit", response_model=list[AuditPublic])
def audit_log(admin: Admin, session: SessionDep, limit: int = 200,
              before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> list[AuditPublic]:
    if not 1 <= limit <= 1000:
        raise HTTPException(422, "limit is 1 to 1000")
    return [AuditPublic.of(e) for e in audit.entries(session, limit=limit, before_id=before)]
