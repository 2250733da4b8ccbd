"""The speaker thread: order, stop, audio-start tags, errors; and real speech that stops."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.speech_out.speaker import Speaker
from assistant.speech_out.tts import Pyttsx3Engine, SpyEngine
from base.errors import SpeechError
from tests.test_tts import LONG_TEXT, SILENCE_RMS, SinkRecorder, rms


@pytest.fixture
def recorder():
    rec = SinkRecorder()
    yield rec
    rec.close()


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_texts_are_spoken_in_order_with_their_tags() -> None:
    spy = SpyEngine()
    started: list[object] = []
    speaker = Speaker(spy, on_audio_start=started.append)
    try:
        for i in range(20):
            speaker.say(f"Utterance {i}.", tag=("request", i))
        assert speaker.wait_idle(timeout=10)
        assert spy.texts() == [f"Utterance {i}." for i in range(20)]
        assert started == [("request", i) for i in range(20)]
        assert not speaker.busy()
    finally:
        speaker.close()


def test_say_returns_while_speech_goes_on() -> None:
    spy = SpyEngine(seconds_per_char=0.05)
    speaker = Speaker(spy)
    try:
        speaker.say("This takes a while to say.")
        assert speaker.busy()  # say() queued it and returned; speaking takes over a second
        assert speaker.wait_idle(timeout=10)
        assert spy.spoken[0].completed
    finally:
        speaker.close()


def test_stop_cuts_the_current_utterance_and_drops_the_queue() -> None:
    spy = SpyEngine(seconds_per_char=0.2)  # "First utterance." would take over 3 seconds
    speaker = Speaker(spy)
    try:
        speaker.say("First utterance.")
        speaker.say("Second utterance.")
        speaker.say("Third utterance.")
        assert wait_until(lambda: spy.texts() == ["First utterance."])
        speaker.stop()
        assert speaker.wait_idle(timeout=10)
        assert spy.texts() == ["First utterance."]
        assert not spy.spoken[0].completed
        # The speaker still works after a stop.
        spy.seconds_per_char = 0.0
        speaker.say("After the stop.")
        assert speaker.wait_idle(timeout=10)
        assert spy.texts() == ["First utterance.", "After the stop."]
    finally:
        speaker.close()


def test_engine_errors_are_reported_and_the_speaker_goes_on() -> None:
    spy = SpyEngine(fail_on="broken")
    errors: list[Exception] = []
    speaker = Speaker(spy, on_error=errors.append)
    try:
        speaker.say("Before.")
        speaker.say("This one is broken.")
        speaker.say("After.")
        assert speaker.wait_idle(timeout=10)
        assert spy.texts() == ["Before.", "After."]
        assert len(errors) == 1 and isinstance(errors[0], SpeechError)
    finally:
        speaker.close()


def test_a_failing_error_handler_does_not_kill_the_speaker() -> None:
    spy = SpyEngine(fail_on="broken")

    def bad_handler(exc: Exception) -> None:
        raise RuntimeError("handler bug")

    speaker = Speaker(spy, on_error=bad_handler)
    try:
        speaker.say("broken")
        speaker.say("Still here.")
        assert speaker.wait_idle(timeout=10)
        assert spy.texts() == ["Still here."]
    finally:
        speaker.close()


def test_close_stops_the_thread_and_closes_the_engine() -> None:
    spy = SpyEngine(seconds_per_char=1.0)
    speaker = Speaker(spy)
    speaker.say("A long utterance that close must cut.")
    assert wait_until(lambda: bool(spy.texts()))
    speaker.close()
    assert spy.closed
    assert not speaker.busy()
    speaker.say("Ignored after close.")
    speaker.close()
    assert spy.texts() == ["A long utterance that close must cut."]


def test_blank_text_is_not_queued() -> None:
    spy = SpyEngine()
    speaker = Speaker(spy)
    try:
        speaker.say("  \n ")
        assert not speaker.busy()
        assert speaker.wait_idle(timeout=1)
        assert spy.texts() == []
    finally:
        speaker.close()


def test_real_speech_starts_with_tags_and_stop_silences_the_sink(recorder) -> None:
    errors: list[Exception] = []
    started: list[object] = []
    speaker = Speaker(Pyttsx3Engine(), on_audio_start=started.append, on_error=errors.append)
    try:
        speaker.say("First.", tag="one")
        speaker.say(LONG_TEXT, tag="two")
        speaker.say("Never spoken.", tag="three")
        assert wait_until(lambda: started == ["one", "two"], timeout=20), started
        assert recorder.wait_for_sound(), "no sound reached the speaker sink"
        assert speaker.busy()  # the long text lasts far longer than this
        speaker.stop()
        assert speaker.wait_idle(timeout=5)
        after = recorder.wait_for_seconds(1.0, after=time.monotonic() + 0.3)
        assert after.size >= 0.9 * SinkRecorder.RATE
        assert rms(after) < SILENCE_RMS
        assert started == ["one", "two"]
        assert errors == []
    finally:
        speaker.close()


def test_real_engine_failure_is_reported() -> None:
    errors: list[Exception] = []
    engine = Pyttsx3Engine()
    speaker = Speaker(engine, on_error=errors.append)
    engine.close()  # the engine goes away under the speaker
    speaker.say("Nobody can say this.")
    assert speaker.wait_idle(timeout=5)
    assert len(errors) == 1 and isinstance(errors[0], SpeechError)
    speaker.close()


def test_stop_from_many_threads_at_once_is_safe() -> None:
    spy = SpyEngine(seconds_per_char=0.01)
    speaker = Speaker(spy)
    try:
        for i in range(50):
            speaker.say(f"Text {i}.")
        threads = [threading.Thread(target=speaker.stop) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert speaker.wait_idle(timeout=10)
        assert len(spy.texts()) < 50
    finally:
        speaker.close()
