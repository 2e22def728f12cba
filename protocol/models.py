"""Payload models, the one definition of what a kiosk and a collector say to each other.

Every payload is UTF-8 JSON carrying ``"v": 1``. Models refuse unknown fields, so that a typo is an error
and not a silently lost answer. ``docs/protocol.md`` documents them and ``protocol/schema/`` holds their
JSON Schemas, exported from these models by ``borne protocol schema``.
"""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from protocol.checks import MAX_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES  # re-exported: part of the contract
from protocol.checks import TIME_MAX as TIME_MAX  # re-exported: part of the contract
from protocol.checks import TIME_MIN as TIME_MIN
from protocol.hours import check_table
from protocol.scales import MAX_SIZE, MIN_SIZE
from protocol.topics import KIOSK_ID_PATTERN

_LOG = logging.getLogger(__name__)

PROTOCOL_VERSION: Literal[1] = 1
#: Votes in one batch: a week of a busy espace's backlog fits in a few batches.
MAX_VOTES_PER_BATCH = 500

KioskId = Annotated[str, StringConstraints(pattern=f"^{KIOSK_ID_PATTERN}$")]
QuestionId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
#: A time with its UTC offset, within ``[TIME_MIN, TIME_MAX)`` (``protocol.checks``, whose ``time_in_range`` is the
#: kiosk's side of the same rule). As pydantic-core's own bounds, compared as aware times: a Python validator per
#: vote made decoding a batch 40 % slower.
ProtocolTime = Annotated[AwareDatetime, Field(ge=TIME_MIN, lt=TIME_MAX)]
DEFAULT_QUESTION = "fs-satisfaction-1"
FOLLOWUP_QUESTION = "fs-resolved-1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FollowUp(_Model):
    """The follow-up question « Votre demande a-t-elle été traitée aujourd'hui ? » (protocol 1, revision 2).

    ``answer`` is ``None`` when the question was shown and the visitor left without answering.
    """

    question: QuestionId = FOLLOWUP_QUESTION
    answer: Literal["yes", "no"] | None = None


class Vote(_Model):
    """One press of one answer, as recorded on the kiosk's disk."""

    id: uuid.UUID = Field(description="Globally unique; the key that makes every step idempotent.")
    seq: int = Field(ge=1, le=2**53, description="Per-kiosk sequence number, from 1, without gaps.")
    answer: int = Field(ge=1, le=MAX_SIZE, description="1 = least satisfied ... scale = most satisfied.")
    scale: int = Field(ge=MIN_SIZE, le=MAX_SIZE, description="How many answers were offered.")
    question: QuestionId = Field(default=DEFAULT_QUESTION, description="Which question was asked.")
    ts: ProtocolTime = Field(description="Wall-clock time of the press, with its UTC offset.")
    clock_synced: bool = Field(description="Whether the kiosk's clock was synchronised (NTP) at the press.")
    misuse: bool = Field(
        default=False,
        description="Pressed within the repeat interval after a counted vote: kept, left out of KPIs by default.",
    )
    boot_id: str | None = Field(
        default=None, max_length=64, description="The kiosk's boot id, to correct a boot's times later."
    )
    mono_ms: int | None = Field(default=None, ge=0, description="Monotonic time of the press, in ms.")
    followup: FollowUp | None = Field(default=None, description="The follow-up question's answer, if asked.")

    @model_validator(mode="after")
    def _answer_on_scale(self) -> Vote:
        if self.answer > self.scale:
            raise ValueError(f"answer {self.answer} is not on a {self.scale}-answer scale")
        return self


class VoteBatch(_Model):
    """Several votes of one kiosk in one message, on ``fs/v1/kiosks/{kiosk_id}/votes``."""

    v: Literal[1] = PROTOCOL_VERSION
    kiosk_id: KioskId
    sent_at: ProtocolTime
    votes: list[Vote] = Field(min_length=1, max_length=MAX_VOTES_PER_BATCH)

    @model_validator(mode="after")
    def _unique_ids(self) -> VoteBatch:
        if len({v.id for v in self.votes}) != len(self.votes):
            raise ValueError("a vote id appears twice in the batch")
        return self


class Receipt(_Model):
    """The collector's word that votes are committed, on ``fs/v1/kiosks/{kiosk_id}/receipts``.

    ``stored`` were counted (or were already); ``rejected`` were kept in quarantine with a reason. Either way
    the kiosk stops sending them. A broker's PUBACK says the broker has a message; only a receipt says it is in
    the database, which is what survives a broker that dies before delivering.
    """

    v: Literal[1] = PROTOCOL_VERSION
    stored: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_VOTES_PER_BATCH)
    rejected: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_VOTES_PER_BATCH)


