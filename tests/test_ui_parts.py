"""Smaller parts of the app: screen-reader output engines, saved history, autostart, tray menu."""

from __future__ import annotations

import threading

from assistant import autostart
from assistant.history import HistoryEntry, HistoryStore, kind_label
from assistant.speech_out.screen_readers import ReaderWatch, ScreenReaders
from assistant.speech_out.tts import SpyEngine, Utterance
from ui.main_window import MainWindow
from ui.screen_reader import AnnouncementReader, Announcer, BothEngine, ScreenReaderEngine, announcements_supported
from ui.tray import MENU_ACTIONS, Tray


class _Supported:
    """AnnouncementSupport as on a system whose stack speaks announcements (Windows, macOS, Orca 46)."""

    def reaches_reader(self) -> bool:
        return True


def _announcement_engine(announcer):
    reader = AnnouncementReader(announcer, support=_Supported())
    return ScreenReaderEngine(ReaderWatch(ScreenReaders([reader])), SpyEngine)


def test_screen_reader_engine_posts_announcements_on_the_qt_thread(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    announcer = Announcer(window)
    engine = _announcement_engine(announcer)
    started = []
    assert announcements_supported()
    with qtbot.waitSignal(announcer.announced, timeout=2000) as signal:
        worker = threading.Thread(target=engine.play,
                                  args=(Utterance("A red error banner."), threading.Event(),
                                        lambda: started.append(True)))
        worker.start()
        worker.join()
    assert signal.args == ["A red error banner."]
    assert started == [True]
    assert engine.own_voice is None


def test_both_engine_speaks_with_the_own_voice(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    voice = SpyEngine()
    engine = BothEngine(voice, ReaderWatch(ScreenReaders([AnnouncementReader(Announcer(window), _Supported())])))
    engine.configure(rate=222)
    engine.play(engine.synthesize("Hello.").result(), threading.Event())
    assert voice.texts() == ["Hello."]  # announcements would speak it twice: braille-only readers get it
    assert voice.settings["rate"] == 222


def test_cancelled_utterances_are_not_announced(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    announcer = Announcer(window)
    cancel = threading.Event()
    cancel.set()
    with qtbot.assertNotEmitted(announcer.announced, wait=200):
        _announcement_engine(announcer).play(Utterance("Too late."), cancel)


def test_history_is_saved_only_when_kept(tmp_path):
    path, log = tmp_path / "history.jsonl", tmp_path / "debug.jsonl"
    store = HistoryStore(True, path=path, log_path=log)
    store.add(HistoryEntry(1, "Active window", answer="A dialog.", status="done"))
    store.add(HistoryEntry(2, "Question", question="Why?", answer="Because.", status="done"))
    assert [e.answer for e in HistoryStore(True, path=path).load()] == ["A dialog.", "Because."]
    assert (path.stat().st_mode & 0o777) == 0o600
    store.set_keep(False)
    assert not path.exists()
    store.add(HistoryEntry(3, "Active window", answer="Not saved.", status="done"))
    assert not path.exists()
    assert len(log.read_text().splitlines()) == 3  # the debug log gets everything
    assert HistoryStore(False, path=path).load() == []


def test_a_damaged_history_line_is_skipped(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"request_id": 1, "kind": "Active window", "answer": "ok"}\nnot json\n')
    assert [e.answer for e in HistoryStore(True, path=path).load()] == ["ok"]


def test_entry_headings():
    assert kind_label("describe", "screen") == "Whole screen"
    assert kind_label("read", "window") == "Text of the active window"
    assert kind_label("ask", None) == "Question"
    entry = HistoryEntry(1, "Whole screen", answer="Two windows.", status="stopped")
    assert entry.display_text() == "Whole screen: Two windows. (stopped)"


def test_autostart_writes_and_removes_the_xdg_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    autostart.set_autostart(True)
    entry = tmp_path / "autostart" / "screensight.desktop"
    assert autostart.autostart_enabled()
    text = entry.read_text()
    assert "Exec=" in text and "-m screensight" in text
    autostart.set_autostart(False)
    assert not entry.exists() and not autostart.autostart_enabled()


def test_tray_menu_asks_for_actions(qtbot):
    asked = []
    tray = Tray(asked.append)
    labels = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert len(labels) == len([a for a in MENU_ACTIONS if a])
    tray.menu.actions()[1].trigger()
    assert asked == ["describe-window"]
