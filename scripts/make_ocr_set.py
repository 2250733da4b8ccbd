#!/usr/bin/env python3
"""Builds tests/data/ocr/: screenshots of real applications under Xvfb, each with the text this script put in.

Chromium (pages written here: paragraphs, a table, two columns, a form, side navigation + main pane), Qt
(PySide6: a dialog, a list, a table widget) and xterm (an `ls -l` listing, prose), light and dark, 11-16 px,
English, German and French. NAME.txt is the ground truth: the text the script put into the application, one
visual line per line, in the order a person reads it; manifest.json holds each image's tags.

Needs: Xvfb, xdotool, xterm, chromium (apt-get install chromium), the DejaVu fonts, and the project's .venv
(PySide6, mss). Run: .venv/bin/python scripts/make_ocr_set.py [--out tests/data/ocr] [--only PREFIX]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WINDOW = (1280, 800)
SCREEN = (1920, 1080)
DEADLINE = 30.0
POLL = 0.15  # between two grabs while waiting for a window to stop changing
THEMES = {"light": ("#ffffff", "#1f2328", "#f3f4f6", "#c8ccd1"), "dark": ("#1e1e1e", "#d4d4d4", "#2a2d31", "#4a4e54")}


@dataclass
class Shot:
    """One screenshot to make: the lines it shows in reading order and its tags."""

    name: str
    lines: list[str]
    tags: dict[str, object] = field(default_factory=dict)


# -- the text (all written for this set) --------------------------------------------------------------------

PROSE = {
    "en": ["Your files are backed up every night at two o'clock.",
           "The last backup finished without errors on Tuesday.",
           "To restore a file, open the History tab and pick a date.",
           "Large folders may take several minutes to appear.",
           "Changes made offline are uploaded when you reconnect.",
           "Contact support if a backup fails three times in a row."],
    "de": ["Die Einstellungen wurden erfolgreich gespeichert.",
           "Bitte prüfen Sie Ihre Adresse, bevor Sie fortfahren.",
           "Größere Dateien werden im Hintergrund übertragen.",
           "Für Änderungen am Konto benötigen Sie Ihr Passwort.",
           "Der Drucker im Büro ist über das Netzwerk erreichbar.",
           "Öffnen Sie das Menü, um weitere Optionen zu sehen."],
    "fr": ["Vos paramètres ont été enregistrés avec succès.",
           "Veuillez vérifier votre adresse électronique.",
           "Le téléchargement reprendra dès que possible.",
           "Les fichiers supprimés restent trente jours dans la corbeille.",
           "Où souhaitez-vous créer le nouveau dossier ?",
           "Cette opération peut prendre quelques minutes."],
}
TABLE = {
    "en": (["Name", "Size", "Modified", "Owner"],
           [["Quarterly report.pdf", "2.4 MB", "12 March 2026", "Anna Weber"],
            ["Budget 2026.xlsx", "380 KB", "9 March 2026", "Tom Fischer"],
            ["Team photo.jpg", "5.1 MB", "28 February 2026", "Lena Roth"],
            ["Meeting notes.txt", "14 KB", "27 February 2026", "Anna Weber"],
            ["Product plan.docx", "96 KB", "21 February 2026", "Omar Haddad"],
            ["Invoice 4471.pdf", "210 KB", "3 February 2026", "Julia Meyer"]]),
    "fr": (["Nom", "Taille", "Modifié le", "Propriétaire"],
           [["Rapport trimestriel.pdf", "2,4 Mo", "12 mars 2026", "Élodie Martin"],
            ["Budget prévisionnel.xlsx", "380 Ko", "9 mars 2026", "Jérôme Petit"],
            ["Photo d'équipe.jpg", "5,1 Mo", "28 février 2026", "Chloé Durand"],
            ["Compte rendu.txt", "14 Ko", "27 février 2026", "Hélène Roux"],
            ["Présentation.pptx", "1,2 Mo", "21 février 2026", "François Leroy"]]),
}
COLUMNS = {
    "en": (["Getting started", "Install the app from the store.", "Sign in with your work account.",
            "Choose which folders to sync.", "Wait for the first sync to finish.", "Pin the files you need often.",
            "Offline files show a green mark.", "Shared folders appear on the left."],
           ["Keyboard shortcuts", "Control plus N creates a document.", "Control plus S saves your work.",
            "Control plus F searches the page.", "F6 moves between the panes.", "Escape closes any open menu.",
            "Alt plus Tab switches windows.", "Control plus Q quits the app."]),
    "de": (["Erste Schritte", "Installieren Sie die App zuerst.", "Melden Sie sich mit Ihrem Konto an.",
            "Wählen Sie die Ordner zum Abgleich.", "Warten Sie auf den ersten Abgleich.",
            "Häufige Dateien lassen sich anheften.", "Offline-Dateien sind grün markiert.",
            "Geteilte Ordner stehen links."],
           ["Tastenkürzel", "Strg und N erstellt ein Dokument.", "Strg und S speichert die Arbeit.",
            "Strg und F durchsucht die Seite.", "F6 wechselt zwischen Bereichen.", "Escape schließt jedes Menü.",
            "Alt und Tab wechselt das Fenster.", "Strg und Q beendet die App."]),
}
FORM = {
    "en": ("Create your account", [("Full name", "Anna Weber"), ("Email address", "anna.weber@example.org"),
                                   ("Phone number", "+49 30 1234567"), ("City", "Hamburg")],
           "Send me the monthly newsletter", ["Cancel", "Create account"]),
    "fr": ("Créer votre compte", [("Nom complet", "Élodie Martin"), ("Adresse électronique", "elodie@example.fr"),
                                  ("Téléphone", "+33 1 23 45 67 89"), ("Ville", "Besançon")],
           "Recevoir la lettre d'information", ["Annuler", "Créer le compte"]),
}
NAV = {
    "en": (["Inbox", "Starred", "Sent mail", "Drafts", "Archive", "Spam", "Trash"],
           "Inbox", ["Meeting moved to Thursday afternoon", "From: Lena Roth, 10:42",
                     "Hi all, the design review moves to Thursday at three.",
                     "Please bring the printed drafts of the new start page.",
                     "The room on the second floor is booked for two hours.",
                     "Reply", "Forward"]),
    "de": (["Posteingang", "Markiert", "Gesendet", "Entwürfe", "Archiv", "Papierkorb"],
           "Posteingang", ["Besprechung auf Donnerstag verschoben", "Von: Jürgen Weiß, 10:42",
                           "Hallo zusammen, die Prüfung findet Donnerstag statt.",
                           "Bitte bringen Sie die gedruckten Entwürfe mit.",
                           "Der Raum im zweiten Stock ist für zwei Stunden gebucht.",
                           "Antworten", "Weiterleiten"]),
}
LISTING = ["$ ls -l", "total 7268",
           "-rw-r--r-- 1 anna staff 2516582 Mar 12 09:14 Quarterly-report.pdf",
           "-rw-r--r-- 1 anna staff  389120 Mar  9 17:02 budget-2026.xlsx",
           "drwxr-xr-x 4 anna staff    4096 Mar  8 11:30 drafts",
           "-rw-r--r-- 1 anna staff 5347737 Feb 28 08:45 team-photo.jpg",
           "-rw------- 1 anna staff   14336 Feb 27 16:20 meeting-notes.txt",
           "-rwxr-xr-x 1 anna staff    2210 Feb 21 10:05 backup.sh",
           "drwxr-xr-x 2 anna staff    4096 Feb 19 14:11 invoices",
           "-rw-r--r-- 1 anna staff   98304 Feb  3 12:00 product-plan.docx"]
QT_DIALOG = {
    "en": ("Save changes before closing?", ["The document Quarterly report has unsaved changes.",
                                            "If you close it now, your changes will be lost.",
                                            "Saved copies are kept for thirty days."],
           "Always ask before closing", ["Close without saving", "Cancel", "Save"]),
    "de": ("Änderungen vor dem Schließen speichern?", ["Das Dokument Jahresbericht enthält Änderungen.",
                                                       "Wenn Sie es jetzt schließen, gehen sie verloren.",
                                                       "Gespeicherte Kopien bleiben dreißig Tage."],
           "Vor dem Schließen immer fragen", ["Nicht speichern", "Abbrechen", "Speichern"]),
}
QT_LIST = {
    "en": ("Settings categories", ["Appearance", "Keyboard shortcuts", "Speech and voice", "Screen reader",
                                   "Text recognition", "Privacy", "Notifications", "Updates", "About"]),
    "fr": ("Catégories de réglages", ["Apparence", "Raccourcis clavier", "Voix et parole", "Lecteur d'écran",
                                      "Reconnaissance de texte", "Confidentialité", "Notifications",
                                      "Mises à jour", "À propos"]),
}


# -- Chromium pages ------------------------------------------------------------------------------------------


def _page(body: str, theme: str, px: int, lang: str, width: int) -> str:
    bg, fg, panel, border = THEMES[theme]
    return f"""<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="google" content="notranslate"><style>
