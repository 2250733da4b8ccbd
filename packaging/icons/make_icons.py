"""Draws the raster icons (PNG, ICO, ICNS) matching screensight.svg; rerun after changing it."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

NAVY = (11, 42, 91, 255)
WHITE = (255, 255, 255, 255)
YELLOW = (255, 212, 0, 255)
HERE = Path(__file__).resolve().parent


def draw(size: int = 1024) -> Image.Image:
    """The icon at `size` pixels, drawn on the SVG's 256-unit grid."""
    s = size / 256
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(image)
    d.rounded_rectangle([8 * s, 8 * s, 248 * s, 248 * s], radius=44 * s, fill=NAVY)
    d.rounded_rectangle([36 * s, 52 * s, 220 * s, 176 * s], radius=14 * s, fill=WHITE)
    d.rectangle([108 * s, 176 * s, 148 * s, 198 * s], fill=WHITE)
    d.rounded_rectangle([80 * s, 196 * s, 176 * s, 210 * s], radius=7 * s, fill=WHITE)
    # The eye: two quadratic curves from (56,114) to (200,114) with control points y=54 and y=174.
    points = []
    for i in range(65):
        t = i / 64
        x = (1 - t) ** 2 * 56 + 2 * (1 - t) * t * 128 + t**2 * 200
        points.append((x * s, ((1 - t) ** 2 * 114 + 2 * (1 - t) * t * 54 + t**2 * 114) * s))
    for i in range(65):
        t = i / 64
        x = (1 - t) ** 2 * 200 + 2 * (1 - t) * t * 128 + t**2 * 56
        points.append((x * s, ((1 - t) ** 2 * 114 + 2 * (1 - t) * t * 174 + t**2 * 114) * s))
    d.polygon(points, fill=NAVY)
    d.ellipse([102 * s, 88 * s, 154 * s, 140 * s], fill=YELLOW)
    d.ellipse([117 * s, 103 * s, 139 * s, 125 * s], fill=NAVY)
    return image


def main() -> None:
    big = draw(1024)
    big.resize((256, 256), Image.LANCZOS).save(HERE / "screensight.png")
    big.save(HERE / "screensight.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64),
                                              (128, 128), (256, 256)])
    big.save(HERE / "screensight.icns")


if __name__ == "__main__":
    main()
