"""Settings files: old files keep loading, each vocabulary setting holds its enum, bad words are named."""

from __future__ import annotations

import tomllib

import pytest

from assistant.config import Settings, load_settings, save_settings
from base.audio import MAX_SPEECH_RATE, MIN_SPEECH_RATE
from base.errors import ConfigError
from base.vocabulary import Detail, Device, Output, ReadWith, TalkMode

# A settings file as an earlier version wrote it: every vocabulary setting a plain string.
OLD_FILE = """\
detail = "high"
output = "screen_reader"
read_with = "model"
push_to_talk_mode = "toggle"
rate = 240
retired_setting = "ignored"

[hotkeys]
describe_window = "<ctrl>+<alt>+<shift>+w"
"""


def test_an_old_settings_file_loads_into_the_vocabularies(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(OLD_FILE, encoding="utf-8")
    settings = load_settings(path)
    assert settings.detail is Detail.HIGH
    assert settings.output is Output.SCREEN_READER
    assert settings.read_with is ReadWith.MODEL
    assert settings.push_to_talk_mode is TalkMode.TOGGLE
    assert settings.rate == 240
    assert settings.hotkeys.describe_window == "<ctrl>+<alt>+<shift>+w"


def test_saved_settings_hold_plain_strings_and_load_back_equal(tmp_path):
    settings = Settings(detail="normal", output=Output.BOTH, read_with="ocr", push_to_talk_mode="hold")
    path = save_settings(settings, tmp_path / "settings.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert (data["detail"], data["output"], data["read_with"], data["push_to_talk_mode"]) == (
        "normal", "both", "ocr", "hold")
    assert load_settings(path) == settings


@pytest.mark.parametrize(("field", "value", "named"), [
    ("detail", "ultra", "Unknown detail level 'ultra'."),
    ("output", "loud", "Unknown output 'loud'."),
    ("read_with", "magic", "Unknown way to read text 'magic'."),
    ("push_to_talk_mode", "shout", "Unknown push-to-talk mode 'shout'."),
    ("device", "tpu", "Unknown device 'tpu'."),
])
def test_an_unknown_word_in_the_file_is_named_with_the_choices(tmp_path, field, value, named):
    path = tmp_path / "settings.toml"
    path.write_text(f'{field} = "{value}"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert err.value.message == named
    vocabulary = type(getattr(Settings(), field))
    assert err.value.hint == "Use one of " + ", ".join(member.value for member in vocabulary) + "."


def test_a_word_set_after_construction_is_checked_by_validate():
    settings = Settings()
    settings.detail = "huge"
    with pytest.raises(ConfigError, match="Unknown detail level 'huge'"):
        settings.validate()
    settings.detail = "quick"
    settings.validate()
    assert settings.detail is Detail.QUICK


@pytest.mark.parametrize("rate", [MIN_SPEECH_RATE - 1, MAX_SPEECH_RATE + 1])
def test_the_speech_rate_range_is_enforced(rate):
    with pytest.raises(ConfigError, match=f"Use {MIN_SPEECH_RATE} to {MAX_SPEECH_RATE} words per minute"):
        Settings(rate=rate).validate()
    Settings(rate=MIN_SPEECH_RATE).validate()
    Settings(rate=MAX_SPEECH_RATE).validate()


def test_the_device_setting_round_trips_and_defaults_to_automatic(tmp_path):
    assert Settings().device is Device.AUTO
    path = save_settings(Settings(device="cuda"), tmp_path / "settings.toml")
    assert tomllib.loads(path.read_text(encoding="utf-8"))["device"] == "cuda"
    assert load_settings(path).device is Device.CUDA
