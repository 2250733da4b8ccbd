"""Quit, 20 times in a row, from every state a user can quit in; each time the app is gone within
2 s of the quit key, exits cleanly, and leaves the hotkeys free for other programs.

The states, in turn: the window shown (Ctrl+Q), the window hidden to the tray (the tray's Quit),
an answer streaming (a long answer: quit as soon as its first words reach the screen reader), the model loading
(the first describe loads torch and the model: quit at once), recording (push-to-talk in toggle
mode, so a hand is free for Ctrl+Q while the microphone is open), and a model download running
(the first-run dialog downloading from a throttled local hub). The desktop is
tests/desktop_session.py's (openbox, tint2, Orca); keys go through xdotool; the tray's menu is
opened with one right click, as tint2 offers no keyboard way to it.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest

from models import catalog
from tests.desktop_session import DesktopSession, missing_binaries, wait_for
from tests.hub_server import HubServer
from tests.journey_app import AppRun, SinkRecorder, main_window, quit_from_tray, quit_from_window, tab_to

pytestmark = [pytest.mark.skipif(bool(missing_binaries() or shutil.which("parec") is None),
                                 reason=f"needs {', '.join(missing_binaries()) or 'parec'}"),
              pytest.mark.slow]

STATES = ("window shown", "window hidden", "answer streaming", "model loading", "recording", "downloading")
QUITS = 20
QUIT_WITHIN_S = 2.0


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    session = DesktopSession.start(tmp_path_factory.mktemp("desktop"))
    yield session
    session.stop()


@pytest.fixture(scope="module")
def speaker(desktop, tmp_path_factory):
    recorder = SinkRecorder(tmp_path_factory.mktemp("speaker") / "speaker.raw", "speaker", desktop.env)
    yield recorder
    recorder.stop()


@pytest.fixture(scope="module")
def hub(tiny_vlm_dir):
    """A local hub serving the tiny model as the catalog's SmolVLM models, slowly (a slow link).

    The catalog pins the real weights' sha256, and the app refuses a listing that differs: the
    listing here names the pinned sha256 (the bytes served differ, which the app would only find
    after the download, long after these tests quit)."""
    server = HubServer()
    # Setup starts on the tier recommended for the machine (fast or balanced without a GPU): both
    # SmolVLM repositories are served, with the tiny model's files.
    for model_id in ("smolvlm-256m", "smolvlm-500m"):
        info = catalog.get_model(model_id)
        server.add_repo(info.repo_id, Path(tiny_vlm_dir), commit=info.revision)
        repo = server._repos[info.repo_id]  # noqa: SLF001 - a test helper's listing, not app code
        for name, sha in info.files:
            repo.files[name] = dataclasses.replace(repo.files[name], sha256=sha)
    server.faults.throttle_s = 0.5  # per 64 KiB: the download runs for many seconds
    with server:
        yield server


def _settings(vlm: Path, moonshine: Path, **extra: object) -> dict:
    return {"vision_model": str(vlm), "speech_model": str(moonshine), "quantize": False, "earcons": True,
            "output": "screen_reader", **extra}


def _launch(desktop, home, settings, **env) -> AppRun:
    app = AppRun.launch(desktop, home, settings, **env)
    wait_for(lambda: main_window(desktop), 20, "the ScreenSight window", app.proc)
    return app


@pytest.mark.parametrize("n", range(QUITS), ids=[f"{i + 1:02d}-{STATES[i % len(STATES)].replace(' ', '-')}"
                                                 for i in range(QUITS)])
def test_quit(n, desktop, speaker, hub, tmp_path, tiny_vlm_dir, tiny_moonshine_dir):
    state = STATES[n % len(STATES)]
    vlm, moonshine = Path(tiny_vlm_dir), Path(tiny_moonshine_dir)
    home = tmp_path / "home"
    app: AppRun | None = None
    try:
        if state == "window shown":
            app = _launch(desktop, home, _settings(vlm, moonshine))
            sent = quit_from_window(desktop)
        elif state == "window hidden":
            app = _launch(desktop, home, _settings(vlm, moonshine))
            desktop.activate(main_window(desktop))
            desktop.key("alt+F4")  # openbox closes the window: with a tray, it hides
            wait_for(lambda: not _visible_main(desktop), 10,
                     "the window to hide to the tray", app.proc)
            assert app.running(), "closing the window ended the app instead of hiding it to the tray"
            sent = quit_from_tray(desktop, speech_required=False)  # Orca's tray speech: test_journey
        elif state == "answer streaming":
            app = _launch(desktop, home, _settings(vlm, moonshine), SCREENSIGHT_MAX_TOKENS="4000")
            desktop.focus_echo()
            mark = desktop.speech.mark()
            desktop.key("ctrl+alt+shift+d")
            # The first words of the answer reach the screen reader ("Loading the model" is not them).
            wait_for(lambda: [m for m in desktop.speech.since(mark) if "loading the model" not in m.lower()],
                     180, "the first words of the answer at the screen reader", app.proc)
            assert not [e for e in app.history() if e.get("status") == "done"], \
                "the answer finished before the quit key: nothing was streaming"
            sent = quit_from_window(desktop)
        elif state == "model loading":
            app = _launch(desktop, home, _settings(vlm, moonshine))
            desktop.focus_echo()
            desktop.key("ctrl+alt+shift+d")  # the first request imports torch and loads the model
            sent = quit_from_window(desktop)
        elif state == "recording":
            # Toggle mode: the talk key starts the recording and the microphone stays open until a
            # pause after speech (or 8 s of silence), so the user has a hand free for Ctrl+Q.
            app = _launch(desktop, home, _settings(vlm, moonshine, push_to_talk_mode="toggle"))
            desktop.focus_echo()
            start = speaker.seconds()
            desktop.key("ctrl+alt+shift+space")
            wait_for(lambda: speaker.loud_seconds(start) >= 0.05, 10, "the start tone (listening)", app.proc)
            sent = quit_from_window(desktop)
            assert "recorded" not in app.log_text(), "the recording ended before the quit key"
        else:  # downloading
            before = len(hub.requested("/resolve/"))
            app = _launch(desktop, home, {"quantize": False, "output": "screen_reader"},
                          HF_HUB_OFFLINE="0", HF_ENDPOINT=hub.url)
            wait_for(lambda: desktop.window_title(desktop.active_window()).startswith("Set up the ScreenSight"),
                     30, "the model setup dialog", app.proc)
            tab_to(desktop, "download push button")
            desktop.key("space")
            wait_for(lambda: len(hub.requested("/resolve/")) > before, 30, "the download to start", app.proc)
            sent = quit_from_window(desktop)
        took = app.wait_exit(10)
        exited_at = time.monotonic()
        assert took is not None, f"{state}: the app still runs 10 s after the quit key\n{app.log_tail(30)}"
        after_key = exited_at - sent
        assert after_key <= QUIT_WITHIN_S, f"{state}: the app took {after_key:.2f} s to exit\n{app.log_tail(30)}"
        assert app.proc.returncode == 0, f"{state}: exit code {app.proc.returncode}\n{app.log_tail(30)}"
        if state == "model loading":
            assert "ui.app: quit requested" in app.log_text() or "action quit" in app.log_text()
            done = [e for e in app.history() if e.get("status") == "done"]
            assert not done, "the model loaded before the quit key: the state was not reached"
        assert desktop.can_grab("d"), f"{state}: Ctrl+Alt+Shift+D is still grabbed after the app exited"
    finally:
        if app is not None:
            app.kill()


def _visible_main(desktop: DesktopSession) -> bool:
    reply = desktop.xdotool("search", "--onlyvisible", "--name", "^ScreenSight$", check=False)
    return any(w == str(main_window(desktop)) for w in reply.stdout.split())
