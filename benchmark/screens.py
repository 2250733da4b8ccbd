"""Synthetic but realistic desktop screenshots for the benchmark, drawn with PIL.

A 1920x1080 desktop: wallpaper, a top panel with a clock, desktop icons, a 900x600 text-editor
window (title bar, menu, toolbar buttons, text, a status bar) and a modal "Save changes?"
dialog. `variant` changes the clock, the text and the dialog's file name, so every variant has
different pixels (a cold run never hits the encoded-screenshot cache).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

SCREEN_SIZE = (1920, 1080)
WINDOW_RECT = (420, 190, 900, 600)
"""x, y, width, height of the active window on the synthetic desktop."""
REGION_RECT = (670, 390, 400, 300)
"""A 400x300 region around the dialog."""
WINDOW_TITLE = "report-draft.txt - Text Editor"

_WORDS = (
    "the quarterly report shows revenue growth in every region while costs stayed flat "
    "our team finished the migration ahead of schedule and the new dashboard is live "
    "please review the attached figures before the meeting on thursday afternoon "
    "customer satisfaction rose to ninety two percent after the support changes"
).split()


@dataclass(frozen=True)
class Desktop:
    """A rendered desktop and where its window and region are."""

    image: Image.Image
    window_rect: tuple[int, int, int, int]
    window_title: str
    region_rect: tuple[int, int, int, int]


def _font(size: int) -> ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _button(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], label: str,
            font: ImageFont.ImageFont, default: bool = False) -> None:
    fill = "#2d6cdf" if default else "#f2f2f2"
    text = "white" if default else "#1a1a1a"
    draw.rounded_rectangle(box, radius=5, fill=fill, outline="#8a8a8a")
    x0, y0, x1, y1 = box
    w = draw.textlength(label, font=font)
    draw.text(((x0 + x1 - w) / 2, y0 + (y1 - y0 - font.size) / 2 - 1), label, fill=text, font=font)


def _wallpaper(size: tuple[int, int], seed: int) -> Image.Image:
    w, h = size
    gradient = Image.linear_gradient("L").resize((w, h))
    top = (24 + seed % 7, 58, 96)
    bottom = (92, 140, 170 + seed % 11)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), gradient)


def render_desktop(variant: int = 0, size: tuple[int, int] = SCREEN_SIZE) -> Desktop:
    """Draw the desktop; each `variant` differs in clock, text and file name."""
    rng = random.Random(variant)
    image = _wallpaper(size, variant)
    draw = ImageDraw.Draw(image)
    small, body, title = _font(14), _font(16), _font(15)
    sw, sh = size

    # Top panel with menus and a clock.
    draw.rectangle((0, 0, sw, 32), fill="#202124")
    for i, label in enumerate(("Activities", "Files", "Text Editor")):
        draw.text((16 + 110 * i, 8), label, fill="#e8eaed", font=small)
    clock = f"Tue 14:{variant % 60:02d}"
    draw.text((sw // 2 - 40, 8), clock, fill="#e8eaed", font=small)
    for i, label in enumerate(("Wi-Fi", "Vol 60%", "Battery 81%")):
        draw.text((sw - 300 + 95 * i, 8), label, fill="#e8eaed", font=small)

    # Desktop icons with labels.
    for i, label in enumerate(("Home", "Documents", "Trash", "Budget.xlsx", "Photos")):
        y = 70 + 110 * i
        draw.rounded_rectangle((40, y, 104, y + 56), radius=8, fill="#f4c542" if i % 2 else "#7fb3f5")
        draw.text((36, y + 62), label, fill="white", font=small)

    # The active window.
    x, y, w, h = WINDOW_RECT
    draw.rectangle((x + 6, y + 6, x + w + 6, y + h + 6), fill="#00000040")
    draw.rectangle((x, y, x + w, y + h), fill="white", outline="#5f6368")
    draw.rectangle((x, y, x + w, y + 34), fill="#e8eaed")
    draw.text((x + w // 2 - 120, y + 9), WINDOW_TITLE, fill="#202124", font=title)
    for i, colour in enumerate(("#ff5f57", "#febc2e", "#28c840")):
        draw.ellipse((x + w - 80 + 24 * i, y + 11, x + w - 66 + 24 * i, y + 25), fill=colour)
    for i, label in enumerate(("File", "Edit", "View", "Search", "Tools", "Help")):
        draw.text((x + 12 + 64 * i, y + 42), label, fill="#202124", font=small)
    for i, label in enumerate(("New", "Open", "Save", "Undo", "Find")):
        _button(draw, (x + 10 + 78 * i, y + 66, x + 80 + 78 * i, y + 94), label, small)
    words = list(_WORDS)
    rng.shuffle(words)
    line_y = y + 110
    line: list[str] = []
    for word in words * 2:
        line.append(word)
        if draw.textlength(" ".join(line), font=body) > w - 60:
            draw.text((x + 20, line_y), " ".join(line[:-1]), fill="#202124", font=body)
            line, line_y = [word], line_y + 24
            if line_y > y + h - 60:
                break
    draw.rectangle((x, y + h - 26, x + w, y + h), fill="#f1f3f4")
    draw.text((x + 12, y + h - 22), f"Line {12 + variant}, Column 4    UTF-8    Plain Text",
              fill="#5f6368", font=small)

    # The modal dialog over the window.
    dx, dy, dw, dh = REGION_RECT[0] + 20, REGION_RECT[1] + 40, 360, 200
    draw.rectangle((dx + 4, dy + 4, dx + dw + 4, dy + dh + 4), fill="#3c4043")
    draw.rectangle((dx, dy, dx + dw, dy + dh), fill="#fafafa", outline="#5f6368")
    draw.text((dx + 16, dy + 16), "Save changes?", fill="#202124", font=_font(20))
    draw.text((dx + 16, dy + 56), f"Save changes to report-draft-{variant}.txt", fill="#3c4043",
              font=small)
    draw.text((dx + 16, dy + 78), "before closing? Your changes will be lost", fill="#3c4043",
              font=small)
    draw.text((dx + 16, dy + 100), "if you don't save them.", fill="#3c4043", font=small)
    _button(draw, (dx + 16, dy + dh - 48, dx + 126, dy + dh - 16), "Don't Save", small)
    _button(draw, (dx + 140, dy + dh - 48, dx + 230, dy + dh - 16), "Cancel", small)
    _button(draw, (dx + 244, dy + dh - 48, dx + 344, dy + dh - 16), "Save", small, default=True)

    # A taskbar at the bottom.
    draw.rectangle((0, sh - 48, sw, sh), fill="#202124")
    for i, label in enumerate(("Browser", "Mail", "Text Editor", "Terminal")):
        _button(draw, (200 + 150 * i, sh - 42, 340 + 150 * i, sh - 8), label, small,
                default=label == "Text Editor")
    return Desktop(image=image, window_rect=WINDOW_RECT, window_title=WINDOW_TITLE,
                   region_rect=REGION_RECT)
