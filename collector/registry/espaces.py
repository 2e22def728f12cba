"""Espaces and kiosks: registering them, and moving a kiosk with its assignment history."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector.db.models import Espace, Kiosk, KioskAssignment
from collector.registry.geography import normalise_departement, region_of
from protocol.topics import valid_kiosk_id

_LOG = logging.getLogger(__name__)


class RegistryError(ValueError):
    """A registration that cannot be done; the message says why."""


def add_espace(session: Session, espace_id: str, name: str, departement: str, **fields: object) -> Espace:
    """Create or update an espace."""
    dep = normalise_departement(departement)
    espace = session.get(Espace, espace_id)
    if espace is None:
        espace = Espace(id=espace_id, name=name, departement=dep, region=region_of(dep))
        session.add(espace)
    espace.name, espace.departement, espace.region = name, dep, region_of(dep)
    for key, value in fields.items():
        setattr(espace, key, value)
    espace.updated_at = datetime.now(UTC)
    return espace


def add_kiosk(session: Session, kiosk_id: str, espace_id: str, *, now: datetime | None = None) -> Kiosk:
    """Register a kiosk at an espace; refuses an id already taken."""
    if not valid_kiosk_id(kiosk_id):
        raise RegistryError(f"invalid kiosk id {kiosk_id!r}: lower-case letters, digits and dashes")
    if session.get(Espace, espace_id) is None:
        raise RegistryError(f"unknown espace {espace_id}")
    if session.get(Kiosk, kiosk_id) is not None:
        raise RegistryError(f"kiosk {kiosk_id} already exists")
    now = now or datetime.now(UTC)
    kiosk = Kiosk(id=kiosk_id, espace_id=espace_id, created_at=now, status="unknown")
    session.add(kiosk)
    session.flush()
    session.add(KioskAssignment(kiosk_id=kiosk_id, espace_id=espace_id, started_at=now))
    return kiosk


def move_kiosk(session: Session, kiosk_id: str, espace_id: str, *, now: datetime | None = None) -> Kiosk:
    """Assign a kiosk to another espace from ``now`` on; its past votes stay where they were cast."""
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise RegistryError(f"unknown kiosk {kiosk_id}")
    if session.get(Espace, espace_id) is None:
        raise RegistryError(f"unknown espace {espace_id}")
    if kiosk.espace_id == espace_id:
        return kiosk
    now = now or datetime.now(UTC)
    session.execute(
        update(KioskAssignment)
        .where(KioskAssignment.kiosk_id == kiosk_id, KioskAssignment.ended_at.is_(None))
        .values(ended_at=now)
    )
    session.add(KioskAssignment(kiosk_id=kiosk_id, espace_id=espace_id, started_at=now))
    kiosk.espace_id = espace_id
    return kiosk


def assignments(session: Session, kiosk_id: str) -> list[KioskAssignment]:
    return list(session.scalars(
        select(KioskAssignment).where(KioskAssignment.kiosk_id == kiosk_id).order_by(KioskAssignment.started_at)
    ))
