"""SpeechRecognizer with tiny random-weight Moonshine and Whisper models (real classes)."""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.speech_in.audio_in import resample
from base.errors import ConfigError, ModelError
from models.speech import SpeechRecognizer, max_new_tokens_for

RATE = 16000


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a busy 2-core machine OpenMP's spinning
    threads make them many times slower; restore the setting for the other test modules."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def moonshine(tiny_moonshine_dir: Path) -> SpeechRecognizer:
    return SpeechRecognizer.load(tiny_moonshine_dir, threads=1)


@pytest.fixture(scope="module")
def whisper(tiny_whisper_dir: Path) -> SpeechRecognizer:
    return SpeechRecognizer.load(tiny_whisper_dir, threads=1)


@pytest.fixture(scope="module")
def spoken() -> np.ndarray:
    """A question spoken by espeak-ng, as 16 kHz mono float32."""
    wav = subprocess.run(["espeak-ng", "--stdout", "what does the red error say"],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return resample(samples.astype(np.float32) / 32768.0, rate, RATE)


@pytest.fixture(params=["moonshine", "whisper"])
def recognizer(request: pytest.FixtureRequest) -> SpeechRecognizer:
    return request.getfixturevalue(request.param)


def test_load_picks_family_from_config(moonshine: SpeechRecognizer,
                                       whisper: SpeechRecognizer) -> None:
    assert moonshine.family == "moonshine"
    assert moonshine.languages == ("en",)
    assert whisper.family == "whisper"
    assert len(whisper.languages) == 99
    assert {"en", "fr", "de", "ja"} <= set(whisper.languages)


def test_transcribes_spoken_question(recognizer: SpeechRecognizer, spoken: np.ndarray) -> None:
    assert 1.0 < len(spoken) / RATE < 4.0
    transcript = recognizer.transcribe(spoken)
    stats = transcript.stats
    assert isinstance(transcript.text, str) and transcript.text  # random weights: some text, not a sentence
    assert stats.windows == 1
    assert stats.audio_seconds == pytest.approx(len(spoken) / RATE)
    assert 1 <= stats.tokens <= stats.token_budget
    assert stats.token_budget <= math.ceil(len(spoken) / RATE * 6.5) + 2
    assert transcript.language in recognizer.languages


@pytest.mark.parametrize("samples", [0, 1, 1599])
def test_empty_and_too_short_audio_give_empty_text(recognizer: SpeechRecognizer,
                                                   samples: int) -> None:
    transcript = recognizer.transcribe(np.zeros(samples, dtype=np.float32))
    assert transcript.text == ""
    assert transcript.stats.windows == 0
    assert transcript.language is None


def test_tenth_of_a_second_is_transcribed_without_error(recognizer: SpeechRecognizer) -> None:
    pcm = np.random.default_rng(1).normal(0, 0.1, RATE // 10).astype(np.float32)
    transcript = recognizer.transcribe(pcm)
    assert isinstance(transcript.text, str)
    assert transcript.stats.windows == 1
    assert transcript.stats.token_budget == max_new_tokens_for(0.1, 10_000) == 3


def test_sixty_seconds_are_windowed_and_token_bounded(recognizer: SpeechRecognizer,
                                                      spoken: np.ndarray) -> None:
    pcm = np.tile(np.concatenate([spoken, np.zeros(RATE // 2, np.float32)]), 40)[: 60 * RATE]
    transcript = recognizer.transcribe(pcm)
    stats = transcript.stats
    assert isinstance(transcript.text, str)
    assert stats.audio_seconds == pytest.approx(60.0)
    window = {"moonshine": 20.0, "whisper": 30.0}[recognizer.family]
    assert stats.windows == math.ceil(60.0 / window) or stats.windows == math.ceil(60 / window) + 1
    # Each window's budget is bounded by its duration and by the decoder's positions.
    assert stats.tokens <= stats.token_budget <= 60 * 6.5 + 3 * stats.windows
    per_window_limit = {"moonshine": 193, "whisper": 443}[recognizer.family]
    assert stats.token_budget <= per_window_limit * stats.windows


def test_audio_beyond_the_cap_is_dropped(tiny_moonshine_dir: Path) -> None:
    recognizer = SpeechRecognizer.load(tiny_moonshine_dir)
    recognizer.max_audio_seconds = 5.0
    transcript = recognizer.transcribe(np.full(12 * RATE, 0.01, dtype=np.float32))
    assert transcript.stats.audio_seconds == pytest.approx(5.0)


def test_stereo_input_is_mixed_to_mono(whisper: SpeechRecognizer, spoken: np.ndarray) -> None:
    stereo = np.stack([spoken, spoken], axis=1)
    assert whisper.transcribe(stereo, language="en").text == whisper.transcribe(spoken, language="en").text


def test_whisper_language_forced_detected_and_validated(whisper: SpeechRecognizer,
                                                        spoken: np.ndarray) -> None:
    assert whisper.transcribe(spoken, language="fr").language == "fr"
    assert whisper.transcribe(spoken, language="de-AT").language == "de"
    forced_en = whisper.transcribe(spoken, language="en").text
    forced_ja = whisper.transcribe(spoken, language="ja").text
    assert forced_en != forced_ja  # the language token reaches the decoder
    assert whisper.transcribe(spoken, language=None).language in whisper.languages
    with pytest.raises(ConfigError) as caught:
        whisper.transcribe(spoken, language="xx")
    assert "xx" in caught.value.message and "auto" in caught.value.hint


def test_moonshine_ignores_language_and_reports_english(moonshine: SpeechRecognizer,
                                                        spoken: np.ndarray) -> None:
    french = moonshine.transcribe(spoken, language="fr")
    assert french.text == moonshine.transcribe(spoken).text
    assert french.language == "en"


def test_cancelled_before_start_returns_nothing(recognizer: SpeechRecognizer,
                                                spoken: np.ndarray) -> None:
    cancel = threading.Event()
    cancel.set()
    transcript = recognizer.transcribe(spoken, cancel=cancel)
    assert transcript.text == ""
    assert transcript.stats.windows == 0


class _SetAfter(threading.Event):
    """An Event that becomes set after it has been checked `checks` times (mid-generation)."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0 or super().is_set()


def test_cancel_stops_generation_inside_a_window(recognizer: SpeechRecognizer,
                                                 spoken: np.ndarray) -> None:
    pcm = np.tile(spoken, 6)  # ~10 s: a budget of dozens of tokens
    full = recognizer.transcribe(pcm, language="en").stats.tokens
    assert full > 10
    cut = recognizer.transcribe(pcm, language="en", cancel=_SetAfter(4)).stats
    assert cut.windows == 1
    assert cut.tokens < full


def test_missing_folder_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        SpeechRecognizer.load(tmp_path / "nowhere")
    assert "does not exist" in caught.value.message
    assert caught.value.hint


def _damaged_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_corrupt_weights_are_a_model_error(tiny_moonshine_dir: Path, tmp_path: Path) -> None:
    folder = _damaged_copy(tiny_moonshine_dir, tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: 5000])
    with pytest.raises(ModelError) as caught:
        SpeechRecognizer.load(folder)
    assert "model.safetensors is damaged" in caught.value.message  # store.check_loadable's words
    assert "Download" in caught.value.hint


def test_corrupt_config_is_a_model_error(tiny_whisper_dir: Path, tmp_path: Path) -> None:
    folder = _damaged_copy(tiny_whisper_dir, tmp_path / "w")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="config.json .* cannot be read"):
        SpeechRecognizer.load(folder)


def test_missing_weights_and_pickle_weights_are_refused(tiny_moonshine_dir: Path,
                                                        tmp_path: Path) -> None:
    folder = _damaged_copy(tiny_moonshine_dir, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="has no weights"):
        SpeechRecognizer.load(folder)
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelError, match="only pickle weights"):
        SpeechRecognizer.load(folder)


def test_other_model_types_are_refused(tiny_moonshine_dir: Path, tmp_path: Path) -> None:
    folder = _damaged_copy(tiny_moonshine_dir, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "llama"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="'llama', which ScreenSight cannot run"):
        SpeechRecognizer.load(folder)


@pytest.mark.parametrize("family", ["moonshine", "whisper"])
def test_on_the_cpu_the_recognizer_runs_int8_linear_layers_that_agree_with_float32(
        family: str, spoken: np.ndarray, request: pytest.FixtureRequest) -> None:
    """int8 dynamic halves the transcription time of a real-size Moonshine; its first decoder
    step must still score the tokens as the float32 model does."""
    import torch

    folder = request.getfixturevalue(f"tiny_{family}_dir")
    quantized = request.getfixturevalue(family)
    plain = SpeechRecognizer.load(folder, threads=1, quantize=False)
    assert quantized.quantized and not plain.quantized

    def linears(model) -> set[str]:
        return {type(m).__module__ for m in model.modules() if type(m).__name__ == "Linear"}

    assert linears(quantized.model) == {"torch.ao.nn.quantized.dynamic.modules.linear"}
    assert linears(plain.model) == {"torch.nn.modules.linear"}
    inputs = plain.processor(spoken, sampling_rate=RATE, return_tensors="pt")
    start = torch.tensor([[plain.model.config.decoder_start_token_id]])
    with torch.inference_mode():
        ours = quantized.model(**inputs, decoder_input_ids=start).logits.flatten()
        theirs = plain.model(**inputs, decoder_input_ids=start).logits.flatten()
    assert torch.nn.functional.cosine_similarity(ours, theirs, dim=0) > 0.99
    assert quantized.transcribe(spoken).text
