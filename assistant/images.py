"""Image input: load any picture file safely and normalise every image to bounded-size RGB."""

from __future__ import annotations

import os
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageChops

from base.errors import ImageError

MAX_SIDE = 4096
"""Longest side of a normalised image; larger ones are downscaled (aspect kept), smaller kept."""

MAX_SOURCE_PIXELS = 32_000 * 32_000
"""Largest picture (in pixels) a file may declare; beyond that it is refused, not decoded."""

MAX_DECODE_BYTES = 2 * 1024**3
"""Most memory one full decode may take (formats without reduced decoding, e.g. PNG)."""

_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = MappingProxyType({
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
})
# Memory per pixel while decoding and downscaling (palette/1-bit images are converted first).
_BYTES_PER_PIXEL = MappingProxyType({"1": 2, "L": 1, "P": 5, "PA": 6, "LA": 4, "I;16": 4, "I;16B": 4, "I;16L": 4})
_WHITE = (255, 255, 255)

# screen_state thresholds: a pixel is "lit" above _DARK_MAX in any channel; a pixel is "off
# the flat colour" when a channel differs by more than _FLAT_TOLERANCE from that channel's most
# common value. Up to _STRAY_PIXELS such pixels (a dead pixel, compression noise) are forgiven:
# a single word of text is far more, so a screen showing anything is never called black/blank.
_DARK_MAX = 40
_FLAT_TOLERANCE = 8
_STRAY_PIXELS = 16


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open an image file and return it as normalised RGB; ImageError says what is wrong."""
    name = os.fspath(path)
    _check_file(name)
    try:
        with open(name, "rb") as fp:
            image = _open_without_bomb_check(fp, name)
            try:
                result = _decode_and_normalize(image, name)
                # Unchanged images are the file's own object: copy before the file closes.
                return result.copy() if result is image else result
            finally:
                image.close()
    except OSError as exc:  # unreadable file, permission, I/O error while decoding
        raise ImageError(
            f"Could not read the image file {name}: {exc.strerror or exc}.",
            "Check that the file is a complete, readable picture (PNG, JPEG, GIF, WebP, ...).",
        ) from exc


def normalize_image(image: Image.Image) -> Image.Image:
    """Return `image` as RGB, upright (EXIF), alpha on white, longest side at most MAX_SIDE."""
    if image.width <= 0 or image.height <= 0:
        raise ImageError(
            f"The image is empty ({image.width}x{image.height} pixels).",
            "Use a picture with at least one pixel.",
        )
    orientation = _exif_orientation(image)
    image = _downscale(image)
    image = _to_rgb(image)
    transpose = _TRANSPOSE_FOR_ORIENTATION.get(orientation)
    if transpose is not None:
        image = image.transpose(transpose)
    return image


def screen_state(image: Image.Image) -> str | None:
    """Say "black" (nearly every pixel dark), "blank" (one flat colour) or None (has content)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    bands = rgb.split()
    brightest = ImageChops.lighter(ImageChops.lighter(bands[0], bands[1]), bands[2])
    lit = sum(brightest.histogram()[_DARK_MAX + 1 :])
    off_masks = [_off_value_mask(band) for band in bands]
    off = ImageChops.lighter(ImageChops.lighter(off_masks[0], off_masks[1]), off_masks[2])
    off_flat = off.histogram()[255]
    if lit <= _STRAY_PIXELS:
        return "black"
    if off_flat <= _STRAY_PIXELS:
        return "blank"
    return None


def _off_value_mask(band: Image.Image) -> Image.Image:
    """255 where the band differs from its most common value by more than the tolerance."""
    counts = band.histogram()
    common = max(range(256), key=counts.__getitem__)
    table = [255 if abs(value - common) > _FLAT_TOLERANCE else 0 for value in range(256)]
    return band.point(table)


def _check_file(name: str) -> None:
    if not os.path.exists(name):
        raise ImageError(f"There is no file {name}.", "Check the path and the file name.")
    if os.path.isdir(name):
        raise ImageError(f"{name} is a folder, not an image file.", "Give the path of a picture.")
    if os.path.getsize(name) == 0:
        raise ImageError(f"The file {name} is empty (0 bytes).", "Use a complete picture file.")


