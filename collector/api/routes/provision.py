"""Provisioning kiosks (admin only): register one at an espace with its own broker account, verify, revoke,
rotate its password, move it, list them.

Under ``/api/v1/provision/kiosks`` (``/api/v1/kiosks`` is the read-only fleet view). A kiosk's MQTT password
is returned once, by ``POST /api/v1/provision/kiosks`` and ``POST .../rotate``; the collector
keeps only its hash. The broker account is made before the database commit: if the broker refuses, the
kiosk is not registered (502) and the call can simply be made again.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.api.deps import SessionDep, StateDep, require_role
from collector.auth import Principal
from collector.broker.accounts import (
    AccountsError,
    BrokerAccounts,
    NoAccounts,
    ReservedKioskId,
    check_kiosk_id,
    hash_secret,
    kiosk_id_allowed,
    new_secret,
)
from collector.db.models import Espace, Kiosk
from collector.registry.espaces import RegistryError, add_kiosk, assignments, move_kiosk

_LOG = logging.getLogger(__name__)

Admin = Annotated[Principal, Depends(require_role("admin"))]
router = APIRouter(prefix="/api/v1/provision/kiosks", tags=["provisioning"])


class KioskCreate(BaseModel):
    espace_id: str = Field(min_length=1, max_length=32)
    kiosk_id: str | None = Field(None, description="Default: made from the espace's id and 4 random hex digits.")


class KioskMove(BaseModel):
    espace_id: str = Field(min_length=1, max_length=32)


class BrokerPublic(BaseModel):
    host: str
    port: int
    tls: bool
    ca_pem: str | None = None
    #: More brokers of the service ("host:port"), which the kiosk fails over to, in this order.
    others: list[str] = []


class KioskCredentials(BaseModel):
    """What the technician's bundle needs; ``mqtt_password`` is shown this once."""

    kiosk_id: str
    espace_id: str
    espace_name: str
    mqtt_username: str
    mqtt_password: str
    broker: BrokerPublic | None
    accounts: str = Field(description="Who enforces the account: dynsec, embedded, or none (not enforced).")


class AssignmentPublic(BaseModel):
    espace_id: str
    started_at: datetime
    ended_at: datetime | None


class KioskPublic(BaseModel):
    id: str
    espace_id: str
    espace_name: str | None
    created_at: datetime
    revoked_at: datetime | None
    status: str
    last_seen: datetime | None
    version: str | None
    selftest_passed: bool | None
    selftest_at: datetime | None


class KioskDetail(KioskPublic):
    selftest: dict[str, Any] | None
    assignments: list[AssignmentPublic]


class Verification(BaseModel):
    kiosk_id: str
    ok: bool
    online: bool
    selftest_passed: bool
    problems: list[str]


def _accounts(state: StateDep) -> BrokerAccounts:
    accounts: BrokerAccounts = state.extra.get("accounts") or NoAccounts()
    return accounts


def _accounts_kind(accounts: BrokerAccounts) -> str:
    return str(getattr(accounts, "kind", "none"))


AccountsDep = Annotated[BrokerAccounts, Depends(_accounts)]


