"""UI-like text scenes drawn with real fonts (PIL and Qt) for the text recognition tests."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"

SENTENCES = [
    "Open the settings to change your keyboard shortcuts",
    "The quarterly report was saved to your documents folder",
    "Für die Größe der Schrift wählen Sie bitte Ansicht",
    "Die Änderungen wurden übernommen und gespeichert",
    "Veuillez vérifier votre adresse électronique avant de continuer",
    "Le téléchargement est terminé après trois échecs",
    "Three new messages arrived while you were away",
    "Press Enter to accept or Escape to cancel the dialog",
    "Straße Müller Köln Zürich Bäckerei Prüfung",
    "Où est la fenêtre précédente du garçon français",
    "Battery level is low please connect the charger",
    "Your meeting with the design team starts in ten minutes",
]


@dataclass(frozen=True)
class Item:
    """One run of text at a pixel position, with its font size and face."""

    x: int
    y: int
    text: str
    size: int = 13
    mono: bool = False


@dataclass(frozen=True)
class Scene:
    """A picture's size, colours and its text items."""

    width: int
    height: int
    items: tuple[Item, ...]
    dark: bool = False

    def words(self) -> list[str]:
        """Every word drawn, in drawing order."""
        return [w for item in self.items for w in item.text.split()]


def window_scene(dark: bool = False, sizes: tuple[int, ...] = (11, 12, 13, 14, 16)) -> Scene:
    """A 1280x800 window: toolbar, side list, a main pane of 40 lines, status bar (55 lines)."""
    items = [Item(16 + 110 * i, 10, name, 13) for i, name in enumerate(["File", "Edit", "View", "Insert", "Help"])]
    items += [Item(16, 70 + 30 * i, name, 13) for i, name in enumerate(
        ["Inbox", "Drafts", "Sent", "Archive", "Spam", "Trash", "Entwürfe", "Éléments"])]
    y = 60
    for i in range(40):
        size = sizes[i % len(sizes)]
        items.append(Item(240, y, SENTENCES[i % len(SENTENCES)], size))
        y += size + 3 + (8 if i % 6 == 5 else 0)
    items.append(Item(16, 775, "Ready", 12))
    items.append(Item(1080, 775, "Zeile 12 Spalte 4", 12))
    return Scene(1280, 800, tuple(items), dark)


def two_column_scene() -> Scene:
    """Two columns of text whose lines sit at the same heights."""
    left = [f"Left {w} column of running text line {i}" for i, w in
            enumerate(["alpha", "beta", "gamma", "delta", "épée", "Übung"])]
    right = [f"Right {w} column of other words row {i}" for i, w in
             enumerate(["north", "south", "east", "west", "forêt", "Straße"])]
    items = [Item(30, 30 + 24 * i, t, 15) for i, t in enumerate(left)]
    items += [Item(460, 30 + 24 * i, t, 15) for i, t in enumerate(right)]
    return Scene(900, 200, tuple(items))


def table_scene() -> Scene:
    """A table: header and four rows of three cells."""
    rows = [["Name", "Size", "Modified"], ["report.pdf", "240 KB", "Monday"], ["Übersicht.txt", "12 KB", "Tuesday"],
            ["photo.png", "3 MB", "Friday"], ["café.doc", "88 KB", "Sunday"]]
    items = [Item(30 + 220 * c, 20 + 28 * r, cell, 14) for r, row in enumerate(rows) for c, cell in enumerate(row)]
    return Scene(700, 170, tuple(items))


def rgb(scene: Scene) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Background and text colours of a scene."""
    return ((30, 30, 34), (225, 225, 225)) if scene.dark else ((250, 250, 250), (20, 20, 20))


def render_pil(scene: Scene) -> Image.Image:
    """The scene drawn with PIL's FreeType text."""
    back, fore = rgb(scene)
    image = Image.new("RGB", (scene.width, scene.height), back)
    draw = ImageDraw.Draw(image)
    for item in scene.items:
        font = ImageFont.truetype(MONO if item.mono else SANS, item.size)
        draw.text((item.x, item.y), item.text, fill=fore, font=font)
    return image


def render_qt(scene: Scene) -> Image.Image:
    """The scene drawn with QPainter on a QImage (needs a QGuiApplication)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter

    back, fore = rgb(scene)
    qimage = QImage(scene.width, scene.height, QImage.Format.Format_RGB888)
    qimage.fill(QColor(*back))
    painter = QPainter(qimage)
    painter.setPen(QColor(*fore))
    for item in scene.items:
        font = QFont("DejaVu Sans Mono" if item.mono else "DejaVu Sans")
        font.setPixelSize(item.size)
        painter.setFont(font)
        painter.drawText(item.x, item.y, scene.width, item.size * 2, Qt.AlignmentFlag.AlignLeft, item.text)
    painter.end()
    data = bytes(qimage.constBits())[: qimage.bytesPerLine() * scene.height]
    return Image.frombytes("RGB", (scene.width, scene.height), data, "raw", "RGB", qimage.bytesPerLine())


def word_recall(expected: list[str], found_text: str) -> float:
    """The share of expected words found (as a multiset) in the recognized text."""
    pool: dict[str, int] = {}
    for word in found_text.split():
        pool[word] = pool.get(word, 0) + 1
    hits = 0
    for word in expected:
        if pool.get(word, 0) > 0:
            pool[word] -= 1
            hits += 1
    return hits / max(len(expected), 1)
