"""A small PDF writer: A4 pages of text, lines and rectangles, in the PDF's standard fonts.

Enough for a report with vector charts and no dependency. Text is encoded in Windows-1252 (the standard fonts'
WinAnsiEncoding holds French: é, à, ç, « », œ, €); a character outside it is written as ``?``.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field

_LOG = logging.getLogger(__name__)

A4 = (595.28, 841.89)
FONTS = {"regular": "Helvetica", "bold": "Helvetica-Bold"}
#: Widths of Helvetica's glyphs are not embedded here: an average is enough to right-align numbers roughly.
_AVERAGE_WIDTH = {"regular": 0.52, "bold": 0.56}

Colour = tuple[float, float, float]
BLACK: Colour = (0.086, 0.086, 0.086)
BLUE: Colour = (0.0, 0.0, 0.569)
RED: Colour = (0.808, 0.020, 0.0)
GREEN: Colour = (0.094, 0.459, 0.235)
GREY: Colour = (0.45, 0.45, 0.45)
LIGHT: Colour = (0.773, 0.773, 0.996)


def _text(value: str) -> bytes:
    raw = value.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def text_width(value: str, size: float, font: str = "regular") -> float:
    return len(value) * size * _AVERAGE_WIDTH[font]


@dataclass
class Page:
    """Drawing operations on one page; coordinates from the top left, in points."""

    ops: list[bytes] = field(default_factory=list)
    height: float = A4[1]

    def text(self, x: float, y: float, value: str, *, size: float = 10, font: str = "regular",
             colour: Colour = BLACK, align: str = "left") -> None:
        if align == "right":
            x -= text_width(value, size, font)
        elif align == "centre":
            x -= text_width(value, size, font) / 2
        r, g, b = colour
        self.ops.append(b"BT /%s %.1f Tf %.3f %.3f %.3f rg %.2f %.2f Td (%s) Tj ET" % (
            b"F1" if font == "regular" else b"F2", size, r, g, b, x, self.height - y, _text(value)))

    def line(self, x1: float, y1: float, x2: float, y2: float, *, colour: Colour = BLACK, width: float = 1,
             dash: tuple[float, float] | None = None) -> None:
        r, g, b = colour
        pattern = b"[%.1f %.1f] 0 d" % dash if dash else b"[] 0 d"
        self.ops.append(b"%s %.3f %.3f %.3f RG %.2f w %.2f %.2f m %.2f %.2f l S" % (
            pattern, r, g, b, width, x1, self.height - y1, x2, self.height - y2))

    def polyline(self, points: list[tuple[float, float]], *, colour: Colour = BLACK, width: float = 1) -> None:
        if len(points) < 2:
            return
        r, g, b = colour
        path = b" ".join(b"%.2f %.2f %s" % (x, self.height - y, b"m" if i == 0 else b"l")
                         for i, (x, y) in enumerate(points))
        self.ops.append(b"[] 0 d %.3f %.3f %.3f RG %.2f w 1 j %s S" % (r, g, b, width, path))

    def rect(self, x: float, y: float, w: float, h: float, *, fill: Colour | None = None,
             stroke: Colour | None = None) -> None:
        """A rectangle whose top left corner is (x, y)."""
        ops = b""
        if fill:
            ops += b"%.3f %.3f %.3f rg " % fill
        if stroke:
            ops += b"%.3f %.3f %.3f RG 0.5 w [] 0 d " % stroke
        paint = b"B" if fill and stroke else b"f" if fill else b"S"
        self.ops.append(ops + b"%.2f %.2f %.2f %.2f re %s" % (x, self.height - y - h, w, h, paint))


@dataclass
class Document:
    title: str
    pages: list[Page] = field(default_factory=list)

    def page(self) -> Page:
        page = Page()
        self.pages.append(page)
        return page

    def bytes(self) -> bytes:
        """The PDF file: catalog, page tree, two fonts, one compressed content stream a page."""
        objects: list[bytes] = []
        width, height = A4
        fonts = [b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % name.encode()
                 for name in FONTS.values()]
        first_page = 5  # 1 catalog, 2 pages, 3-4 fonts
        kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(len(self.pages)))
        objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
        objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self.pages)))
        objects.extend(fonts)
        for i, page in enumerate(self.pages):
            stream = zlib.compress(b"\n".join(page.ops))
            objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources << /Font << "
                           b"/F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>" % (width, height, first_page + 2 * i + 1))
            objects.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream))
        info = len(objects) + 1
        objects.append(b"<< /Title (%s) /Producer (borne) >>" % _text(self.title))
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1, info, xref)
        return bytes(out)