def _new_kiosk_id(session: Session, espace_id: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", espace_id.lower()).strip("-")[:50] or "kiosk"
    for _ in range(20):
        candidate = f"{stem}-{secrets.token_hex(2)}"
        if kiosk_id_allowed(candidate) and session.get(Kiosk, candidate) is None:
            return candidate
    raise HTTPException(409, "could not find a free kiosk id; give one")


def _kiosk(session: Session, kiosk_id: str) -> Kiosk:
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise HTTPException(404, f"unknown kiosk {kiosk_id}")
    return kiosk


def _public(session: Session, kiosk: Kiosk) -> dict[str, Any]:
    espace = session.get(Espace, kiosk.espace_id)
    selftest = kiosk.selftest or None
    return {
        "id": kiosk.id, "espace_id": kiosk.espace_id, "espace_name": espace.name if espace else None,
        "created_at": kiosk.created_at, "revoked_at": kiosk.revoked_at, "status": kiosk.status,
        "last_seen": kiosk.last_seen, "version": kiosk.version,
        "selftest_passed": bool(selftest.get("passed")) if selftest else None, "selftest_at": kiosk.selftest_at,
    }


def _detail(session: Session, kiosk: Kiosk) -> KioskDetail:
    history = [AssignmentPublic(espace_id=a.espace_id, started_at=a.started_at, ended_at=a.ended_at)
               for a in assignments(session, kiosk.id)]
    return KioskDetail(**_public(session, kiosk), selftest=kiosk.selftest, assignments=history)


def _credentials(state: StateDep, session: Session, kiosk: Kiosk, secret: str,
                 accounts: BrokerAccounts) -> KioskCredentials:
    espace = session.get(Espace, kiosk.espace_id)
    broker = state.extra.get("kiosk_broker")
    return KioskCredentials(
        kiosk_id=kiosk.id, espace_id=kiosk.espace_id, espace_name=espace.name if espace else kiosk.espace_id,
        mqtt_username=accounts.username(kiosk.id), mqtt_password=secret,
        broker=BrokerPublic(**broker) if broker else None, accounts=_accounts_kind(accounts),
    )


@router.post("", status_code=201, response_model=KioskCredentials)
def register(body: KioskCreate, user: Admin, session: SessionDep, state: StateDep,
             accounts: AccountsDep) -> KioskCredentials:
    """Register a kiosk at an espace and make its broker account; the password is in this answer only."""
    kiosk_id = body.kiosk_id or _new_kiosk_id(session, body.espace_id)
    try:
        check_kiosk_id(kiosk_id)
    except ReservedKioskId as exc:
        raise HTTPException(422, str(exc)) from None
    secret = new_secret()
    try:
        kiosk = add_kiosk(session, kiosk_id, body.espace_id)
    except RegistryError as exc:
        session.rollback()
        status = 409 if "already exists" in str(exc) else 404 if "unknown espace" in str(exc) else 422
        raise HTTPException(status, str(exc)) from None
    kiosk.secret_hash = hash_secret(secret)
    session.flush()
    try:
        accounts.create(kiosk_id, secret, kiosk.secret_hash)
    except AccountsError as exc:
        session.rollback()
        _LOG.error("kiosk %s not registered: %s", kiosk_id, exc)
        raise HTTPException(502, f"the broker did not take the kiosk's account: {exc}") from None
    session.commit()
    _LOG.info("kiosk %s registered at %s by %s", kiosk_id, body.espace_id, user.name)
    return _credentials(state, session, kiosk, secret, accounts)


@router.get("", response_model=list[KioskPublic])
def list_kiosks(user: Admin, session: SessionDep, espace_id: str | None = None) -> list[dict[str, Any]]:
    query = select(Kiosk).order_by(Kiosk.espace_id, Kiosk.id)
    if espace_id:
        query = query.where(Kiosk.espace_id == espace_id)
    return [_public(session, k) for k in session.scalars(query)]


@router.get("/{kiosk_id}", response_model=KioskDetail)
def show(kiosk_id: str, user: Admin, session: SessionDep) -> KioskDetail:
    return _detail(session, _kiosk(session, kiosk_id))


@router.get("/{kiosk_id}/verify", response_model=Verification)
def verify(kiosk_id: str, user: Admin, session: SessionDep) -> Verification:
    """Whether the kiosk is online and its last self-test passed; ``problems`` says what is missing."""
    kiosk = _kiosk(session, kiosk_id)
    problems = []
    if kiosk.revoked_at is not None:
        problems.append("the kiosk is revoked")
    online = kiosk.status == "online"
    if not online:
        problems.append("the collector has not seen it online" if kiosk.last_seen is None
                        else f"its last status is {kiosk.status} (last seen {kiosk.last_seen:%Y-%m-%d %H:%M} UTC)")
    report: dict[str, Any] = dict(kiosk.selftest or {})
    passed = bool(report.get("passed"))
    if not report:
        problems.append("no self-test received: run 'borne kiosk selftest' on the kiosk")
    elif not passed:
        checks: list[dict[str, Any]] = list(report.get("checks") or [])
        failed = [str(c.get("name")) for c in checks if c.get("outcome") == "failed"]
        problems.append(f"its self-test failed: {', '.join(failed) or 'see the report'}")
    return Verification(kiosk_id=kiosk.id, ok=not problems, online=online, selftest_passed=passed,
                        problems=problems)


@router.post("/{kiosk_id}/revoke", response_model=KioskDetail)
def revoke(kiosk_id: str, user: Admin, session: SessionDep, accounts: AccountsDep) -> KioskDetail:
    """Remove the kiosk's broker account (its session is closed) and refuse its messages from now on."""
    kiosk = _kiosk(session, kiosk_id)
    try:
        accounts.remove(kiosk_id)
    except AccountsError as exc:
        raise HTTPException(502, f"the broker did not remove the kiosk's account: {exc}") from None
    kiosk.revoked_at = kiosk.revoked_at or datetime.now(UTC)
    kiosk.secret_hash = None
    session.commit()
    _LOG.info("kiosk %s revoked by %s", kiosk_id, user.name)
    return _detail(session, kiosk)


@router.post("/{kiosk_id}/rotate", response_model=KioskCredentials)
def rotate(kiosk_id: str, user: Admin, session: SessionDep, state: StateDep,
           accounts: AccountsDep) -> KioskCredentials:
    """A new password for the kiosk; the old one stops working at once."""
    kiosk = _kiosk(session, kiosk_id)
    if kiosk.revoked_at is not None:
        raise HTTPException(409, f"kiosk {kiosk_id} is revoked; register a new kiosk instead")
    secret = new_secret()
    secret_hash = hash_secret(secret)
    try:
        accounts.set_secret(kiosk_id, secret, secret_hash)
    except AccountsError as exc:
        raise HTTPException(502, f"the broker did not take the new password: {exc}") from None
    kiosk.secret_hash = secret_hash
    session.commit()
    _LOG.info("kiosk %s given a new password by %s", kiosk_id, user.name)
    return _credentials(state, session, kiosk, secret, accounts)


@router.post("/{kiosk_id}/move", response_model=KioskDetail)
def move(kiosk_id: str, body: KioskMove, user: Admin, session: SessionDep) -> KioskDetail:
    """Serve another espace from now on; past votes stay with the espace where they were cast."""
    try:
        kiosk = move_kiosk(session, kiosk_id, body.espace_id)
    except RegistryError as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()
    _LOG.info("kiosk %s moved to %s by %s", kiosk_id, body.espace_id, user.name)
    return _detail(session, kiosk)
