"""A printable label for the kiosk's case: its id, its espace, and a QR code (PNG, or PDF by the file's suffix).

The QR code holds ``borne:kiosk/<id>?espace=<espace id>``: a technician's phone reads the kiosk's id without
typing it. The label is 62 mm wide (common label printers) at 300 dpi.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import qrcode
from PIL import Image, ImageDraw, ImageFont

_LOG = logging.getLogger(__name__)

DPI = 300
WIDTH, HEIGHT = 732, 366  # 62 x 31 mm at 300 dpi
_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf")


def qr_payload(kiosk_id: str, espace_id: str) -> str:
    return f"borne:kiosk/{quote(kiosk_id)}?espace={quote(espace_id)}"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in _FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, size: int) -> tuple[str, ImageFont.FreeTypeFont |
                                                                               ImageFont.ImageFont]:
    """The largest font (down to 14 px) in which ``text`` fits ``width``; cut with an ellipsis below that."""
    while size > 14:
        font = _font(size)
        if draw.textlength(text, font=font) <= width:
            return text, font
        size -= 2
    font = _font(size)
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…", font


def render_label(kiosk_id: str, espace_id: str, espace_name: str) -> Image.Image:
    qr = qrcode.QRCode(border=1, box_size=8, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(qr_payload(kiosk_id, espace_id))
    qr.make(fit=True)
    code = qr.make_image(fill_color="black", back_color="white").get_image().convert("L")
    side = HEIGHT - 40
    code = code.resize((side, side), Image.Resampling.NEAREST)
    image = Image.new("L", (WIDTH, HEIGHT), 255)
    image.paste(code, (20, 20))
    draw = ImageDraw.Draw(image)
    left, width = side + 40, WIDTH - side - 60
    y = 30
    for text, size in (("borne", 30), (kiosk_id, 44), (espace_name, 30), (espace_id, 26)):
        line, font = _fit(draw, text, width, size)
        draw.text((left, y), line, fill=0, font=font)
        y += int(size * 1.5) + 10
    return image


def write_label(path: Path, kiosk_id: str, espace_id: str, espace_name: str) -> Path:
    """Write the label as PNG, or PDF when ``path`` ends in ``.pdf``."""
    image = render_label(kiosk_id, espace_id, espace_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".pdf":
        image.convert("RGB").save(path, "PDF", resolution=DPI)
    else:
        image.save(path, "PNG", dpi=(DPI, DPI))
    _LOG.info("label of kiosk %s written to %s", kiosk_id, path)
    return path
