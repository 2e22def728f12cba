"""Remote configuration of kiosks: the collector's side.

A configuration (:class:`~protocol.models.RemoteConfig`) is published *retained* on each target kiosk's
``fs/v1/kiosks/{id}/config``, so that the broker hands it to the kiosk at every connection, however long the
kiosk was away. For an espace, it goes to each of the espace's kiosks at the time (a kiosk added later gets
it by publishing again). An empty retained message clears it: the kiosk goes back to its local file.

The version each kiosk has applied, or the one it refused and why, comes back in its telemetry, which the
store keeps in ``kiosks.telemetry``: :func:`reported` reads it.

Published and read back by :mod:`collector.broker.publisher` (its own short connections and account, on every
broker): used by the command line, apart from the ingest's long-lived client.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.broker import client as mqtt
from collector.broker.publisher import close, connect, publish_retained
from collector.config import Settings
from collector.db.models import Kiosk
from protocol.codec import decode, encode
from protocol.errors import ProtocolError
from protocol.models import RemoteConfig
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)


class KioskConfigError(ValueError):
    """A configuration or a target that cannot be used; the message says why."""


def new_version(now: datetime | None = None) -> str:
    """A version that sorts by time: ``YYYYMMDDTHHMMSS-xxxx``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"


def build(version: str | None = None, **fields: Any) -> RemoteConfig:
    """A validated configuration from the fields given (``None`` ones are left to the kiosk)."""
    try:
        return RemoteConfig(version=version or new_version(),
                            **{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise KioskConfigError(f"{where}: {first['msg']}") from None


def parse_hours(specs: Iterable[str]) -> dict[str, str] | None:
    """``["mon=09:00-12:00,13:30-17:00", "sat="]`` -> ``{"mon": "09:00-12:00,13:30-17:00", "sat": ""}``."""
    hours: dict[str, str] = {}
    for spec in specs:
        day, sep, ranges = spec.partition("=")
        if not sep:
            raise KioskConfigError(f"opening hours {spec!r}: expected DAY=HH:MM-HH:MM[,HH:MM-HH:MM]")
        hours[day.strip().lower()] = ranges.strip()
    return hours or None


def targets(session: Session, *, kiosk_id: str | None = None, espace_id: str | None = None) -> list[str]:
    """The kiosks to configure: one kiosk, or every kiosk of an espace; revoked ones are left out."""
    if (kiosk_id is None) == (espace_id is None):
        raise KioskConfigError("name one kiosk or one espace (--espace)")
    query = select(Kiosk.id).where(Kiosk.revoked_at.is_(None)).order_by(Kiosk.id)
    if kiosk_id is not None:
        ids = list(session.scalars(query.where(Kiosk.id == kiosk_id)))
        if not ids:
            raise KioskConfigError(f"unknown or revoked kiosk {kiosk_id}")
        return ids
    ids = list(session.scalars(query.where(Kiosk.espace_id == espace_id)))
    if not ids:
        raise KioskConfigError(f"espace {espace_id} has no kiosk")
    return ids


@dataclass(frozen=True, slots=True)
class Reported:
    """What a kiosk last said about its configuration, from its telemetry."""

    kiosk_id: str
    applied: str | None
    rejected: str | None
    last_seen: datetime | None


def reported(session: Session, kiosk_ids: Iterable[str]) -> list[Reported]:
    ids = list(kiosk_ids)
    rows = session.execute(select(Kiosk.id, Kiosk.telemetry, Kiosk.last_seen).where(Kiosk.id.in_(ids)))
    by_id = {r.id: r for r in rows}
    out = []
    for kiosk_id in ids:
        row = by_id.get(kiosk_id)
        telemetry = (row.telemetry if row is not None else None) or {}
        out.append(Reported(kiosk_id, telemetry.get("config_version"), telemetry.get("config_rejected"),
                            row.last_seen if row is not None else None))
    return out


# -- the broker ----------------------------------------------------------------------------------------------


def publish(settings: Settings, kiosk_ids: Iterable[str], config: RemoteConfig | None,
            timeout: float = 10.0) -> None:
    """Publish ``config`` retained to each kiosk (``None``: clear it); returns once the brokers have them all."""
    payload = encode(config) if config is not None else b""
    messages = {kiosk_topic(k, TopicKind.CONFIG): payload for k in kiosk_ids}
    publish_retained(settings, messages, "configuration", timeout)
    _LOG.info("configuration %s published to %d kiosks", config.version if config else "(cleared)",
              len(messages))


def retained(settings: Settings, kiosk_ids: Iterable[str], timeout: float = 2.0) -> dict[str, RemoteConfig | str]:
    """The configuration retained for each kiosk, as the broker holds it (a string says why it is unreadable)."""
    wanted = {kiosk_topic(k, TopicKind.CONFIG): k for k in kiosk_ids}
    found: dict[str, RemoteConfig | str] = {}
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        kiosk_id = wanted.get(message.topic)
        if kiosk_id is None or not message.payload:
            return
        try:
            found[kiosk_id] = decode(RemoteConfig, bytes(message.payload))
        except ProtocolError as exc:
            found[kiosk_id] = f"unreadable: {exc.reason}"

    def setup(client: mqtt.Client) -> None:
        client.on_message = on_message
        client.on_subscribe = lambda *_args: subscribed.set()

    client = connect(settings, settings.mqtt_host, settings.mqtt_port, timeout=10.0, setup=setup)
    try:
        if wanted:
            client.subscribe([(t, 1) for t in wanted])
            subscribed.wait(timeout)
            # Retained messages follow the SUBACK; give them a moment, less if all came.
            deadline = time.monotonic() + timeout
            while len(found) < len(wanted) and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        close(client)
    return found
