"""``python -m devtools.touch_screenshots OUTDIR``: a PNG of every screen, for the docs.

One process per window size (Kivy has one window per process); each walks the screens on a manual clock:
home, follow-up, merci, sleep, then home and follow-up in English. Runs offscreen:
``SDL_VIDEODRIVER=offscreen`` is set unless a display is asked for.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

_LOG = logging.getLogger(__name__)

SIZES = ((800, 480), (1280, 800))
#: Monday 5 January 2026, 10:00 in Paris; opening hours that make 19:00 closed.
OPEN_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOURS = {d: "09:00-12:00,13:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}


def _shoot(outdir: Path, size: tuple[int, int]) -> None:
    from kiosk.config import KioskConfig
    from kiosk.touch.app import configure_kivy

    work = Path(tempfile.mkdtemp(prefix="borne-shots-"))
    config = KioskConfig.of(kiosk_id="fs-demo-1", data_dir=work, ui="touch",
                         voting={"opening_hours": HOURS, "followup_timeout_s": 30})
    configure_kivy(config.touch, kivy_home=work / "kivy", size=size)

    from devtools import touch_driver as driver
    from kiosk.clock import ManualClock
    from kiosk.service import Kiosk
    from kiosk.touch.ui import TouchApp

    clock = ManualClock(OPEN_AT)
    tag = f"{size[0]}x{size[1]}"

    def save(app: TouchApp, name: str) -> Iterator[None]:
        yield from driver.frames(3)
        path = outdir / f"kiosk-{name}-{tag}.png"
        app.root.export_to_png(str(path))
        _LOG.info("wrote %s", path)

    def script(app: TouchApp) -> Iterator[None]:
        clock.advance(1)
        yield from driver.frames(2)
        yield from save(app, "home")
        yield from driver.tap(*driver.center_of(app.faces()[2]))
        yield from driver.until(lambda: app.screen == "followup")
        clock.advance(2)
        app.flow.tick()
        yield from save(app, "followup")
        clock.advance(1)
        app.on_followup("yes")
        yield from save(app, "thanks")
        clock.advance(9 * 3600)  # 19:00: closed
        app.flow.tick()
        app.flow.tick()
        yield from driver.until(lambda: app.screen == "sleep")
        yield from save(app, "sleep")
        clock.advance(14 * 3600)  # Tuesday 09:00
        app.flow.tick()
        app.flow.set_language("en")
        yield from save(app, "home-en")
        clock.advance(1)
        app.on_face(1)
        clock.advance(1)
        app.flow.tick()
        yield from save(app, "followup-en")

    with Kiosk(config, clock=clock, connect=False) as kiosk:
        driver.run_script(TouchApp(kiosk), script)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stderr.write("usage: python -m devtools.touch_screenshots OUTDIR [WIDTHxHEIGHT]\n")
        return 2
    outdir = Path(args[0]).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(args) > 1:
        w, h = (int(n) for n in args[1].split("x"))
        _shoot(outdir, (w, h))
        return 0
    env = {**os.environ, "KIVY_NO_ARGS": "1"}
    env.setdefault("SDL_VIDEODRIVER", "offscreen")
    for w, h in SIZES:
        subprocess.run(
            [sys.executable, "-m", "devtools.touch_screenshots", str(outdir), f"{w}x{h}"],
            env=env, check=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
