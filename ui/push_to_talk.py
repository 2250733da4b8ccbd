"""Push-to-talk: the key goes down, the microphone opens at once and the screenshot is taken and
encoded while the user talks; the key comes up (or, in toggle mode, a pause ends the question)
and the recording is handed to the engine, which transcribes it and answers.

press()/release()/cancel() run on the Qt thread; opening and closing the microphone run on
one worker thread of their own, so the window never waits for PortAudio. The start tone plays
on a thread of its own after the microphone opened, so not a word is lost to it, and the tone
is then found in the recording and zeroed (a laptop's microphone hears its speaker).

The status always ends: when the engine finishes the voice request (answer, error, a newer
request, the stop key) while the key is still held, listening stops and the engine's outcome
stays on screen; a cancelled request whose status still says Listening or Thinking says so.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from assistant.config import Settings
from assistant.engine import Request, Result
from assistant.speech_out import earcons
from base.errors import AudioError, ModelError
from base.vocabulary import TalkMode
from ui.bridge import MessageRelay

log = logging.getLogger(__name__)

RELEASE_TAIL_SECONDS = 0.25  # sound spoken just before the key came up is still in the buffers
MAX_SECONDS = 30.0          # the longest question
NO_SPEECH_SECONDS = 8.0     # toggle mode: give up when nothing was said
MIN_SECONDS = 0.25          # a shorter recording is a tap of the key, not a question
TONE_SEARCH_SLACK = 0.5     # the start tone is looked for until this long after it played
TONE_HEARD_SLACK = 0.15     # the microphone usually hears the tone by this long after it played
TONE_ECHO_SECONDS = 0.1     # a room's echo of the tone, after it finished playing
TONE_WAIT_SECONDS = 2.0     # the longest wait for the start tone to be played and heard
FIRST_SOUND_SECONDS = 4.0   # the longest wait for the microphone to deliver in real time

SPEECH_MISSING = "Voice questions need the speech model. Opening the download window."
LISTENING_HOLD = "Listening… release the key when you are done."
LISTENING_TOGGLE = "Listening…"
THINKING = "Thinking…"
CANCELLED = "Question cancelled."
_TOO_SHORT_HINT = "Hold the talk key while you speak, and release it when you are done."


def speech_model_missing(settings: Settings) -> str:
    """Why the speech model of the settings cannot be used ("" when it is on disk, or when the
    vision model hears spoken questions itself)."""
    from assistant.model_loading import hears_audio
    from models.store import resolve

    if hears_audio(settings.vision_model):
        return ""
    try:
        resolve(settings.speech_model)
    except ModelError as exc:
        return exc.message
    return ""


@dataclass
class _Session:
    """One question being recorded."""

    future: Future
    end_now: threading.Event = field(default_factory=threading.Event)
    recorder: Any = None
    request_id: int = 0
    tone: earcons.Playback | None = None
    tone_span: tuple[int, int] | None = None  # where the microphone heard the start tone
    speak_now_at: int = 0  # samples recorded when the tone had played and "speak now" was given


class PushToTalk(QObject):
    """Records spoken questions for the controller's engine."""

    ended = Signal(object)  # _Session: its recording ended on the worker (-> Qt thread)
    listening = Signal()  # the microphone records and the start tone has played: speak now
    recorded = Signal(object)  # the Recording handed to the engine (tests and diagnostics)

    def __init__(self, controller: Any, parent: QObject | None = None) -> None:
        super().__init__(parent or controller)
        self.controller = controller
        self.settings: Settings = controller.settings
        self.relay = MessageRelay(self)
        queued = Qt.ConnectionType.QueuedConnection
        self.relay.level.connect(controller.window.set_level, queued)
        self.ended.connect(self._on_ended, queued)
        controller.bridge.started.connect(self._on_request_started, queued)
        controller.bridge.status.connect(self._on_request_status, queued)
        controller.bridge.finished.connect(self._on_request_finished, queued)
        self.earcon_device: int | str | None = None  # None: the default output
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-to-talk")
        self._session: _Session | None = None
        self._request_id = 0  # the latest voice request, until the engine finishes it
        self._shown = ""      # the status text push-to-talk showed last
        self.warming: earcons.Playback | None = (
            earcons.warm_up(self.earcon_device) if self.settings.earcons else None)
        self.microphone_warm: Future = self._pool.submit(self._warm_up, self.settings)

    @property
    def recording(self) -> bool:
        return self._session is not None

    @property
    def captured_seconds(self) -> float:
        """Seconds of the question recorded so far (0 before the microphone opened)."""
        session = self._session
        recorder = session.recorder if session is not None else None
        return recorder.captured_seconds if recorder is not None else 0.0

    def apply_settings(self, settings: Settings) -> None:
        self.settings = settings

    # -- Qt thread ---------------------------------------------------------------------------

    def press(self) -> None:
        """The talk key went down: start listening and take the screenshot now."""
        if self._session is not None:
            if self.settings.push_to_talk_mode == TalkMode.TOGGLE:
                self._end()  # a second press ends the question early
            return
        if speech_model_missing(self.settings):
            self._offer_speech_model()
            return
        session = _Session(Future())
        self._session = session
        self._pool.submit(self._start, session, self.settings)  # the microphone opens first
        session.request_id = self.controller.submit(self.controller.voice_request(session.future))
        self._request_id = session.request_id
        self.controller.window.set_recording(True)
        self._show(self._listening_text())

    def release(self) -> None:
        """The talk key came up: in hold mode, the question is complete."""
        if self._session is not None and self.settings.push_to_talk_mode == TalkMode.HOLD:
            self._end()

    def cancel(self) -> None:
        """Stop listening and throw the recording away."""
        session, self._session = self._session, None
        if session is None:
            return
        self._drop(session)
        self._show_if_ours(CANCELLED)

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _offer_speech_model(self) -> None:
        """No speech model on disk: say so and open the speech model setup instead."""
        self.controller.say_message(SPEECH_MISSING, assertive=True)
        self.controller.handle_action("setup-speech")

    def _listening_text(self) -> str:
        return LISTENING_TOGGLE if self.settings.push_to_talk_mode == TalkMode.TOGGLE else LISTENING_HOLD

    def _show(self, text: str) -> None:
        self._shown = text
        self.controller.window.set_status(text)

    def _show_if_ours(self, text: str) -> None:
        """Replace the status only while it is still one push-to-talk showed."""
        if self._shown and self.controller.window.status_label.text() == self._shown:
            self._show(text)

    def _drop(self, session: _Session) -> None:
        session.end_now.set()
        session.future.cancel()
        self._pool.submit(self._discard, session)
        self.controller.window.set_recording(False)

    def _end(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        session.end_now.set()
        self._pool.submit(self._finish, session, self.settings)
        self.controller.window.set_recording(False)
        self._show(THINKING)

    def _on_ended(self, session: _Session) -> None:
        """Toggle mode, or the microphone failed: the worker ended the question."""
        if self._session is session:
            self._session = None
            self.controller.window.set_recording(False)
            self._show(THINKING)

    def _on_request_started(self, request_id: int, _request: Request | None) -> None:
        """The controller just showed "Working…": while the user talks, say Listening."""
        if self._session is not None and request_id == self._session.request_id:
            self._show(self._listening_text())

    def _on_request_status(self, request_id: int, _message: str) -> None:
        """The engine's news (e.g. loading the model) is announced; the line keeps Listening."""
        self._on_request_started(request_id, None)

    def _on_request_finished(self, result: Result) -> None:
        """The engine is done with the voice request: stop listening; make the status final."""
        if result.request_id != self._request_id:
            return
        self._request_id = 0
        session = self._session
        if session is not None and session.request_id == result.request_id:
            self._session = None  # the screenshot failed, a newer request or the stop key won
            self._drop(session)
        if result.cancelled:
            self._show_if_ours(CANCELLED)

    # -- worker thread -----------------------------------------------------------------------

    def _start(self, session: _Session, settings: Settings) -> None:
        from assistant.speech_in.audio_in import Recorder

        if session.future.done():
            return  # cancelled before the microphone opened
        recorder = Recorder(device=settings.microphone or None, max_seconds=MAX_SECONDS,
                            on_level=self.relay.report_level)
        try:
            recorder.start()
        except AudioError as exc:
            _fail(session, exc)
            session.end_now.set()
            self.ended.emit(session)
            return
        session.recorder = recorder
        self._play_start_tone(session, settings)
        if settings.push_to_talk_mode == TalkMode.TOGGLE:
            self._wait_for_pause(session)
            session.end_now.set()
            self.ended.emit(session)
            self._finish(session, settings)

    def _warm_up(self, settings: Settings) -> None:
        """Open the microphone once at start and close it when the first sound arrives: the
        first input stream of a process delivers nothing for about two seconds (measured with
        PortAudio on PulseAudio), which must not eat the first question. Nothing is kept.
        (Measured since: on a PulseAudio null sink a stream opened after another closed can stall
        as long again; push-to-talk waits for `Recorder.live` before the tone and "speak now".)"""
        from assistant.speech_in.audio_in import Recorder

        recorder = Recorder(device=settings.microphone or None, max_seconds=5.0)
        try:
            recorder.start()
        except AudioError as exc:
            log.info("microphone not warmed up: %s", exc)  # press() reports it when it matters
            return
        deadline = time.monotonic() + 5.0
        while recorder.captured_seconds == 0.0 and time.monotonic() < deadline:
            time.sleep(0.02)
        recorder.cancel()

    def _play_start_tone(self, session: _Session, settings: Settings) -> None:
        """The tone plays on its own thread while the microphone already records; "speak now"
        (`listening`) only once the recording is past the tone and its echo, so nothing said
        after it is in the part zeroed as the tone (measured before: the question started right
        after the tone, and the zeroed echo tail took up to 0.2 s of its first word)."""
        _wait_for_first_sound(session)
        if not settings.earcons or session.end_now.is_set():
            self.listening.emit()
            return
        session.tone = earcons.start(earcons.START, self.earcon_device)
        session.tone_span = _hear_start_tone(session)
        session.speak_now_at = _tone_end_sample(session)
        self.listening.emit()

    def _wait_for_pause(self, session: _Session) -> None:
        """Toggle mode: listen until speech then a pause, a second press, or nothing said."""
        from assistant.speech_in.audio_in import EndPointer

        recorder = session.recorder
        pointer = EndPointer(sample_rate=recorder.rate)
        seen = 0
        while not session.end_now.is_set():
            blocks, seen = recorder.new_blocks(seen)
            if any(pointer.feed(block) for block in blocks) or pointer.done or not recorder.active:
                return
            if not pointer.speech_started and recorder.captured_seconds >= NO_SPEECH_SECONDS:
                return
            time.sleep(0.03)

    def _finish(self, session: _Session, settings: Settings) -> None:
        recorder = session.recorder
        if recorder is None or not recorder.recording:
            return  # the microphone never opened: the engine has its error already
        if session.future.done():
            self._discard(session)
            return
        try:
            recording = recorder.stop(tail_seconds=RELEASE_TAIL_SECONDS)
        except AudioError as exc:  # MicrophoneLostError included: the message says what happened
            _stop_tone(session)
            _fail(session, exc)
            return
        _stop_tone(session)
        self._hand_over(session, recording)
        if settings.earcons:
            earcons.start(earcons.STOP, self.earcon_device)

    def _hand_over(self, session: _Session, recording: Any) -> None:
        """Give the recording to the engine, without the start tone; a tap is not a question."""
        _remove_start_tone(recording, session)
        log.info("recorded %.2f s (peak %.3f)", recording.seconds, recording.peak)
        if recording.seconds - RELEASE_TAIL_SECONDS < MIN_SECONDS:  # held too briefly
            _fail(session, AudioError("The talk key was let go before a question was heard.",
                                      _TOO_SHORT_HINT, _TOO_SHORT_HINT))
            return
        self.recorded.emit(recording)
        if not session.future.done():
            session.future.set_result(recording)

    def _discard(self, session: _Session) -> None:
        _stop_tone(session)
        if session.recorder is not None and session.recorder.recording:
            session.recorder.cancel()


def _wait_for_first_sound(session: _Session) -> None:
    """Until the microphone delivers in real time (`Recorder.live`): only then is "speak now"
    true. Measured with PortAudio on a PulseAudio null sink: usually 0.1-0.25 s after the stream
    opened, but when nothing recorded from it for a while, the first block comes 2.1 s late and
    part of the backlog is dropped while it catches up; the tone played meanwhile stutters and
    a question begun then loses its start."""
    recorder = session.recorder
    deadline = time.monotonic() + FIRST_SOUND_SECONDS
    while (not recorder.live and recorder.active and not session.end_now.is_set()
           and time.monotonic() < deadline):
        time.sleep(0.005)
    if not recorder.live:
        log.info("the microphone is not live after %.1f s", FIRST_SOUND_SECONDS)


def _stop_tone(session: _Session) -> None:
    if session.tone is not None:
        session.tone.stop()


def _hear_start_tone(session: _Session) -> tuple[int, int] | None:
    """Worker thread: wait until the tone was played and the recording covers it and its echo;
    where the microphone heard it (16 kHz samples), None where it did not (headphones)."""
    from assistant.speech_in.audio_in import tone_span
    from base.audio import SAMPLE_RATE

    tone, recorder = session.tone, session.recorder
    give_up = time.monotonic() + TONE_WAIT_SECONDS

    def wait_until(ready: Any) -> bool:
        while not ready():
            if session.end_now.is_set() or not recorder.active or time.monotonic() > give_up:
                return False
            time.sleep(0.005)
        return True

    if not wait_until(tone.finished.is_set) or not tone.played or tone.finished_at is None:
        return None
    # Usually the tone and its echo are in the recording TONE_HEARD_SLACK after it played; a
    # sound server that had been idle can mix it in later (measured: up to 1.1 s into the
    # recording), so it is looked for until TONE_SEARCH_SLACK (the wait headphones cost).
    span = None
    for heard_by in (TONE_HEARD_SLACK, TONE_SEARCH_SLACK):
        if not wait_until(lambda by=tone.finished_at + heard_by: recorder.taken_until >= by):
            return None
        pcm = recorder.samples()
        span = tone_span(pcm, SAMPLE_RATE, earcons.START, earcons.RATE, len(pcm) / SAMPLE_RATE)
        if span is not None:
            break
    if span is None:
        log.info("the start tone was not heard in %.2f s of recording", len(pcm) / SAMPLE_RATE)
    else:
        wait_until(lambda: recorder.captured_seconds * SAMPLE_RATE >= span[1])  # the echo too
        log.info("start tone heard at %.2f-%.2f s of the recording",
                 span[0] / SAMPLE_RATE, span[1] / SAMPLE_RATE)
    return span


def _tone_end_sample(session: _Session) -> int:
    """The recording's sample where the start tone and its echo are over: the end of the span the
    microphone heard, or, when no waveform matched (a tone played with underruns arrives as
    clicks), the sample recorded TONE_ECHO_SECONDS after the tone finished playing. 0: no tone."""
    tone, recorder = session.tone, session.recorder
    if tone is None or not tone.played or tone.finished_at is None:
        return 0
    captured = len(recorder.samples())
    if session.tone_span is not None:
        return min(session.tone_span[1], captured)
    over_at = tone.finished_at + TONE_ECHO_SECONDS
    behind = max(0.0, recorder.taken_until - over_at)  # seconds recorded since the echo ended
    from base.audio import SAMPLE_RATE  # samples() is at this rate whatever the device's

    return max(0, min(captured, captured - int(behind * SAMPLE_RATE)))


def _remove_start_tone(recording: Any, session: _Session) -> None:
    """Zero the start tone where the microphone heard it (only where it really matches)."""
    from assistant.speech_in.audio_in import mute_tone

    tone = session.tone
    if tone is None or tone.started_at is None:
        return  # never played: nothing to remove
    if session.tone_span is not None or session.speak_now_at:  # while recording, before "speak now"
        # From the start: a tone that a busy sound server played with underruns reaches the
        # microphone as clicks that match no waveform (seen here), before or around its span.
        last = min(len(recording.pcm), session.speak_now_at)
        recording.pcm[:last] = 0.0
        span: tuple[int, int] | None = (0, last)
        # A sound server that fell behind can mix the tone in after "speak now" (seen at load 7 on
        # 2 cores): where its waveform really matches there, it goes too.
        late = mute_tone(recording, earcons.START, earcons.RATE, recording.seconds)
        if late is not None:
            span = (0, max(last, late[1]))
    else:  # the key came up before the tone was heard (or it came very late): look for it now
        span = mute_tone(recording, earcons.START, earcons.RATE, recording.seconds)
    if span is not None:
        log.info("start tone removed from the recording (%.2f-%.2f s)",
                 span[0] / recording.sample_rate, span[1] / recording.sample_rate)


def _fail(session: _Session, exc: AudioError) -> None:
    """Hand the problem to the engine, which reports it like any other failed request."""
    if not session.future.done():
        session.future.set_exception(exc)
