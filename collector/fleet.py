"""Fleet software updates, the collector's side: the releases it serves, and rollouts to stages of the fleet.

**Releases** are signed by the programme apart from the collector (``borne release sign``); ``borne collector
fleet add DIR`` copies one into ``data_dir/releases/<version>/`` (``release.json`` and its wheels), after checking
it against the signed manifest, and against the programme's public key when ``release_public_key`` is set. The
API serves them to kiosks (:mod:`collector.api.routes.releases`). Holding the collector is not enough to make a
kiosk run code: each kiosk checks the signature itself.

**Rollouts** (:class:`~collector.db.models.Rollout`): ``fleet update VERSION`` with a stage (one kiosk, an
espace, a département, a percentage of the fleet, all) records the kiosks targeted, with the release each runs,
and publishes the desired release retained to each (:mod:`collector.broker.releases`). A kiosk's progress comes
back in its heartbeat (``release``, ``update_result``), which the store keeps in ``kiosks.telemetry``:
:func:`progress` reads it. ``pause`` clears the desired release of the kiosks not yet updated; ``resume``
publishes it again; ``rollback`` asks each kiosk again for the release it ran before (a kiosk that ran its
factory install is only cleared: there is no release to go back to). A rollout whose kiosks are neither updated
nor failed after ``Rules.rollout_stalled`` raises the ``rollout-stalled`` alert (:mod:`collector.alerts`).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.config import Settings
from collector.db.models import Espace, Kiosk, Rollout
from protocol.models import DesiredRelease
from protocol.release import RELEASE_FILE, ReleaseInvalid, file_sha256, parse_manifest, valid_version, verify

_LOG = logging.getLogger(__name__)

STAGES = ("kiosk", "espace", "departement", "percent", "all")
ACTIVE, PAUSED, ROLLED_BACK = "active", "paused", "rolled_back"
#: An active rollout with kiosks neither updated nor failed this long after its last change is stalled.
STALLED_AFTER = timedelta(hours=2)


class FleetError(ValueError):
    """A release or a rollout that cannot be used; the message says why."""


# -- the release store ---------------------------------------------------------------------------------------


def releases_dir(settings: Settings) -> Path:
    return settings.data_dir / "releases"


def release_path(settings: Settings, version: str) -> Path | None:
    """The directory of a stored release, or None."""
    if not valid_version(version):
        return None
    path = releases_dir(settings) / version
    return path if (path / RELEASE_FILE).is_file() else None



def add_release(settings: Settings, source: Path, public_key: str | None = None) -> str:
    """Copy the signed release in ``source`` into the store; returns its version. Every file is checked against
    the manifest; the signature too when a public key is given."""
    try:
        payload = (source / RELEASE_FILE).read_bytes()
    except OSError as exc:
        raise FleetError(f"{source}: no readable {RELEASE_FILE} ({exc.strerror})") from None
    try:
        if public_key:
            manifest = verify(payload, public_key)
        else:
            import json

            manifest = parse_manifest(json.loads(payload).get("manifest"))
    except (ReleaseInvalid, ValueError, AttributeError) as exc:
        raise FleetError(f"{source}: {exc}") from None
    for file in manifest.files:
        path = source / file.name
        if not path.is_file() or path.stat().st_size != file.size or file_sha256(path) != file.sha256:
            raise FleetError(f"{source}: {file.name} is missing or not the file the release signed")
    final = releases_dir(settings) / manifest.version
    if final.exists():
        raise FleetError(f"release {manifest.version} is already stored")
    tmp = final.with_name(f".{manifest.version}.{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    for file in manifest.files:
        shutil.copy2(source / file.name, tmp / file.name)
    shutil.copy2(source / RELEASE_FILE, tmp / RELEASE_FILE)
    tmp.rename(final)
    _LOG.info("release %s stored (%d files)", manifest.version, len(manifest.files))
    return manifest.version


def stored_releases(settings: Settings) -> list[str]:
    root = releases_dir(settings)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if release_path(settings, p.name) is not None)


def revoked_by(settings: Settings) -> dict[str, str]:
    """Releases that a stored release revokes, each with (the first of) those that revoke it. What kiosks would
    refuse: a rollout of one is refused here too, so that the operator hears it now rather than from each kiosk."""
    import json

    revoked: dict[str, str] = {}
    for version in stored_releases(settings):
        path = releases_dir(settings) / version / RELEASE_FILE
        try:
            manifest = parse_manifest(json.loads(path.read_bytes()).get("manifest"))
        except (OSError, ReleaseInvalid, ValueError, AttributeError):
            continue
        for withdrawn in manifest.revokes:
            revoked.setdefault(withdrawn, version)
    return revoked


# -- rollouts ------------------------------------------------------------------------------------------------


def new_rollout_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"r-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"


def in_percent(kiosk_id: str, percent: float) -> bool:
    """Whether a kiosk is in the first ``percent`` of the fleet: by a hash of its id, so that the same kiosks
    go first at every rollout (the canaries), and 10 % holds the 5 % ones."""
    bucket = int.from_bytes(hashlib.sha256(kiosk_id.encode()).digest()[:4], "big") % 10_000
    return bucket < percent * 100


def stage_kiosks(session: Session, stage: str, target: str | None) -> list[str]:
    """The non-revoked kiosks of a stage."""
    query = (select(Kiosk.id).join(Espace, Espace.id == Kiosk.espace_id)
             .where(Kiosk.revoked_at.is_(None)).order_by(Kiosk.id))
    if stage == "kiosk":
        query = query.where(Kiosk.id == target)
    elif stage == "espace":
        query = query.where(Kiosk.espace_id == target)
    elif stage == "departement":
        query = query.where(Espace.departement == target)
    elif stage == "percent":
        try:
            percent = float(target or "")
        except ValueError:
            raise FleetError(f"percent: {target!r} is not a number") from None
        if not 0 < percent <= 100:
            raise FleetError("percent: from 0 (excluded) to 100")
        return [k for k in session.scalars(query) if in_percent(k, percent)]
    elif stage != "all":
        raise FleetError(f"unknown stage {stage!r}: one of {', '.join(STAGES)}")
    return list(session.scalars(query))


def _running(session: Session, kiosk_ids: list[str]) -> dict[str, str | None]:
    rows = session.execute(select(Kiosk.id, Kiosk.telemetry).where(Kiosk.id.in_(kiosk_ids)))
    found = {r.id: (r.telemetry or {}).get("release") for r in rows}
    return {k: (str(found[k]) if found.get(k) else None) for k in kiosk_ids}


def plan(session: Session, settings: Settings, version: str, stage: str, target: str | None,
         user: str | None = None) -> tuple[Rollout, dict[str, DesiredRelease | None]]:
    """A new rollout (added to the session) and what to publish for it."""
    if release_path(settings, version) is None:
        raise FleetError(f"release {version} is not stored: 'borne collector fleet add DIR' first")
    by = revoked_by(settings).get(version)
    if by is not None:
        raise FleetError(f"release {version} is revoked by release {by}: kiosks would refuse it")
    if stage != "all" and not target:
        raise FleetError(f"stage {stage} needs a target")
    kiosk_ids = stage_kiosks(session, stage, target)
    if not kiosk_ids:
        raise FleetError(f"no kiosk in stage {stage} {target or ''}".strip())
    now = datetime.now(UTC)
    rollout = Rollout(id=new_rollout_id(now), version=version, stage=stage, target=target,
                      kiosks=dict(_running(session, kiosk_ids)), state=ACTIVE, created_at=now, updated_at=now,
                      created_by=user)
    session.add(rollout)
    desired = DesiredRelease(version=version, rollout=rollout.id)
    return rollout, dict.fromkeys(kiosk_ids, desired)


def get(session: Session, rollout_id: str | None) -> Rollout:
    """A rollout by id; the latest one when ``rollout_id`` is None."""
    query = select(Rollout)
    query = query.where(Rollout.id == rollout_id) if rollout_id else query.order_by(Rollout.created_at.desc())
    rollout = session.scalars(query.limit(1)).first()
    if rollout is None:
        raise FleetError(f"no rollout {rollout_id}" if rollout_id else "no rollout yet")
    return rollout


@dataclass(frozen=True, slots=True)
class KioskProgress:
    kiosk_id: str
    running: str | None
    desired: str | None
    status: str | None
    result: str | None
    state: str  # updated, failed, waiting


def progress(session: Session, rollout: Rollout) -> list[KioskProgress]:
    """Where each kiosk of a rollout is, from its last heartbeat."""
    rows = session.execute(select(Kiosk.id, Kiosk.telemetry).where(Kiosk.id.in_(list(rollout.kiosks))))
    telemetry = {r.id: (r.telemetry or {}) for r in rows}
    out = []
    for kiosk_id in sorted(rollout.kiosks):
        t = telemetry.get(kiosk_id, {})
        result = t.get("update_result")
        state = "waiting"
        if t.get("release") == rollout.version:
            state = "updated"
        elif isinstance(result, str) and result.split(":")[0] in (f"refused {rollout.version}",
                                                                   f"rolled_back {rollout.version}"):
            state = "failed"
        out.append(KioskProgress(kiosk_id, t.get("release"), t.get("release_desired"), t.get("update_status"),
                                 result, state))
    return out


def summary(session: Session, rollout: Rollout) -> dict[str, int]:
    counts = Counter(p.state for p in progress(session, rollout))
    return {"kiosks": len(rollout.kiosks), **{k: counts.get(k, 0) for k in ("updated", "failed", "waiting")}}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def stalled(rollout: Rollout, counts: dict[str, int], now: datetime | None = None,
            after: timedelta = STALLED_AFTER) -> str | None:
    """Why an active rollout is stalled (``counts`` from :func:`summary`), or None: it has failed kiosks (a
    failure stops nothing by itself: someone should look, then pause or roll back), or kiosks neither updated
    nor failed ``after`` its last change. The ``rollout-stalled`` alert's rule, and the dashboard's column."""
    if rollout.state != ACTIVE:
        return None
    now = now or datetime.now(UTC)
    if counts["failed"]:
        return f"release {rollout.version}: {counts['failed']} of {counts['kiosks']} kiosks failed to update"
    if counts["waiting"] and _aware(rollout.updated_at) < now - after:
        return (f"release {rollout.version}: {counts['waiting']} of {counts['kiosks']} kiosks not updated after "
                f"{after.total_seconds() / 3600:.0f} h")
    return None


def recent(session: Session, limit: int = 50) -> list[Rollout]:
    """The latest rollouts, newest first."""
    return list(session.scalars(select(Rollout).order_by(Rollout.created_at.desc(), Rollout.id).limit(limit)))


def pause(session: Session, rollout: Rollout) -> dict[str, DesiredRelease | None]:
    """Stop a rollout where it is: the kiosks not updated yet are cleared (those updating finish)."""
    if rollout.state != ACTIVE:
        raise FleetError(f"rollout {rollout.id} is {rollout.state}, not active")
    rollout.state, rollout.updated_at = PAUSED, datetime.now(UTC)
    return {p.kiosk_id: None for p in progress(session, rollout) if p.state == "waiting"}


def resume(session: Session, rollout: Rollout) -> dict[str, DesiredRelease | None]:
    if rollout.state != PAUSED:
        raise FleetError(f"rollout {rollout.id} is {rollout.state}, not paused")
    rollout.state, rollout.updated_at = ACTIVE, datetime.now(UTC)
    desired = DesiredRelease(version=rollout.version, rollout=rollout.id)
    return {p.kiosk_id: desired for p in progress(session, rollout) if p.state == "waiting"}


def rollback(session: Session, settings: Settings, rollout: Rollout) -> dict[str, DesiredRelease | None]:
    """Ask each kiosk of the rollout for the release it ran before it (cleared if none, not stored, or revoked)."""
    if rollout.state == ROLLED_BACK:
        raise FleetError(f"rollout {rollout.id} is already rolled back")
    rollout.state, rollout.updated_at = ROLLED_BACK, datetime.now(UTC)
    back_id = f"{rollout.id}-back"[:64]
    revoked = revoked_by(settings)
    out: dict[str, DesiredRelease | None] = {}
    for kiosk_id, before in rollout.kiosks.items():
        usable = isinstance(before, str) and release_path(settings, before) is not None and before not in revoked
        out[kiosk_id] = DesiredRelease(version=str(before), rollout=back_id) if usable else None
    return out
