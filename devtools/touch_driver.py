"""Drive a running :class:`~kiosk.touch.ui.TouchApp` from a script: screenshots, UI tests, benchmarks.

A script is a generator that gets the app; each ``yield`` lets Kivy draw one frame, so the script sees
what a visitor would. Touches go through Kivy's input pipeline (``EventLoop._dispatch_input``, the same
entry as a provider's ``update``), tagged with the provider name they pretend to come from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.input.motionevent import MotionEvent

from kiosk.touch.ui import TouchApp

_LOG = logging.getLogger(__name__)

Script = Generator[None, None, None]


class ScriptedTouch(MotionEvent):
    """A one-finger touch at window pixels (x, y), as provider ``device`` would make it."""

    def __init__(self, device: str, uid: int, x: float, y: float) -> None:
        w, h = Window.size
        super().__init__(device, uid, {"x": x / max(w - 1, 1), "y": y / max(h - 1, 1)},
                         is_touch=True, type_id="touch")
        self.profile = ["pos"]

    def depack(self, args: dict[str, float]) -> None:
        self.sx = args["x"]
        self.sy = args["y"]
        super().depack(args)


_uid = iter(range(1000, 10**9))


def touch_down(x: float, y: float, device: str = "mouse") -> ScriptedTouch:
    touch = ScriptedTouch(device, next(_uid), x, y)
    EventLoop._dispatch_input("begin", touch)
    return touch


def touch_up(touch: ScriptedTouch) -> None:
    touch.time_end = time.time()
    EventLoop._dispatch_input("end", touch)


def tap(x: float, y: float, devices: tuple[str, ...] = ("mouse",)) -> Script:
    """One finger, down then up; with two ``devices`` the same touch arrives from both in one frame."""
    touches = [touch_down(x, y, d) for d in devices]
    yield
    for t in touches:
        touch_up(t)
    yield


def frames(n: int = 2) -> Script:
    for _ in range(n):
        yield


def pause(seconds: float) -> Script:
    """Let ``seconds`` of real time pass, frame after frame."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield


def until(condition: Callable[[], bool], timeout: float = 30.0) -> Script:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window never got there")
        yield


def center_of(widget: Any) -> tuple[float, float]:
    x, y = widget.to_window(*widget.center)
    return float(x), float(y)


def run_script(app: TouchApp, script: Callable[[TouchApp], Iterator[None]]) -> None:
    """Run ``app`` with ``script`` stepping one frame at a time; re-raises what the script raised."""
    failure: list[BaseException] = []

    def start(_dt: float) -> None:
        steps = script(app)

        def step(_dt: float) -> None:
            try:
                next(steps)
            except StopIteration:
                app.stop()
                return
            except BaseException as exc:
                failure.append(exc)
                app.stop()
                return
            Clock.schedule_once(step, 0)

        step(0)

    Clock.schedule_once(start, 0)
    app.run()
    if failure:
        raise failure[0]