class Status(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class StatusMessage(_Model):
    """Retained on ``fs/v1/kiosks/{kiosk_id}/status``; the ``offline`` one is the kiosk's Last Will."""

    v: Literal[1] = PROTOCOL_VERSION
    status: Status
    ts: ProtocolTime
    version: str | None = Field(default=None, max_length=64)


class Telemetry(_Model):
    """The kiosk's heartbeat on ``fs/v1/kiosks/{kiosk_id}/telemetry``."""

    v: Literal[1] = PROTOCOL_VERSION
    ts: ProtocolTime
    uptime_s: float = Field(ge=0)
    version: str = Field(max_length=64)
    outbox_depth: int = Field(ge=0, description="Votes recorded and not yet confirmed by a receipt.")
    oldest_unsent_age_s: float | None = Field(default=None, ge=0)
    clock_synced: bool | None = None
    free_disk_bytes: int | None = Field(default=None, ge=0)
    cpu_temp_c: float | None = None
    config_version: str | None = Field(default=None, max_length=64)
    config_rejected: str | None = Field(
        default=None, max_length=300, description="The last remote configuration refused: its version and why."
    )
    disk_low: bool | None = Field(default=None, description="Free space on the outbox's partition is low.")
    votes_refused: int | None = Field(
        default=None, ge=0, description="Presses that could not be recorded (outbox or disk full) since boot."
    )
    boot_id: str | None = Field(default=None, max_length=64)
    clock_offset_s: float | None = Field(
        default=None, description="The correction applied to this boot's votes when its clock synchronised."
    )
    release: str | None = Field(default=None, max_length=64, description="The release running; none: factory.")
    release_desired: str | None = Field(default=None, max_length=64, description="The release asked for.")
    update_status: str | None = Field(
        default=None, max_length=100, description="What the update agent does: idle, downloading, confirming..."
    )
    update_result: str | None = Field(
        default=None, max_length=300,
        description="The last update's outcome: 'installed V', 'rolled_back V: why' or 'refused V: why'.",
    )


ConfigVersion = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$")]


class RemoteConfig(_Model):
    """Settings the collector sets on a kiosk, retained on ``fs/v1/kiosks/{kiosk_id}/config``.

    A field left out (``null``) keeps the kiosk's own setting. The kiosk validates the whole message, applies
    it without a restart and reports ``version`` in its telemetry (``config_version``); a message it cannot
    apply is refused whole (``config_rejected``) and the previous configuration stays.
    """

    v: Literal[1] = PROTOCOL_VERSION
    version: ConfigVersion = Field(description="Chosen by the collector; reported back once applied.")
    scale: int | None = Field(default=None, ge=MIN_SIZE, le=MAX_SIZE, description="Answers offered.")
    followup: bool | None = Field(default=None, description="Ask the follow-up question after an answer.")
    repeat_interval_s: float | None = Field(
        default=None, ge=0, le=600, description="Presses this soon after a counted vote are flagged misuse."
    )
    opening_hours: dict[str, str] | None = Field(
        default=None, description="Per weekday (mon..sun), 'HH:MM-HH:MM' ranges separated by commas."
    )
    language: Literal["fr", "en", "es", "de"] | None = Field(default=None, description="Language shown first.")

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, hours: dict[str, str] | None) -> dict[str, str] | None:
        if hours is not None:
            check_table(hours)
        return hours


ReleaseVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")]


class DesiredRelease(_Model):
    """The release a kiosk should run, retained on ``fs/v1/kiosks/{kiosk_id}/release``.

    Only a name: what the kiosk installs is the release signed by the programme's key, fetched from the
    collector's API (``docs/field.md``). ``rollout`` tells rollouts of the same version apart: a kiosk that
    refused or rolled back a version does not try it again in the same rollout.
    """

    v: Literal[1] = PROTOCOL_VERSION
    version: ReleaseVersion
    rollout: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class CheckOutcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class SelfTestCheck(_Model):
    """One check of a self-test: ``buttons``, ``leds``, ``screen``, ``clock``, ``broker``, ``disk``..."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    outcome: CheckOutcome
    detail: str = Field(default="", max_length=500, description="What was seen, or what to do about it.")


class SelfTestReport(_Model):
    """A kiosk's self-test, retained on ``fs/v1/kiosks/{kiosk_id}/selftest`` (``borne kiosk selftest``)."""

    v: Literal[1] = PROTOCOL_VERSION
    ts: ProtocolTime
    passed: bool = Field(description="Every check passed (a skipped check does not fail the test).")
    checks: list[SelfTestCheck] = Field(min_length=1, max_length=32)
    version: str | None = Field(default=None, max_length=64)
    technician: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> SelfTestReport:
        if self.passed and any(c.outcome is CheckOutcome.FAILED for c in self.checks):
            raise ValueError("a self-test with a failed check cannot have passed")
        return self


def utcnow() -> datetime:
    return datetime.now(UTC)
