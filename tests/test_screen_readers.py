"""Speech through the user's screen reader: a real speech-dispatcher, detection, the own-voice fallback."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.speech_out.screen_readers import NO_READER_MESSAGE, ReaderWatch, ScreenReaders, default_readers
from assistant.speech_out.screen_readers.jaws import JAWSReader, braille_call
from assistant.speech_out.screen_readers.linux import (
    _command_names,
    find_processes,
    parse_version,
    speechd_reader_running,
)
from assistant.speech_out.screen_readers.nvda import NVDAReader, dll_name
from assistant.speech_out.screen_readers.platforms import AnnouncementSupport
from assistant.speech_out.screen_readers.recording import RecordingReader
from assistant.speech_out.screen_readers.speechd import SpeechDispatcherReader
from assistant.speech_out.screen_readers.ssip import SSIPConnection, escape_data, socket_path
from assistant.speech_out.tts import SpyEngine
from tests.speechd_service import speech_dispatcher_available, start_speech_dispatcher

needs_speechd = pytest.mark.skipif(not speech_dispatcher_available(), reason="speech-dispatcher not installed")


def wait_for(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def speechd(tmp_path):
    service = start_speech_dispatcher(dict(os.environ), tmp_path / "speechd")
    yield service
    service.stop()


class OrcaClient:
    """Orca's own speech-dispatcher client as Orca 43 sets it up: priority MESSAGE."""

    def __init__(self, path: Path) -> None:
        self.events: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self.conn = SSIPConnection(path, on_event=self._on_event)
        self.conn.command_ok("SET self CLIENT_NAME unknown:Orca:default")
        self.conn.command_ok("SET self PRIORITY message")
        self.conn.command_ok("SET self NOTIFICATION all on")

    def _on_event(self, kind: str, msg_id: int) -> None:
        with self._lock:
            self.events.append((kind, msg_id))

    def outcome(self, msg_id: int) -> str | None:
        with self._lock:
            finals = [kind for kind, mid in self.events if mid == msg_id and kind in ("end", "cancel")]
        return finals[0] if finals else None


# -- the SSIP client against a real speech-dispatcher --------------------------------------------


@needs_speechd
def test_our_text_reaches_speech_dispatcher_and_ends(speechd):
    reader = SpeechDispatcherReader(env=speechd.env, running=lambda: True, spawn=False)
    try:
        assert reader.socket == speechd.socket_path  # found through XDG_RUNTIME_DIR, as libspeechd does
        spoken = reader.speak("A red error banner says disk full.")
        assert spoken.accepted, spoken.problem
        assert speechd.wait_spoken("A red error banner says disk full.")
        assert spoken.done.wait(30), "speech-dispatcher never reported the end"
        log = speechd.log_text()
        assert "user:screensight:main" in log
    finally:
        reader.close()


@needs_speechd
def test_cancel_stops_only_our_messages(speechd):
    orca = OrcaClient(speechd.socket_path)
    reader = SpeechDispatcherReader(env=speechd.env, running=lambda: True, spawn=False)
    try:
        first = reader.speak("ScreenSight is describing a long table with many rows and columns of numbers.")
        second = reader.speak("ScreenSight second sentence that must never be spoken.")
        assert first.accepted and second.accepted
        assert speechd.wait_spoken("ScreenSight is describing a long table")
        orca_id = orca.conn.speak("Orca says: focus moved to the OK button.")
        reader.cancel()
        assert first.done.wait(10) and second.done.wait(10)  # cancelled, not left waiting
        assert speechd.wait_spoken("Orca says: focus moved to the OK button.")
        assert wait_for(lambda: orca.outcome(orca_id) is not None, 30)
        assert orca.outcome(orca_id) == "end"  # Orca's own speech was not cancelled by ours
        assert not any("never be spoken" in text for text in speechd.sent_to_synthesizer())
    finally:
        reader.close()
        orca.conn.close()


@needs_speechd
def test_orca_and_screensight_speaking_at_once_drop_neither(speechd):
    orca = OrcaClient(speechd.socket_path)
    reader = SpeechDispatcherReader(env=speechd.env, running=lambda: True, spawn=False)
    try:
        orca_id = orca.conn.speak("Orca reads the menu bar: File, Edit, View.")
        ours = reader.speak("ScreenSight: the chart shows sales rising.")
        orca_second = orca.conn.speak("Orca: Edit menu.")
        assert ours.accepted
        assert ours.done.wait(40)
        assert wait_for(lambda: orca.outcome(orca_second) is not None, 40)
        sent = speechd.sent_to_synthesizer()
        assert sent.count("Orca reads the menu bar: File, Edit, View.") == 1
        assert sent.count("ScreenSight: the chart shows sales rising.") == 1
        assert sent.count("Orca: Edit menu.") == 1
        assert orca.outcome(orca_id) == "end" and orca.outcome(orca_second) == "end"
        # Priority message does not interrupt itself: they were spoken in turn, in order of arrival.
        assert sent.index("Orca reads the menu bar: File, Edit, View.") < sent.index(
            "ScreenSight: the chart shows sales rising.") < sent.index("Orca: Edit menu.")
    finally:
        reader.close()
        orca.conn.close()


