"""The Kivy app: thin. It draws what :class:`~kiosk.touch.flow.Flow` says and hands it every touch.

One ``.kv`` file per screen under ``kiosk/touch/kv/`` (plus ``common.kv`` for the shared widgets). Import
this module only after :func:`kiosk.touch.app.configure_kivy`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.graphics.opengl import glFinish
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.label import Label
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager

from kiosk.service import Kiosk
from kiosk.touch import i18n, theme
from kiosk.touch.backlight import Backlight
from kiosk.touch.device import TouchKiosk
from kiosk.touch.flow import Flow, FlowSettings
from kiosk.touch.hours import OpeningHours
from kiosk.touch.widgets import Tile

_LOG = logging.getLogger(__name__)

KV_DIR = Path(__file__).with_name("kv")
KV_FILES = ("common.kv", "home.kv", "followup.kv", "thanks.kv", "sleep.kv")

TICK_S = 0.1
STATUS_S = 2.0


class FaceTile(Tile):
    answer = NumericProperty(1)
    scale = NumericProperty(4)
    mood = NumericProperty(0.0)
    fill = ListProperty([1.0, 1.0, 1.0])


class ChoiceTile(Tile):
    kind = StringProperty("yes")


class LanguageButton(ButtonBehavior, Label):
    code = StringProperty("fr")


class HomeScreen(Screen):
    pass


class FollowUpScreen(Screen):
    pass


class ThanksScreen(Screen):
    pass


class SleepScreen(Screen):
    pass


class TouchRoot(FloatLayout):
    pass


class TouchApp(App):
    """The touch kiosk's window on a :class:`Kiosk`."""

    lang = StringProperty(i18n.DEFAULT_LANGUAGE)
    screen = StringProperty("home")
    countdown = NumericProperty(0.0)
    online = BooleanProperty(False)
    status_text = StringProperty("")
    sleep_line = StringProperty("")
    languages = ListProperty(list(i18n.LANGUAGES))

    def __init__(self, kiosk: Kiosk, *, flow: Flow | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = "borne"
        self.kiosk = kiosk
        config = kiosk.config
        self.flow = flow or Flow(
            kiosk.recorder, kiosk.clock, FlowSettings.from_config(config), OpeningHours.from_config(config.voting)
        )
        self.first_frame_at: float | None = None
        self.sm: ScreenManager | None = None
        touch = config.touch
        self.backlight = Backlight(Path(touch.backlight_dir), enabled=touch.backlight_off_asleep)

    # -- texts, for the .kv files --------------------------------------------------------------------------

    def tr(self, key: str, lang: str, **values: object) -> str:
        return i18n.text(lang, key, **values)

    def answer_label(self, answer: int, scale: int, lang: str) -> str:
        return i18n.answer_labels(lang, int(scale))[int(answer) - 1]

    # -- building ------------------------------------------------------------------------------------------

    def build(self) -> TouchRoot:
        for name in KV_FILES:
            Builder.load_file(str(KV_DIR / name))
        root = TouchRoot()
        sm = ScreenManager(transition=NoTransition())
        for screen in (HomeScreen(name="home"), FollowUpScreen(name="followup"),
                       ThanksScreen(name="thanks"), SleepScreen(name="sleep")):
            sm.add_widget(screen)
        root.ids.screens.add_widget(sm)
        self.sm = sm
        self._build_faces()
        self.flow.listeners.append(self._on_flow)
        self.kiosk.config_listeners.append(self._on_remote_voting)
        self._on_flow(self.flow)
        return root

    def _build_faces(self) -> None:
        box = self.screen_widget("home").ids.faces
        box.clear_widgets()
        scale = self.flow.settings.scale
        for answer in range(1, scale + 1):
            face = FaceTile(answer=answer, scale=scale, mood=theme.mood(scale, answer),
                            fill=list(theme.face_fill(scale, answer)))
            face.bind(on_press=lambda tile: self.on_face(int(tile.answer)))
            box.add_widget(face)

    def _on_remote_voting(self, _voting: object) -> None:
        # Called on the uplink's thread: widgets change on Kivy's.
        Clock.schedule_once(lambda _dt: self.apply_config(), 0)

    def apply_config(self) -> None:
        """Take the kiosk's settings in force (after a remote configuration) without a restart."""
        config = self.kiosk.config
        old_scale = self.flow.settings.scale
        self.flow.reconfigure(FlowSettings.from_config(config), OpeningHours.from_config(config.voting))
        if self.flow.settings.scale != old_scale:
            self._build_faces()

    def screen_widget(self, name: str) -> Screen:
        if self.sm is None:
            raise RuntimeError("the app is not built yet")
        return self.sm.get_screen(name)

    def faces(self) -> list[FaceTile]:
        """The home screen's faces, answer 1 first."""
        return sorted(self.screen_widget("home").ids.faces.children, key=lambda f: f.answer)

    def on_start(self) -> None:
        Clock.schedule_interval(self._tick, TICK_S)
        Clock.schedule_interval(self._refresh_status, STATUS_S)
        self._refresh_status()
        Window.bind(on_flip=self._first_flip)
        Window.bind(on_flip=self._finish_frame)

    def _first_flip(self, *_: Any) -> None:
        Window.unbind(on_flip=self._first_flip)
        self.first_frame_at = time.monotonic()
        _LOG.info("touch kiosk ready: %s screen drawn (%dx%d)", self.screen, *Window.size)

    def _finish_frame(self, *_: Any) -> None:
        # Have each frame drawn before the next. A display's swap does it (it shows the frame); SDL's
        # ``offscreen`` driver's does not, and Mesa's llvmpipe then never draws the frames: it keeps their
        # commands, about 4 MB a frame, until it runs out of room (some 60 MB). The follow-up's countdown,
        # redrawn 10 times a second, took the benchmarked kiosk from 140 to 156 MB that way (docs/performance.md).
        # With a display or a GPU this waits for a frame that is done or nearly so, a few times a second at most.
        glFinish()

    def on_stop(self) -> None:
        self.backlight.close()
        self.flow.close()

    # -- touches -------------------------------------------------------------------------------------------

    def on_face(self, answer: int) -> None:
        self.flow.press(answer)

    def on_followup(self, answer: Literal["yes", "no"]) -> None:
        self.flow.answer_followup(answer)

    def on_language(self, code: str) -> None:
        self.flow.set_language(code)

    # -- what the flow says --------------------------------------------------------------------------------

    def _on_flow(self, flow: Flow) -> None:
        if self.lang != flow.language:
            self.lang = flow.language
            self._refresh_status()
        self.screen = flow.screen.value
        if self.sm is not None and self.sm.current != self.screen:
            self.sm.current = self.screen
        self.backlight.set(self.screen != "sleep")
        self._update_sleep_line()
        self._update_countdown()

    def _tick(self, _dt: float) -> None:
        if isinstance(self.kiosk, TouchKiosk):
            self.kiosk.ui_beat()
        self.flow.tick()
        self._update_countdown()
        self._update_sleep_line()

    def _update_sleep_line(self) -> None:
        # Recomputed while asleep: « demain » becomes « aujourd'hui » at midnight.
        if self.screen == "sleep":
            now = self.flow.clock.now()
            self.sleep_line = i18n.reopening(self.lang, now, self.flow.hours.next_opening(now))

    def _update_countdown(self) -> None:
        left = self.flow.seconds_left()
        total = self.flow.settings.followup_timeout_s
        self.countdown = 0.0 if left is None or self.screen != "followup" else left / total

    def _refresh_status(self, *_: Any) -> None:
        uplink = self.kiosk.uplink
        self.online = bool(uplink is not None and uplink.connected)
        try:
            waiting = self.kiosk.outbox.depth()
        except Exception:
            _LOG.exception("outbox depth unavailable")
            waiting = 0
        words = [i18n.text(self.lang, "status_online" if self.online else "status_offline")]
        if waiting:
            words.append(i18n.text(self.lang, "status_waiting", n=waiting))
        self.status_text = " · ".join(words)
