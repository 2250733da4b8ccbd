"""User settings: a dataclass saved as TOML in the user config folder (readable by the user only)."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from base.audio import MAX_SPEECH_RATE, MIN_SPEECH_RATE
from base.errors import ConfigError
from base.paths import config_dir
from base.vocabulary import Detail, Device, Output, ReadWith, TalkMode, choices

# The settings that take one word of a vocabulary, and what the word is called in messages.
_WORDS = (("detail", Detail, "detail level"), ("output", Output, "output"),
          ("read_with", ReadWith, "way to read text"), ("push_to_talk_mode", TalkMode, "push-to-talk mode"),
          ("device", Device, "device"))


def settings_path() -> Path:
    return config_dir() / "settings.toml"


@dataclass
class Hotkeys:
    """Global hotkeys in pynput's format; chosen not to clash with NVDA, JAWS, Narrator, VoiceOver, Orca."""

    describe_window: str = "<ctrl>+<alt>+<shift>+d"
    describe_screen: str = "<ctrl>+<alt>+<shift>+s"
    describe_pointer: str = "<ctrl>+<alt>+<shift>+m"
    read_window: str = "<ctrl>+<alt>+<shift>+r"
    stop_speaking: str = "<ctrl>+<alt>+<shift>+x"
    repeat_last: str = "<ctrl>+<alt>+<shift>+l"
    ask_question: str = "<ctrl>+<alt>+<shift>+q"
    push_to_talk: str = "<ctrl>+<alt>+<shift>+space"
    new_screenshot: str = "<ctrl>+<alt>+<shift>+n"
    find_text: str = "<ctrl>+<alt>+<shift>+f"
    click_found: str = "<ctrl>+<alt>+<shift>+k"


@dataclass
class Settings:
    """Everything the user can change; defaults are what a new user gets."""

    vision_model: str = "smolvlm-256m"
    speech_model: str = "moonshine-tiny"
    detail: Detail = Detail.QUICK
    voice: str = ""
    rate: int = 180
    volume: float = 1.0
    output: Output = Output.VOICE
    language: str = "auto"
    start_with_system: bool = False
    keep_history: bool = False  # the window shows this session; saving answers to disk is opt-in
    earcons: bool = True
    microphone: str = ""
    push_to_talk_mode: TalkMode = TalkMode.HOLD
    prepare_in_background: bool = False
    quantize: bool = True
    threads: int = 0
    device: Device = Device.AUTO      # where the vision model runs; auto: a GPU when there is one
    debug_log_content: bool = False
    read_with: ReadWith = ReadWith.OCR
    text_engine: str = "automatic"    # "automatic" or a text recognition engine's name
    ground_descriptions: bool = True  # describe with the screen's text and facts, and check quotes against them
    hotkeys: Hotkeys = field(default_factory=Hotkeys)

    def __post_init__(self) -> None:
        self._parse_words()

    def _parse_words(self) -> None:
        """The words read from a settings file (plain strings) as their vocabulary's members."""
        for name, vocabulary, what in _WORDS:
            value = getattr(self, name)
            try:
                setattr(self, name, vocabulary(value))
            except ValueError:
                raise ConfigError(f"Unknown {what} {value!r}.", f"Use one of {choices(vocabulary)}.") from None

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that is out of range."""
        self._parse_words()
        if not MIN_SPEECH_RATE <= self.rate <= MAX_SPEECH_RATE:
            raise ConfigError(f"Speech rate {self.rate} is out of range.",
                              f"Use {MIN_SPEECH_RATE} to {MAX_SPEECH_RATE} words per minute.")
        if not 0.0 <= self.volume <= 1.0:
            raise ConfigError(f"Volume {self.volume} is out of range.", "Use 0.0 to 1.0.")


def _from_dict(cls: type, data: dict) -> object:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            continue  # settings from a newer or older version are ignored, not fatal
        factory = known[key].default_factory
        if isinstance(factory, type) and dataclasses.is_dataclass(factory) and isinstance(value, dict):
            kwargs[key] = _from_dict(factory, value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; a missing file gives the defaults, a broken one a ConfigError saying where."""
    path = path or settings_path()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        settings = _from_dict(Settings, data)
    except (tomllib.TOMLDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The settings file {path} cannot be read ({exc}).",
                          "Fix it, or delete it to go back to the defaults.") from exc
    assert isinstance(settings, Settings)
    settings.validate()
    return settings


def keep_broken(path: Path | None = None) -> Path | None:
    """Move an unreadable settings file aside (settings.toml.broken, .broken-2, ...) so nothing is
    saved over it; returns where it now is, or None when there was no file."""
    path = path or settings_path()
    if not path.exists():
        return None
    for number in range(1, 1000):
        suffix = ".broken" if number == 1 else f".broken-{number}"
        target = path.with_name(path.name + suffix)
        if not target.exists():
            os.replace(path, target)
            return target
    raise ConfigError(f"Too many broken copies of {path.name} are kept in {path.parent}.",
                      "Delete the old .broken files there.")


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically with mode 0600; returns the path written."""
    settings.validate()
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(dataclasses.asdict(settings), fh)
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    return path