@needs_speechd
def test_a_restarted_server_is_reconnected(speechd, tmp_path):
    reader = SpeechDispatcherReader(env=speechd.env, running=lambda: True, spawn=False)
    try:
        assert reader.speak("Before the restart.").done.wait(30)
        speechd.stop()
        again = start_speech_dispatcher(dict(os.environ, XDG_RUNTIME_DIR=speechd.env["XDG_RUNTIME_DIR"]),
                                        speechd.log_dir, runtime_dir=True)
        try:
            assert wait_for(lambda: reader.speak("After the restart.").accepted, 10)
            assert again.wait_spoken("After the restart.")
        finally:
            again.stop()
    finally:
        reader.close()


def test_an_unreachable_server_is_a_value_not_an_exception(tmp_path):
    env = {"SPEECHD_ADDRESS": f"unix_socket:{tmp_path / 'nothing.sock'}", "PATH": os.environ["PATH"]}
    spoken = SpeechDispatcherReader(env=env, running=lambda: True, spawn=False).speak("Hello.")
    assert not spoken.accepted and "nothing.sock" in spoken.problem
    assert spoken.done.is_set()


def test_socket_path_follows_libspeechd():
    assert socket_path({"SPEECHD_ADDRESS": "unix_socket:/x/s.sock"}) == Path("/x/s.sock")
    assert socket_path({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/speech-dispatcher/speechd.sock")
    assert socket_path({"SPEECHD_ADDRESS": "unix_socket", "XDG_RUNTIME_DIR": "/r"}) == Path(
        "/r/speech-dispatcher/speechd.sock")
    assert socket_path({"SPEECHD_ADDRESS": "inet_socket:localhost:6560"}) is None
    assert escape_data("one\n.two") == b"one\r\n..two\r\n.\r\n"


# -- detection -----------------------------------------------------------------------------------


@pytest.fixture
def fake_orca():
    proc = subprocess.Popen(["bash", "-c", "exec -a orca sleep 60"])
    assert wait_for(lambda: proc.pid in find_processes(("orca",)), 5)
    yield proc
    proc.kill()
    proc.wait()


def test_orca_is_detected_by_its_process(fake_orca):
    env = dict(os.environ)
    assert fake_orca.pid in find_processes(("orca",))
    assert speechd_reader_running(env)
    reader = SpeechDispatcherReader(env=env)
    assert default_readers(platform="linux", env=env).backends()[0].name == "speech-dispatcher"
    assert ScreenReaders([RecordingReader(running=False), reader]).detect() is reader
    fake_orca.kill()
    fake_orca.wait()
    assert wait_for(lambda: fake_orca.pid not in find_processes(("orca",)), 5)
    others = find_processes(("orca",))  # another session's real Orca may run on this machine
    found = ScreenReaders([reader]).detect()
    assert found is (reader if others else None)


def test_interpreted_readers_are_found_by_their_script():
    assert _command_names(["/usr/bin/python3", "-O", "/usr/bin/orca", "--replace"]) == ["python3", "orca"]
    assert _command_names(["orca"]) == ["orca"]
    assert _command_names(["/usr/bin/vim", "orca"]) == ["vim"]
    assert parse_version("orca 46.2\n") == (46, 2)


def test_announcements_count_on_linux_only_with_orca_46():
    old = AnnouncementSupport("linux", env={}, orca_version=lambda: (43, 1), reader_running=lambda: True)
    new = AnnouncementSupport("linux", env={}, orca_version=lambda: (46, 0), reader_running=lambda: True)
    off = AnnouncementSupport("win32", env={}, reader_running=lambda: False)
    assert not old.reaches_reader() and new.reaches_reader() and not off.reaches_reader()
    assert AnnouncementSupport("darwin", env={}, reader_running=lambda: True).reaches_reader()


def test_windows_readers_import_and_fail_as_values_here():
    nvda = NVDAReader()
    assert not nvda.is_running()
    assert not nvda.speak("Hello.").accepted
    assert dll_name(64) == "nvdaControllerClient64.dll" and dll_name(32) == "nvdaControllerClient32.dll"
    assert not JAWSReader().is_running()
    assert braille_call('Say "hi"\nnow') == "BrailleString(\"Say 'hi' now\")"
    order = [b.name for b in default_readers(RecordingReader(), platform="win32", env={}).backends()]
    assert order == ["nvda", "jaws", "recording"]  # UIA announcements after NVDA and JAWS


class _FakeNVDA:
    """The controller DLL's functions as NVDA answers them (0 is success)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def nvdaController_testIfRunning(self) -> int:  # noqa: N802 - the DLL's names
        return 0

    def nvdaController_speakText(self, text: str) -> int:  # noqa: N802
        self.calls.append(("speak", text))
        return 0

    def nvdaController_cancelSpeech(self) -> int:  # noqa: N802
        self.calls.append(("cancel", ""))
        return 0

    def nvdaController_brailleMessage(self, text: str) -> int:  # noqa: N802
        self.calls.append(("braille", text))
        return 0


def test_nvda_backend_calls_the_controller_in_order():
    fake = _FakeNVDA()
    nvda = NVDAReader(loader=lambda: fake)
    assert nvda.is_running()
    assert nvda.speak("One.").accepted and nvda.speak("Two.", interrupt=True).accepted
    assert nvda.braille("Three.").accepted
    assert fake.calls == [("speak", "One."), ("cancel", ""), ("speak", "Two."), ("braille", "Three.")]


# -- the engine through ui/output.py ------------------------------------------------------------


@pytest.fixture
def window_reader(qtbot):
    from ui.main_window import MainWindow
    from ui.screen_reader import AnnouncementReader, Announcer

    window = MainWindow()
    qtbot.addWidget(window)
    return AnnouncementReader(Announcer(window))


def _speaker(window_reader, reader, notices, errors, output="screen_reader"):
    from assistant.speech_out.output import make_speaker

    watch = ReaderWatch(ScreenReaders([reader]), interval=0)
    return make_speaker(Settings(output=output), window_reader, errors.append,
                        notices.append, watch)


def test_no_reader_is_said_once_then_the_own_voice_speaks_until_one_starts(qtbot, window_reader, monkeypatch):
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    reader, notices, errors = RecordingReader(running=False), [], []
    speaker = _speaker(window_reader, reader, notices, errors)
    try:
        speaker.say("The first sentence.")
        speaker.say("The second sentence.")
        assert speaker.wait_idle(10)
        voice = speaker.tts.own_voice
        assert isinstance(voice, SpyEngine)
        assert voice.texts() == [NO_READER_MESSAGE, "The first sentence.", "The second sentence."]
        assert notices == [NO_READER_MESSAGE] and errors == []
        reader.running.set()  # the screen reader starts
        speaker.say("The third sentence.")
        assert speaker.wait_idle(10)
        assert reader.spoken() == ["The third sentence."]
        assert voice.texts()[-1] == "The second sentence."
    finally:
        speaker.close()
    assert reader.closed


def test_an_unreachable_reader_falls_back_with_the_notice(qtbot, window_reader, monkeypatch):
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    reader, notices, errors = RecordingReader(running=True, reachable=False), [], []
    speaker = _speaker(window_reader, reader, notices, errors)
    try:
        speaker.say("Hello.")
        assert speaker.wait_idle(10)
        assert speaker.tts.own_voice.texts() == [NO_READER_MESSAGE, "Hello."]
        assert notices == [NO_READER_MESSAGE]
    finally:
        speaker.close()


def test_stop_cancels_the_readers_speech_of_ours(qtbot, window_reader, monkeypatch):
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    reader, notices, errors = RecordingReader(), [], []
    speaker = _speaker(window_reader, reader, notices, errors)
    try:
        speaker.say("A long description " * 20)
        speaker.say("Never handed over.")
        assert wait_for(lambda: reader.spoken() != [], 5)
        speaker.stop()
        assert speaker.wait_idle(5)
        assert [r.kind for r in reader.requests()] == ["speak", "cancel"]
        assert notices == [] and speaker.tts.own_voice is None
    finally:
        speaker.close()


def test_both_speaks_with_the_own_voice_and_brailles_through_the_reader(qtbot, window_reader, monkeypatch):
    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    reader, notices, errors = RecordingReader(), [], []
    speaker = _speaker(window_reader, reader, notices, errors, output="both")
    try:
        speaker.say("Two buttons.")
        assert speaker.wait_idle(10)
        assert speaker.tts.voice.texts() == ["Two buttons."]
        assert [(r.kind, r.text) for r in reader.requests()] == [("braille", "Two buttons.")]
    finally:
        speaker.close()


@needs_speechd
def test_screen_reader_output_speaks_through_orcas_speech_dispatcher(qtbot, window_reader, speechd, fake_orca,
                                                                     monkeypatch):
    from assistant.speech_out.output import make_speaker

    monkeypatch.setenv("SCREENSIGHT_TTS", "spy")
    readers = default_readers(platform="linux", env=speechd.env)
    notices: list[str] = []
    speaker = make_speaker(Settings(output="screen_reader"), window_reader, notices.append,
                           notices.append, ReaderWatch(readers))
    try:
        speaker.say("Orca users hear this through speech-dispatcher.")
        assert speechd.wait_spoken("Orca users hear this through speech-dispatcher.")
        assert speaker.wait_idle(30)
        assert notices == [] and speaker.tts.own_voice is None
    finally:
        speaker.close()
