"""Journeys: ScreenSight on a desktop like a blind user's (openbox, tint2, Orca on speech-dispatcher),
driven only by the keyboard (xdotool), asserting what the user hears and reads.

One desktop (tests/desktop_session.py) and one app run serve the module, in order: first run
(choose a model folder in the setup dialog by keyboard), describe the focused xterm, read its
text, a typed question, a spoken question, stop, repeat, quit with Ctrl+Q; then a second run quits
from the tray. The app's output is "screen_reader": answers must reach speech-dispatcher (its
log), the window's history (SCREENSIGHT_HISTORY_LOG), and no hotkey may reach the focused xterm
(the key-echo window). The models have random weights: answers are gibberish, so a test checks
that the history's answer is what was spoken, not what it says.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from tests.desktop_session import DesktopSession, missing_binaries, normalise, wait_for
from tests.journey_app import (
    MAIN_TITLE,
    SETUP_TITLE,
    AppRun,
    SinkRecorder,
    main_window,
    quit_from_tray,
    tab_to,
    words_in_order,
)

pytestmark = [pytest.mark.skipif(bool(missing_binaries() + [b for b in ("espeak-ng", "paplay", "parec")
                                                            if shutil.which(b) is None]),
                                 reason=f"needs {', '.join(missing_binaries()) or 'espeak-ng, paplay, parec'}"),
              pytest.mark.slow]

QUESTION = "what is on the screen"
SPOKEN = "what does the error message say"
HOTKEY = {"describe": "ctrl+alt+shift+d", "read": "ctrl+alt+shift+r", "ask": "ctrl+alt+shift+q",
          "talk": "ctrl+alt+shift+space", "stop": "ctrl+alt+shift+x", "repeat": "ctrl+alt+shift+l"}
ANSWER_S = 180  # a first answer loads torch and the model on 2 busy cores


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    session = DesktopSession.start(tmp_path_factory.mktemp("desktop"))
    yield session
    session.stop()


class Journey:
    """The app run shared by the module's steps, and the recordings of both sinks."""

    def __init__(self, desktop: DesktopSession, root: Path, vlm: Path, moonshine: Path) -> None:
        self.desktop = desktop
        self.root = root
        self.vlm = vlm
        self.settings = {"output": "screen_reader", "quantize": False, "earcons": True,
                         "speech_model": str(moonshine), "rate": 300}
        self.app: AppRun | None = None
        self.speaker = SinkRecorder(root / "speaker.raw", "speaker", desktop.env)
        self.reader = SinkRecorder(root / "reader.raw", "reader", desktop.env)

    def ensure_app(self) -> AppRun:
        """The running app with the model set up (launched again if an earlier step lost it)."""
        app = self.app
        if app is not None and app.running() and self.model_set(app):
            return app
        if app is not None:
            app.kill()
        self.app = AppRun.launch(self.desktop, self.root / "home", dict(self.settings, vision_model=str(self.vlm)),
                                 SCREENSIGHT_MAX_TOKENS="40")
        return self.app

    def model_set(self, app: AppRun) -> bool:
        return app.settings_path.exists() and str(self.vlm) in app.settings_path.read_text()

    def close(self) -> None:
        if self.app is not None:
            self.app.kill()
        self.speaker.stop()
        self.reader.stop()


@pytest.fixture(scope="module")
def journey(desktop, tmp_path_factory, tiny_vlm_dir, tiny_moonshine_dir):
    run = Journey(desktop, tmp_path_factory.mktemp("journey"), Path(tiny_vlm_dir), Path(tiny_moonshine_dir))
    yield run
    run.close()


class Checks:
    """Failures of one step, collected so one run reports every wrong thing the user would get."""

    def __init__(self, app: AppRun | None = None) -> None:
        self.app = app
        self.failures: list[str] = []

    def check(self, ok: object, message: str) -> bool:
        if not ok:
            self.failures.append(message)
        return bool(ok)

    def wait(self, predicate, timeout: float, message: str) -> object:
        try:
            return wait_for(predicate, timeout, message)
        except TimeoutError as exc:
            self.failures.append(str(exc))
            return None

    def done(self) -> None:
        if self.failures:
            tail = f"\n--- app log (tail) ---\n{self.app.log_tail(25)}" if self.app is not None else ""
            pytest.fail("\n".join(self.failures) + tail)


