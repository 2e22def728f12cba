"""A host dies: one broker, one collector and the database primary SIGKILLed together; the books balance.

The national topology on one machine, all real parts (``tests/soak/chaos.py`` with a replicated database): two
Mosquitto brokers, two collector processes ingesting from both, a PostgreSQL primary and its synchronous standby
reached through one multi-host URL, and kiosk processes pressing through the first broker. Then the first
broker, the first collector and the primary are SIGKILLed at once, the standby is promoted (and the lost node
rebuilt as its standby), the kiosks fail over to the second broker. At the end, exactly: every press acknowledged
to a visitor stored once, every vote on the kiosks' disks stored (those receipted before the loss on the new
primary), nothing stored twice, nothing invented.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.db.engine import make_engine
from devtools.databases import ReplicatedPostgres
from devtools.kiosk_sim import wait_until
from tests.soak.chaos import Soak

KIOSKS = 20


@pytest.mark.slow
def test_a_host_dies_and_the_books_balance(replicated: ReplicatedPostgres, tmp_path: Path) -> None:
    admin = make_engine(replicated.node_url(replicated.primary), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE borne_ha")
    admin.dispose()
    soak = Soak(tmp_path, replicated.url_for("borne_ha"), KIOSKS, seed=7, replicated=replicated)
    try:
        soak.start()
        assert soak.collectors_ready(), "the collectors did not subscribe on both brokers"
        assert wait_until(lambda: sum(map(len, soak.acknowledged.values())) >= 20, 60), "no press acknowledged"
        time.sleep(2)  # votes in every state: stored, in flight, on the kiosks' disks
        soak.inject("host-dies")
        assert wait_until(lambda: bool(soak.report.recovery["host-dies"]), 60), "votes were not counted again"
        pressed = sum(map(len, soak.acknowledged.values()))
        assert wait_until(lambda: sum(map(len, soak.acknowledged.values())) > pressed + 10, 30)
        soak.heal()
        assert soak.drain(timeout=90), "the kiosks' outboxes did not drain"
        report = soak.account()
        print("\n".join(report.lines()))
        assert report.acknowledged > 0
        assert report.ok, report.lines()
        assert replicated.primary_index == 1  # the standby is the primary now
        failovers = sum(log.read_text(errors="replace").count("leaving broker")
                        for log in tmp_path.glob("kiosks-*.log"))
        assert failovers >= KIOSKS  # every kiosk left the lost broker (and came back to it)
    finally:
        soak.close()
