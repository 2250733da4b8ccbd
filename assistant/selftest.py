"""`screensight --self-test`: checks this machine in plain words (screen, sound, hotkeys, models).

Each check returns a Check; `collect_checks()` gives them all (for the UI and --json-like use),
`run_self_test()` prints them and returns the exit status. A failed *required* check makes the
self-test fail; a failed optional one (the microphone, the speech model: only spoken questions
need them) is reported as a note. Nothing here downloads anything.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import Settings, load_settings
from base.errors import ScreenSightError
from base.paths import cache_dir
from base.vocabulary import OWN_VOICE_OUTPUTS, Role

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED = 0, 1
CHECK_TIMEOUT_SECONDS = 120.0  # a check that hangs (stuck sound server) is reported, not awaited
DISK_MARGIN_MB = 200  # room for settings, history and temporary files besides the models


@dataclass(frozen=True)
class Check:
    """One result: what was checked, whether it is fine, what was found, and what to do if not."""

    name: str
    ok: bool
    message: str
    hint: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        """"ok", "problem" (a required check failed) or "note" (an optional one failed)."""
        if self.ok:
            return "ok"
        return "problem" if self.required else "note"

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "status": self.status}


def failed(checks: Sequence[Check]) -> list[Check]:
    """The checks that make the self-test fail."""
    return [c for c in checks if c.status == "problem"]


# ---------------------------------------------------------------------------- the checks


def check_display() -> Check:
    """A screenshot of the screen under the pointer can be taken, and it is not all black."""
    from assistant.capture import default_backend
    from assistant.images import screen_state

    name = "Screen capture"
    from base.errors import CaptureError

    backend = default_backend()
    window_problem = ""
    try:
        capture = backend.screen()
        try:
            window = backend.active_window()
        except CaptureError as exc:  # e.g. minimised right now: the screen itself is what counts here
            window, window_problem = None, exc.message
    finally:
        backend.close()
    width, height = capture.image.size
    state = screen_state(capture.image)
    if state is not None:
        return Check(name, False,
                     f"A screenshot was taken ({width} x {height} pixels), but it is all {state}.",
                     "If the screen is not really empty, the system hides it from ScreenSight: on "
                     "macOS allow Screen Recording for ScreenSight in System Settings > Privacy & "
                     "Security; on Linux use an X11 (Xorg) session.", required=False)
    if window is None:
        where = f"the active window cannot be captured now ({window_problem.rstrip('.')})"
    elif window.source == "window" and window.title:
        where = f"the active window is {window.title!r}"
    else:
        where = "no active window was found, so window descriptions use the whole screen"
    return Check(name, True, f"Took a screenshot of {width} x {height} pixels; {where}.")


def check_speaker(settings: Settings) -> Check:
    """A short silent clip plays through the default output device."""
    import numpy as np

    from assistant.speech_out import audio_out

    name = "Sound output"
    required = settings.output in OWN_VOICE_OUTPUTS
    sd = audio_out._sounddevice()
    try:
        device = sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError) as exc:
        return Check(name, False, f"No speaker or headphones were found ({exc}).",
                     audio_out._HINT, required)
    played = audio_out.play(np.zeros(1600, dtype=np.float32), 16000, threading.Event())
    if not played:
        return Check(name, False, "A test sound did not finish playing.", audio_out._HINT, required)
    return Check(name, True, f"Sound plays through {device['name']!s}.")


def check_microphone(settings: Settings) -> Check:
    """At least one input device exists, and the chosen one (if any) is among them."""
    from assistant.speech_in.audio_in import list_input_devices

    name = "Microphone"
    hint = ("Connect a microphone (or headset) and allow ScreenSight to use it; without one, "
            "type questions instead of speaking them.")
    devices = list_input_devices()  # (id, name) pairs
    if not devices:
        return Check(name, False, "No microphone was found.", hint, required=False)
    names = [device_name for _, device_name in devices]
    wanted = settings.microphone
    if wanted and not any(wanted == device_id or wanted in device_name
                          for device_id, device_name in devices):
        return Check(name, False,
                     f"The chosen microphone {wanted!r} is not connected; found: "
                     f"{', '.join(names)}.",
                     "Connect it, or choose another microphone in the settings.", required=False)
    chosen = wanted or "the default input"
    return Check(name, True, f"{len(devices)} input device(s) found ({', '.join(names)}); "
                 f"using {chosen}.")


def check_voices(settings: Settings) -> Check:
    """The speech engine starts, lists voices, finds the chosen voice and speaks a word."""
    from assistant.speech_out.tts import make_tts_engine, resolve_voice

    name = "Speech voices"
    required = settings.output in OWN_VOICE_OUTPUTS
    tts = make_tts_engine("pyttsx3")
    try:
        voices = tts.voices()
        if not voices:
            return Check(name, False, "The speech engine has no voices.",
                         "Install a voice for your language (on Linux: espeak-ng).", required)
        chosen = "the default voice"
        if settings.voice:
            chosen = resolve_voice(settings.voice, voices).name
        tts.configure(voice=settings.voice or None, rate=settings.rate, volume=settings.volume)
        try:
            utterance = tts.synthesize("ScreenSight").result(timeout=30)
        except FutureTimeout:
            return Check(name, False, "The speech engine did not speak a test word within 30 s.",
                         "Restart the computer; if it persists, choose another voice.", required)
    finally:
        tts.close()
    if utterance.clip is None or not utterance.clip.samples.size:
        return Check(name, False, "The speech engine produced no sound for a test word.",
                     "Reinstall the speech engine (on Linux: espeak-ng), or choose another voice.",
                     required)
    return Check(name, True, f"{len(voices)} voices; a test word was spoken with {chosen}.")


def check_hotkeys(settings: Settings) -> Check:
    """The global hotkeys of the settings can be registered on this desktop."""
    # assistant.hotkeys and assistant.actions are free of Qt; the self-test uses the backend the app uses.
    from assistant.actions import hotkey_bindings
    from assistant.hotkeys import TriggerCommandHotkeys, default_backend, parse_bindings

    name = "Hotkeys"
    backend = default_backend()
    bindings = hotkey_bindings(settings.hotkeys)
    _, setting_problems = parse_bindings(bindings)
    try:
        problems = backend.start(bindings, _ignore, _ignore)
    finally:
        try:
            backend.stop()
        # The keys registered (or not) before this; a failure to let go of them afterwards does
        # not change the answer. (python-xlib raises TypeError when pynput's X11 listener closes
        # its connection while assistant.hotkeys wakes it up.)
        except (TypeError, OSError) as exc:
            log.debug("stopping the hotkey backend failed: %s", exc)
    if isinstance(backend, TriggerCommandHotkeys):
        # Wayland: works, but only after the user adds desktop shortcuts.
        message = problems[-1] if problems else "Global hotkeys need desktop shortcuts."
        return Check(name, False, message,
                     "Add the shortcuts once in your desktop's keyboard settings.", required=False)
    if problems:
        hint = ("Change these keys in the settings." if problems == setting_problems else
                "Until this is fixed, use the tray menu, or bind desktop shortcuts to "
                "'screensight --trigger ACTION'.")
        return Check(name, False, " ".join(problems), hint)
    return Check(name, True, f"{len(bindings)} global hotkeys work ({backend.name}).")


def _ignore(action: str) -> None:
    """Hotkey callback for the self-test: presses are not acted on."""


def check_model(settings: Settings, role: Role, load: bool = True) -> Check:
    """The chosen model is present, its files are intact (sha256), and it loads."""
    from models import store

    source = settings.vision_model if role == Role.VISION else settings.speech_model
    required = role == Role.VISION
    name = "Vision model" if role == Role.VISION else "Speech model"
    try:
        folder = store.resolve(source)
    except ScreenSightError as exc:
        return Check(name, False, exc.message, _first_run_hint(exc.hint), required)
    report = store.verify(source if not _is_path(source) else folder)
    if not report.ok:
        return Check(name, False, f"{source} in {folder} is damaged: {' '.join(report.problems)}",
                     f"Download it again: screensight models download {source}.", required)
    paths = ""
    if load:
        try:
            paths = _load_model(folder, role, settings.quantize, str(settings.device))
        except ScreenSightError as exc:
            return Check(name, False, exc.message, exc.hint, required)
    state = "intact and loads" if load else "intact"
    where = f"The model folder {folder}" if _is_path(source) else f"{source} (in {folder})"
    return Check(name, True, f"{where} is {state}." + (f" {paths}." if paths else ""))


def _is_path(source: str) -> bool:
    from models import catalog

    return all(source not in (m.id, m.repo_id) for m in catalog.all_models())


def _first_run_hint(hint: str) -> str:
    return (f"{hint} Or start ScreenSight: its first-run setup downloads the model when you ask, "
            "or copy an offline model pack into the models folder "
            f"({cache_dir() / 'models'}).").strip()


def _load_model(folder: Path, role: Role, quantize: bool, device: str = "auto") -> str:
    """Load the model as the app does; for the vision model, where it runs, in which dtype and
    why, and its kernel paths, in words ("" for speech)."""
    from assistant.model_loading import SpeechModelLoader, VisionModelLoader

    if role == Role.VISION:
        model = VisionModelLoader(folder, quantize=quantize, device=device)()
        return _placement(model, device)
    SpeechModelLoader(folder)()
    return ""


def _placement(model: object, requested: str) -> str:
    """"Runs on the CPU in bfloat16 (automatic: no GPU was found; ...). Kernel paths: ..." """
    from models.runtime import DEVICE_NAMES, placement_reason

    device = str(getattr(model, "device", "cpu"))
    dtype = str(getattr(model, "dtype", "")).removeprefix("torch.")
    gpu_first = bool(getattr(model, "hears_audio", False))  # Gemma 4 takes a GPU; SmolVLM the CPU
    where = DEVICE_NAMES.get(device.split(":", 1)[0], device)
    text = f"Runs on {where} in {dtype} ({placement_reason(requested, device, dtype, gpu_first)})"
    paths = getattr(model, "paths", None)
    return text + (f". Kernel paths: {paths.describe()}" if paths is not None else "")


def check_processor(settings: Settings) -> Check:
    """The processor's vector features and the kernel path each model part will take on it."""
    from models.cpu_features import detect
    from models.kernel_paths import choose_paths

    processor = detect()
    paths = choose_paths(processor, quantize=settings.quantize)
    return Check("Processor", True, f"{processor.describe()}. Kernel paths: {paths.describe()}.")


