"""The child process of the UI tests: one real Kivy window (SDL offscreen), one scripted scenario.

Run as ``python -m tests.touch.kivy_child SCENARIO WORKDIR``; writes ``WORKDIR/result.json``. Kivy keeps
one window per process, so each scenario gets its own process (see ``test_ui.py``).
"""

from __future__ import annotations

import ctypes
import json
import logging
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.touch.app import configure_kivy
from protocol.models import RemoteConfig

_LOG = logging.getLogger(__name__)

MONDAY_10H = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOURS = {"mon": "09:00-17:00", "tue": "09:00-17:00"}


def clipped_labels(root: Any) -> list[str]:
    """Texts that do not fit their label's box."""
    from kivy.uix.label import Label

    out = []
    for w in root.walk():
        if isinstance(w, Label) and w.text and w.opacity > 0:
            w.texture_update()
            tw, th = w.texture_size
            if tw > w.width + 1 or th > w.height + 1:
                out.append(f"{w.text!r}: {tw}x{th} in {w.width:.0f}x{w.height:.0f}")
    return out


def malloc_in_use() -> int:
    """Bytes the C heap has handed out and not had back (glibc's ``mallinfo2``, every arena)."""
    fields = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
              "keepcost")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in fields]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def main(scenario: str, workdir: Path, port: int | None = None) -> None:
    voting: dict[str, Any] = {"opening_hours": HOURS}
    if scenario == "yesno":
        voting |= {"scale": 2, "followup": False}
    elif scenario == "five":
        voting |= {"scale": 5}
    broker = {"port": port} if port else {}
    # The screen's backlight as the kernel lists it (sysfs), in a folder of the test's.
    backlight = workdir / "backlight" / "10-0045" / "bl_power"
    backlight.parent.mkdir(parents=True, exist_ok=True)
    backlight.write_text("0")
    config = KioskConfig.of(kiosk_id="fs-test-ui", data_dir=workdir / "data", ui="touch", voting=voting,
                         broker=broker, touch={"backlight_dir": str(workdir / "backlight")})
    entry = configure_kivy(config.touch, kivy_home=workdir / "kivy", size=(800, 480))

    from kivy.base import EventLoop
    from kivy.config import Config

    from devtools import touch_driver as driver
    from kiosk.clock import ManualClock
    from kiosk.service import Kiosk
    from kiosk.touch import i18n
    from kiosk.touch.ui import TouchApp

    clock = ManualClock(MONDAY_10H)
    result: dict[str, Any] = {"entry": list(entry), "steps": {}}
    steps = result["steps"]

    def settle(app: TouchApp, seconds: float = 0.0) -> Iterator[None]:
        clock.advance(seconds)
        app.flow.tick()
        yield from driver.frames(2)

    def count(kiosk: Kiosk) -> int:
        return len(kiosk.outbox.votes())

    def clipping_in_every_language(app: TouchApp) -> Iterator[None]:
        for lang in i18n.LANGUAGES:
            app.flow.set_language(lang)
            yield from driver.frames(2)
            steps.setdefault("clipped", []).extend(f"{app.screen}/{lang}: {c}" for c in clipped_labels(app.root))
            # Kept in the test's folder, to look at when a check fails.
            app.root.export_to_png(str(workdir / f"{scenario}-{app.screen}-{lang}.png"))

    def script(app: TouchApp) -> Iterator[None]:
        kiosk = app.kiosk
        yield from settle(app, 1.0)
        result["input"] = Config.items("input")
        result["providers"] = sorted(type(p).__name__ for p in EventLoop.input_providers)
        result["first_screen"] = app.screen
        faces = app.faces()
        if scenario == "main":
            # One touch on the third face: one vote with answer 3, held while the follow-up shows.
            yield from driver.tap(*driver.center_of(faces[2]))
            yield from driver.until(lambda: app.screen == "followup")
            steps["face"] = {"screen": app.screen, "votes": count(kiosk),
                             "sendable": len(kiosk.outbox.unsent(10, resend_after=60))}
            yield from clipping_in_every_language(app)
            app.flow.set_language("fr")
            yield from settle(app, 1.0)
            yes = app.screen_widget("followup").ids.yes
            yield from driver.tap(*driver.center_of(yes))
            yield from driver.until(lambda: app.screen == "thanks")
            steps["followup"] = {"screen": app.screen,
                                 "sendable": len(kiosk.outbox.unsent(10, resend_after=60))}
            yield from settle(app, 3.0)
            steps["back_home"] = app.screen
            # The same touch from two providers in one frame (mouse and mtdev): one vote.
            yield from settle(app, 1.0)
            yield from driver.tap(*driver.center_of(faces[0]), devices=("mouse", "mtdev"))
            yield from driver.until(lambda: app.screen == "followup")
            yield from driver.frames(3)
            steps["duplicate"] = {"votes": count(kiosk), "ignored": app.flow.counters.ignored_touches}
            yield from settle(app, 7.0)  # follow-up skipped
            yield from settle(app, 3.0)
            # The second copy a frame later, once the follow-up shows where the face was: still one vote,
            # and the follow-up is not answered by it.
            yield from settle(app, 1.0)
            x, y = driver.center_of(faces[0])
            first = driver.touch_down(x, y, "mouse")
            yield from driver.until(lambda: app.screen == "followup")
            clock.advance(0.01)
            second = driver.touch_down(x, y, "mtdev")
            yield from driver.frames(2)
            driver.touch_up(first)
            driver.touch_up(second)
            yield from driver.frames(2)
            steps["duplicate_late"] = {"votes": count(kiosk), "ignored": app.flow.counters.ignored_touches,
                                       "screen": app.screen, "pending": app.flow.pending is not None,
                                       "hit": app.screen_widget("followup").ids.yes.collide_point(x, y)}
            yield from settle(app, 7.0)
            yield from settle(app, 3.0)
            # The language switch: a tap on EN.
            en = next(b for b in app.root.ids.languages.children if b.code == "en")
            yield from driver.tap(*driver.center_of(en))
            yield from driver.frames(2)
            steps["language"] = {"lang": app.lang, "labels": [f.ids.label.text for f in faces]}
            yield from clipping_in_every_language(app)
            app.flow.set_language("fr")
            # Closing time: the sleep screen, the backlight off, and touches record nothing.
            before = count(kiosk)
            steps["backlight"] = [backlight.read_text()]
            yield from settle(app, 8 * 3600)
            steps["sleep_screen"] = app.screen
            steps["backlight"].append(backlight.read_text())
            yield from driver.tap(400, 200)
            yield from driver.tap(*driver.center_of(faces[3]))
            yield from driver.frames(2)
            steps["sleep"] = {"votes_before": before, "votes_after": count(kiosk)}
            steps["sleep_lines"] = [app.sleep_line]
            yield from settle(app, 7 * 3600)  # past midnight
            yield from driver.pause(0.5)  # the app's own tick (every 0.1 s) refreshes the line
            steps["sleep_lines"].append(app.sleep_line)
            yield from settle(app, 9 * 3600)  # Tuesday, opening time: awake, lit
            yield from driver.pause(0.5)
            steps["woken"] = {"screen": app.screen, "backlight": backlight.read_text()}
        elif scenario == "yesno":
            steps["labels"] = [f.ids.label.text for f in faces]
            yield from driver.tap(*driver.center_of(faces[1]))
            yield from driver.until(lambda: app.screen == "thanks")
            steps["oui"] = {"screen": app.screen, "sendable": len(kiosk.outbox.unsent(10, resend_after=60))}
            yield from settle(app, 3.0)
            yield from clipping_in_every_language(app)
            # A remote configuration from the collector, on the uplink's thread: four answers, no restart.
            app.flow.set_language("fr")
            message = RemoteConfig(version="r2", scale=4, language="en").model_dump_json().encode()
            threading.Thread(target=kiosk.remote.handle, args=(message,)).start()
            yield from driver.until(lambda: len(app.faces()) == 4)
            yield from settle(app, 5.0)
            steps["remote"] = {"labels": [f.ids.label.text for f in app.faces()], "lang": app.lang}
            yield from driver.tap(*driver.center_of(app.faces()[3]))
            yield from driver.until(lambda: app.screen == "thanks")
        elif scenario == "broker":
            # Online: the vote waits for its follow-up, then goes to the broker with it.
            yield from driver.until(lambda: app.online, timeout=60)
            yield from driver.tap(*driver.center_of(faces[1]))
            yield from driver.until(lambda: app.screen == "followup")
            yield from driver.pause(0.5)
            steps["held_sent"] = kiosk.outbox.stats()["sent"]
            yield from settle(app, 1.0)
            yield from driver.tap(*driver.center_of(app.screen_widget("followup").ids.no))
            yield from driver.until(lambda: kiosk.outbox.stats()["sent"] == 1, timeout=60)
            steps["sent"] = kiosk.outbox.stats()["sent"]
        elif scenario == "redraws":
            # The follow-up's countdown redraws the window 10 times a second: memory must not grow with frames.
            yield from driver.tap(*driver.center_of(faces[0]))
            yield from driver.until(lambda: app.screen == "followup")
            yield from driver.frames(5)
            before = malloc_in_use()
            for _ in range(40):
                clock.advance(0.01)
                app.flow.tick()
                app._update_countdown()
                yield from driver.frames(1)
            steps["redraws"] = {"screen": app.screen, "grown_mb": (malloc_in_use() - before) / 2**20}
        elif scenario == "five":
            yield from clipping_in_every_language(app)
            yield from driver.tap(*driver.center_of(faces[4]))
            yield from driver.until(lambda: app.screen == "followup")

    with Kiosk(config, clock=clock, connect=port is not None) as kiosk:
        driver.run_script(TouchApp(kiosk), script)
    (workdir / "result.json").write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None)
