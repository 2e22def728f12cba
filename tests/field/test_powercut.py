"""Power cuts: SIGKILL a kiosk at random points, again and again; every acknowledged vote arrives once.

"Acknowledged" means the visitor was thanked (the feedback fired), which the kiosk does only once the vote is
on disk. The kiosk processes are forked from an idle parent (``tests.field.powercut_kiosk``) so that each one
starts in milliseconds; each is killed after a random delay, while it records, sends or takes receipts.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from collector.db.engine import session_factory
from collector.db.models import DailyRollup, Vote
from devtools.kiosk_sim import wait_until
from kiosk.config import load_config
from kiosk.service import Kiosk
from tests.field.conftest import Site, write_kiosk_toml

ROOT = Path(__file__).resolve().parents[2]


class Zygote:
    """The forking parent, and what its children said."""

    def __init__(self, config: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.field.powercut_kiosk", str(config)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "GPIOZERO_PIN_FACTORY": "mock"},
        )
        self.acked: list[str] = []
        self.up: set[int] = set()
        self._replies: list[str] = []
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            word, _, rest = line.strip().partition(" ")
            with self._cv:
                if word == "ACK":
                    self.acked.append(rest)
                elif word == "UP":
                    self.up.add(int(rest))
                else:
                    self._replies.append(line.strip())
                self._cv.notify_all()

    def _ask(self, command: str, timeout: float = 30.0) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        with self._cv:
            assert self._cv.wait_for(lambda: self._replies, timeout), f"no answer to {command!r}"
            return self._replies.pop(0)

    def spawn(self) -> int:
        reply = self._ask("spawn")
        assert reply.startswith("PID "), reply
        return int(reply.split()[1])

    def wait_up(self, pid: int, timeout: float = 20.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: pid in self.up, timeout)

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        assert self._ask(f"reap {pid}") == f"REAPED {pid}"

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def power_cuts(site: Site, tmp_path: Path, kills: int, seed: int = 8) -> None:
    rng = random.Random(seed)
    config_path = write_kiosk_toml(tmp_path / "k-1.toml", "k-1", tmp_path / "kiosk", site.port)
    zygote = Zygote(config_path)
    try:
        for _ in range(kills):
            pid = zygote.spawn()
            # Half the time, let the kiosk come up first; otherwise kill it anywhere, even while it starts.
            if rng.random() < 0.5:
                zygote.wait_up(pid)
            threading.Event().wait(rng.uniform(0.0, 0.25))
            zygote.kill(pid)
    finally:
        zygote.close()
    acked = list(zygote.acked)
    assert len(acked) > kills, "too few votes were acknowledged for the test to mean anything"

    # The kiosk comes back one last time and drains what is left.
    with Kiosk(load_config(config_path)) as kiosk:
        assert wait_until(lambda: kiosk.outbox.depth() == 0, 120), "the outbox did not drain"
        recorded = kiosk.outbox.stats()["recorded"]

    with session_factory(site.engine)() as session:
        stored = {str(i): seq for i, seq in session.execute(select(Vote.id, Vote.seq).where(Vote.kiosk_id == "k-1"))}
        counted = session.scalar(select(func.coalesce(func.sum(DailyRollup.votes), 0))
                                 .where(DailyRollup.espace_id == "fs-1"))
    missing = [i for i in acked if i not in stored]
    assert not missing, f"{len(missing)} acknowledged votes never arrived, e.g. {missing[:3]}"
    assert len(set(acked)) == len(acked)
    # Nothing lost, nothing twice: one row per recorded vote, sequence 1..N without gap or repeat.
    assert sorted(stored.values()) == list(range(1, recorded + 1))
    assert counted == len(stored)


@pytest.mark.parametrize("kills", [200])
def test_kill_9_at_random_points_loses_and_doubles_nothing(site: Site, tmp_path: Path, kills: int) -> None:
    power_cuts(site, tmp_path, kills)