def check_memory(settings: Settings, available_mb: int | None = None) -> Check:
    """Enough free memory to run the chosen models; `available_mb` defaults to what is free now."""
    from models import catalog, store

    name = "Memory"
    needed = 0
    labels = []
    for source in (settings.vision_model, settings.speech_model):
        info = _catalog_info(source)
        if info is not None:
            needed += info.ram_mb
        else:
            try:
                needed += store.estimate_ram_mb(store.resolve(source))
            except ScreenSightError:
                continue  # the model check reports a missing or broken folder
        labels.append(source)
    available = available_mb if available_mb is not None else store.available_memory_mb()
    if available is None:
        return Check(name, False, "The free memory of this computer could not be read.",
                     f"The chosen models need about {needed} MB.", required=False)
    if needed > available:
        smaller = [m for m in catalog.all_models()
                   if m.role == Role.VISION and m.ram_mb + 400 <= available]
        hint = (f"Close other programs, or choose a smaller model such as {smaller[0].id}."
                if smaller else "Close other programs to free memory.")
        return Check(name, False, f"The chosen models ({', '.join(labels)}) need about {needed} MB "
                     f"of memory, but only {available} MB is free.", hint)
    return Check(name, True, f"{available} MB free; the chosen models need about {needed} MB.")


def check_disk(settings: Settings, free_mb: int | None = None) -> Check:
    """Enough free disk space for the models still to download; `free_mb` defaults to the disk's."""
    from models import store

    name = "Disk space"
    folder = store.models_root()
    missing = []
    for source in (settings.vision_model, settings.speech_model):
        info = _catalog_info(source)
        if info is not None and not store.is_downloaded(info):
            missing.append(info)
    needed = sum(m.size_mb for m in missing) + DISK_MARGIN_MB
    free = free_mb if free_mb is not None else shutil.disk_usage(_existing_parent(folder)).free // 10**6
    todo = f" to download {', '.join(m.id for m in missing)}" if missing else ""
    if free < needed:
        return Check(name, False,
                     f"Only {free} MB is free in {folder}; {needed} MB is needed{todo}.",
                     "Free some disk space, or use an offline model pack on another drive and "
                     "point the model setting at its folder.")
    return Check(name, True, f"{free} MB free in {folder}; {needed} MB needed{todo}.")