html, body {{ margin: 0; background: {bg}; color: {fg}; font: {px}px/1.6 'DejaVu Sans', sans-serif; }}
body {{ padding: 24px 32px; width: {width - 64}px; overflow: hidden; }}
div.l, td, th, label, button, h1, h2, li {{ white-space: nowrap; }}
h1 {{ font-size: 1.5em; margin: 0 0 0.6em; }} h2 {{ font-size: 1.2em; margin: 0 0 0.5em; }}
p {{ margin: 0 0 0.4em; }} table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid {border}; padding: 0.35em 1.2em; text-align: left; }}
th {{ background: {panel}; }}
.cols {{ display: flex; gap: 96px; }} .cols > div {{ width: 44%; }}
.row {{ display: flex; align-items: center; margin: 0 0 0.9em; }} .row label {{ width: 16em; }}
input {{ font: inherit; color: {fg}; background: {panel}; border: 1px solid {border}; padding: 0.3em 0.6em;
        width: 20em; }}
button {{ font: inherit; color: {fg}; background: {panel}; border: 1px solid {border}; padding: 0.4em 1.4em;
         margin-right: 1.2em; border-radius: 4px; }}
.app {{ display: flex; gap: 64px; }} nav {{ background: {panel}; padding: 16px 24px; min-width: 11em; }}
nav div.l {{ margin: 0 0 0.8em; }} main {{ padding: 8px 0; }}
</style></head><body>{body}</body></html>"""


def _lines_html(lines: list[str]) -> str:
    return "".join(f'<div class="l">{html.escape(line)}</div>' for line in lines)


def page_paragraphs(lang: str) -> tuple[str, list[str]]:
    title = {"en": "Backup and restore", "de": "Sicherung und Wiederherstellung", "fr": "Sauvegarde"}[lang]
    lines = PROSE[lang]
    return f"<h1>{html.escape(title)}</h1>" + "".join(f"<p>{html.escape(x)}</p>" for x in lines), [title, *lines]


def page_table(lang: str) -> tuple[str, list[str]]:
    header, rows = TABLE[lang]
    title = {"en": "Shared documents", "fr": "Documents partagés"}[lang]
    cells = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    cells += "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h1>{html.escape(title)}</h1><table>{cells}</table>", [title, *header, *(c for r in rows for c in r)]


def page_columns(lang: str) -> tuple[str, list[str]]:
    left, right = COLUMNS[lang]
    body = (f'<div class="cols"><div><h2>{html.escape(left[0])}</h2>{_lines_html(left[1:])}</div>'
            f'<div><h2>{html.escape(right[0])}</h2>{_lines_html(right[1:])}</div></div>')
    return body, [*left, *right]


def page_form(lang: str) -> tuple[str, list[str]]:
    title, fields, check, buttons = FORM[lang]
    rows = "".join(f'<div class="row"><label>{html.escape(k)}</label><input value="{html.escape(v)}"></div>'
                   for k, v in fields)
    body = (f"<h1>{html.escape(title)}</h1>{rows}"
            f'<div class="row"><input type="checkbox" checked style="width:auto"> {html.escape(check)}</div>'
            + "".join(f"<button>{html.escape(b)}</button>" for b in buttons))
    return body, [title, *(x for kv in fields for x in kv), check, *buttons]


def page_sidenav(lang: str) -> tuple[str, list[str]]:
    items, heading, main = NAV[lang]
    body = (f'<div class="app"><nav>{_lines_html(items)}</nav><main><h1>{html.escape(heading)}</h1>'
            f"<h2>{html.escape(main[0])}</h2>{_lines_html(main[1:5])}<p></p>"
            + "".join(f"<button>{html.escape(b)}</button>" for b in main[5:]) + "</main></div>")
    return body, [*items, heading, *main]


def page_screen() -> tuple[str, list[str]]:
    """A 1920x1080 page: side navigation, two columns and a table (the read scenario's screen)."""
    items, heading, main = NAV["en"]
    left, right = COLUMNS["en"]
    header, rows = TABLE["en"]
    table = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[:4])
    body = (f'<div class="app"><nav>{_lines_html(items)}</nav><main><h1>{heading}</h1>'
            f"<h2>{html.escape(main[0])}</h2>{_lines_html(main[1:5])}<p></p>"
            f'<div class="cols"><div><h2>{left[0]}</h2>{_lines_html(left[1:])}</div>'
            f"<div><h2>{right[0]}</h2>{_lines_html(right[1:])}</div></div><p></p><table>{table}</table>"
            "</main></div>")
    return body, [*items, heading, *main[:5], *left, *right, *header, *(c for r in rows[:4] for c in r)]


