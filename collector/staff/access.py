"""The access list: who may sign in, with which role and scope. Kept by admins; every change audited.

An entry names a person by email (lowercased) or by the provider's subject (``sub``), or both. At sign-in the
subject is looked up first, then the email (only a verified one: ProConnect's always are; a standard provider says
so with ``email_verified``). An entry found by email learns the person's subject, and from then on answers to it
only: an address later given to someone else opens nothing. Roles and scopes are those of API users
(:class:`collector.auth.Role`): an agent reads one espace, a préfecture referent one département, a national
partner and an admin everything. A disabled entry opens nothing, and ends its sessions.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from collector.auth import AuthError, Principal, Role
from collector.db.models import Espace, StaffAccess, StaffSession
from collector.registry.geography import UnknownDepartement, normalise_departement
from collector.staff import audit

_LOG = logging.getLogger(__name__)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
MAX_IMPORT_ROWS = 10_000


class AccessError(AuthError):
    """An access-list operation that cannot be done; the message (in French, for admins) says why."""


def normalise_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise AccessError(f"adresse électronique invalide : {email[:80]!r}")
    return email


def check_scope(session: Session, role: Role | str, scope: str | None) -> str | None:
    """The scope as stored: a département for a referent, an existing espace for an agent, none otherwise."""
    try:
        role = Role(role)
    except ValueError:
        raise AccessError(f"rôle inconnu : {str(role)[:40]!r}") from None
    scope = scope.strip() if scope else None
    if role is Role.PREFECTURE:
        if not scope:
            raise AccessError("un référent préfecture a besoin d'un département")
        try:
            return normalise_departement(scope)
        except UnknownDepartement:
            raise AccessError(f"département inconnu : {scope[:10]!r}") from None
    if role is Role.AGENT:
        if not scope:
            raise AccessError("un agent a besoin d'un espace (son identifiant ANCT)")
        if session.get(Espace, scope) is None:
            raise AccessError(f"espace inconnu : {scope[:40]!r}")
        return scope
    if scope:
        raise AccessError(f"le rôle {role.value} voit tout : pas de périmètre")
    return None


def principal(entry: StaffAccess) -> Principal:
    return Principal(user_id=entry.id, name=entry.email or entry.name or f"sub:{entry.subject}",
                     role=Role(entry.role), scope=entry.scope)


def label(entry: StaffAccess) -> str:
    """How the log names an entry."""
    return entry.email or (f"sub:{entry.subject}" if entry.subject else f"#{entry.id}")


def add(session: Session, *, role: str, scope: str | None = None, email: str | None = None,
        subject: str | None = None, name: str | None = None, actor: str, address: str | None = None,
        now: datetime | None = None) -> StaffAccess:
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    subject = subject.strip()[:255] if subject and subject.strip() else None
    if email is None and subject is None:
        raise AccessError("il faut une adresse électronique ou un identifiant (sub) chez le fournisseur")
    scope = check_scope(session, role, scope)
    if email and session.scalar(select(StaffAccess.id).where(StaffAccess.email == email)) is not None:
        raise AccessError(f"{email} est déjà dans la liste")
    if subject and session.scalar(select(StaffAccess.id).where(StaffAccess.subject == subject)) is not None:
        raise AccessError(f"l'identifiant {subject} est déjà dans la liste")
    entry = StaffAccess(email=email, subject=subject, name=(name or "").strip()[:255] or None, role=Role(role).value,
                        scope=scope, created_at=now, updated_at=now)
    session.add(entry)
    session.flush()
    audit.record(session, actor, "access.add", label(entry), address=address, now=now,
                 detail={"role": entry.role, "scope": entry.scope, "name": entry.name, "subject": entry.subject})
    return entry


def change(session: Session, entry_id: int, *, role: str | None = None, scope: str | None = None,
           name: str | None = None, disabled: bool | None = None, actor: str, address: str | None = None,
           now: datetime | None = None) -> StaffAccess:
    """Change an entry's role and scope (given together, or the scope alone), name, or disable/enable it."""
    now = now or datetime.now(UTC)
    entry = session.get(StaffAccess, entry_id)
    if entry is None:
        raise AccessError(f"aucune entrée n° {entry_id}")
    changes: dict[str, object] = {}
    if role is not None or scope is not None:
        new_role = role if role is not None else entry.role
        new_scope = check_scope(session, new_role, scope)
        if new_role != entry.role:
            changes["role"] = [entry.role, new_role]
        if new_scope != entry.scope:
            changes["scope"] = [entry.scope, new_scope]
        entry.role, entry.scope = Role(new_role).value, new_scope
    if name is not None and (name.strip()[:255] or None) != entry.name:
        changes["name"] = [entry.name, name.strip()[:255] or None]
        entry.name = name.strip()[:255] or None
    if changes:
        entry.updated_at = now
        audit.record(session, actor, "access.change", label(entry), detail=changes, address=address, now=now)
    if disabled is True and entry.disabled_at is None:
        entry.disabled_at = entry.updated_at = now
        ended = session.execute(update(StaffSession).where(StaffSession.access_id == entry.id,
                                                           StaffSession.ended_at.is_(None)).values(ended_at=now))
        audit.record(session, actor, "access.disable", label(entry), address=address, now=now,
                     detail={"sessions_ended": int(getattr(ended, "rowcount", 0) or 0)})
    elif disabled is False and entry.disabled_at is not None:
        entry.disabled_at = None
        entry.updated_at = now
        audit.record(session, actor, "access.enable", label(entry), address=address, now=now)
    session.flush()
    return entry