def _catalog_info(source: str) -> Any:
    from models import catalog

    for info in catalog.all_models():
        if source in (info.id, info.repo_id):
            return info
    return None


def _existing_parent(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(os.sep)


# ---------------------------------------------------------------------------- running


def _guarded(name: str, check: Callable[[], Check], timeout: float, required: bool = True) -> Check:
    """Run one check on its own thread; an error or a hang becomes a failed Check."""
    box: list[Check] = []

    def run() -> None:
        try:
            box.append(check())
        except ScreenSightError as exc:
            box.append(Check(name, False, exc.message, exc.hint, required))
        # A diagnostic tool must report every failure, including ones nobody foresaw.
        except Exception as exc:  # noqa: BLE001
            box.append(Check(name, False, f"The check failed unexpectedly: {type(exc).__name__}: "
                             f"{exc}", "Please report this, with the output of this self-test.",
                             required))

    worker = threading.Thread(target=run, name=f"selftest-{name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        return Check(name, False, f"The check did not finish within {timeout:.0f} seconds.",
                     "Something is stuck (often the sound server); restart the computer and "
                     "try again.", required)
    return box[0]


def collect_checks(settings: Settings | None = None, load_models: bool = True,
                   timeout: float = CHECK_TIMEOUT_SECONDS,
                   progress: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check in order; `progress` is called with each result as it comes."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        if progress is not None:
            progress(check)

    if settings is None:
        try:
            settings = load_settings()
        except ScreenSightError as exc:
            add(Check("Settings", False, exc.message, exc.hint))
            settings = Settings()
        else:
            add(Check("Settings", True, "The settings file is valid (or not created yet)."))
    speaks = settings.output in OWN_VOICE_OUTPUTS
    # (name, check, whether an unexpected error in it fails the self-test)
    plan: list[tuple[str, Callable[[], Check], bool]] = [
        ("Screen capture", check_display, True),
        ("Sound output", lambda: check_speaker(settings), speaks),
        ("Microphone", lambda: check_microphone(settings), False),
        ("Speech voices", lambda: check_voices(settings), speaks),
        ("Hotkeys", lambda: check_hotkeys(settings), True),
        ("Memory", lambda: check_memory(settings), True),
        ("Disk space", lambda: check_disk(settings), True),
        ("Processor", lambda: check_processor(settings), False),
        ("Vision model", lambda: check_model(settings, Role.VISION, load_models), True),
        ("Speech model", lambda: check_model(settings, Role.SPEECH, load_models), False),
    ]
    for name, check, required in plan:
        add(_guarded(name, check, timeout, required))
    return checks


def format_check(check: Check) -> str:
    """One check as plain text lines (screen readers read words better than symbols)."""
    label = {"ok": "OK", "problem": "PROBLEM", "note": "NOTE"}[check.status]
    text = f"{label}: {check.name}: {check.message}"
    if not check.ok and check.hint:
        text += f"\n    What to do: {check.hint}"
    return text


def summary(checks: Sequence[Check]) -> str:
    problems = failed(checks)
    notes = [c for c in checks if c.status == "note"]
    if problems:
        return (f"{len(problems)} problem(s) found: {', '.join(c.name for c in problems)}. "
                "ScreenSight will not work fully until they are fixed.")
    if notes:
        return f"ScreenSight is ready; {len(notes)} note(s): {', '.join(c.name for c in notes)}."
    return "All checks passed: ScreenSight is ready."


def checks_json(checks: Sequence[Check]) -> str:
    """The results as JSON: {"ok": bool, "checks": [{name, ok, message, hint, required, status}]}"""
    return json.dumps({"ok": not failed(checks), "checks": [c.as_dict() for c in checks]},
                      ensure_ascii=False, indent=2)


def app_version() -> str:
    try:
        return importlib.metadata.version("screensight")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def run_self_test(as_json: bool = False, load_models: bool = True) -> int:
    """Print each check as it finishes (or one JSON object) and return 0 when nothing failed."""
    started = time.monotonic()
    if not as_json:
        frozen = " (installed bundle)" if getattr(sys, "frozen", False) else ""
        print(f"ScreenSight {app_version()}{frozen} self-test", flush=True)

    def show(check: Check) -> None:
        if not as_json:
            print(format_check(check), flush=True)

    checks = collect_checks(load_models=load_models, progress=show)
    if as_json:
        print(checks_json(checks))
    else:
        print(f"{summary(checks)} ({time.monotonic() - started:.1f} s)", flush=True)
    return EXIT_FAILED if failed(checks) else EXIT_OK


__all__ = ["Check", "app_version", "check_disk", "check_display", "check_hotkeys",
           "check_memory", "check_microphone", "check_model", "check_speaker", "check_voices",
           "checks_json", "collect_checks", "failed", "format_check", "run_self_test", "summary"]
