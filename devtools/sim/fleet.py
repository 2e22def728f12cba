"""Simulated kiosks on :mod:`devtools.sim.mqtt`: status with Last Will, heartbeats, votes, backlog.

Each kiosk keeps its unconfirmed votes as the real one's outbox does: a vote leaves ``pending`` only when a
collector's receipt names it, so that :class:`FleetStats` can say when every vote is in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import resource
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select

from collector.db.models import Espace, Kiosk, KioskAssignment
from collector.registry.geography import region_of
from devtools.sim.mqtt import MqttConnection, MqttError, Will, connect
from protocol.codec import encode
from protocol.models import MAX_VOTES_PER_BATCH, Receipt, Status, StatusMessage, Telemetry, VoteBatch
from protocol.models import Vote as WireVote
from protocol.topics import TopicKind, kiosk_topic

_LOG = logging.getLogger(__name__)

#: Loopback source addresses used in turn, so that more connections than one address's ephemeral ports fit.
CONNECTIONS_PER_SOURCE = 20_000
#: Simulation, not security: a plain generator.
_RANDOM = random.Random()
DEPARTEMENTS = ("01", "13", "22", "29", "33", "59", "69", "75", "972", "974")


@dataclass
class FleetOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    kiosks: int = 10
    prefix: str = "sim"
    heartbeat_s: float = 60.0
    votes_per_hour: float = 3.0  # a France services espace: about 20 votes over a 7-hour day
    speed: float = 1.0  # 60: an hour of votes in a minute
    backlog: int = 0  # votes each kiosk comes back with (a week: about 150)
    batch: int = 100
    inflight: int = 1  # vote batches in flight per kiosk, as the uplink does
    connect_concurrency: int = 500
    #: Kiosks sharing one MQTT connection (the first one's, with its Last Will): to simulate more kiosks than the
    #: open-file limit allows connections (the broker holds one descriptor a connection). 1: one each, as in life.
    per_connection: int = 1
    keepalive: int = 60
    version: str = "sim-1"


@dataclass
class FleetStats:
    connected: int = 0
    failed: int = 0
    votes_made: int = 0
    votes_acked: int = 0  # PUBACK: the broker has them
    votes_confirmed: int = 0  # receipt: a collector committed them
    heartbeats: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        return (f"{time.monotonic() - self.started:7.1f}s connected={self.connected} failed={self.failed} "
                f"votes made={self.votes_made} acked={self.votes_acked} confirmed={self.votes_confirmed} "
                f"heartbeats={self.heartbeats}")


def kiosk_ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(n)]


def espace_of(kiosk_id: str) -> str:
    return f"fs-{kiosk_id}"


def register_fleet(engine: Engine, ids: Iterable[str], departements: tuple[str, ...] = DEPARTEMENTS) -> int:
    """Register one espace per simulated kiosk (skipping those already there), in bulk; how many were new."""
    ids = list(ids)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        known = set(conn.scalars(select(Kiosk.id).where(Kiosk.id.like(f"{ids[0].rsplit('-', 1)[0]}-%"))))
        new = [k for k in ids if k not in known]
        for start in range(0, len(new), 5000):
            chunk = new[start:start + 5000]
            deps = [departements[zlib.crc32(k.encode()) % len(departements)] for k in chunk]
            conn.execute(insert(Espace), [
                {"id": espace_of(k), "name": f"France services {k}", "departement": d, "region": region_of(d),
                 "kind": "Principal", "updated_at": now}
                for k, d in zip(chunk, deps, strict=True)])
            conn.execute(insert(Kiosk), [
                {"id": k, "espace_id": espace_of(k), "created_at": now - timedelta(days=30), "status": "unknown"}
                for k in chunk])
            conn.execute(insert(KioskAssignment), [
                {"kiosk_id": k, "espace_id": espace_of(k), "started_at": now - timedelta(days=30)} for k in chunk])
    return len(new)


class SimKiosk:
    """One simulated kiosk."""

    def __init__(self, kiosk_id: str, options: FleetOptions, stats: FleetStats, local_host: str | None) -> None:
        self.kiosk_id = kiosk_id
        self.options = options
        self.stats = stats
        self.local_host = local_host
        self.seq = 0
        self.pending: dict[uuid.UUID, WireVote] = {}
        self.unsent: list[WireVote] = []
        self.connection: MqttConnection | None = None
        self.leads = True  # owns its connection (False: shares another kiosk's)
        self.boot_id = uuid.uuid4().hex[:16]
        self.started = time.monotonic()
        self._wake = asyncio.Event()
        self._topics = {kind: kiosk_topic(kiosk_id, kind) for kind in TopicKind}

    def make_vote(self, ts: datetime) -> WireVote:
        self.seq += 1
        scale = 4
        vote = WireVote.model_construct(
            id=uuid.uuid4(), seq=self.seq, answer=_RANDOM.choices((1, 2, 3, 4), (1, 2, 4, 6))[0], scale=scale,
            question="fs-satisfaction-1", ts=ts, clock_synced=True, misuse=False, boot_id=self.boot_id,
            mono_ms=None, followup=None)
        self.unsent.append(vote)
        self.stats.votes_made += 1
        return vote

    def make_backlog(self, n: int, now: datetime) -> None:
        """``n`` votes spread over the last week, oldest first."""
        offsets = sorted((_RANDOM.uniform(0, 7 * 86400) for _ in range(n)), reverse=True)
        for offset in offsets:
            self.make_vote(now - timedelta(seconds=offset))

    def _status(self, status: Status) -> bytes:
        return encode(StatusMessage(status=status, ts=datetime.now(UTC), version=self.options.version))

    def _on_message(self, topic: str, payload: bytes) -> None:
        if not topic.endswith("/receipts"):
            return
        try:
            receipt = Receipt.model_validate_json(payload)
        except ValueError:
            _LOG.warning("%s: unreadable receipt", self.kiosk_id)
            return
        for vote_id in (*receipt.stored, *receipt.rejected):
            if self.pending.pop(vote_id, None) is not None:
                self.stats.votes_confirmed += 1

    async def connect(self, on_message: Callable[[str, bytes], None] | None = None,
                      shared: MqttConnection | None = None) -> None:
        """Connect (with a Last Will), or take ``shared``, another kiosk's connection; subscribe, say online."""
        o = self.options
        if shared is None:
            will = Will(self._topics[TopicKind.STATUS], self._status(Status.OFFLINE))
            self.connection = await connect(o.host, o.port, self.kiosk_id, keepalive=o.keepalive, will=will,
                                            on_message=on_message or self._on_message, local_host=self.local_host)
        else:
            self.connection, self.leads = shared, False
        await self.connection.subscribe(self._topics[TopicKind.RECEIPTS], 1)
        await self.connection.publish(self._topics[TopicKind.STATUS], self._status(Status.ONLINE), qos=1,
                                      retain=True)

    async def send_unsent(self) -> None:
        """Send what is unsent in batches, ``inflight`` at a time, each waiting for its PUBACK."""
        assert self.connection is not None
        size = min(self.options.batch, MAX_VOTES_PER_BATCH)
        window: list[tuple[asyncio.Future[None], int]] = []
        while self.unsent:
            votes, self.unsent = self.unsent[:size], self.unsent[size:]
            for v in votes:
                self.pending[v.id] = v
            batch = VoteBatch.model_construct(v=1, kiosk_id=self.kiosk_id, sent_at=datetime.now(UTC), votes=votes)
            window.append((self.connection.publish_nowait(self._topics[TopicKind.VOTES], encode(batch), qos=1),
                           len(votes)))
            if len(window) >= self.options.inflight:
                future, n = window.pop(0)
                await future
                self.stats.votes_acked += n
        for future, n in window:
            await future
            self.stats.votes_acked += n

    async def heartbeat(self) -> None:
        assert self.connection is not None
        telemetry = Telemetry(ts=datetime.now(UTC), uptime_s=time.monotonic() - self.started,
                              version=self.options.version, outbox_depth=len(self.pending) + len(self.unsent))
        await self.connection.publish(self._topics[TopicKind.TELEMETRY], encode(telemetry), qos=0)
        self.stats.heartbeats += 1

    async def heartbeats(self) -> None:
        # Spread the fleet's heartbeats over the period, as kiosks started at different times would.
        await asyncio.sleep(_RANDOM.uniform(0, self.options.heartbeat_s))
        while True:
            await self.heartbeat()
            await asyncio.sleep(self.options.heartbeat_s)

    async def vote_live(self) -> None:
        """Votes as a Poisson process at ``votes_per_hour`` x ``speed``."""
        rate = self.options.votes_per_hour * self.options.speed / 3600
        if rate <= 0:
            return
        while True:
            await asyncio.sleep(_RANDOM.expovariate(rate))
            self.make_vote(datetime.now(UTC))
            await self.send_unsent()


