"""Tables. The same schema runs on SQLite and PostgreSQL.

A vote is attributed to the espace its kiosk served *when it was cast* (``votes.espace_id``), so moving a kiosk
never moves its past votes. ``rejects`` keeps every message the collector could not count, with the reason.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from collector.db.types import UtcDateTime

_LOG = logging.getLogger(__name__)


class Base(DeclarativeBase):
    pass


class Espace(Base):
    """A France services structure, keyed by its ANCT matricule (``id_fs``)."""

    __tablename__ = "espaces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    departement: Mapped[str] = mapped_column(String(3), index=True)
    region: Mapped[str] = mapped_column(String(3), index=True)
    commune_insee: Mapped[str | None] = mapped_column(String(5))
    commune: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(5))
    kind: Mapped[str] = mapped_column(String(16), default="Principal")
    format: Mapped[str | None] = mapped_column(String(32))
    groupe: Mapped[str | None] = mapped_column(String(255))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("espaces.id"))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    hours: Mapped[dict[str, str] | None] = mapped_column(JSON)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: When the ANCT list last listed it; None for an espace added by hand (an import never closes those).
    listed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Kiosk(Base):
    """A kiosk, assigned to one espace at a time."""

    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    secret_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[str | None] = mapped_column(String(64))
    outbox_depth: Mapped[int | None] = mapped_column(Integer)
    telemetry: Mapped[dict[str, object] | None] = mapped_column(JSON)
    #: The last self-test the kiosk reported (``borne kiosk selftest``), and when it ran.
    selftest: Mapped[dict[str, object] | None] = mapped_column(JSON)
    selftest_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class KioskAssignment(Base):
    """Where a kiosk served, and when: the history behind ``kiosks.espace_id``."""

    __tablename__ = "kiosk_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"), index=True)
    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Vote(Base):
    """One counted press, keyed by its kiosk and the UUID the kiosk gave it, which makes ingest idempotent.

    The same id from another kiosk is another vote (migration tbvoteskey): a kiosk cannot claim, nor shadow,
    another kiosk's votes by sending their ids first.
    """

    __tablename__ = "votes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # No foreign keys: the store takes both from the kiosks and espaces rows it reads in the same transaction, and
    # neither is ever deleted; as constraints they cost a trigger per inserted vote (migration i4votesidx).
    kiosk_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    espace_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    answer: Mapped[int] = mapped_column(SmallInteger)
    scale: Mapped[int] = mapped_column(SmallInteger)
    satisfied: Mapped[bool] = mapped_column(Boolean)
    question: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    clock_synced: Mapped[bool] = mapped_column(Boolean)
    misuse: Mapped[bool] = mapped_column(Boolean, default=False)
    followup: Mapped[str | None] = mapped_column(String(8))
    boot_id: Mapped[str | None] = mapped_column(String(64))
    mono_ms: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)

    # Raw votes are read per espace and period (the API's vote export, the alerts); KPIs read the rollups.
    __table_args__ = (PrimaryKeyConstraint("kiosk_id", "id", name="votes_pkey"),
                      Index("ix_votes_espace_ts", "espace_id", "ts"))


class _AnswerCounts:
    """The counted part of every rollup: votes per scale, answer and misuse flag, after the rollup's own keys.

    ``sort_order`` keeps these columns after the keys each rollup declares (espace or département, day, hour),
    as the migrations create them.
    """

    scale: Mapped[int] = mapped_column(SmallInteger, primary_key=True, sort_order=10)
    answer: Mapped[int] = mapped_column(SmallInteger, primary_key=True, sort_order=11)
    misuse: Mapped[bool] = mapped_column(Boolean, primary_key=True, sort_order=12)
    votes: Mapped[int] = mapped_column(BigInteger, default=0, sort_order=20)


class _FollowupCounts(_AnswerCounts):
    """A rollup of follow-up answers (``yes``, ``no``, ``skipped``), per main answer."""

    followup: Mapped[str] = mapped_column(String(8), primary_key=True, sort_order=13)


class DailyRollup(_AnswerCounts, Base):
    """Counts per espace, local day, scale and answer, kept at ingest so that KPIs never scan raw votes."""

    __tablename__ = "rollup_daily"
    # PostgreSQL: a day of every espace in one range (the national ranking's edge days), not one primary-key look-up
    # an espace. Not on SQLite, whose planner, without statistics, then reads a month of every espace through it
    # (a row look-up each) rather than by the primary key: twice as slow (docs/performance.md, session 5).
    __table_args__ = (Index("ix_rollup_daily_day", "day").ddl_if(dialect="postgresql"),)

    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class Reject(Base):
    """A message the collector could not count, kept with its reason (and its payload, truncated)."""

    __tablename__ = "rejects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(String(255))
    kiosk_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    payload_size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


# -- KPIs, activity, users and alerts -----------------------------------------------------------


class HourlyRollup(_AnswerCounts, Base):
    """Counts per espace, local day and local hour, kept at ingest: the hour x weekday heatmap reads these."""

    __tablename__ = "rollup_hourly"

    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class FollowupRollup(_FollowupCounts, Base):
    """Follow-up answers (``yes``, ``no``, ``skipped``) per espace, local day and main answer, kept at ingest."""

    __tablename__ = "rollup_followup_daily"

    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class EspaceActivity(Base):
    """Acts carried out at an espace in a month (``month`` is the month's first day)."""

    __tablename__ = "activity_espace"

    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    actes: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DepartementActivity(Base):
    """Acts carried out in a département in a month, as the barometer's IND-323 gives them."""

    __tablename__ = "activity_departement"

    departement: Mapped[str] = mapped_column(String(3), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    actes: Mapped[int] = mapped_column(BigInteger)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime)


class KpiTarget(Base):
    """A satisfaction target (in %) for a level; ``code`` empty means every zone of the level."""

    __tablename__ = "kpi_targets"

    level: Mapped[str] = mapped_column(String(16), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True, default="")
    target: Mapped[float] = mapped_column(Float)


class User(Base):
    """A person or system reading the API: a role and, for referents and agents, a scope."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(24))
    scope: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """An API token: only its SHA-256 is kept; ``prefix`` (its first characters) lets people tell them apart."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # none: never


class Alert(Base):
    """An alert raised by a rule on a subject (an espace or a kiosk), cleared when the rule no longer holds."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(100), index=True)
    espace_id: Mapped[str | None] = mapped_column(String(32), index=True)
    kiosk_id: Mapped[str | None] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    detail: Mapped[str] = mapped_column(Text, default="")


# -- Area rollups (national KPIs at 10 M votes) --------------------------------------------------
# The same counts as ``rollup_daily`` and ``rollup_followup_daily`` summed over the espaces of a département,
# and over all of them, kept at ingest so that département, région and national KPIs read a few hundred rows a
# day instead of one per espace. A vote counts in the département of the espace it was attributed to.


class DepartementDailyRollup(_AnswerCounts, Base):
    """``rollup_daily`` summed per département (of the vote's espace)."""

    __tablename__ = "rollup_departement_daily"

    departement: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class DepartementFollowupRollup(_FollowupCounts, Base):
    """``rollup_followup_daily`` summed per département (of the vote's espace)."""

    __tablename__ = "rollup_departement_followup_daily"

    departement: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)


class NationalDailyRollup(_AnswerCounts, Base):
    """``rollup_daily`` summed over every espace."""

    __tablename__ = "rollup_national_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class NationalFollowupRollup(_FollowupCounts, Base):
    """``rollup_followup_daily`` summed over every espace."""

    __tablename__ = "rollup_national_followup_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


# -- Long-period rollups (the national ranking and heatmap at 10 M votes) ----------------------------------
# ``rollup_daily`` summed per month and per year (the ranking of every espace over a year reads one or a few rows
# an espace and answer instead of 365), and ``rollup_hourly`` summed over every espace (the national heatmap reads
# one row an hour instead of one an espace and hour). Kept at ingest, in the same transaction, like the area
# rollups.


class MonthlyRollup(_AnswerCounts, Base):
    """``rollup_daily`` summed per espace and local month (``month`` is the month's first day)."""

    __tablename__ = "rollup_monthly"

    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)


