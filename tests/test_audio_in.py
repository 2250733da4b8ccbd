"""Microphone input through the real PortAudio -> ALSA "pulse" -> PulseAudio null sink "mic" path.

conftest.py starts a private PulseAudio whose default source is "mic.monitor"; espeak-ng speaks
into the "mic" sink, so the recorder hears it as a microphone would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.speech_in.audio_in import (
    EndPointer,
    MicrophoneLostError,
    Recorder,
    list_input_devices,
    record_until_silence,
    resample,
    tone_span,
)
from base.errors import AudioError
from tests.services import pulse_environment

QUESTION = "what does the red error say"
RATE = 16000
REPO = Path(__file__).resolve().parent.parent


def speak_into_mic(text: str, env: dict[str, str] | None = None) -> None:
    """espeak-ng's voice played into the "mic" null sink (what the recorder listens to)."""
    espeak = subprocess.Popen(["espeak-ng", "--stdout", text], stdout=subprocess.PIPE, env=env)
    try:
        subprocess.run(["paplay", "--device=mic"], stdin=espeak.stdout, check=True, timeout=30,
                       env=env)
    finally:
        espeak.stdout.close()
        espeak.wait(timeout=30)


def speak_later(text: str) -> threading.Thread:
    thread = threading.Thread(target=speak_into_mic, args=(text,), daemon=True)
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], deadline_s: float = 20.0) -> bool:
    """Poll until `condition()` holds; False if it never did (a hang guard, not a timing check)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def speech_seconds(pcm: np.ndarray, rate: int = RATE, floor_db: float = -40.0) -> float:
    """Seconds of 30 ms frames louder than `floor_db` dBFS."""
    frame = rate * 30 // 1000
    whole = len(pcm) // frame
    frames = pcm[: whole * frame].astype(np.float64).reshape(whole, frame)
    levels = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return float(np.sum(levels > floor_db) * frame / rate)


@pytest.fixture(scope="module")
def moonshine(tiny_moonshine_dir) -> object:
    import torch

    from models.speech import SpeechRecognizer

    before = torch.get_num_threads()
    yield SpeechRecognizer.load(tiny_moonshine_dir, threads=1)
    torch.set_num_threads(before)


# -- devices -------------------------------------------------------------------------------


def test_pulse_device_is_listed_and_selectable_by_id() -> None:
    devices = list_input_devices()
    assert ("ALSA:pulse", "pulse") in devices
    recorder = Recorder(device="ALSA:pulse")
    recorder.start()
    assert recorder.recording
    recorder.cancel()
    assert not recorder.recording


def test_unknown_device_names_the_device_and_the_choices() -> None:
    with pytest.raises(AudioError) as caught:
        Recorder(device="USB headset that is not there").start()
    assert "USB headset that is not there" in caught.value.message
    assert "pulse" in caught.value.hint


def test_no_sound_server_means_no_microphone_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PULSE_RUNTIME_PATH"}
    env["PULSE_SERVER"] = f"unix:{tmp_path}/no-such-server"
    code = (
        "import json\n"
        "from assistant.speech_in.audio_in import Recorder, list_input_devices\n"
        "from base.errors import AudioError\n"
        "names = [name for _, name in list_input_devices()]\n"
        "try:\n"
        "    Recorder(device='pulse').start()\n"
        "    print(json.dumps({'names': names, 'error': None}))\n"
        "except AudioError as exc:\n"
        "    print(json.dumps({'names': names, 'error': exc.message, 'hint': exc.hint}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "pulse" not in result["names"]
    assert result["error"] and ("No microphone" in result["error"] or "not found" in result["error"])
    assert result["hint"]


# -- recording through PulseAudio -------------------------------------------------------------


def test_push_to_talk_captures_espeak_question_and_feeds_the_recognizer(moonshine) -> None:
    levels: list[float] = []
    recorder = Recorder(device="pulse", on_level=levels.append)
    recorder.start()
    speak_into_mic(QUESTION)
    # Wait (hang guard) until the spoken question and some silence after it have arrived.
    pointer = EndPointer(sample_rate=recorder.rate, silence_ms=300)
    seen = 0

    def heard_it() -> bool:
        nonlocal seen
        blocks, seen = recorder.new_blocks(seen)
        return any(pointer.feed(block) for block in blocks) or pointer.done

    assert wait_for(heard_it), "the spoken question never arrived through PulseAudio"
    recording = recorder.stop()
    assert not recorder.recording
    assert recording.sample_rate == RATE and recording.pcm.dtype == np.float32
    assert recording.device == "pulse"
    assert recording.started_at < recording.ended_at
    assert recording.seconds >= 1.0
    assert speech_seconds(recording.pcm) >= 1.0  # espeak says the question in ~1.8 s
    assert recording.rms > 0.01 and recording.peak > 0.1
    assert not recording.truncated and not recording.digital_silence
    assert 0.05 < max(levels) <= 1.0
    # One level per 50 ms of audio (give or take the last partial block).
    assert abs(len(levels) - recording.seconds / 0.05) <= 3

    transcript = moonshine.transcribe(recording.pcm)
    assert isinstance(transcript.text, str)
    assert transcript.stats.windows >= 1
    assert transcript.stats.audio_seconds == pytest.approx(recording.seconds)
    assert transcript.stats.tokens >= 1


def test_toggle_mode_ends_on_silence_after_speech() -> None:
    recorder = Recorder(device="pulse")
    recorder.start()
    pointer = EndPointer(sample_rate=recorder.rate, silence_ms=700)
    speaker = speak_later(QUESTION)
    recording = record_until_silence(recorder, pointer, no_speech_seconds=20.0)
    speaker.join(timeout=30)
    assert recording is not None
    assert pointer.speech_started and pointer.done
    assert not recording.truncated
    assert speech_seconds(recording.pcm) >= 1.0
    tail = recording.pcm[-int(0.6 * RATE):]
    assert float(np.sqrt(np.mean(tail**2))) < 0.003  # it ended in the silence after the question


def test_toggle_mode_gives_up_without_speech() -> None:
    pointer = EndPointer()
    recording = record_until_silence(Recorder(device="pulse"), pointer, no_speech_seconds=1.0)
    assert recording is not None
    assert not pointer.speech_started
    assert recording.seconds >= 1.0
    assert recording.rms < 0.003
    assert recording.digital_silence  # the null sink sends exact zeros when nothing plays


def test_toggle_mode_cancel_returns_nothing_and_closes_the_stream() -> None:
    recorder = Recorder(device="pulse")
    cancel = threading.Event()
    cancel.set()
    assert record_until_silence(recorder, cancel=cancel) is None
    assert not recorder.recording


def test_length_cap_truncates_at_max_seconds() -> None:
    recorder = Recorder(device="pulse", max_seconds=0.5)
    recorder.start()
    assert wait_for(lambda: not recorder.active)
    recording = recorder.stop()
    assert recording.truncated
    assert len(recording.pcm) == RATE // 2


def test_device_rate_other_than_16k_is_resampled() -> None:
    recorder = Recorder(device="pulse", capture_rate=48000)
    recorder.start()
    assert recorder.rate == 48000
    pointer = EndPointer(sample_rate=48000, silence_ms=500)
    speaker = speak_later(QUESTION)
    recording = record_until_silence(recorder, pointer, no_speech_seconds=20.0)
    speaker.join(timeout=30)
    assert recording is not None and recording.sample_rate == RATE
    assert speech_seconds(recording.pcm) >= 1.0
    assert recording.rms > 0.01


def test_stop_and_cancel_without_start() -> None:
    recorder = Recorder(device="pulse")
    with pytest.raises(RuntimeError):
        recorder.stop()
    recorder.cancel()  # harmless
    assert not recorder.recording


# -- a microphone that goes away mid-recording (a private PulseAudio, so the shared one stays) --


@pytest.fixture
def private_pulse(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """A PulseAudio of this test only, with one null sink "mic" and nothing to fall back to."""
    runtime = tempfile.mkdtemp(prefix="screensight-lost-mic-")
    env = pulse_environment(runtime)
    proc = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
         "--disallow-exit", "--log-level=error", "-L", "module-native-protocol-unix",
         "-L", "module-null-sink sink_name=mic"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: subprocess.run(["pactl", "info"], env=env,
                                               capture_output=True).returncode == 0, 15)
        subprocess.run(["pactl", "set-default-source", "mic.monitor"], env=env, check=True)
        modules = subprocess.run(["pactl", "list", "modules", "short"], env=env, check=True,
                                 capture_output=True, text=True).stdout
        mic_module = next(line.split()[0] for line in modules.splitlines()
                          if "sink_name=mic" in line)
        monkeypatch.setenv("PULSE_RUNTIME_PATH", runtime)
        yield {"env": env, "proc": proc, "mic_module": mic_module}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_unplugged_microphone_keeps_the_audio_and_says_so(private_pulse) -> None:
    recorder = Recorder(device="pulse")
    recorder.start()
    assert wait_for(lambda: recorder.captured_seconds >= 0.3)
    subprocess.run(["pactl", "unload-module", private_pulse["mic_module"]],
                   env=private_pulse["env"], check=True)
    assert wait_for(lambda: not recorder.active)
    assert recorder.error is not None
    with pytest.raises(MicrophoneLostError) as caught:
        recorder.stop()
    assert "stopped working" in caught.value.message
    assert caught.value.hint
    assert caught.value.recording.seconds >= 0.3
    assert not recorder.recording


def test_sound_server_dying_during_toggle_mode_raises_with_the_audio(private_pulse) -> None:
    recorder = Recorder(device="pulse")
    recorder.start()
    assert wait_for(lambda: recorder.captured_seconds >= 0.3)
    private_pulse["proc"].kill()
    with pytest.raises(MicrophoneLostError) as caught:
        record_until_silence(recorder, no_speech_seconds=30.0, stall_seconds=10.0)
    assert caught.value.recording.seconds >= 0.3
    assert not recorder.recording


def test_recording_works_again_after_a_lost_microphone(private_pulse,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(device="pulse")
    recorder.start()
    assert wait_for(lambda: recorder.captured_seconds >= 0.1)
    private_pulse["proc"].kill()
    assert wait_for(lambda: not recorder.active)
    recorder.cancel()  # a lost device does not make cancel raise
    monkeypatch.undo()  # back to the session's PulseAudio
    recorder.start()
    assert wait_for(lambda: recorder.captured_seconds >= 0.2)
    assert recorder.stop().seconds >= 0.2


# -- resampling and end-pointing on synthetic signals ------------------------------------------


def _tone(freq: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_resample_keeps_pitch_and_length() -> None:
    out = resample(_tone(1000, 1.0, 48000), 48000, RATE)
    assert len(out) == RATE and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(int(np.argmax(spectrum)) - 1000) <= 1  # 1 Hz bins over one second
    up = resample(_tone(440, 0.5, 8000), 8000, RATE)
    assert len(up) == RATE // 2


def test_resample_removes_what_16k_cannot_hold() -> None:
    out = resample(_tone(12000, 1.0, 48000), 48000, RATE)  # above the new 8 kHz Nyquist
    assert float(np.sqrt(np.mean(out**2))) < 0.005


def _feed_in_blocks(pointer: EndPointer, signal: np.ndarray, block: int = 512) -> int | None:
    """Index of the sample after which feed() first returned True, or None."""
    for start in range(0, len(signal), block):
        if pointer.feed(signal[start : start + block]):
            return start + block
    return None


def test_endpointer_ends_after_silence_following_speech() -> None:
    signal = np.concatenate([np.zeros(RATE // 2, np.float32), _tone(300, 1.0, RATE),
                             np.zeros(2 * RATE, np.float32)])
    pointer = EndPointer(silence_ms=800)
    ended = _feed_in_blocks(pointer, signal)
    assert ended is not None and pointer.speech_started
    silence_heard = (ended - int(1.5 * RATE)) / RATE
    assert 0.8 <= silence_heard <= 0.8 + 0.03 + 512 / RATE
    assert pointer.speech_seconds == pytest.approx(1.0, abs=0.07)


def test_endpointer_never_ends_without_speech() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 5 * RATE).astype(np.float32)  # -40 dBFS room noise
    pointer = EndPointer()
    assert _feed_in_blocks(pointer, noise) is None
    assert _feed_in_blocks(EndPointer(), np.zeros(3 * RATE, np.float32)) is None
    assert not pointer.speech_started


def test_endpointer_hears_speech_over_steady_noise() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, 4 * RATE).astype(np.float32)
    signal = noise.copy()
    signal[RATE : 2 * RATE] += _tone(250, 1.0, RATE)
    pointer = EndPointer(silence_ms=600)
    ended = _feed_in_blocks(pointer, signal)
    assert ended is not None and 2.6 * RATE <= ended <= 2.7 * RATE


def test_endpointer_ignores_clicks_and_waits_through_pauses_between_words() -> None:
    click = _tone(1000, 0.03, RATE, amplitude=0.9)
    quiet = np.zeros(2 * RATE, np.float32)
    assert _feed_in_blocks(EndPointer(), np.concatenate([click, quiet])) is None
    word = _tone(200, 0.4, RATE)
    pause = np.zeros(int(0.4 * RATE), np.float32)
    speech = np.concatenate([word, pause, word, pause, word])
    pointer = EndPointer(silence_ms=600)
    assert _feed_in_blocks(pointer, speech) is None  # 400 ms pauses do not end it
    assert _feed_in_blocks(pointer, quiet) is not None
    pointer.reset()
    assert not pointer.done and not pointer.speech_started


def test_a_stuttering_tone_is_found_whole_and_speech_after_it_is_kept() -> None:
    """As measured on a busy machine: the start tone arrives in pieces between digital silence
    (output underruns); all of them are the tone, the speech right after it is not."""
    from assistant.speech_out import earcons

    tone = resample(earcons.START, earcons.RATE, RATE)
    cut = [int(RATE * s) for s in (0.03, 0.04, 0.14)]
    gap = np.zeros(int(RATE * 0.05), np.float32)
    stutter = np.concatenate([tone[:cut[0]], gap, tone[cut[0]:cut[1]], gap, tone[cut[1]:]])
    speech = np.random.default_rng(3).normal(0, 0.05, RATE // 2).astype(np.float32)
    lead, pause = int(RATE * 0.2), int(RATE * 0.1)
    pcm = np.concatenate([np.zeros(lead, np.float32), stutter, np.zeros(pause, np.float32), speech])
    span = tone_span(pcm, RATE, earcons.START, earcons.RATE, len(pcm) / RATE, tail_seconds=0.08)
    assert span is not None
    first, last = span
    assert first <= lead, "the first piece of the tone is left in"
    assert last >= lead + len(stutter), "the last piece of the tone is left in"
    assert last <= lead + len(stutter) + pause, "the speech after the tone is zeroed"
    assert tone_span(speech, RATE, earcons.START, earcons.RATE, 0.5) is None


def test_a_tone_the_recording_ends_in_is_zeroed_and_the_question_before_it_kept() -> None:
    """As seen once on a busy machine: the sound server mixed the start tone in so late that the
    key came up while it played; the recording ended 5-40 ms into the tone, which the whole-tone
    match misses (its soft edge scores too low)."""
    from assistant.speech_in.audio_in import Recording, mute_tone, tone_cut_off_at_end
    from assistant.speech_out import earcons

    tone = resample(earcons.START, earcons.RATE, RATE)
    speech = np.random.default_rng(5).normal(0, 0.05, RATE // 2).astype(np.float32)
    for seconds in (0.005, 0.012, 0.025, 0.04, 0.1):
        cut = int(RATE * seconds)
        pcm = np.concatenate([speech, tone[:cut]]).astype(np.float32)
        found = tone_cut_off_at_end(pcm, RATE, earcons.START, earcons.RATE)
        # the longest match: where the soft edge is faint, one more 660 Hz period can match too
        assert found is not None and len(speech) - 2 * RATE // 660 <= found <= len(speech), seconds
        recording = Recording(pcm=pcm, sample_rate=RATE)
        span = mute_tone(recording, earcons.START, earcons.RATE, recording.seconds)
        assert span is not None and span[1] == len(pcm)
        assert np.abs(recording.pcm[len(speech):]).max() == 0.0, seconds
        kept = found - 1
        assert np.array_equal(recording.pcm[:kept], speech[:kept]), seconds
    assert tone_cut_off_at_end(speech, RATE, earcons.START, earcons.RATE) is None
    untouched = Recording(pcm=speech.copy(), sample_rate=RATE)
    assert mute_tone(untouched, earcons.START, earcons.RATE, untouched.seconds) is None
    assert np.array_equal(untouched.pcm, speech)


def test_the_recorder_says_when_it_delivers_in_real_time() -> None:
    recorder = Recorder(device="pulse")
    recorder.start()
    try:
        deadline = time.monotonic() + 10
        while not recorder.live and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.live
        assert abs(time.monotonic() - recorder.taken_until) < 0.5
        assert recorder.started_at <= recorder.taken_until
    finally:
        recorder.cancel()
