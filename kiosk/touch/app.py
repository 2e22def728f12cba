"""``borne kiosk run --ui touch``: set Kivy up for a kiosk, then run the touch interface on a :class:`Kiosk`.

Kivy reads its environment when first imported and its ``[input]`` section when the window opens, so
:func:`configure_kivy` runs before anything imports :mod:`kivy.core.window`. It leaves exactly one input
provider: with two (say SDL's mouse events and ``probesysfs`` reading the same touchscreen through mtdev or
hidinput), Kivy delivers one touch twice on a Raspberry Pi (kivy issues #8494, #7932, #1903, #3801).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig, TouchConfig
from kiosk.entry import RESTART

_LOG = logging.getLogger(__name__)


def input_entry(touch: TouchConfig) -> tuple[str, str]:
    """The one ``[input]`` line Kivy gets for ``touch.input``: (name, value)."""
    options = [o.strip() for o in touch.input_options.split(",") if o.strip()]
    if touch.input == "mouse":
        # SDL turns touches into mouse events; no right-click multitouch emulation on a kiosk.
        return "mouse", ",".join(["mouse", "disable_multitouch", *options])
    if touch.device:
        return "touchscreen", ",".join([touch.input, touch.device, *options])
    return "touchscreen", ",".join(
        ["probesysfs", f"provider={touch.input}", *(f"param={o}" for o in options)]
    )


def set_kivy_environment(kivy_home: Path | None = None) -> None:
    """Environment Kivy reads at import: no command-line parsing of its own, Python logging, a home."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_WINDOW", "sdl2")
    # SDL2 alone loads images and renders text; the default provider list also imports PIL (about 2 MB of
    # resident memory on a kiosk that shows no picture file). ``tex`` keeps Kivy's own texture format.
    os.environ.setdefault("KIVY_IMAGE", "sdl2,tex")
    os.environ.setdefault("KIVY_TEXT", "sdl2")
    if kivy_home is not None:
        kivy_home.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("KIVY_HOME", str(kivy_home))


def configure_kivy(
    touch: TouchConfig, *, kivy_home: Path | None = None, size: tuple[int, int] | None = None
) -> tuple[str, str]:
    """Environment and ``Config`` for a kiosk window; returns the single ``[input]`` entry set.

    ``size`` opens a window of that size whatever ``touch.fullscreen`` says (tests, screenshots); otherwise a
    kiosk that is not full screen opens ``touch.window``.
    """
    set_kivy_environment(kivy_home)
    if size is None and not touch.fullscreen:
        size = touch.window
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_enable", "0")
    Config.set("graphics", "fullscreen", "auto" if touch.fullscreen and size is None else "0")
    Config.set("graphics", "borderless", "1" if touch.fullscreen else "0")
    Config.set("graphics", "show_cursor", "1" if touch.show_cursor else "0")
    Config.set("graphics", "rotation", str(touch.rotation))
    Config.set("graphics", "resizable", "1")
    # No multisampling: it costs tens of MB (bench/kiosk_touch.py); the drawings use antialiased lines.
    Config.set("graphics", "multisamples", "0")
    if size is not None:
        Config.set("graphics", "width", str(size[0]))
        Config.set("graphics", "height", str(size[1]))
    # No double-tap or triple-tap detection: a second touch is just a second touch.
    Config.set("postproc", "double_tap_time", "0")
    Config.set("postproc", "triple_tap_time", "0")
    if not Config.has_section("input"):
        Config.add_section("input")
    for key in list(Config.options("input")):
        Config.remove_option("input", key)
    name, value = input_entry(touch)
    Config.set("input", name, value)
    _LOG.info("Kivy input: exactly one provider: %s = %s", name, value)
    return name, value


def run_touch(config: KioskConfig) -> int:
    """Run the touch kiosk until its window closes or SIGTERM; :data:`kiosk.entry.RESTART` when an update
    switched releases, else 0."""
    configure_kivy(config.touch, kivy_home=config.data_dir / "kivy")
    from kivy.clock import Clock

    from kiosk.touch.device import TouchKiosk
    from kiosk.touch.ui import TouchApp

    with TouchKiosk(config) as kiosk:
        app = TouchApp(kiosk)

        def stop(*_: Any) -> None:
            Clock.schedule_once(lambda _dt: app.stop(), 0)

        signal.signal(signal.SIGTERM, stop)
        kiosk.restart_listeners.append(stop)
        _LOG.info("kiosk %s running (touch, %d answers)", config.kiosk_id, config.voting.scale)
        try:
            app.run()
        except KeyboardInterrupt:
            pass
        finally:
            app.flow.close()
        restart = kiosk.restart_requested.is_set()
    _LOG.info("kiosk %s stopped", config.kiosk_id)
    return RESTART if restart else 0
