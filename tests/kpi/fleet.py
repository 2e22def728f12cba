"""A generated fleet and its votes, ingested through the real Store, with the same votes kept in pandas."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine

from collector.ingest.store import Incoming, Store
from devtools.builders import register
from protocol.models import FollowUp, VoteBatch
from protocol.models import Vote as WireVote
from protocol.topics import TopicKind, kiosk_topic

#: kiosk -> (espace, département): Bretagne (22, 29), Corse (2A), Guadeloupe (971, UTC-4).
FLEET = {
    "k-22a": ("fs-22a", "22"),
    "k-22b": ("fs-22b", "22"),
    "k-29": ("fs-29", "29"),
    "k-2a": ("fs-2a", "2A"),
    "k-971": ("fs-971", "971"),
}
TZ = {"22": "Europe/Paris", "29": "Europe/Paris", "2A": "Europe/Paris", "971": "America/Guadeloupe"}
REGION = {"22": "53", "29": "53", "2A": "94", "971": "01"}
START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Generated:
    engine: Engine
    votes: pd.DataFrame  # one row a vote: espace, departement, region, ts, scale, answer, misuse, followup


def generate(n: int = 1500, seed: int = 7) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    seqs = dict.fromkeys(FLEET, 0)
    for _ in range(n):
        kiosk = rng.choice(list(FLEET))
        espace, dep = FLEET[kiosk]
        scale = rng.choice([4, 4, 4, 5, 2, 3])
        answer = rng.choices(range(1, scale + 1), weights=[1] * (scale - 1) + [6])[0]
        # Over ~5 months, at any hour (so local days differ from UTC days near midnight).
        ts = START + timedelta(seconds=rng.randrange(0, 150 * 86400))
        followup = rng.choice([None, None, "yes", "yes", "no", "skipped"])
        seqs[kiosk] += 1
        rows.append({"id": uuid.UUID(int=rng.getrandbits(128)), "kiosk": kiosk, "seq": seqs[kiosk],
                     "espace": espace, "departement": dep, "region": REGION[dep], "ts": ts, "scale": scale,
                     "answer": answer, "misuse": rng.random() < 0.07, "followup": followup})
    return pd.DataFrame(rows)


def ingest(engine: Engine, votes: pd.DataFrame, batch: int = 200) -> None:
    store = Store(engine)
    received = datetime.now(UTC)
    messages = []
    for kiosk, group in votes.groupby("kiosk"):
        records = group.to_dict(orient="records")
        for start in range(0, len(records), batch):
            wire = [
                WireVote(id=r["id"], seq=r["seq"], answer=r["answer"], scale=r["scale"], ts=r["ts"],
                         clock_synced=True, misuse=r["misuse"],
                         followup=None if pd.isna(r["followup"]) else
                         FollowUp(answer=None if r["followup"] == "skipped" else r["followup"]))
                for r in records[start:start + batch]
            ]
            body = VoteBatch(kiosk_id=str(kiosk), sent_at=received, votes=wire)
            messages.append(Incoming(kiosk_topic(str(kiosk), TopicKind.VOTES), body.model_dump_json().encode(),
                                     received))
    outcome = store.ingest(messages)
    assert outcome.stored == len(votes), outcome


def build(engine: Engine, n: int = 1500, seed: int = 7) -> Generated:
    register(engine, FLEET)
    votes = generate(n, seed)
    ingest(engine, votes)
    local = [ts.astimezone(ZoneInfo(TZ[d])) for ts, d in zip(votes["ts"], votes["departement"], strict=True)]
    votes["day"] = [t.date() for t in local]
    votes["hour"] = [t.hour for t in local]
    return Generated(engine, votes)
