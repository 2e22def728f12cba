"""Kivy widgets of the touch kiosk, drawn on the canvas: faces, Oui/Non choices, the status mark.

Each target reacts on touch *down*: the visitor's finger gets its feedback at once, and a touch that a
second input provider delivers again finds the next screen, which :class:`~kiosk.touch.flow.Flow` guards.
Shapes carry the meaning (the mouth's curve, the brows, a tick or a cross) and every target has a text
label: colour is never the only cue. Lines are Kivy's antialiased ``SmoothLine``: the window runs without
multisampling, which costs memory (:func:`kiosk.touch.app.configure_kivy`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from kivy.graphics import Color, Ellipse, RoundedRectangle
from kivy.graphics import SmoothLine as Line
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.widget import Widget

from kiosk.touch import theme

_LOG = logging.getLogger(__name__)


class Tile(FloatLayout):
    """A large rounded target: ``on_press`` fires on touch down inside it."""

    pressed = BooleanProperty(False)
    __events__ = ("on_press",)

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos) or getattr(touch, "is_mouse_scrolling", False):
            return bool(super().on_touch_down(touch))
        touch.grab(self)
        self.pressed = True
        self.dispatch("on_press")
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is self:
            touch.ungrab(self)
            self.pressed = False
            return True
        return bool(super().on_touch_up(touch))

    def on_press(self) -> None:
        pass


class FaceDrawing(Widget):
    """A face whose mouth bends with ``mood`` (-1 frowning ... +1 smiling); brows at the extremes."""

    mood = NumericProperty(0.0)
    fill = ListProperty([1.0, 1.0, 1.0])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._redraw, size=self._redraw, mood=self._redraw, fill=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        r = min(self.width, self.height) / 2 * 0.88
        if r <= 2:
            return
        cx, cy = self.center
        ink = max(1.5, r * 0.07)
        with self.canvas:
            Color(*self.fill)
            Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
            Color(*theme.INK)
            Line(circle=(cx, cy, r - ink / 2), width=ink)
            eye = r * 0.12
            for side in (-1, 1):
                Ellipse(pos=(cx + side * r * 0.35 - eye, cy + r * 0.22 - eye), size=(2 * eye, 2 * eye))
            if abs(self.mood) > 0.99:
                # Brows: slanted down towards the nose when unhappy, raised arcs when delighted.
                for side in (-1, 1):
                    x0, x1 = cx + side * r * 0.18, cx + side * r * 0.55
                    y = cy + r * 0.5
                    tilt = r * 0.12 * (1 if self.mood < 0 else -0.5)
                    Line(points=[x0, y - tilt * 0.2, x1, y + tilt], width=ink * 0.8, cap="round")
            Line(points=self._mouth(cx, cy, r), width=ink, cap="round", joint="round")

    def _mouth(self, cx: float, cy: float, r: float) -> list[float]:
        # A parabola whose ends rise when smiling (mood > 0) and fall when frowning; flat in the middle.
        half, depth = r * 0.45, r * 0.28 * self.mood
        base = cy - r * 0.4 + (r * 0.12 if self.mood < 0 else 0)
        pts: list[float] = []
        for i in range(17):
            t = -1 + i / 8
            pts += [cx + t * half, base + depth * t * t]
        return pts


class ChoiceDrawing(Widget):
    """A tick (``kind="yes"``) or a cross (``kind="no"``) in a circle."""

    kind = StringProperty("yes")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._redraw, size=self._redraw, kind=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        r = min(self.width, self.height) / 2 * 0.95
        if r <= 2:
            return
        cx, cy = self.center
        ink = max(2.0, r * 0.1)
        with self.canvas:
            Color(*theme.INK)
            Line(circle=(cx, cy, r - ink / 2), width=ink * 0.6)
            if self.kind == "yes":
                Line(points=[cx - r * 0.45, cy, cx - r * 0.1, cy - r * 0.35, cx + r * 0.5, cy + r * 0.35],
                     width=ink, cap="round", joint="round")
            else:
                d = r * 0.38
                Line(points=[cx - d, cy - d, cx + d, cy + d], width=ink, cap="round")
                Line(points=[cx - d, cy + d, cx + d, cy - d], width=ink, cap="round")


class MoonDrawing(Widget):
    """A crescent moon for the sleep screen."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._redraw, size=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        r = min(self.width, self.height) / 2 * 0.9
        if r <= 2:
            return
        cx, cy = self.center
        with self.canvas:
            Color(*theme.SLEEP_TEXT)
            Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
            Color(*theme.SLEEP_BACKGROUND)
            Ellipse(pos=(cx - r * 0.55, cy - r * 0.75), size=(2 * r, 2 * r))


class StatusDot(Widget):
    """Filled when the uplink is connected, hollow when not: the status mark's shape, next to its words."""

    online = BooleanProperty(True)
    ink = ListProperty(list(theme.TEXT_MUTED))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._redraw, size=self._redraw, online=self._redraw, ink=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        r = min(self.width, self.height) / 2 * 0.8
        cx, cy = self.center
        with self.canvas:
            Color(*self.ink)
            if self.online:
                Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
            else:
                Line(circle=(cx, cy, r), width=1.2)
                Line(points=[cx - r * math.sqrt(0.5), cy - r * math.sqrt(0.5),
                             cx + r * math.sqrt(0.5), cy + r * math.sqrt(0.5)], width=1.2)


class TileFrame(Widget):
    """The rounded background and border of a :class:`Tile`, pressed or not."""

    pressed = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(pos=self._redraw, size=self._redraw, pressed=self._redraw)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        radius = min(self.width, self.height) * 0.08
        with self.canvas:
            Color(*(theme.TILE_PRESSED if self.pressed else theme.TILE))
            RoundedRectangle(pos=self.pos, size=self.size, radius=[radius])
            Color(*theme.TILE_BORDER)
            Line(rounded_rectangle=(self.x, self.y, self.width, self.height, radius), width=1.5)
