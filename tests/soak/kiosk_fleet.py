"""Several simulated kiosks in one process, for the chaos soak.

    python -m tests.soak.kiosk_fleet BASE_DIR BROKER_PORT[,OTHER_PORT...] SEED KIOSK_ID [KIOSK_ID ...]

Each kiosk is the real kiosk code on gpiozero's mock pins, with a clock that now and then jumps (as a Raspberry Pi's
does before NTP syncs) and comes back. Visitors press at random; each acknowledged press prints
``FEEDBACK <kiosk id> <vote id>``. When ``BASE_DIR/stop-pressing`` exists, pressing stops and the kiosks keep
sending until their outboxes are empty; the process runs until it is killed or sent SIGTERM. With several ports,
the kiosks fail over from the first broker to the others (``[broker] others``), and come back to the first.
"""

from __future__ import annotations

import random
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devtools.kiosk_sim import SimulatedKiosk
from kiosk.config import KioskConfig
from protocol.wire import Vote

_print_lock = threading.Lock()


class JumpyClock:
    """The real clocks, but the wall clock may be off (and then not synced) for a while."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._offset = timedelta(0)
        self._synced = True
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    def synced(self) -> bool:
        with self._lock:
            return self._synced

    def jump(self) -> None:
        with self._lock:
            self._offset = timedelta(hours=self._rng.choice([-48, -3, 5, 24 * 365]))
            self._synced = False

    def resync(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
            self._synced = True


def _feedback(kiosk_id: str) -> object:
    def printed(vote: Vote) -> None:
        with _print_lock:
            sys.stdout.write(f"FEEDBACK {kiosk_id} {vote.id}\n")
            sys.stdout.flush()

    return printed


def main() -> None:
    base, seed, kiosk_ids = Path(sys.argv[1]), int(sys.argv[3]), sys.argv[4:]
    port, *others = (int(p) for p in sys.argv[2].split(","))
    rng = random.Random(seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    kiosks: list[tuple[SimulatedKiosk, JumpyClock]] = []
    for kiosk_id in kiosk_ids:
        clock = JumpyClock(random.Random(rng.random()))
        config = KioskConfig.of(
            kiosk_id=kiosk_id,
            data_dir=base / kiosk_id,
            broker={"host": "127.0.0.1", "port": port, "reconnect_min_s": 1, "reconnect_max_s": 3,
                    "others": [f"127.0.0.1:{p}" for p in others], "failover_after_s": 3,
                    "prefer_first_after_s": 20},
            uplink={"heartbeat_s": 5, "confirm_timeout_s": 6, "batch_max": 50},
        )
        kiosks.append((SimulatedKiosk(config, clock=clock, on_feedback=_feedback(kiosk_id)), clock))  # type: ignore[arg-type]
    stop_flag = base / "stop-pressing"
    try:
        while not stop.wait(rng.expovariate(len(kiosks) / 2.0)):  # each kiosk: a visitor every ~2 s
            if stop_flag.exists():
                continue
            kiosk, clock = rng.choice(kiosks)
            if rng.random() < 0.01:
                clock.jump()
            elif rng.random() < 0.05:
                clock.resync()
            kiosk.visit(rng)
    finally:
        for kiosk, _clock in kiosks:
            kiosk.close()


if __name__ == "__main__":
    main()