def raise_open_files(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (root may raise the hard limit too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, soft), max(wanted, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _source_for(index: int, host: str) -> str | None:
    """Another loopback source address every ``CONNECTIONS_PER_SOURCE`` connections (loopback only)."""
    try:
        if not ipaddress.ip_address(host).is_loopback or index < CONNECTIONS_PER_SOURCE:
            return None
    except ValueError:
        return None
    return f"127.0.0.{2 + index // CONNECTIONS_PER_SOURCE}"


class Fleet:
    """N simulated kiosks: :meth:`connect_all`, then :meth:`run` their behaviour, then :meth:`close`."""

    def __init__(self, options: FleetOptions) -> None:
        self.options = options
        self.stats = FleetStats()
        per = max(1, options.per_connection)
        self.kiosks = [SimKiosk(k, options, self.stats, _source_for(i // per, options.host))
                       for i, k in enumerate(kiosk_ids(options.prefix, options.kiosks))]
        self._by_id = {k.kiosk_id: k for k in self.kiosks}
        self._tasks: list[asyncio.Task[None]] = []
        raise_open_files(-(-options.kiosks // per) * 2 + 1024)

    def _route(self, topic: str, payload: bytes) -> None:
        """A message on a (possibly shared) connection, to the kiosk its topic names."""
        parts = topic.split("/")
        kiosk = self._by_id.get(parts[3]) if len(parts) > 3 else None
        if kiosk is not None:
            kiosk._on_message(topic, payload)

    def make_backlog(self) -> None:
        now = datetime.now(UTC)
        for kiosk in self.kiosks:
            kiosk.make_backlog(self.options.backlog, now)

    async def connect_all(self) -> None:
        gate = asyncio.Semaphore(self.options.connect_concurrency)
        per = max(1, self.options.per_connection)

        async def group(kiosks: list[SimKiosk]) -> None:
            lead, *others = kiosks
            async with gate:
                for attempt in range(5):
                    try:
                        await lead.connect(self._route)
                        self.stats.connected += 1
                        break
                    except (OSError, MqttError, TimeoutError) as exc:
                        _LOG.debug("%s: connection failed (%s), attempt %d", lead.kiosk_id, exc, attempt + 1)
                        await asyncio.sleep(0.5 * (attempt + 1))
                else:
                    self.stats.failed += len(kiosks)
                    return
                for kiosk in others:
                    try:
                        await kiosk.connect(shared=lead.connection)
                        self.stats.connected += 1
                    except (OSError, MqttError, TimeoutError):
                        self.stats.failed += 1

        await asyncio.gather(*(group(self.kiosks[i:i + per]) for i in range(0, len(self.kiosks), per)))

    def start_behaviour(self, *, heartbeats: bool = True, live_votes: bool = True) -> None:
        loop = asyncio.get_running_loop()
        for kiosk in self.kiosks:
            if kiosk.connection is None:
                continue
            if heartbeats:
                self._tasks.append(loop.create_task(kiosk.heartbeats()))
            if live_votes:
                self._tasks.append(loop.create_task(kiosk.vote_live()))

    async def send_backlogs(self) -> None:
        await asyncio.gather(*(k.send_unsent() for k in self.kiosks if k.connection is not None))

    def unconfirmed(self) -> int:
        return sum(len(k.pending) + len(k.unsent) for k in self.kiosks)

    async def close(self, *, kill: bool = False) -> None:
        for task in self._tasks:
            task.cancel()
        for kiosk in self.kiosks:
            if kiosk.connection is None:
                continue
            if kill:
                if kiosk.leads:
                    kiosk.connection.kill()
                continue
            with contextlib.suppress(MqttError):
                await kiosk.connection.publish(kiosk._topics[TopicKind.STATUS], kiosk._status(Status.OFFLINE),
                                               qos=1, retain=True)
        if not kill:
            for kiosk in self.kiosks:
                if kiosk.connection is not None and kiosk.leads:
                    with contextlib.suppress(MqttError):
                        await kiosk.connection.disconnect()