def _spoken_check(checks: Checks, desktop: DesktopSession, mark: int, text: str, what: str) -> None:
    """The words of `text` reached speech-dispatcher (in order) after `mark`."""
    words = normalise(text)
    if not checks.check(words, f"{what}: the history's answer has no words to speak ({text!r})"):
        return
    spoken = checks.wait(lambda: words_in_order(words, desktop.speech.text_since(mark)), 60,
                         f"{what}: the answer {text[:80]!r} to reach speech-dispatcher")
    if spoken is None:
        checks.failures.append(f"  speech-dispatcher got instead: {desktop.speech.since(mark)[-8:]}")


def _no_keys_leaked(checks: Checks, desktop: DesktopSession, echo_before: int, what: str) -> None:
    leaked = desktop.echo_lines()[echo_before:]
    checks.check(not leaked, f"{what}: the hotkey reached the focused xterm (bytes {leaked})")


def _describe_step(journey: Journey, key: str, kind: str) -> None:
    app = journey.ensure_app()
    desktop = journey.desktop
    checks = Checks(app)
    desktop.focus_echo()
    mark, echo, count = desktop.speech.mark(), len(desktop.echo_lines()), len(app.history())
    desktop.key(HOTKEY[key])
    entry = app.wait_entry(count, ANSWER_S)
    checks.check(entry["kind"] == kind, f"the entry is {entry['kind']!r}, not {kind!r}")
    checks.check(entry["status"] == "done", f"the entry ended {entry['status']!r}: {entry['answer']!r}")
    checks.check(entry.get("capture", {}).get("title") == "Key echo",
                 f"the screenshot was of {entry.get('capture')!r}, not the focused xterm 'Key echo'")
    _spoken_check(checks, desktop, mark, entry["answer"], kind)
    _no_keys_leaked(checks, desktop, echo, kind)
    checks.check(app.running(), f"the app exited ({app.proc.returncode})")
    checks.done()


# -- the journey -------------------------------------------------------------------------------


def test_first_run_chooses_a_model_folder_by_keyboard(journey):
    desktop = journey.desktop
    mark = desktop.speech.mark()
    journey.app = app = AppRun.launch(desktop, journey.root / "home", journey.settings,
                                      SCREENSIGHT_MAX_TOKENS="40")
    checks = Checks(app)
    wait_for(lambda: desktop.window_title(desktop.active_window()).startswith(SETUP_TITLE), 30,
             "the model setup dialog to be the active window")
    checks.wait(lambda: "set up the screensight model dialog" in desktop.speech.text_since(mark), 30,
                "Orca to read the setup dialog")
    tab_to(desktop, "use a folder on disk push button")
    desktop.key("space")
    # Qt's own file dialog: its path field has the focus; typing a path and Enter chooses it (the
    # trailing slash keeps the completer from offering a different folder).
    wait_for(lambda: "choose the model folder" in desktop.window_title(desktop.active_window()).lower(), 30,
             "the folder dialog to open")
    spoken_folder = desktop.speech.mark()
    desktop.xdotool("type", "--delay", "5", f"{journey.vlm}/")
    desktop.key("Return")
    wait_for(lambda: journey.model_set(app), 30, "the chosen folder to be saved as the vision model", app.proc)
    checks.wait(lambda: re.search(r"using the model in|the model is ready",
                                  desktop.speech.text_since(spoken_folder)), 30,
                "the screen reader to say the model is ready")
    checks.check(app.running(), "the app exited after the model was chosen")
    checks.done()


def test_describe_the_focused_xterm(journey):
    _describe_step(journey, "describe", "Active window")


def test_read_the_text_of_the_focused_xterm(journey):
    _describe_step(journey, "read", "Text of the active window")


