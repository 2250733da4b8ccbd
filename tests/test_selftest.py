"""The self-test against real parts: Xvfb, PulseAudio, espeak-ng, pynput, tiny models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant import selftest
from assistant.config import Hotkeys, Settings, save_settings
from assistant.selftest import Check
from tests.x11_helpers import XDesktop

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny_settings(tiny_vlm_dir: Path, tiny_moonshine_dir: Path) -> Settings:
    return Settings(vision_model=str(tiny_vlm_dir), speech_model=str(tiny_moonshine_dir))


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user: settings and the model cache in a temporary folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def desktop(monkeypatch: pytest.MonkeyPatch):
    """A private X display showing a window on a coloured background."""
    desk = XDesktop("1024x768x24")
    desk.fill_root((40, 90, 160))
    desk.window("Report.odt - LibreOffice", (100, 80, 500, 400), (250, 250, 240))
    monkeypatch.setenv("DISPLAY", desk.display)
    yield desk
    desk.close()


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_ready_machine_passes_every_check(desktop, tiny_settings: Settings, user_home: Path):
    seen: list[str] = []
    checks = selftest.collect_checks(tiny_settings, progress=lambda c: seen.append(c.name))
    results = by_name(checks)
    assert seen == [c.name for c in checks]
    assert selftest.failed(checks) == [], "\n".join(selftest.format_check(c) for c in checks)
    assert "1024 x 768" in results["Screen capture"].message
    assert results["Screen capture"].ok
    assert "loads" in results["Vision model"].message
    assert "Kernel paths: encoder " in results["Vision model"].message
    # SmolVLM stays on the CPU on "auto", and the line says so.
    assert "Runs on the CPU in " in results["Vision model"].message
    assert "automatic: this model's fast paths are on the CPU" in results["Vision model"].message
    assert results["Processor"].ok and "decode int8-dynamic on 1 thread" in results["Processor"].message
    assert results["Speech model"].ok and "loads" in results["Speech model"].message
    assert results["Speech voices"].ok and "test word" in results["Speech voices"].message
    assert results["Hotkeys"].ok
    assert results["Sound output"].ok
    assert results["Microphone"].ok


def test_run_self_test_prints_plain_words_and_returns_zero(
        desktop, tiny_settings: Settings, user_home: Path, capsys: pytest.CaptureFixture[str]):
    save_settings(tiny_settings)
    assert selftest.run_self_test(load_models=False) == 0
    out = capsys.readouterr().out
    assert "OK: Vision model:" in out
    assert "PROBLEM" not in out
    assert out.rstrip().splitlines()[-1].startswith(("All checks passed", "ScreenSight is ready"))


def test_missing_model_is_a_problem_with_a_way_out(user_home: Path):
    check = selftest.check_model(Settings(vision_model="smolvlm-256m"), "vision")
    assert check.status == "problem"
    assert "not downloaded" in check.message
    assert "screensight models download smolvlm-256m" in check.hint
    assert str(user_home / "cache") in check.hint  # where an offline pack goes
    speech = selftest.check_model(Settings(speech_model="moonshine-tiny"), "speech")
    assert speech.status == "note"  # only spoken questions need it


def test_damaged_model_is_reported(tiny_vlm_dir: Path, tmp_path: Path):
    broken = tmp_path / "broken-vlm"
    broken.mkdir()
    for item in tiny_vlm_dir.iterdir():
        if item.is_file():
            (broken / item.name).write_bytes(item.read_bytes())
    weights = next(broken.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    check = selftest.check_model(Settings(vision_model=str(broken)), "vision", load=False)
    assert check.status == "problem"
    assert "damaged" in check.message


def test_memory_and_disk_against_the_chosen_model(user_home: Path):
    settings = Settings(vision_model="smolvlm-500m", speech_model="moonshine-tiny")
    short = selftest.check_memory(settings, available_mb=1000)
    assert short.status == "problem"
    assert "3150 MB" in short.message and "1000 MB" in short.message
    assert selftest.check_memory(settings, available_mb=8000).ok
    disk = selftest.check_disk(settings, free_mb=500)
    assert disk.status == "problem"
    assert "smolvlm-500m" in disk.message and "1330 MB" in disk.message
    assert selftest.check_disk(settings, free_mb=5000).ok


def test_black_screen_is_a_note_not_a_failure(monkeypatch: pytest.MonkeyPatch):
    desk = XDesktop("800x600x24")
    try:
        desk.fill_root((0, 0, 0))
        monkeypatch.setenv("DISPLAY", desk.display)
        check = selftest.check_display()
    finally:
        desk.close()
    assert check.status == "note"
    assert "black" in check.message
    assert "Screen Recording" in check.hint


def test_clashing_hotkeys_are_a_problem(desktop):
    keys = Hotkeys(describe_screen="<ctrl>+<alt>+<shift>+d")  # same as describe_window
    check = selftest.check_hotkeys(Settings(hotkeys=keys))
    assert check.status == "problem"
    assert "already used" in check.message


def test_wayland_hotkeys_are_a_note(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCREENSIGHT_HOTKEYS", "trigger-command")
    check = selftest.check_hotkeys(Settings())
    assert check.status == "note"
    assert "screensight --trigger describe-window" in check.message


def test_unknown_voice_fails_when_speech_is_on_but_not_when_text_only():
    with_voice = selftest._guarded(
        "Speech voices", lambda: selftest.check_voices(Settings(voice="no-such-voice-xyz")), 60)
    assert with_voice.status == "problem"
    assert "no-such-voice-xyz" in with_voice.message
    text_only = selftest._guarded(
        "Speech voices",
        lambda: selftest.check_voices(Settings(voice="no-such-voice-xyz", output="text")), 60,
        required=False)
    assert text_only.status == "note"


def test_a_hanging_or_crashing_check_is_reported_not_fatal():
    stuck = threading.Event()
    hung = selftest._guarded("Sound output", lambda: stuck.wait(30) and None, timeout=0.2)
    stuck.set()
    assert hung.status == "problem" and "did not finish" in hung.message

    def crash() -> Check:
        raise RuntimeError("driver exploded")

    crashed = selftest._guarded("Microphone", crash, timeout=10, required=False)
    assert crashed.status == "note"
    assert "RuntimeError: driver exploded" in crashed.message


def test_json_and_text_forms():
    checks = [Check("A", True, "fine", "unused hint"), Check("B", False, "broken", "fix it"),
              Check("C", False, "missing", "plug it in", required=False)]
    data = json.loads(selftest.checks_json(checks))
    assert data["ok"] is False
    assert [c["status"] for c in data["checks"]] == ["ok", "problem", "note"]
    assert selftest.format_check(checks[0]) == "OK: A: fine"
    assert selftest.format_check(checks[1]) == "PROBLEM: B: broken\n    What to do: fix it"
    assert "1 problem(s) found: B" in selftest.summary(checks)
    assert selftest.summary([checks[0], checks[2]]).startswith("ScreenSight is ready; 1 note(s)")


def test_cli_self_test_without_a_display_exits_non_zero(tiny_settings: Settings, tmp_path: Path):
    """The real command line: no DISPLAY and no WAYLAND -> a capture problem, exit status 1."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_SESSION_TYPE="x11")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    save_settings(tiny_settings, path=tmp_path / "config" / "ScreenSight" / "settings.toml")
    proc = subprocess.run([sys.executable, "-m", "screensight", "--self-test"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "PROBLEM: Screen capture: No display found" in proc.stdout
    assert "OK: Vision model:" in proc.stdout
    summary = proc.stdout.rstrip().splitlines()[-1]
    assert "problem(s) found" in summary and "Screen capture" in summary


def test_microphone_found_and_a_missing_chosen_one_is_a_note():
    found = selftest.check_microphone(Settings())
    assert found.ok and "input device" in found.message  # the PulseAudio "mic" null source
    missing = selftest.check_microphone(Settings(microphone="Studio Mic 3000"))
    assert missing.status == "note"
    assert "Studio Mic 3000" in missing.message



@pytest.mark.parametrize(("device", "why"), [("cpu", "chosen in Settings"), ("auto", "automatic: no GPU was found")])
def test_the_vision_line_says_where_the_model_runs_in_which_dtype_and_why(
        tiny_gemma4_dir: Path, user_home: Path, device: str, why: str):
    from models.runtime import pick_device, pick_dtype

    if pick_device("auto") != "cpu":
        pytest.skip("this computer has a GPU; the line names it instead")
    dtype = str(pick_dtype("cpu")).removeprefix("torch.")
    because = ("the processor computes it natively" if dtype == "bfloat16" else
               "the processor has no native bfloat16")
    check = selftest.check_model(Settings(vision_model=str(tiny_gemma4_dir), device=device), "vision")
    assert check.ok, check.message
    assert f"Runs on the CPU in {dtype} ({why}; {dtype} because {because})." in check.message
