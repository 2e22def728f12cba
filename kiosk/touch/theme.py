"""Colours and shapes of the touch kiosk, and the contrast rule they are checked against.

Text must reach a contrast ratio of 4.5:1 with what it is drawn on (WCAG 2.1, 1.4.3). Faces differ by
their drawn shape (the mouth's curve, the brows), and each has a text label: colour is never the only cue.
"""

from __future__ import annotations

import logging
from typing import Final

_LOG = logging.getLogger(__name__)

RGB = tuple[float, float, float]

MIN_CONTRAST: Final = 4.5


def hex_rgb(code: str) -> RGB:
    code = code.lstrip("#")
    r, g, b = (int(code[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b)


BACKGROUND: Final = hex_rgb("#f6f6f2")
TEXT: Final = hex_rgb("#1b1b1b")
TEXT_MUTED: Final = hex_rgb("#4a4a4a")  # status mark, hints, language switch
TILE: Final = hex_rgb("#ffffff")
TILE_PRESSED: Final = hex_rgb("#dfe6f5")
TILE_BORDER: Final = hex_rgb("#6b6b6b")
INK: Final = hex_rgb("#1b1b1b")  # eyes, mouths, outlines
SLEEP_BACKGROUND: Final = hex_rgb("#14161c")
SLEEP_TEXT: Final = hex_rgb("#d8dbe2")
THANKS_BACKGROUND: Final = hex_rgb("#e6f2e6")
ACCENT: Final = hex_rgb("#000091")  # France's « bleu France »: selected language

# Face fills, least satisfied first; the shape carries the meaning, the colour only helps.
_FACE_FILLS: Final = {
    2: ("#f2a7a0", "#9fd9a7"),
    3: ("#f2a7a0", "#f6d87a", "#9fd9a7"),
    4: ("#e8877d", "#f4c07a", "#bfe3a0", "#7fcf8c"),
    5: ("#e8877d", "#f4c07a", "#f6e08a", "#bfe3a0", "#7fcf8c"),
}

#: (background, text) pairs the interface draws text with; tests check each reaches :data:`MIN_CONTRAST`.
TEXT_PAIRS: Final = {
    "home": (BACKGROUND, TEXT),
    "home_muted": (BACKGROUND, TEXT_MUTED),
    "tile": (TILE, TEXT),
    "tile_pressed": (TILE_PRESSED, TEXT),
    "thanks": (THANKS_BACKGROUND, TEXT),
    "sleep": (SLEEP_BACKGROUND, SLEEP_TEXT),
    "accent": (BACKGROUND, ACCENT),
}


def face_fill(scale: int, answer: int) -> RGB:
    return hex_rgb(_FACE_FILLS[scale][answer - 1])


def mood(scale: int, answer: int) -> float:
    """Where an answer lies from -1 (least satisfied) to +1 (most), which bends the drawn mouth."""
    return -1.0 + 2.0 * (answer - 1) / (scale - 1)


def relative_luminance(rgb: RGB) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: RGB, b: RGB) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