def test_typed_question(journey):
    app = journey.ensure_app()
    desktop = journey.desktop
    checks = Checks(app)
    desktop.focus_echo()
    echo, count = len(desktop.echo_lines()), len(app.history())
    focus_mark = desktop.speech.mark()
    desktop.key(HOTKEY["ask"])
    wait_for(lambda: desktop.window_title(desktop.active_window()) == MAIN_TITLE, 15,
             "the ScreenSight window to come to the front", app.proc)
    checks.wait(lambda: "question" in desktop.speech.text_since(focus_mark), 15,
                "Orca to say the question box has the focus")
    _no_keys_leaked(checks, desktop, echo, "the ask-question hotkey")
    mark = desktop.speech.mark()
    desktop.xdotool("type", "--delay", "5", QUESTION)
    desktop.key("Return")
    entry = app.wait_entry(count, ANSWER_S)
    checks.check(entry["kind"] == "Question" and entry["question"] == QUESTION,
                 f"the entry is {entry['kind']!r} asking {entry['question']!r}")
    checks.check(entry["status"] == "done", f"the entry ended {entry['status']!r}: {entry['answer']!r}")
    _spoken_check(checks, desktop, mark, entry["answer"], "typed question")
    checks.done()


def test_spoken_question(journey, tmp_path):
    app = journey.ensure_app()
    desktop = journey.desktop
    checks = Checks(app)
    voice = tmp_path / "question.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(voice), SPOKEN], check=True, timeout=30)
    with wave.open(str(voice)) as wav:
        voice_s = wav.getnframes() / wav.getframerate()
    desktop.focus_echo()
    echo, count, start_log = len(desktop.echo_lines()), len(app.history()), app.log_mark()
    mark = desktop.speech.mark()
    pressed_at = journey.speaker.seconds()
    desktop.xdotool("keydown", *HOTKEY["talk"].split("+"))
    try:
        tone_at = checks.wait(lambda: journey.speaker.first_loud(pressed_at), 5,
                              "the start tone on the speaker after the talk key went down")
        # The user hears the tone, then speaks; the key comes up when the question is said.
        subprocess.run(["paplay", "--device=mic", str(voice)], env=desktop.env, check=True, timeout=30)
    finally:
        desktop.xdotool("keyup", *reversed(HOTKEY["talk"].split("+")))
    released_at = journey.speaker.seconds()
    recorded = app.wait_log(r"recorded (\d+\.\d+) s", 15, start_log)
    seconds = float(recorded.group(1))
    # What the microphone got from the tone to the release: the question and the pause around it.
    held = released_at - (tone_at if tone_at is not None else pressed_at)
    needed = max(voice_s, held)
    checks.check(seconds >= 0.95 * needed,
                 f"the recognizer got {seconds:.2f} s of the {held:.2f} s from the start tone to the release "
                 f"(the question is {voice_s:.2f} s): {seconds / needed:.0%}")
    checks.wait(lambda: journey.speaker.loud_seconds(released_at) >= 0.05, 5,
                "the stop tone on the speaker after the talk key came up")
    entry = app.wait_entry(count, ANSWER_S)
    checks.check(entry["kind"] == "Question", f"the entry is {entry['kind']!r}")
    checks.check(entry["status"] == "done", f"the entry ended {entry['status']!r}: {entry['answer']!r}")
    _spoken_check(checks, desktop, mark, entry["answer"], "spoken question")
    _no_keys_leaked(checks, desktop, echo, "the talk key")
    checks.done()


def test_stop_silences_the_screen_reader(journey):
    app = journey.ensure_app()
    desktop = journey.desktop
    checks = Checks(app)
    desktop.focus_echo()
    echo = len(desktop.echo_lines())
    mark = desktop.speech.mark()
    desktop.key(HOTKEY["describe"])
    # The answer is being spoken: a message from the app reached speech-dispatcher and plays.
    wait_for(lambda: desktop.speech.since(mark), 120, "the answer to reach speech-dispatcher", app.proc)
    heard = journey.reader.seconds()
    wait_for(lambda: journey.reader.loud_seconds(heard) >= 0.2, 20, "the answer on the screen reader's sink")
    desktop.key(HOTKEY["stop"])
    stopped = journey.reader.seconds()
    wait_for(lambda: journey.reader.seconds() >= stopped + 3.0, 20, "three seconds of the reader's sink")
    late = journey.reader.loud_seconds(stopped + 1.0, stopped + 3.0)
    checks.check(late == 0.0, f"the screen reader went on speaking {late:.2f} s in the 1-3 s after the stop key "
                              f"(messages after stop: {desktop.speech.since(mark)[-4:]})")
    _no_keys_leaked(checks, desktop, echo, "describe and stop")
    checks.done()