CHROMIUM = [  # name, builder, language, theme, px
    ("paragraphs-light", page_paragraphs, "en", "light", 14),
    ("paragraphs-dark-de", page_paragraphs, "de", "dark", 12),
    ("paragraphs-light-fr", page_paragraphs, "fr", "light", 11),
    ("table-light", page_table, "en", "light", 13),
    ("table-dark-fr", page_table, "fr", "dark", 11),
    ("columns-light-de", page_columns, "de", "light", 15),
    ("columns-dark", page_columns, "en", "dark", 12),
    ("form-light-fr", page_form, "fr", "light", 13),
    ("form-dark", page_form, "en", "dark", 16),
    ("sidenav-light", page_sidenav, "en", "light", 11),
    ("sidenav-dark-de", page_sidenav, "de", "dark", 14),
]
LAYOUT = {page_paragraphs: "paragraphs", page_table: "table", page_columns: "two-columns", page_form: "form",
          page_sidenav: "sidenav"}


# -- X: displays, waiting, grabbing ---------------------------------------------------------------------------


@contextmanager
def xvfb(size: tuple[int, int]) -> Iterator[str]:
    """A private Xvfb of the size at 96 dpi; yields its DISPLAY."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{size[0]}x{size[1]}x24",
                             "-dpi", "96", "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            raise RuntimeError("Xvfb did not report a display number")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def grab(display: str, rect: tuple[int, int, int, int]) -> Image.Image:
    """The rectangle (x, y, w, h) of the display as an RGB image."""
    import mss

    x, y, w, h = rect
    with mss.MSS(display=display) as sct:
        raw = sct.grab({"left": x, "top": y, "width": w, "height": h})
    return Image.frombytes("RGB", raw.size, raw.bgra, "raw", "BGRX")


def settled(display: str, rect: tuple[int, int, int, int], pump: Callable[[], None] = lambda: None,
            alive: Callable[[], bool] = lambda: True) -> Image.Image:
    """The rectangle once two grabs POLL apart are the same and not blank (RuntimeError past DEADLINE)."""
    deadline = time.monotonic() + DEADLINE
    last = None
    while time.monotonic() < deadline and alive():
        pump()
        image = grab(display, rect)
        extrema = image.convert("L").getextrema()
        if last is not None and extrema[1] - extrema[0] > 64 and image.tobytes() == last.tobytes():
            return image
        last = image
        end = time.monotonic() + POLL
        while time.monotonic() < end:
            pump()
            time.sleep(0.01)
    raise RuntimeError(f"the window at {rect} on {display} never settled")


def window_rect(display: str, pid: int) -> tuple[int, int, int, int]:
    """The geometry of the first visible window of a process, waiting for it to map."""
    env = dict(os.environ, DISPLAY=display)
    found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--pid", str(pid)], env=env,
                           capture_output=True, text=True, timeout=DEADLINE, check=True).stdout.split()
    shell = subprocess.run(["xdotool", "getwindowgeometry", "--shell", found[0]], env=env, capture_output=True,
                           text=True, timeout=DEADLINE, check=True).stdout
    geo = dict(line.split("=", 1) for line in shell.split())
    return int(geo["X"]), int(geo["Y"]), int(geo["WIDTH"]), int(geo["HEIGHT"])


def save(out: Path, shot: Shot, image: Image.Image, manifest: dict[str, dict[str, object]]) -> None:
    """NAME.png (optimised), NAME.txt (ground truth) and the manifest entry."""
    image.save(out / f"{shot.name}.png", optimize=True)
    (out / f"{shot.name}.txt").write_text("\n".join(shot.lines) + "\n", encoding="utf-8")
    manifest[shot.name] = {**shot.tags, "size": list(image.size)}
    print(f"{shot.name}: {image.size[0]}x{image.size[1]}, {len(shot.lines)} lines", flush=True)


# -- the three applications -------------------------------------------------------------------------------------


def chromium_program() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("Chromium is missing: apt-get install chromium")


def shoot_chromium(display: str, size: tuple[int, int], page: str, tmp: Path) -> Image.Image:
    """The page in a kiosk (full-screen, frameless) Chromium window filling the display."""
    html_path = tmp / "page.html"
    html_path.write_text(page, encoding="utf-8")
    profile = tmp / f"profile-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [chromium_program(), "--no-sandbox", "--test-type", "--kiosk", f"--user-data-dir={profile}",
         "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--force-device-scale-factor=1",
         "--hide-scrollbars", "--disable-background-networking", "--disable-component-update",
         "--disable-features=Translate,TranslateUI,MediaRouter", "--password-store=basic", "--noerrdialogs",
         f"--window-size={size[0]},{size[1]}", "--window-position=0,0", html_path.as_uri()],
        env=dict(os.environ, DISPLAY=display), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        window_rect(display, proc.pid)
        return settled(display, (0, 0, *size), alive=lambda: proc.poll() is None)
    finally:
        proc.terminate()
        proc.wait(20)


def chromium_shots(out: Path, manifest: dict[str, dict[str, object]], only: str, tmp: Path) -> None:
    with xvfb(WINDOW) as display:
        for name, builder, lang, theme, px in CHROMIUM:
            shot_name = f"chromium-{name}"
            if not shot_name.startswith(only):
                continue
            body, lines = builder(lang)
            image = shoot_chromium(display, WINDOW, _page(body, theme, px, lang, WINDOW[0]), tmp)
            save(out, Shot(shot_name, lines, {"app": "chromium", "theme": theme, "px": px, "lang": lang,
                                              "layout": LAYOUT[builder]}), image, manifest)
    if "chromium-screen".startswith(only) or only.startswith("chromium-screen"):
        with xvfb(SCREEN) as display:
            body, lines = page_screen()
            image = shoot_chromium(display, SCREEN, _page(body, "light", 14, "en", SCREEN[0]), tmp)
            save(out, Shot("chromium-screen-1920", lines, {"app": "chromium", "theme": "light", "px": 14,
                                                           "lang": "en", "layout": "screen"}), image, manifest)


XTERM = [  # name, lines, language, theme, point size (px = pt * 96 / 72)
    ("listing-light", LISTING, "en", "light", 9),
    ("listing-dark", LISTING, "en", "dark", 10.5),
    ("prose-light", ["$ cat notes.txt", *PROSE["en"][:4]], "en", "light", 10),
    ("prose-dark-de", ["$ cat notizen.txt", *PROSE["de"][:4]], "de", "dark", 12),
    ("prose-light-fr", ["$ cat notes.txt", *PROSE["fr"][:4]], "fr", "light", 8.5),
]


def xterm_shots(out: Path, manifest: dict[str, dict[str, object]], only: str, tmp: Path) -> None:
    with xvfb(SCREEN) as display:
        for name, lines, lang, theme, points in XTERM:
            shot_name = f"xterm-{name}"
            if not shot_name.startswith(only):
                continue
            text = tmp / f"{name}.txt"
            text.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
            bg, fg = THEMES[theme][:2]
            proc = subprocess.Popen(
                ["xterm", "-geometry", "84x14+0+0", "-fa", "DejaVu Sans Mono", "-fs", str(points), "-bg", bg,
                 "-fg", fg, "-xrm", f"XTerm*cursorColor: {bg}", "-xrm", "XTerm*scrollBar: false", "-hold",
                 "-e", "sh", "-c", f'printf "%s\\n" "{lines[0]}"; cat "{text}"'],
                env=dict(os.environ, DISPLAY=display, LANG="C.UTF-8", LC_ALL="C.UTF-8"),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                rect = window_rect(display, proc.pid)
                image = settled(display, rect, alive=lambda p=proc: p.poll() is None)
            finally:
                proc.terminate()
                proc.wait(10)
            save(out, Shot(shot_name, lines, {"app": "xterm", "theme": theme, "px": round(points * 4 / 3),
                                              "lang": lang, "layout": "listing" if "listing" in name else "prose"}),
                 image, manifest)


QT = [  # name, kind, language, theme, px
    ("dialog-light", "dialog", "en", "light", 13),
    ("dialog-dark-de", "dialog", "de", "dark", 12),
    ("list-light-fr", "list", "fr", "light", 14),
    ("list-dark", "list", "en", "dark", 11),
    ("table-light", "table", "en", "light", 12),
    ("table-dark-fr", "table", "fr", "dark", 13),
]


def _qt_palette(theme: str):
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    if theme == "dark":
        for role, color in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.WindowText, "#e0e0e0"),
                            (QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.AlternateBase, "#262626"),
                            (QPalette.ColorRole.Text, "#e0e0e0"), (QPalette.ColorRole.Button, "#3a3a3a"),
                            (QPalette.ColorRole.ButtonText, "#e0e0e0"), (QPalette.ColorRole.Highlight, "#2f65ca"),
                            (QPalette.ColorRole.HighlightedText, "#ffffff")):
            palette.setColor(role, QColor(color))
    return palette


def _qt_widget(kind: str, lang: str) -> tuple[object, list[str]]:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import (
        QCheckBox,
        QDialog,
        QHBoxLayout,
        QLabel,
        QListWidget,
        QPushButton,
        QTableWidget,
        QTableWidgetItem,
        QVBoxLayout,
        QWidget,
    )

    if kind == "dialog":
        title, texts, check, buttons = QT_DIALOG[lang]
        widget: QWidget = QDialog()
        layout = QVBoxLayout(widget)
        head = QLabel(title)
        font = head.font()
        font.setBold(True)
        head.setFont(font)
        layout.addWidget(head)
        for text in texts:
            layout.addWidget(QLabel(text))
        box = QCheckBox(check)
        box.setChecked(True)
        box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout.addWidget(box)
        row = QHBoxLayout()
        row.addStretch(1)
        for text in buttons:
            button = QPushButton(text)
            button.setAutoDefault(False)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(button)
        layout.addLayout(row)
        return widget, [title, *texts, check, *buttons]
    if kind == "list":
        title, items = QT_LIST[lang]
        widget = QWidget()
        layout = QVBoxLayout(widget)
        layout.addWidget(QLabel(title))
        view = QListWidget()
        view.addItems(items)
        view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        view.setMinimumHeight(int(view.sizeHintForRow(0) * (len(items) + 1.5)))
        layout.addWidget(view)
        return widget, [title, *items]
    header, rows = TABLE["fr" if lang == "fr" else "en"]
    table = QTableWidget(len(rows), len(header))
    table.setHorizontalHeaderLabels(header)
    table.verticalHeader().hide()
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(cell))
    table.resizeColumnsToContents()
    for c in range(len(header)):
        table.setColumnWidth(c, table.columnWidth(c) + 24)
    table.resizeRowsToContents()
    width = sum(table.columnWidth(c) for c in range(len(header))) + 4
    height = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(len(rows))) + 4
    table.setFixedSize(width, height)
    return table, [*header, *(c for row in rows for c in row)]


def qt_shots(out: Path, manifest: dict[str, dict[str, object]], only: str) -> None:
    with xvfb(SCREEN) as display:
        os.environ["DISPLAY"] = display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        from PySide6.QtGui import QFont
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(["make_ocr_set"])
        app.setStyle("Fusion")
        for name, kind, lang, theme, px in QT:
            shot_name = f"qt-{name}"
            if not shot_name.startswith(only):
                continue
            app.setPalette(_qt_palette(theme))
            font = QFont("DejaVu Sans")
            font.setPixelSize(px)
            app.setFont(font)
            widget, lines = _qt_widget(kind, lang)
            widget.move(0, 0)
            widget.show()
            if not QTest.qWaitForWindowExposed(widget, int(DEADLINE * 1000)):
                raise RuntimeError(f"{shot_name} was never shown")
            geo = widget.frameGeometry()
            image = settled(display, (geo.x(), geo.y(), geo.width(), geo.height()), pump=app.processEvents)
            widget.close()
            widget.deleteLater()
            app.processEvents()
            save(out, Shot(shot_name, lines, {"app": "qt", "theme": theme, "px": px, "lang": lang,
                                              "layout": kind}), image, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "ocr")
    parser.add_argument("--only", default="", help="make only the images whose names start with this")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    with tempfile.TemporaryDirectory(prefix="ocr-set-") as tmp:
        chromium_shots(args.out, manifest, args.only, Path(tmp))
        xterm_shots(args.out, manifest, args.only, Path(tmp))
        qt_shots(args.out, manifest, args.only)
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
