"""Image input: every kind of bad or unusual picture file (made in tmp_path), and pixel checks."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from PIL import Image

from assistant.capture import load_image_file
from assistant.images import (
    MAX_SIDE,
    load_image,
    normalize_image,
    screen_state,
)
from base.errors import ImageError
from base.images import image_fingerprint

ROOT = Path(__file__).resolve().parents[1]


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def write_png(path: Path, width: int, height: int, rows, *, color_type: int = 0,
              bit_depth: int = 8) -> Path:
    """Write a PNG by hand (sizes and depths PIL will not write); `rows` yields filtered rows."""
    compressor = zlib.compressobj(1)
    data = b"".join(compressor.compress(row) for row in rows) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data)
                     + _chunk(b"IEND", b""))
    return path


def half_dark_half_light_png(path: Path, side: int) -> Path:
    """A grey side x side PNG: left half 30, right half 220 (identical rows, fast to write)."""
    first = b"\x00" + bytes([30]) * (side // 2) + bytes([220]) * (side - side // 2)
    same_as_above = b"\x02" + bytes(side)  # PNG "Up" filter: each row repeats the one above
    rows = (first if y == 0 else same_as_above for y in range(side))
    return write_png(path, side, side, rows)


def assert_clear(error: ImageError) -> None:
    assert error.message and error.hint, "an ImageError must say what happened and what to do"


# --- files that are not usable pictures -------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no file") as info:
        load_image(tmp_path / "nothing.png")
    assert_clear(info.value)


def test_directory(tmp_path):
    with pytest.raises(ImageError, match="folder") as info:
        load_image(tmp_path)
    assert_clear(info.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty") as info:
        load_image(path)
    assert_clear(info.value)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("These are my notes, not a picture.\n" * 20)
    with pytest.raises(ImageError, match="not an image") as info:
        load_image(path)
    assert_clear(info.value)


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    Image.effect_noise((300, 300), 60).convert("RGB").save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged or incomplete") as info:
        load_image(path)
    assert_clear(info.value)


def test_zero_by_zero_png(tmp_path):
    path = write_png(tmp_path / "zero.png", 0, 0, [], color_type=2)
    with pytest.raises(ImageError, match="no pixels") as info:
        load_image(path)
    assert_clear(info.value)


def test_declared_size_beyond_limit_is_refused_without_decoding(tmp_path):
    path = write_png(tmp_path / "bomb.png", 40_000, 40_000, [], color_type=2)
    with pytest.raises(ImageError, match="too large") as info:
        load_image(path)
    assert_clear(info.value)


# --- huge and extreme sizes -------------------------------------------------------------------

@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:
    return half_dark_half_light_png(tmp_path_factory.mktemp("huge") / "huge.png", 20_000)


def test_20000_square_png_is_downscaled(huge_png):
    path = huge_png
    pil_limit = Image.MAX_IMAGE_PIXELS
    image = load_image(path)
    assert image.size == (MAX_SIDE, MAX_SIDE)
    assert image.mode == "RGB"
    assert image.getpixel((100, 100)) == (30, 30, 30)
    assert image.getpixel((MAX_SIDE - 100, MAX_SIDE - 100)) == (220, 220, 220)
    assert Image.MAX_IMAGE_PIXELS == pil_limit, "PIL's process-wide limit must stay untouched"


def test_20000_square_png_fits_in_one_gigabyte_of_address_space(huge_png):
    """Decoding 20000x20000 stays bounded: a full-size RGB copy alone would need 1.6 GB."""
    path = huge_png
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1024 ** 3, 1024 ** 3))
        from assistant.images import load_image
        image = load_image({str(path)!r})
        print(image.size, image.getpixel((10, 10)))
    """)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(4096, 4096) (30, 30, 30)"


