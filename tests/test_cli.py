"""`screensight` as a user runs it: a subprocess, real files, the real Xvfb screen and real speech."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import dialog_picture, run_cli

run = run_cli


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    return dialog_picture(tmp_path_factory.mktemp("pictures") / "dialog.png", "Delete 3 files?")


def _wav_rms(path: Path) -> tuple[float, float]:
    with wave.open(str(path)) as wav:
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
        width = wav.getsampwidth()
    samples = np.frombuffer(frames, dtype=np.int16 if width == 2 else np.float32).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0, seconds


def test_describe_image_streams_text_and_traces(picture, tiny_vlm_dir):
    out = run("describe", "--image", str(picture), "--model", str(tiny_vlm_dir), "--no-speak",
              "--trace", "--max-tokens", "8")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    for stage in ("trigger", "captured", "encoded", "first_token", "done"):
        assert stage in out.stderr
    assert "Traceback" not in out.stderr


def test_describe_json_and_follow_up_questions(picture, tiny_vlm_dir):
    out = run("describe", "--image", str(picture), "--model", str(tiny_vlm_dir), "--no-speak",
              "--json", "-q", "What does it ask?", "-q", "How many files?", "--max-tokens", "5")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert [r["question"] for r in results] == ["What does it ask?", "How many files?"]
    assert all(r["text"] and not r["cancelled"] for r in results)
    assert results[0]["capture"]["source"] == "file"
    assert results[0]["capture"]["size"] == [800, 500]
    # The first question encoded the picture; the follow-up asked about the same encoding
    # ("preprocessed" is traced only when a request runs the processor and the vision encoder).
    assert "preprocessed" in results[0]["trace"] and "encoded" in results[0]["trace"]
    assert "preprocessed" not in results[1]["trace"], results[1]["trace"]


def test_speech_to_wav_is_real_audio(picture, tiny_vlm_dir, tmp_path):
    wav_path = tmp_path / "speech.wav"
    out = run("describe", "--image", str(picture), "--model", str(tiny_vlm_dir), "--wav", str(wav_path),
              "--max-tokens", "12")
    assert out.returncode == 0, out.stderr
    rms, seconds = _wav_rms(wav_path)
    assert seconds > 0.3
    assert rms > 100  # int16 scale: espeak-ng speech, not silence


@pytest.mark.skipif(not shutil.which("parec"), reason="needs PulseAudio's parec")
def test_speech_plays_through_the_sound_server(picture, tiny_vlm_dir, tmp_path):
    capture = tmp_path / "speaker.raw"
    with capture.open("wb") as sink:
        rec = subprocess.Popen(["parec", "--device=speaker.monitor", "--format=s16le", "--rate=16000",
                                "--channels=1"], stdout=sink)
        try:
            out = run("describe", "--image", str(picture), "--model", str(tiny_vlm_dir),
                      "--max-tokens", "12")
        finally:
            rec.terminate()
            rec.wait(5)
    assert out.returncode == 0, out.stderr
    samples = np.frombuffer(capture.read_bytes(), dtype=np.int16).astype(np.float64)
    assert samples.size > 16000 * 0.3
    assert np.sqrt(np.mean(samples**2)) > 50


def test_describe_the_xvfb_screen(tiny_vlm_dir):
    out = run("describe", "--screen", "--model", str(tiny_vlm_dir), "--no-speak", "--json",
              "--max-tokens", "4")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["capture"]["source"] == "screen"
    assert result["capture"]["size"] == [1920, 1080]
    assert result["text"]


def test_describe_a_region(tiny_vlm_dir):
    out = run("describe", "--region", "10,20,300,200", "--model", str(tiny_vlm_dir), "--no-speak",
              "--json", "--max-tokens", "4")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["capture"]["rect"] == [10, 20, 300, 200]


def test_huge_image_is_downscaled_not_an_oom(tiny_vlm_dir, tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (20000, 20000), 200).save(path, optimize=False)
    out = run("describe", "--image", str(path), "--model", str(tiny_vlm_dir), "--no-speak", "--json",
              "--max-tokens", "3")
    assert out.returncode == 0, out.stderr
    size = json.loads(out.stdout)["capture"]["size"]
    assert max(size) <= 4096


def _one_clear_line(out: subprocess.CompletedProcess, *words: str) -> None:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    first = out.stderr.strip().splitlines()[0]
    assert first.startswith("screensight: ")
    for word in words:
        assert word.lower() in out.stderr.lower()


@pytest.mark.parametrize("content", [b"", b"definitely not a png", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_bad_image_files(tiny_vlm_dir, tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    out = run("describe", "--image", str(path), "--model", str(tiny_vlm_dir), "--no-speak")
    _one_clear_line(out, "bad.png")


def test_missing_model_folder(picture, tmp_path):
    out = run("describe", "--image", str(picture), "--model", str(tmp_path / "nowhere"), "--no-speak")
    _one_clear_line(out, "nowhere")


def test_model_not_downloaded_names_the_command(picture):
    out = run("describe", "--image", str(picture), "--model", "smolvlm-256m", "--no-speak")
    _one_clear_line(out, "screensight models download smolvlm-256m")


def test_corrupt_safetensors(picture, tiny_vlm_dir, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_vlm_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    out = run("describe", "--image", str(picture), "--model", str(broken), "--no-speak")
    _one_clear_line(out, "safetensors")


def test_no_display_is_a_clear_error(tiny_vlm_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = run("describe", "--screen", "--model", str(tiny_vlm_dir), "--no-speak", env=env)
    _one_clear_line(out, "display")


def test_bad_region_is_a_usage_error(tiny_vlm_dir):
    out = run("describe", "--region", "10,20,0", "--model", str(tiny_vlm_dir), "--no-speak")
    _one_clear_line(out, "region")


def test_models_commands(tiny_vlm_dir):
    listed = run("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "smolvlm-256m" in listed.stdout and "moonshine-tiny" in listed.stdout
    lines = listed.stdout.splitlines()
    fast = next(i for i, line in enumerate(lines) if "Fast (any laptop): SmolVLM 256M" in line)
    assert "[smolvlm-256m, " in lines[fast]
    assert lines[fast + 1].strip() == (
        "518 MB download, licence Apache-2.0, English, needs about 1500 MB of memory, "
        "first spoken word for a window after 1.1 s (measured on a 2-core CPU).")
    quality = next(line for line in lines if "[gemma4-e2b, " in line)
    assert quality[2:].startswith("Best quality, many languages (8 GB+ RAM, a GPU helps): Gemma 4 E2B")
    marked = [line for line in lines if line.startswith("* ")]
    assert len(marked) == 1, marked  # the recommended tier for this computer
    verified = run("models", "verify", str(tiny_vlm_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    missing = run("models", "path", "smolvlm-500m")
    _one_clear_line(missing, "screensight models download smolvlm-500m")