def for_identity(session: Session, subject: str, email: str | None, email_verified: bool) -> StaffAccess | None:
    """The entry a signed-in person answers to (enabled or not), learning their subject on first sign-in."""
    entry = session.scalar(select(StaffAccess).where(StaffAccess.subject == subject))
    if entry is not None or not email or not email_verified:
        return entry
    try:
        email = normalise_email(email)
    except AccessError:
        return None
    entry = session.scalar(select(StaffAccess).where(StaffAccess.email == email))
    if entry is None or entry.subject is not None:
        return None  # bound to someone else's subject: the address alone opens nothing
    entry.subject = subject[:255]
    return entry


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


_EMAIL_COLUMNS = ("email", "courriel", "mail", "adresse")
_ESPACE_COLUMNS = ("id_fs", "espace", "espace_id", "matricule", "id_anct")
_NAME_COLUMNS = ("nom", "name")


def _rows(reader: csv.DictReader[str]) -> Iterator[dict[str, str] | csv.Error]:
    """The reader's rows; a record the parser refuses ends them, as the error itself."""
    try:
        yield from reader
    except csv.Error as exc:
        yield exc


def import_agents(session: Session, text: str, *, actor: str, address: str | None = None,
                  now: datetime | None = None) -> ImportReport:
    """Espace agents from a CSV (``email`` and the espace's ANCT id ``id_fs``, optionally ``nom``; comma or
    semicolon): new addresses are added as agents; an agent's espace is updated; other roles are left alone."""
    now = now or datetime.now(UTC)
    report = ImportReport()
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    # newline="": the csv module reads line ends itself (a lone CR in a field, say, is its business).
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    try:
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or []}
    except csv.Error as exc:
        raise AccessError(f"fichier CSV illisible : {exc}") from None
    email_col = next((columns[c] for c in _EMAIL_COLUMNS if c in columns), None)
    espace_col = next((columns[c] for c in _ESPACE_COLUMNS if c in columns), None)
    name_col = next((columns[c] for c in _NAME_COLUMNS if c in columns), None)
    if email_col is None or espace_col is None:
        raise AccessError("le fichier CSV doit avoir une colonne « email » et une colonne « id_fs »")
    for number, row in enumerate(_rows(reader), start=2):
        if isinstance(row, csv.Error):
            report.errors.append((number, f"fichier CSV illisible à partir d'ici : {row}"))
            break
        if number - 1 > MAX_IMPORT_ROWS:
            report.errors.append((number, f"plus de {MAX_IMPORT_ROWS} lignes : la suite est ignorée"))
            break
        try:
            email = normalise_email(row.get(email_col))
            if email is None:
                raise AccessError("adresse électronique manquante")
            espace = (row.get(espace_col) or "").strip()
            name = (row.get(name_col) or "").strip() if name_col else None
            with session.begin_nested():
                existing = session.scalar(select(StaffAccess).where(StaffAccess.email == email))
                if existing is None:
                    add(session, role=Role.AGENT.value, scope=espace, email=email, name=name, actor=actor,
                        address=address, now=now)
                    report.added.append(email)
                elif existing.role != Role.AGENT.value:
                    raise AccessError(f"{email} a le rôle {existing.role} : changez-le dans la liste")
                elif existing.scope == espace:
                    report.unchanged += 1
                else:
                    change(session, existing.id, scope=espace, actor=actor, address=address, now=now)
                    report.updated.append(email)
        except AccessError as exc:
            report.errors.append((number, str(exc)))
    audit.record(session, actor, "access.import", None, address=address, now=now,
                 detail={"added": len(report.added), "updated": len(report.updated), "unchanged": report.unchanged,
                         "errors": len(report.errors)})
    return report


def entries(session: Session) -> list[StaffAccess]:
    return list(session.scalars(select(StaffAccess).order_by(StaffAccess.role, StaffAccess.email,
                                                             StaffAccess.id)))
