"""A kiosk that can be killed many times fast: a parent process that forks kiosks on demand.

    python -m tests.field.powercut_kiosk CONFIG.toml

The parent imports everything once, starts no thread, and reads commands on stdin:

- ``spawn``: fork a kiosk (a :class:`~devtools.kiosk_sim.SimulatedKiosk` on gpiozero's mock pins, connected to
  its broker) that presses by itself, every few milliseconds, and writes ``ACK <vote id>`` the moment each
  vote's feedback fires; the parent answers ``PID <pid>``;
- ``reap <pid>``: wait for that kiosk to die (the test SIGKILLs it) and answer ``REAPED <pid>``;
- ``quit``.

Each line is one ``os.write`` on the pipe, shorter than ``PIPE_BUF``, so lines of parent and children never mix.
Forking from an idle parent makes a kiosk's start cost milliseconds instead of a Python start-up, so that a
test can kill two hundred of them in a minute or two.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time

from devtools.kiosk_sim import SimulatedKiosk
from kiosk.config import load_config
from protocol.wire import Vote

_LOG = logging.getLogger(__name__)


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def _kiosk(config_path: str) -> None:
    """The child: press until killed."""
    config = load_config(config_path)
    rng = random.Random(os.getpid())

    def feedback(vote: Vote) -> None:
        _say(f"ACK {vote.id}")

    sim = SimulatedKiosk(config, on_feedback=feedback)
    _say(f"UP {os.getpid()}")
    while True:
        sim.visit(rng)
        time.sleep(rng.uniform(0.0, 0.01))


def main() -> None:
    config_path = sys.argv[1]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for line in sys.stdin:
        command = line.split()
        if not command:
            continue
        if command[0] == "spawn":
            pid = os.fork()
            if pid == 0:
                try:
                    _kiosk(config_path)
                finally:
                    os._exit(1)
            _say(f"PID {pid}")
        elif command[0] == "reap":
            pid = int(command[1])
            os.waitpid(pid, 0)
            _say(f"REAPED {pid}")
        elif command[0] == "quit":
            return


if __name__ == "__main__":
    main()