class YearlyRollup(_AnswerCounts, Base):
    """``rollup_daily`` summed per espace and local year (``year`` is the year's first day)."""

    __tablename__ = "rollup_yearly"

    espace_id: Mapped[str] = mapped_column(ForeignKey("espaces.id"), primary_key=True)
    year: Mapped[date] = mapped_column(Date, primary_key=True)


class NationalHourlyRollup(_AnswerCounts, Base):
    """``rollup_hourly`` summed over every espace."""

    __tablename__ = "rollup_national_hourly"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


# -- Département rollups of hours and months (a région's heatmap, the participation of an area) --------------
# ``rollup_hourly`` summed per département (a région's heatmap reads one row a département, day, hour and answer
# instead of one an espace), and ``rollup_departement_daily`` per month (the participation of a département, a
# région or the nation reads one row a département, month and answer instead of one an espace). Kept at ingest,
# in the same transaction, like the other area rollups.


class DepartementHourlyRollup(_AnswerCounts, Base):
    """``rollup_hourly`` summed per département (of the vote's espace)."""

    __tablename__ = "rollup_departement_hourly"

    departement: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)


class DepartementMonthlyRollup(_AnswerCounts, Base):
    """``rollup_departement_daily`` summed per local month (``month`` is the month's first day)."""

    __tablename__ = "rollup_departement_monthly"

    departement: Mapped[str] = mapped_column(String(3), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)


# -- Programme staff signing in through OpenID Connect (collector/staff/) ---------------------------------
# People, not machines: who may sign in and with which role (the access list admins keep), their server-side
# sessions, the sign-ins under way, and the audit log of every change to the list.


class StaffAccess(Base):
    """A person allowed on the dashboard, by email or by the provider's subject, with a role and a scope."""

    __tablename__ = "staff_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)  # lowercased
    subject: Mapped[str | None] = mapped_column(String(255), unique=True)  # the provider's ``sub``
    name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(24))
    scope: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class StaffSession(Base):
    """A signed-in person's session: only the SHA-256 of its cookie and of its CSRF token are kept."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    access_id: Mapped[int] = mapped_column(ForeignKey("staff_access.id"), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    id_token: Mapped[str | None] = mapped_column(Text)  # the provider's, for its sign-out (id_token_hint)
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the absolute expiry
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OidcLogin(Base):
    """A sign-in under way: the SHA-256 of its ``state`` and of the browser's login cookie; used once."""

    __tablename__ = "oidc_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    next_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class AuditEntry(Base):
    """One change to the access list (or a sign-in): who, when, what, from where."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(320))
    detail: Mapped[dict[str, object] | None] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(64))


# -- Fleet software updates ---------------------------------------------------------------------------


class Rollout(Base):
    """A release asked of some kiosks (``borne collector fleet update``), retained on their ``release`` topic.

    ``kiosks`` maps each kiosk targeted to the release it ran when the rollout began (``None``: its factory
    install), which is what a rollback asks of it again. ``state``: active, paused or rolled_back.
    """

    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(64))
    kiosks: Mapped[dict[str, object]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(100))