def test_20000_square_jpeg_is_decoded_at_reduced_scale(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("L", (20_000, 20_000), 128).save(path, quality=50)
    image = load_image(path)
    assert max(image.size) <= MAX_SIDE
    assert image.size[0] == image.size[1]
    red, green, blue = image.getpixel((image.width // 2, image.height // 2))
    assert abs(red - 128) <= 3 and red == green == blue


def test_one_by_20000_keeps_aspect(tmp_path):
    path = tmp_path / "line.png"
    Image.new("L", (1, 20_000), 77).save(path)
    image = load_image(path)
    assert image.size == (1, MAX_SIDE)
    assert image.getpixel((0, 2000)) == (77, 77, 77)


def test_small_image_is_not_upscaled(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (3, 2), (1, 2, 3)).save(path)
    image = load_image(path)
    assert image.size == (3, 2)
    assert image.getpixel((2, 1)) == (1, 2, 3)


def test_wide_in_memory_image_is_downscaled_keeping_aspect():
    image = normalize_image(Image.new("RGB", (8192, 1000), (9, 9, 9)))
    assert image.size == (4096, 500)


# --- colour modes -----------------------------------------------------------------------------

def test_16_bit_grey_png(tmp_path):
    def row(value: int) -> bytes:
        return b"\x00" + struct.pack(">H", value) * 4

    path = write_png(tmp_path / "deep.png", 4, 2, [row(65535), row(32896)], bit_depth=16)
    image = load_image(path)
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert image.getpixel((3, 1)) == (128, 128, 128)


def test_16_bit_rgb_png(tmp_path):
    pixel = struct.pack(">HHH", 65535, 0, 32896)
    path = write_png(tmp_path / "deep_rgb.png", 2, 1, [b"\x00" + pixel * 2], color_type=2,
                     bit_depth=16)
    image = load_image(path)
    assert image.getpixel((1, 0)) == (255, 0, 128)


def test_32_bit_float_image_is_stretched():
    values = Image.linear_gradient("L").convert("F").point(lambda v: v * 1000.0)
    image = normalize_image(values)
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (0, 0, 0)
    assert image.getpixel((0, 255)) == (255, 255, 255)


def test_cmyk_tiff(tmp_path):
    path = tmp_path / "print.tiff"
    Image.new("CMYK", (10, 10), (0, 255, 255, 0)).save(path)
    image = load_image(path)
    assert image.getpixel((5, 5)) == (255, 0, 0)


def test_cmyk_jpeg(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (16, 16), (0, 0, 0, 255)).save(path, quality=95)
    red, green, blue = load_image(path).getpixel((8, 8))
    assert max(red, green, blue) <= 10


def test_palette_with_transparency_on_white(tmp_path):
    path = tmp_path / "palette.png"
    image = Image.new("P", (4, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putdata([0, 1, 0, 1])
    image.save(path, transparency=1)
    loaded = load_image(path)
    assert loaded.getpixel((0, 0)) == (255, 0, 0)
    assert loaded.getpixel((1, 0)) == (255, 255, 255)


def test_rgba_composited_on_white(tmp_path):
    path = tmp_path / "alpha.png"
    image = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    image.putpixel((1, 0), (255, 0, 0, 128))
    image.save(path)
    loaded = load_image(path)
    assert loaded.getpixel((0, 0)) == (255, 255, 255)
    red, green, blue = loaded.getpixel((1, 0))
    assert red == 255 and 120 <= green <= 135 and green == blue


def test_la_composited_on_white(tmp_path):
    path = tmp_path / "grey_alpha.png"
    image = Image.new("LA", (2, 1), (0, 255))
    image.putpixel((1, 0), (0, 0))
    image.save(path)
    loaded = load_image(path)
    assert loaded.getpixel((0, 0)) == (0, 0, 0)
    assert loaded.getpixel((1, 0)) == (255, 255, 255)


def test_animated_gif_gives_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as check:
        assert check.n_frames == 2
    assert load_image(path).getpixel((4, 4)) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "phone.jpg"
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 10, 20))  # black stripe on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    assert sum(loaded.getpixel((10, 3))) < 60  # the stripe is now at the top
    assert sum(loaded.getpixel((10, 36))) > 700


def test_empty_in_memory_image():
    with pytest.raises(ImageError, match="empty"):
        normalize_image(Image.new("RGB", (0, 0)))


def test_load_image_file_gives_a_file_capture(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (5, 4), (10, 20, 30)).save(path)
    capture = load_image_file(path)
    assert capture.source == "file"
    assert capture.rect is None
    assert capture.title == "photo.png"
    assert capture.image.size == (5, 4)
    assert capture.taken_at > 0


# --- screen state and fingerprints ------------------------------------------------------------

def test_black_screen():
    assert screen_state(Image.new("RGB", (1920, 1080), (0, 0, 0))) == "black"


def test_nearly_black_screen_with_stray_pixels_and_noise():
    image = Image.new("RGB", (640, 480), (6, 6, 8))
    for x in range(10):
        image.putpixel((x * 50, 7), (255, 255, 255))
    image.paste((20, 18, 25), (0, 0, 100, 100))
    assert screen_state(image) == "black"


def test_a_little_text_on_black_is_content():
    image = Image.new("RGB", (1920, 1080), (0, 0, 0))
    image.paste((200, 200, 200), (10, 10, 22, 26))  # one small glyph-sized mark
    assert screen_state(image) is None


def test_flat_colour_is_blank():
    assert screen_state(Image.new("RGB", (800, 600), (40, 90, 200))) == "blank"
    assert screen_state(Image.new("RGB", (800, 600), (255, 255, 255))) == "blank"


def test_one_word_on_white_is_content():
    image = Image.new("RGB", (1920, 1080), (255, 255, 255))
    image.paste((0, 0, 0), (900, 500, 940, 512))
    assert screen_state(image) is None


def test_photo_is_content():
    assert screen_state(Image.effect_noise((200, 200), 50).convert("RGB")) is None


def test_screen_state_accepts_other_modes():
    assert screen_state(Image.new("L", (50, 50), 0)) == "black"


def test_fingerprint_is_stable_and_sensitive():
    first = Image.new("RGB", (64, 48), (1, 2, 3))
    same = Image.new("RGB", (64, 48), (1, 2, 3))
    assert image_fingerprint(first) == image_fingerprint(same)
    changed = same.copy()
    changed.putpixel((63, 47), (1, 2, 4))
    assert image_fingerprint(changed) != image_fingerprint(first)
    reshaped = Image.frombytes("RGB", (48, 64), first.tobytes())
    assert image_fingerprint(reshaped) != image_fingerprint(first)

