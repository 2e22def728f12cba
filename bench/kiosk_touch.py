"""The touch kiosk: cold start to the question, touch to feedback, resident memory.

- *cold start*: ``borne kiosk run --ui touch`` started as a technician's service would (a new process, a real
  Mosquitto), until the first frame of the home screen is drawn (its « ready » log line's timestamp);
- *touch to feedback*: a touch injected into Kivy's input pipeline, then the vote committed (fsync'd), then
  the first frame drawn with the next screen (« Merci ! », or the follow-up question);
- *RSS*: the running kiosk's resident memory (``VmRSS``) and peak (``VmHWM``), after start and after votes;
- *RSS after touches*, when ``Xvfb`` and ``xdotool`` are installed: ``borne kiosk run --ui touch`` in a real X11
  window (SDL ``x11``), its faces and Oui / Non clicked, the follow-up on (some left to time out).

SDL renders offscreen here (llvmpipe); a Raspberry Pi draws with its GPU. Target: under 150 MB RSS. Cold start and
RSS are measured in a window of 800x480 (the official 7-inch display) and of 1280x800 (``[touch] window``).
Run: ``python -m bench kiosk_touch`` (``--quick`` for fewer rounds).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from devtools import processes

_LOG = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
RSS_TARGET_MB = 150.0
#: The official Raspberry Pi 7-inch display, and a common 10-inch one (``[touch] window``, not full screen).
WINDOWS = ((800, 480), (1280, 800))
_READY = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*touch kiosk ready.*\((\d+)x(\d+)\)", re.M)


# -- a broker of the benchmark's own -----------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A Mosquitto on a free port, in a temporary folder."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError("mosquitto did not start")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


_SOFT_GL = re.compile(r"libLLVM|swrast_dri|kms_swrast|llvmpipe|libgallium")


def software_gl_mb(pid: int | str = "self") -> float:
    """Resident pages of Mesa's software renderer (llvmpipe: libLLVM, swrast): absent with a GPU driver."""
    total, soft = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            soft = bool(_SOFT_GL.search(line))
        elif soft and line.startswith("Rss:"):
            total += int(head[1])
    return total / 1024


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as systemd stops the kiosk; SIGKILL if it has not stopped after 30 s."""
    processes.stop(proc, 30)


def kivy_env(workdir: Path) -> dict[str, str]:
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(workdir / "kivy")}
    env.pop("KIVY_NO_ARGS", None)
    return env


# -- cold start and RSS: the CLI in a new process ----------------------------------------------------------

def cold_start(workdir: Path, port: int, window: tuple[int, int], idle_s: float = 3.0) -> dict[str, float]:
    config = workdir / "kiosk.toml"
    config.write_text(
        f'kiosk_id = "fs-bench-touch"\ndata_dir = "{workdir / "data"}"\n'
        f"[broker]\nport = {port}\n[touch]\nfullscreen = false\nwindow = [{window[0]}, {window[1]}]\n",
        encoding="utf-8",
    )
    log = workdir / "stderr.log"
    with log.open("wb") as err:
        started = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-c", "from borne.entry import main; main()", "kiosk", "run", "-c", str(config),
             "--ui", "touch"],
            stdout=subprocess.DEVNULL, stderr=err, env=kivy_env(workdir), cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 120
            match = None
            while match is None:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the touch kiosk never got ready:\n{log.read_text()[-3000:]}")
                time.sleep(0.02)
                match = _READY.search(log.read_text(encoding="utf-8", errors="replace"))
            ready = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if (int(match.group(2)), int(match.group(3))) != window:
                raise RuntimeError(f"asked for a {window[0]}x{window[1]} window, got {match.group(2)}x"
                                   f"{match.group(3)}")
            time.sleep(2.0)  # settled: connected, status refreshed
            rss, hwm = rss_mb(proc.pid)
            soft_gl = software_gl_mb(proc.pid)
            cpu0, t0 = cpu_s(proc.pid), time.monotonic()
            time.sleep(idle_s)
            idle_cpu = (cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0)
        finally:
            stop_process(proc)
    return {"start_s": ready - started, "rss_mb": rss, "hwm_mb": hwm, "soft_gl_mb": soft_gl, "idle_cpu": idle_cpu}


# -- touch to feedback: a scripted window in a child process -----------------------------------------------

def _latency_child(
    workdir: Path, port: int, rounds: int, followup: bool, window: tuple[int, int] = WINDOWS[0]
) -> None:
    """In the child: touch a face ``rounds`` times; print timings as JSON."""
    from kiosk.config import KioskConfig
    from kiosk.touch.app import configure_kivy

    config = KioskConfig.of(
        kiosk_id="fs-bench-touch", data_dir=workdir / "data", ui="touch", broker={"port": port},
        voting={"followup": followup, "thanks_s": 0.3, "followup_timeout_s": 0.3},
    )
    configure_kivy(config.touch, kivy_home=workdir / "kivy", size=window)
    from kivy.core.window import Window

    from devtools import touch_driver as driver
    from kiosk.service import Kiosk
    from kiosk.touch.ui import TouchApp

    target = "followup" if followup else "thanks"
    samples: list[dict[str, float]] = []
    mark: dict[str, float] = {}

    def on_vote(_vote: object) -> None:
        mark.setdefault("vote", time.perf_counter())

    def on_flip(*_: Any) -> None:
        if "touch" in mark and "frame" not in mark and app.screen == target:
            mark["frame"] = time.perf_counter()

    def script(app: TouchApp) -> Iterator[None]:
        app.kiosk.recorder.listeners.append(on_vote)
        Window.bind(on_flip=on_flip)
        for i in range(rounds):
            yield from driver.until(lambda: app.screen == "home")
            yield from driver.pause(0.5)  # past the flow's guard after a screen change
            mark.clear()
            face = app.faces()[i % len(app.faces())]
            x, y = driver.center_of(face)
            mark["touch"] = time.perf_counter()
            touch = driver.touch_down(x, y)
            yield from driver.until(lambda: "frame" in mark)
            driver.touch_up(touch)
            samples.append({"vote_ms": (mark["vote"] - mark["touch"]) * 1000,
                            "frame_ms": (mark["frame"] - mark["touch"]) * 1000})
        rss, hwm = rss_mb()
        print(json.dumps({"samples": samples, "rss_mb": rss, "hwm_mb": hwm,
                          "votes": len(app.kiosk.outbox.votes())}), flush=True)

    with Kiosk(config, connect=os.environ.get("BENCH_NO_UPLINK") != "1") as kiosk:
        app = TouchApp(kiosk)
        driver.run_script(app, script)


def touch_latency(
    workdir: Path, port: int, rounds: int, followup: bool, window: tuple[int, int] = WINDOWS[0]
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.kiosk_touch", "--latency-child", str(workdir), str(port), str(rounds),
         "1" if followup else "0", str(window[0]), str(window[1])],
        capture_output=True, text=True, env={**kivy_env(workdir), "KIVY_NO_ARGS": "1"}, cwd=ROOT, timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"latency child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- RSS after touches: the CLI in a real X11 window, clicked ----------------------------------------------

def touched_run(workdir: Path, port: int, window: tuple[int, int], rounds: int) -> dict[str, float]:
    """``borne kiosk run --ui touch`` under Xvfb, ``rounds`` faces clicked with xdotool, the follow-up on."""
    config = workdir / "kiosk.toml"
    config.write_text(
        f'kiosk_id = "fs-bench-touch"\ndata_dir = "{workdir / "data"}"\n[broker]\nport = {port}\n'
        f"[voting]\nfollowup = true\n[touch]\nfullscreen = false\nwindow = [{window[0]}, {window[1]}]\n",
        encoding="utf-8",
    )
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as fd:
            display = f":{fd.readline().strip()}"
        env = {**kivy_env(workdir), "SDL_VIDEODRIVER": "x11", "DISPLAY": display}
        log = workdir / "stderr.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from borne.entry import main; main()", "kiosk", "run", "-c", str(config),
                 "--ui", "touch"], stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=ROOT,
            )
        try:
            deadline = time.monotonic() + 120
            while not _READY.search(log.read_text(encoding="utf-8", errors="replace")):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the touch kiosk never got ready:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)
            time.sleep(2.0)
            started = rss_mb(proc.pid)
            found = subprocess.run(["xdotool", "search", "--sync", "--pid", str(proc.pid)], env=env,
                                   capture_output=True, text=True, timeout=30, check=True)
            win = found.stdout.split()[-1]

            def click(fx: float, fy: float) -> None:
                # Where home.kv's faces and followup.kv's Oui / Non tiles lie, as fractions of the window.
                subprocess.run(["xdotool", "mousemove", "--window", win, str(int(fx * window[0])),
                                str(int(fy * window[1])), "click", "1"], env=env, timeout=30, check=True)

            for i in range(rounds):
                click((0.14, 0.38, 0.62, 0.86)[i % 4], 0.66)
                time.sleep(1.5)  # the follow-up question, its countdown running
                if i % 3 == 2:
                    time.sleep(6.0 + 3.0)  # left to time out, then « Merci ! »
                else:
                    click(0.27 if i % 2 else 0.73, 0.59)  # Oui / Non
                    time.sleep(3.0)
            rss, hwm = rss_mb(proc.pid)
        finally:
            stop_process(proc)
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    with sqlite3.connect(workdir / "data" / "outbox.sqlite3") as db:
        votes = int(db.execute("SELECT count(*) FROM votes").fetchone()[0])
    if votes != rounds:
        raise RuntimeError(f"{rounds} faces clicked, {votes} votes on disk: the clicks missed")
    return {"start_rss_mb": started[0], "rss_mb": rss, "hwm_mb": hwm, "votes": votes}


def report_starts(runs: list[dict[str, float]], window: tuple[int, int]) -> None:
    size = f"{window[0]}x{window[1]}"
    start = statistics.median(r["start_s"] for r in runs)
    rss = statistics.median(r["rss_mb"] for r in runs)
    hwm = statistics.median(r["hwm_mb"] for r in runs)
    soft = statistics.median(r["soft_gl_mb"] for r in runs)
    idle = statistics.median(r["idle_cpu"] for r in runs)
    print(f"[{size}] cold start to the question (process start -> home drawn): median {start:.2f} s "
          f"(min {min(r['start_s'] for r in runs):.2f}, max {max(r['start_s'] for r in runs):.2f}, "
          f"{len(runs)} starts)")
    print(f"[{size}] RSS after start: median {rss:.0f} MB (min {min(r['rss_mb'] for r in runs):.0f}, max "
          f"{max(r['rss_mb'] for r in runs):.0f}; peak {hwm:.0f} MB); target < {RSS_TARGET_MB:.0f} MB: "
          f"{'met' if max(rss, hwm) < RSS_TARGET_MB else 'NOT met'} ({rss / RSS_TARGET_MB:.0%} of it)")
    print(f"[{size}]   of which Mesa software GL (llvmpipe: libLLVM, swrast) {soft:.0f} MB; without it "
          f"{rss - soft:.0f} MB ({(rss - soft) / RSS_TARGET_MB:.0%} of the target)")
    print(f"[{size}] CPU on the idle home screen: median {idle:.1%} of one core")


def main(quick: bool = False) -> None:
    starts = 3 if quick else 7
    rounds = 10 if quick else 40
    with tempfile.TemporaryDirectory(prefix="borne-bench-touch-") as tmp:
        base = Path(tmp)
        with Broker(base) as broker:
            for window in WINDOWS:
                runs = []
                for i in range(starts):
                    work = base / f"start{window[0]}x{window[1]}-{i}"
                    work.mkdir()
                    runs.append(cold_start(work, broker.port, window))
                report_starts(runs, window)
            for followup, window in ((False, WINDOWS[0]), (True, WINDOWS[0]), (True, WINDOWS[1])):
                size = f"{window[0]}x{window[1]}"
                work = base / f"latency{int(followup)}-{size}"
                work.mkdir()
                res = touch_latency(work, broker.port, rounds, followup, window)
                vote = statistics.median(s["vote_ms"] for s in res["samples"])
                frame = statistics.median(s["frame_ms"] for s in res["samples"])
                worst = max(s["frame_ms"] for s in res["samples"])
                screen = "follow-up question" if followup else "« Merci ! »"
                print(f"[{size}] touch -> vote committed: median {vote:.1f} ms; touch -> {screen} drawn: median "
                      f"{frame:.1f} ms (max {worst:.1f}, {rounds} touches, {res['votes']} votes on disk); "
                      f"RSS after them {res['rss_mb']:.0f} MB (peak {res['hwm_mb']:.0f} MB)")
            if not (shutil.which("Xvfb") and shutil.which("xdotool")):
                print("RSS after touches in an X11 window: skipped (needs Xvfb and xdotool: apt-get install xvfb "
                      "xdotool)")
                return
            clicks = 6 if quick else 15
            for window in WINDOWS:
                size = f"{window[0]}x{window[1]}"
                work = base / f"touched-{size}"
                work.mkdir()
                res = touched_run(work, broker.port, window, clicks)
                print(f"[{size}] borne kiosk run --ui touch in an X11 window (Xvfb): RSS after start "
                      f"{res['start_rss_mb']:.0f} MB, after {clicks} votes with the follow-up "
                      f"{res['rss_mb']:.0f} MB (peak {res['hwm_mb']:.0f} MB); target < {RSS_TARGET_MB:.0f} MB: "
                      f"{'met' if max(res['rss_mb'], res['hwm_mb']) < RSS_TARGET_MB else 'NOT met'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--latency-child":
        _latency_child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1",
                       (int(sys.argv[6]), int(sys.argv[7])))
    else:
        main(quick="--quick" in sys.argv)
