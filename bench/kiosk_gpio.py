"""The GPIO kiosk's resident memory, for comparison with the touch kiosk. Target: under 60 MB RSS.

Two measures, both with a real Mosquitto:

- the service as installed: ``borne kiosk run`` (``GPIOZERO_PIN_FACTORY=mock``), RSS once connected;
- a :class:`~kiosk.service.GpioKiosk` on gpiozero's ``MockFactory`` in a process of its own, after a few
  hundred button presses went out to the broker.

Run: ``python -m bench kiosk_gpio``.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.kiosk_touch import ROOT, Broker, cpu_s, rss_mb, stop_process

_LOG = logging.getLogger(__name__)

RSS_TARGET_MB = 60.0


def service_rss(workdir: Path, port: int, settle_s: float = 3.0) -> dict[str, float]:
    config = workdir / "kiosk.toml"
    config.write_text(f'kiosk_id = "fs-bench-gpio"\ndata_dir = "{workdir / "data"}"\n[broker]\nport = {port}\n',
                      encoding="utf-8")
    log = workdir / "stderr.log"
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from borne.entry import main; main()", "kiosk", "run", "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while "connected to 127.0.0.1" not in log.read_text(errors="replace"):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the GPIO kiosk never connected:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)
            time.sleep(settle_s)
            rss, hwm = rss_mb(proc.pid)
            cpu0, t0 = cpu_s(proc.pid), time.monotonic()
            time.sleep(settle_s)
            idle = (cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0)
        finally:
            stop_process(proc)
    return {"rss_mb": rss, "hwm_mb": hwm, "idle_cpu": idle}


def _presses_child(workdir: Path, port: int, presses: int) -> None:
    from gpiozero.pins.mock import MockFactory

    from kiosk.config import KioskConfig
    from kiosk.service import GpioKiosk

    config = KioskConfig.of(kiosk_id="fs-bench-gpio", data_dir=workdir / "data", broker={"port": port})
    factory = MockFactory()
    with GpioKiosk(config, pin_factory=factory) as kiosk:
        deadline = time.monotonic() + 30
        while kiosk.uplink is not None and not kiosk.uplink.connected:
            if time.monotonic() > deadline:
                raise RuntimeError("no broker")
            time.sleep(0.05)
        for i in range(presses):
            pin = factory.pin(config.panel.buttons[i % len(config.panel.buttons)])
            pin.drive_low()
            pin.drive_high()
        deadline = time.monotonic() + 60
        while kiosk.outbox.stats()["sent"] < presses:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {kiosk.outbox.stats()['sent']} of {presses} votes sent")
            time.sleep(0.05)
        rss, hwm = rss_mb()
        print(json.dumps({"rss_mb": rss, "hwm_mb": hwm, "votes": kiosk.outbox.stats()["recorded"]}), flush=True)


def presses_rss(workdir: Path, port: int, presses: int) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.kiosk_gpio", "--presses-child", str(workdir), str(port), str(presses)],
        capture_output=True, text=True, cwd=ROOT, timeout=300, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"GPIO child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(quick: bool = False) -> None:
    runs = 3 if quick else 5
    presses = 100 if quick else 500
    with tempfile.TemporaryDirectory(prefix="borne-bench-gpio-") as tmp:
        base = Path(tmp)
        with Broker(base) as broker:
            services = []
            children = []
            for i in range(runs):
                work = base / f"service{i}"
                work.mkdir()
                services.append(service_rss(work, broker.port))
                work = base / f"presses{i}"
                work.mkdir()
                children.append(presses_rss(work, broker.port, presses))
    rss = statistics.median(r["rss_mb"] for r in services)
    hwm = statistics.median(r["hwm_mb"] for r in services)
    idle = statistics.median(r["idle_cpu"] for r in services)
    print(f"`borne kiosk run` (GPIO, mock pins, connected): RSS median {rss:.0f} MB (peak {hwm:.0f} MB, {runs} runs); "
          f"target < {RSS_TARGET_MB:.0f} MB: {'met' if max(rss, hwm) < RSS_TARGET_MB else 'NOT met'} "
          f"({rss / RSS_TARGET_MB:.0%} of it); idle CPU {idle:.1%} of one core")
    crss = statistics.median(r["rss_mb"] for r in children)
    chwm = statistics.median(r["hwm_mb"] for r in children)
    print(f"GpioKiosk on MockFactory after {presses} presses sent: RSS median {crss:.0f} MB (peak {chwm:.0f} MB); "
          f"target: {'met' if max(crss, chwm) < RSS_TARGET_MB else 'NOT met'} ({crss / RSS_TARGET_MB:.0%} of it)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--presses-child":
        _presses_child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main(quick="--quick" in sys.argv)