def test_repeat_speaks_the_last_answer_again(journey):
    app = journey.ensure_app()
    desktop = journey.desktop
    checks = Checks(app)
    answered = [e for e in app.history() if e.get("answer")]
    if not answered:
        app.wait_entry(0, ANSWER_S, lambda e: bool(e.get("answer")))
        answered = [e for e in app.history() if e.get("answer")]
    last = answered[-1]
    desktop.focus_echo()
    echo, mark = len(desktop.echo_lines()), desktop.speech.mark()
    desktop.key(HOTKEY["repeat"])
    _spoken_check(checks, desktop, mark, last["answer"], "repeat")
    _no_keys_leaked(checks, desktop, echo, "repeat")
    checks.done()


def test_ctrl_q_in_the_window_quits(journey):
    app = journey.ensure_app()
    desktop = journey.desktop
    window = wait_for(lambda: main_window(desktop), 10, "the ScreenSight window")
    desktop.activate(window)
    desktop.key("ctrl+q")
    took = app.wait_exit(10)
    assert took is not None, f"the app still runs 10 s after Ctrl+Q\n{app.log_tail(25)}"
    assert took <= 2.0, f"the app took {took:.2f} s to exit after Ctrl+Q"
    assert app.proc.returncode == 0, f"exit code {app.proc.returncode}\n{app.log_tail(25)}"
    assert desktop.can_grab("d"), "Ctrl+Alt+Shift+D is still grabbed after the app exited"


def test_tray_quit(journey):
    app = journey.ensure_app()
    desktop = journey.desktop
    quit_from_tray(desktop)
    took = app.wait_exit(10)
    assert took is not None, f"the app still runs 10 s after the tray's Quit\n{app.log_tail(25)}"
    assert took <= 2.0, f"the app took {took:.2f} s to exit after the tray's Quit"
    assert app.proc.returncode == 0, f"exit code {app.proc.returncode}\n{app.log_tail(25)}"
    assert desktop.can_grab("d"), "Ctrl+Alt+Shift+D is still grabbed after the app exited"


def test_the_first_ask_after_start_says_the_question_box(journey):
    """The app starts with its status line focused; the user goes back to their document and
    the first hotkey they press is Ask. Orca said "ScreenSight frame" and nothing of the question
    box: its text was selected before the window was active, and Orca took the caret events as
    a silent move of its focus. (The steps above hide this: their question box had the focus.)"""
    if journey.app is not None:
        journey.app.kill()
    app = journey.ensure_app()  # launched again: the focus on its status line
    _ask_from_the_terminal(journey.desktop, app, "the first Ask")


def _ask_from_the_terminal(desktop: DesktopSession, app: AppRun, what: str) -> None:
    """Press the Ask key in the key-echo xterm; the question box must be said (by Orca or the app)."""
    desktop.focus_echo()
    mark = desktop.speech.mark()
    desktop.key(HOTKEY["ask"])
    wait_for(lambda: desktop.window_title(desktop.active_window()) == MAIN_TITLE, 15,
             "the ScreenSight window to come to the front", app.proc)
    try:
        wait_for(lambda: "question" in desktop.speech.text_since(mark), 15, "the question box to be said")
    except TimeoutError as exc:
        pytest.fail(f"{what}: {exc}; Orca said {desktop.speech.since(mark)}")


def test_asking_again_from_the_terminal_says_the_question_box_and_keeps_the_text(journey):
    """The user asks, types half a question, goes back to the xterm (no accessibility there) and
    presses Ask again. Orca kept its focus on the question box meanwhile and said nothing when
    the window came back; the app now says where the user is."""
    app = journey.ensure_app()
    desktop = journey.desktop
    _ask_from_the_terminal(desktop, app, "the first Ask")  # the focus may come from elsewhere
    desktop.xdotool("type", "--delay", "5", "what colour is")
    _ask_from_the_terminal(desktop, app, "Ask again")  # the box already had the focus
    count = len(app.history())
    desktop.key("End", "space", "t", "h", "e", "Return")
    entry = app.wait_entry(count, ANSWER_S)
    # What was typed before the second Ask is still there. (xdotool types within milliseconds of
    # the first Ask; its first keys can reach the xterm before the window manager has moved the
    # keyboard focus, so only the end of the typed text is compared.)
    assert entry["kind"] == "Question" and entry["question"].endswith("colour is the"), entry