def _open_without_bomb_check(fp, name: str) -> Image.Image:
    """Identify the file like Image.open, but apply our own size policy instead of PIL's.

    PIL refuses pictures over ~179 million pixels with DecompressionBombError before we can
    look at them; we want a 20000x20000 picture downscaled, and a declared size that would
    not fit in memory refused with a clear message. Changing PIL.Image.MAX_IMAGE_PIXELS would
    be process-wide mutable state, so the registered format openers are called directly.
    """
    Image.init()
    prefix = fp.read(16)
    claimed_by = ""
    for format_id in Image.ID:
        factory, accept = Image.OPEN[format_id]
        if accept is not None and not _accepts(accept, prefix):
            continue
        fp.seek(0)
        try:
            image = factory(fp, name)
        except (SyntaxError, IndexError, TypeError, ValueError, OSError, EOFError):
            if accept is not None and not claimed_by:
                claimed_by = format_id
            continue
        _check_declared_size(image, name)
        return image
    if claimed_by:
        raise ImageError(
            f"{name} looks like a {claimed_by} picture but is damaged or has no pixels.",
            "Save or download the picture again and retry.",
        )
    raise ImageError(
        f"{name} is not an image ScreenSight can read.",
        "Use a PNG, JPEG, GIF, WebP, BMP or TIFF picture.",
    )


def _accepts(accept, prefix: bytes) -> bool:
    result = accept(prefix)
    return bool(result) and not isinstance(result, str)


def _check_declared_size(image: Image.Image, name: str) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError(
            f"The image {name} has no pixels ({width}x{height}).",
            "Use a picture with at least one pixel.",
        )
    if width * height > MAX_SOURCE_PIXELS:
        raise ImageError(
            f"The image {name} is too large to open ({width}x{height} pixels).",
            "Save a smaller copy (at most 32000x32000 pixels) and describe that.",
        )


def _decode_and_normalize(image: Image.Image, name: str) -> Image.Image:
    image.seek(0)  # animated GIF/WebP/APNG: the first frame
    if image.format == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale directly: a 20000x20000 JPEG never exists in full.
        image.draft(image.mode, (MAX_SIDE, MAX_SIDE))
    needed = image.width * image.height * _BYTES_PER_PIXEL.get(image.mode, 4)
    if needed > MAX_DECODE_BYTES:
        raise ImageError(
            f"The image {name} is too large to decode ({image.width}x{image.height} pixels, "
            f"{needed / 1024**3:.1f} GB).",
            "Save a smaller copy (for example at most 8000 pixels on the longest side).",
        )
    try:
        image.load()
    except Image.DecompressionBombError as exc:  # a plugin that checks again on its own
        raise ImageError(
            f"The image {name} is too large to decode ({image.width}x{image.height} pixels).",
            "Save a smaller copy (for example at most 8000 pixels on the longest side).",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(
            f"The image {name} is damaged or incomplete ({exc}).",
            "Save or download the picture again and retry.",
        ) from exc
    try:
        return normalize_image(image)
    except ValueError as exc:  # a colour mode PIL cannot convert (e.g. LAB without a profile)
        raise ImageError(
            f"The image {name} uses a colour format ScreenSight cannot convert ({image.mode}).",
            "Save it as an ordinary RGB PNG or JPEG and retry.",
        ) from exc


def _exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError):  # a broken EXIF block is not worth failing for
        return 1
    return value if isinstance(value, int) else 1


def _downscale(image: Image.Image) -> Image.Image:
    """Shrink so the longest side is at most MAX_SIDE; never enlarge."""
    longest = max(image.size)
    if longest <= MAX_SIDE:
        return image
    if image.mode in ("1", "P", "PA"):
        # Resizing these modes would use nearest-neighbour; convert to a smooth mode first.
        image = image.convert("L" if image.mode == "1" else _palette_target(image))
    scale = MAX_SIDE / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        image = _sixteen_bit_to_l(image)
    # reducing_gap=1: a fast integer box reduction first, then Lanczos for the last step.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)


def _palette_target(image: Image.Image) -> str:
    has_alpha = image.mode == "PA" or "transparency" in image.info
    return "RGBA" if has_alpha else "RGB"


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("P", "PA"):
        image = image.convert(_palette_target(image))
    elif image.mode.startswith("I;16"):
        image = _sixteen_bit_to_l(image)
    elif image.mode in ("I", "F"):
        image = _stretch_to_l(image)
    elif image.mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert("LA" if image.mode == "L" else "RGBA")
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    """16-bit grey keeps its meaning: 0..65535 becomes 0..255."""
    values = np.asarray(image)
    return Image.fromarray((values >> 8).astype(np.uint8))


def _stretch_to_l(image: Image.Image) -> Image.Image:
    """32-bit int or float grey has no fixed range: its own min..max becomes 0..255."""
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return Image.new("L", image.size, 0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return Image.new("L", image.size, int(max(0.0, min(255.0, low))))
    scaled = np.nan_to_num((values - low) * (255.0 / (high - low)), nan=0.0, posinf=255.0)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8))
