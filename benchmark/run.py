"""`screensight bench`: key press to first spoken word, through the real pipeline.

Each scenario runs the app's own Engine (capture, encode once, stream, segment, speak) on a
synthetic 1920x1080 desktop, with a model of the real architecture and random weights, a fixed
answer length (end-of-sequence ignored) and the first utterance cut after a fixed number of
tokens. The same scenarios then run through the naive path (processor defaults, full
`model.generate` in float32, then speak), and the report gives naive / ours per scenario.

How to read the table: every time is seconds from the key press (median of --runs after a
warm-up). "audio" is the first spoken word, the number a user feels; for "voice" it is counted
from the end of speech. capture / prep / encode / token / utt are when each stage finished.
"tok/s" is the decode speed after the first token. "peak MB" is the process's peak resident
memory during the scenario (models loaded). "naive" is the same request through plain
transformers and "x" is naive / ours. "target" is issue 5's goal on a 2-core laptop CPU.
Below the table: the processor's features and the kernel path of each model part, the vision
encoder's GFLOP/s against this machine's matmul probe in the dtype the encoder uses, and the
peer (the same tile through OpenVINO, when installed). `--cap-avx2` measures the AVX2 path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant import prompts
from assistant.capture import (
    Capture,
    CaptureBackend,
    ImageBackend,
    capture_target,
)
from assistant.engine import EngineListener, Request, Result
from assistant.speech_out.segmenter import Segmenter
from assistant.trace import Trace
from assistant.windows import (
    FixedWindowLocator,
    WindowInfo,
)
from base.errors import ScreenSightError
from base.vocabulary import Detail, Mode, Target
from benchmark import kernels
from benchmark.fixed_length import FixedLengthProvider, TokenCount
from benchmark.naive import generate_naive
from benchmark.screens import Desktop, render_desktop

SCENARIOS = ("screen", "window", "region", "followup", "voice", "background")
OCR_SCENARIOS = ("read", "read-accuracy")  # text recognition (assistant/bench_ocr); run only when asked for
# Plain and grounded window describes interleaved in one process (issue 11); run only when asked for.
COMPARISONS = ("grounding",)
GROUNDING_DELAY_TARGET_S = 0.3  # grounded first audio no later than plain describe + this
GROUNDING_RSS_TARGET_MB = 1300  # the recognizer beside the default vision model
OCR_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "ocr"
# Key press to first spoken word with SmolVLM on a 2-core CPU (issue 13's goals; the first
# round's were 2.5 / 2.0 / 0.8 / 1.5 s).
TARGET_SECONDS = {"screen": 1.0, "window": 1.0, "followup": 0.35, "voice": 0.6, "background": 0.8}
PEAK_RSS_TARGET_MB = 1200
# The quality tier's own goals on a 2-core CPU (issue 14): Gemma 4 E2B, audio into the model.
QUALITY_TARGET_SECONDS = {"window": 6.0, "followup": 1.5, "voice": 4.0}
QUALITY_PEAK_RSS_TARGET_MB = {"gemma4-e2b": 6000}


def targets(variant: str) -> tuple[dict[str, float], int | None]:
    """The first-audio goal per scenario and the peak-RSS goal for the built `variant`."""
    if variant in GEMMA4_VARIANTS:
        return QUALITY_TARGET_SECONDS, QUALITY_PEAK_RSS_TARGET_MB.get(variant)
    return TARGET_SECONDS, PEAK_RSS_TARGET_MB
NAIVE_SPEEDUP_TARGET = {"screen": 15.0}
STAGES = ("captured", "preprocessed", "encoded", "first_token", "first_utterance", "first_audio")
SPOKEN_QUESTION = "What does the dialog on the screen say, and which button is selected?"
FOLLOW_UP = "Which buttons does the dialog have?"
RESULT_TIMEOUT = 600.0
GEMMA4_VARIANTS = ("gemma4-tiny", "gemma4-e2b", "gemma4-e4b")


@dataclass
class Options:
    """What one benchmark run measures and how."""

    model: Path | None
    speech_model: Path | None
    variant: str
    threads: int | None
    runs: int
    warmup: int
    scenarios: tuple[str, ...]
    json_path: Path
    tokens: int
    first_tokens: int
    detail: str
    quantize: bool
    naive: bool
    naive_runs: int
    speech_seconds: float
    tts: str
    cache: Path
    idle_seconds: float
    poll_interval: float
    quick: bool
    data: Path = OCR_SET
    engines: tuple[str | None, ...] = (None,)
    grounding: bool = False  # describe/more/ask with the facts and recognized text (issue 11)
    peer: bool = True  # the encoder through OpenVINO too, when it is installed
    openvino_encoder: bool = False  # our path with the encoder in OpenVINO (where faster)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="screensight bench",
        description="Measure key press to first spoken word on this machine (see the module "
                    "docstring of benchmark.run for how to read the table).",
    )
    parser.add_argument("--model", type=Path,
                        help="a model folder (default: a random-weight model of --variant, built "
                             "once into the cache)")
    parser.add_argument("--speech-model", type=Path,
                        help="a Moonshine/Whisper folder for the voice scenario (default: a "
                             "random-weight Moonshine-tiny, built once into the cache)")
    parser.add_argument("--variant", choices=("256m", "500m", "tiny") + GEMMA4_VARIANTS, default="256m",
                        help="architecture of the built model (default: 256m, SmolVLM-256M; gemma4-e2b and "
                             "gemma4-e4b: Gemma 4 at real size in bfloat16, spoken questions into the model)")
    parser.add_argument("--threads", type=int, help="torch threads (default: physical cores)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per scenario (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before them")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS + COMPARISONS + OCR_SCENARIOS,
                        help="run only this scenario (repeatable; default: all but grounding, read and "
                             "read-accuracy). grounding: window describes without and with grounding, "
                             "interleaved (--runs pairs), their first-audio difference and peak memory")
    parser.add_argument("--data", type=Path, default=OCR_SET,
                        help="read-accuracy and read: a folder of NAME.png + NAME.txt pairs (default: the "
                             "project's set, tests/data/ocr)")
    parser.add_argument("--engine", action="append",
                        help="read-accuracy and read: a text recognition engine (repeatable; default: the "
                             "default engine), e.g. --engine PP-OCR --engine Tesseract")
    parser.add_argument("--grounding", action="store_true",
                        help="describe, more and ask grounded: scripted accessibility facts of the window and "
                             "its text recognized (PP-OCR) beside the encoder, answers checked (default: off, "
                             "the ungrounded describe)")
    parser.add_argument("--json", type=Path, default=Path("screensight-bench.json"),
                        help="where to write the JSON report")
    parser.add_argument("--tokens", type=int, default=60, help="new tokens per answer (fixed)")
    parser.add_argument("--first-tokens", type=int, default=6,
                        help="tokens in the first utterance (it goes to speech after these)")
    parser.add_argument("--detail", choices=[level.value for level in Detail], default=Detail.QUICK.value,
                        help="detail level of our path (the naive path uses processor defaults)")
    parser.add_argument("--no-quantize", action="store_true",
                        help="our path without int8 (SmolVLM in float32, Gemma 4 in bfloat16 as stored)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive path")
    parser.add_argument("--naive-runs", type=int, default=1, help="runs of the naive path")
    parser.add_argument("--no-peer", action="store_true",
                        help="skip the peer measurement (the vision encoder through OpenVINO, when installed)")
    parser.add_argument("--openvino-encoder", action="store_true",
                        help="our path with the vision encoder in OpenVINO where the paths find it faster "
                             "(needs pip install openvino; converted once into --cache)")
    parser.add_argument("--cap-avx2", action="store_true",
                        help="run the benchmark in a child process with every kernel library capped to AVX2 "
                             "(the common laptop path, measured on any machine)")
    parser.add_argument("--speech-seconds", type=float, default=3.0,
                        help="length of the spoken question in the voice scenario")
    parser.add_argument("--tts", choices=("auto", "pyttsx3", "wav", "silent"), default="auto",
                        help="speech output: auto = speaker if there is one, else a WAV file")
    parser.add_argument("--cache", type=Path, help="folder for the built benchmark models")
    parser.add_argument("--quick", action="store_true",
                        help="tiny model, one run, short answers (a smoke test, not a measurement)")
    return parser


def parse_options(argv: Sequence[str]) -> Options:
    args = build_parser().parse_args(list(argv))
    from base.paths import cache_dir

    quick = args.quick
    variant = ("gemma4-tiny" if args.variant in GEMMA4_VARIANTS else "tiny") if quick else args.variant
    if args.runs < 1 or args.tokens < 1 or args.first_tokens < 1:
        raise ScreenSightError("--runs, --tokens and --first-tokens must be at least 1.",
                               "For example: screensight bench --runs 3 --tokens 60")
    return Options(
        model=args.model,
        speech_model=args.speech_model,
        variant=variant,
        threads=args.threads,
        runs=1 if quick else args.runs,
        warmup=0 if quick else max(0, args.warmup),
        scenarios=tuple(dict.fromkeys(args.scenario or SCENARIOS)),
        json_path=args.json,
        tokens=min(args.tokens, 12) if quick else args.tokens,
        first_tokens=min(args.first_tokens, 3) if quick else args.first_tokens,
        detail=args.detail,
        quantize=not args.no_quantize,
        naive=not args.no_naive,
        naive_runs=max(1, args.naive_runs),
        speech_seconds=min(args.speech_seconds, 1.0) if quick else args.speech_seconds,
        tts=args.tts,
        cache=args.cache or cache_dir() / "bench",
        idle_seconds=1.0 if quick else 4.0,
        poll_interval=0.2 if quick else 0.5,
        quick=quick,
        data=args.data,
        engines=tuple(args.engine or (None,)),
        grounding=args.grounding,
        peer=not args.no_peer and not quick,
        openvino_encoder=args.openvino_encoder,
    )


# -- process measurements -----------------------------------------------------------------


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Start a new peak-memory window (Linux: clear VmHWM); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """Peak resident memory since the last reset (or process start), in MB."""
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / 1024, 1)


def rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else round(kb / 1024, 1)


def machine_info() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu": model, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "load_average": load}


# -- the synthetic desktop behind the capture interface --------------------------------------


class BenchDesktop(CaptureBackend):
    """Captures from the synthetic desktop shown now; also grabs the same rectangle of the real
    display when there is one, so the capture stage costs what a real capture costs."""

    def __init__(self, real_display: bool = True) -> None:
        self.desktop: Desktop | None = None
        self._image_backend: ImageBackend | None = None
        self.real: CaptureBackend | None = None
        self.real_note = "synthetic pixels only (no display)"
        if real_display:
            self._open_real()

    def _open_real(self) -> None:
        from assistant.capture import MssBackend, check_display_available

        try:
            display = check_display_available()
            backend = MssBackend(FixedWindowLocator(None, (960, 540)), display)
            backend.region(0, 0, 8, 8)
        except (ScreenSightError, ImportError, OSError) as exc:
            self.real_note = f"synthetic pixels only ({exc})"
            return
        self.real = backend
        self.real_note = f"synthetic pixels + a real mss grab of display {display}"

    def show(self, desktop: Desktop) -> None:
        self.desktop = desktop
        window = WindowInfo(desktop.window_title, desktop.window_rect)
        self._image_backend = ImageBackend(desktop.image, FixedWindowLocator(window, (960, 540)))

    def _backend(self) -> ImageBackend:
        if self._image_backend is None:
            raise ScreenSightError("The benchmark shows no desktop yet.", "This is a bug.")
        return self._image_backend

    def _grab_real(self, rect: tuple[int, int, int, int]) -> None:
        if self.real is not None:
            try:
                self.real.region(*rect)
            except ScreenSightError:
                self.real = None

    def screen(self) -> Capture:
        capture = self._backend().screen()
        self._grab_real(capture.rect or (0, 0, 1920, 1080))
        return capture

    def active_window(self) -> Capture:
        capture = self._backend().active_window()
        self._grab_real(capture.rect or (0, 0, 1920, 1080))
        return capture

    def region(self, x: int, y: int, w: int, h: int) -> Capture:
        capture = self._backend().region(x, y, w, h)
        self._grab_real(capture.rect or (x, y, w, h))
        return capture

    def around_pointer(self, width: int = 640, height: int = 400) -> Capture:
        capture = self._backend().around_pointer(width, height)
        self._grab_real(capture.rect or (0, 0, width, height))
        return capture


# -- the engine's listener and segmenter for fixed-length answers ----------------------------


class FirstUtteranceAfter(Segmenter):
    """Speaks the first utterance after a fixed number of generated tokens, the rest at the end.

    Random weights write no sentences, so the real segmenter's rules cannot decide; a real first
    clause of three or more words is about this many tokens. `generated` is the model's own
    token count (benchmark.fixed_length.TokenCount); without it each text piece counts as one
    token, and a random Gemma 4, many of whose tokens are no text on their own, then needed
    more tokens than asked for.
    """

    def __init__(self, tokens: int, generated: TokenCount | None = None) -> None:
        super().__init__()
        self.tokens = tokens
        self.generated = generated
        self._count = 0
        self._text = ""
        self._first_done = False

    def feed(self, text: str) -> list[str]:
        self._count += 1
        self._text += text
        count = self._count if self.generated is None else self.generated.value
        if not self._first_done and count >= self.tokens and any(
                ch.isalnum() for ch in self._text):
            self._first_done = True
            first, self._text = " ".join(self._text.split()), ""
            return [first]
        return []

    def flush(self) -> list[str]:
        rest, self._text = " ".join(self._text.split()), ""
        return [rest] if rest else []


class Recorder(EngineListener):
    """Keeps every finished result and when each text piece arrived."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.results: dict[int, Result] = {}
        self.pieces: dict[int, list[float]] = {}

    def on_text(self, request_id: int, piece: str) -> None:
        self.pieces.setdefault(request_id, []).append(time.monotonic())

    def on_finished(self, result: Result) -> None:
        with self._cond:
            self.results[result.request_id] = result
            self._cond.notify_all()

    def wait(self, request_id: int, timeout: float = RESULT_TIMEOUT) -> Result:
        with self._cond:
            if not self._cond.wait_for(lambda: request_id in self.results, timeout):
                raise ScreenSightError(f"Benchmark request {request_id} did not finish in time.",
                                       "Try fewer --tokens or a smaller --variant.")
            return self.results.pop(request_id)

    def decode_rate(self, request_id: int) -> float | None:
        times = self.pieces.get(request_id, [])
        if len(times) < 3 or times[-1] <= times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])


@dataclass
class NaiveTag:
    """Speaker tag of a naive-path utterance: marks first audio in its own trace."""

    trace: Trace


@dataclass
class Run:
    """One timed request: seconds from the key press to each stage."""

    stages: dict[str, float]
    total: float | None
    tokens_per_s: float | None = None
    peak_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"stages": self.stages, "total_s": self.total, "tokens_per_s": self.tokens_per_s,
                "peak_rss_mb": self.peak_rss_mb, **self.extra}


# -- the benchmark --------------------------------------------------------------------------


class Bench:
    """Loads the models once, runs each scenario through our path and the naive path."""

    def __init__(self, opts: Options, out: Callable[[str], None] = print) -> None:
        self.opts = opts
        self.say = out
        self.desk = BenchDesktop()
        self.variant_counter = 0
        self.recorder = Recorder()
        self.generated = TokenCount()  # the answers' own tokens (first utterance, decode rate)
        self.engine: Any = None
        self.speaker: Any = None
        self.tts_note = ""
        self.recognizer: Any = None
        self.question_pcm: Any = None
        self.vision_samples: list[tuple[int, float]] = []
        self.vision_samples_naive: list[tuple[int, float]] = []
        self.loader: Any = None

    # -- setup --------------------------------------------------------------------------

    def model_folder(self) -> Path:
        if self.opts.model is not None:
            from models.store import resolve

            return resolve(str(self.opts.model))
        if self.opts.variant in GEMMA4_VARIANTS:
            folder = self.opts.cache / f"{self.opts.variant}-random"
            code = ("import sys; from pathlib import Path; from models.synthetic_gemma4 import build_gemma4; "
                    "build_gemma4(Path(sys.argv[1]), variant=sys.argv[2], dtype='bfloat16')")
            return self._build_once(folder, code, self.opts.variant.removeprefix("gemma4-"))
        folder = self.opts.cache / f"smolvlm-{self.opts.variant}-random"
        code = ("import sys; from pathlib import Path; from models.synthetic import build_vlm; "
                "build_vlm(Path(sys.argv[1]), variant=sys.argv[2])")
        return self._build_once(folder, code, self.opts.variant)

    def speech_folder(self) -> Path:
        if self.opts.speech_model is not None:
            return self.opts.speech_model
        size = "tiny" if self.opts.quick else "real"
        folder = self.opts.cache / f"moonshine-{size}-random"
        code = ("import sys; from pathlib import Path; from benchmark.run import build_speech; "
                "build_speech(Path(sys.argv[1]), sys.argv[2] == 'tiny')")
        return self._build_once(folder, code, size)

    def _build_once(self, folder: Path, code: str, arg: str) -> Path:
        """Build a model in a child process (its memory never counts here) unless cached."""
        if (folder / "model.safetensors").exists():
            return folder
        self.say(f"Building {folder.name} (once; cached in {folder.parent}) ...")
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        done = subprocess.run([sys.executable, "-c", code, str(tmp), arg], env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ScreenSightError(f"Building the benchmark model failed:\n{done.stderr[-2000:]}",
                                   "Check that torch and transformers are installed.")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
        return folder

    def make_speaker(self) -> Any:
        from assistant.speech_out.speaker import Speaker
        from assistant.speech_out.tts import make_tts_engine

        kinds = {"auto": ("pyttsx3", "wav", "silent")}.get(self.opts.tts, (self.opts.tts,))
        for kind in kinds:
            try:
                if kind == "pyttsx3":
                    _check_audio_output()
                    tts = make_tts_engine("pyttsx3")
                    note = "pyttsx3 (espeak-ng) playing through the default speaker"
                elif kind == "wav":
                    path = Path(tempfile.mkdtemp(prefix="screensight-bench-")) / "speech.wav"
                    tts = make_tts_engine("wav", wav_path=path)
                    note = f"pyttsx3 (espeak-ng) writing to {path} (no speaker found)"
                else:
                    tts = make_tts_engine("silent")
                    note = "silent (no speech engine: first audio = first utterance)"
            except ScreenSightError as exc:
                self.say(f"  speech output {kind} unavailable: {exc.message}")
                continue
            self.tts_note = note
            return Speaker(tts, on_audio_start=self._audio_started)
        raise ScreenSightError("No speech output could be started.", "Use --tts silent.")

    def _audio_started(self, tag: object) -> None:
        """The naive path's audio starts (the engine listens to the speaker for its own)."""
        if isinstance(tag, NaiveTag):
            tag.trace.mark("first_audio")

    def load_question(self) -> Any:
        """The spoken question as 16 kHz PCM: espeak-ng's voice, cut or padded to the length."""
        import numpy as np

        from assistant.speech_out.audio_out import resample
        from assistant.speech_out.tts import clip_from_wav
        from base.audio import SAMPLE_RATE

        count = int(self.opts.speech_seconds * SAMPLE_RATE)
        espeak = shutil.which("espeak-ng") or shutil.which("espeak")
        pcm = np.zeros(count, np.float32)
        if espeak:
            with tempfile.TemporaryDirectory() as tmp:
                wav = Path(tmp) / "question.wav"
                subprocess.run([espeak, "-w", str(wav), SPOKEN_QUESTION], check=False,
                               capture_output=True)
                if wav.exists():
                    clip = clip_from_wav(wav)
                    voice = resample(clip.samples, clip.sample_rate, SAMPLE_RATE)[:count]
                    pcm[: voice.size] = voice
                    return pcm
        rng = np.random.default_rng(0)
        pcm[:] = 0.1 * rng.standard_normal(count).astype(np.float32)
        return pcm

    # -- one timed request through the engine --------------------------------------------

    def next_desktop(self) -> Desktop:
        self.variant_counter += 1
        desktop = render_desktop(self.variant_counter)
        self.desk.show(desktop)
        return desktop

    def _request(self, **kwargs: Any) -> Request:
        return Request(max_new_tokens=self.opts.tokens, **kwargs)

    def _submit_and_measure(self, request: Request, start_from: float | None = None,
                            extra: dict[str, Any] | None = None) -> Run:
        reset_peak_rss()
        request.triggered_at = time.monotonic()
        request_id = self.engine.submit(request)
        result = self.recorder.wait(request_id)
        self._wait_first_audio(result.trace)
        self.speaker.stop()
        self.engine.wait_idle(RESULT_TIMEOUT)
        if result.error is not None:
            raise result.error
        encoded = result.encoded  # None when the request reused an encoded screenshot
        if encoded is not None and encoded.vision_tiles:
            self.vision_samples.append((encoded.vision_tiles, encoded.vision_s))
        return self._run_from_trace(result.trace, start_from, self._decode_rate(request_id), extra)

    def _decode_rate(self, request_id: int) -> float | None:
        """Tokens per second of the request's answer: the model's tokens where they were counted
        (a random Gemma 4 writes many tokens that are no text piece), else the text pieces."""
        return self.generated.rate() or self.recorder.decode_rate(request_id)

    def _wait_first_audio(self, trace: Trace, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not trace.has("first_audio") and time.monotonic() < deadline:
            if not trace.has("first_utterance"):
                return
            if self.tts_note.startswith("silent"):
                trace.mark("first_audio", trace.marks["first_utterance"])
                return
            time.sleep(0.005)

    def _run_from_trace(self, trace: Trace, start_from: float | None, rate: float | None,
                        extra: dict[str, Any] | None = None) -> Run:
        stages = {k: round(v, 4) for k, v in trace.since_trigger().items()}
        total = stages.get("first_audio")
        info = dict(extra or {})
        if start_from is not None and trace.has("first_audio"):
            info["from_press_s"] = total
            total = round(trace.marks["first_audio"] - start_from, 4)
            info["stages_from_speech_end"] = {
                k: round(v - start_from, 4) for k, v in trace.marks.items() if k != "trigger"}
        return Run(stages=stages, total=total, tokens_per_s=None if rate is None else round(rate, 2),
                   peak_rss_mb=peak_rss_mb(), extra=info)

    def ours(self, scenario: str) -> Run:
        detail = self.opts.detail
        if scenario == "screen":
            self.next_desktop()
            return self._submit_and_measure(self._request(target=Target.SCREEN, detail=detail))
        if scenario == "window":
            self.next_desktop()
            return self._submit_and_measure(self._request(target=Target.WINDOW, detail=detail))
        if scenario == "region":
            desktop = self.next_desktop()
            return self._submit_and_measure(
                self._request(target=Target.REGION, region=desktop.region_rect, detail=detail))
        if scenario == "followup":
            self.next_desktop()
            first = self.engine.submit(self._request(target=Target.WINDOW, detail=detail, speak=False))
            self.recorder.wait(first)
            self.engine.wait_idle(RESULT_TIMEOUT)
            return self._submit_and_measure(
                self._request(mode=Mode.ASK, target=None, question=FOLLOW_UP, detail=detail))
        if scenario == "voice":
            self.next_desktop()
            from assistant.speech_in.audio_in import Recording

            audio: Future[Recording] = Future()
            ended: list[float] = []
            request = self._request(mode=Mode.ASK, target=Target.WINDOW, audio=audio, detail=detail)

            def finish_talking() -> None:
                time.sleep(max(0.0, request.triggered_at + self.opts.speech_seconds
                               - time.monotonic()))
                ended.append(time.monotonic())
                pcm = self.question_pcm
                audio.set_result(Recording(pcm=pcm, started_at=request.triggered_at, ended_at=ended[0],
                                           device="benchmark", peak=float(abs(pcm).max()) if len(pcm) else 0.0))

            request.triggered_at = time.monotonic()
            talker = threading.Thread(target=finish_talking, daemon=True)
            talker.start()
            reset_peak_rss()
            request_id = self.engine.submit(request)
            result = self.recorder.wait(request_id)
            self._wait_first_audio(result.trace)
            self.speaker.stop()
            talker.join()
            self.engine.wait_idle(RESULT_TIMEOUT)
            if result.error is not None:
                raise result.error
            return self._run_from_trace(result.trace, ended[0], self._decode_rate(request_id),
                                        {"question": result.question})
        if scenario == "background":
            return self._background_run()
        raise ValueError(scenario)

    def _background_run(self) -> Run:
        from assistant.background import BackgroundPreparer

        prepared = threading.Event()
        watcher = BackgroundPreparer(self.engine, lambda: self.desk, target=Target.WINDOW,
                                     detail=self.opts.detail, interval=self.opts.poll_interval,
                                     on_prepared=lambda _key: prepared.set())
        self.next_desktop()
        watcher.start()
        try:
            if not prepared.wait(60):
                raise ScreenSightError("Background preparation never started.", "This is a bug.")
            self.engine.wait_idle(RESULT_TIMEOUT)  # the screen settled and is encoded
            run = self._submit_and_measure(self._request(target=Target.WINDOW,
                                                         detail=self.opts.detail))
            run.extra["watcher_polls"] = watcher.polls
        finally:
            watcher.stop()
        return run

    def idle_cpu(self) -> dict[str, float]:
        """Process CPU use (% of one core) while idle, without and with the background watcher."""
        from assistant.background import BackgroundPreparer

        self.next_desktop()

        def measure() -> float:
            cpu, wall = time.process_time(), time.monotonic()
            time.sleep(self.opts.idle_seconds)
            return 100.0 * (time.process_time() - cpu) / (time.monotonic() - wall)

        base = measure()
        watcher = BackgroundPreparer(self.engine, lambda: self.desk, target=Target.WINDOW,
                                     detail=self.opts.detail, interval=self.opts.poll_interval)
        watcher.start()
        time.sleep(self.opts.poll_interval * 3)  # settle and prepare once
        self.engine.wait_idle(RESULT_TIMEOUT)
        watched = measure()
        watcher.stop()
        return {"idle_cpu_percent": round(base, 2), "watching_cpu_percent": round(watched, 2),
                "watcher_cost_percent": round(watched - base, 2),
                "poll_interval_s": self.opts.poll_interval}

    def grounding_comparison(self) -> dict[str, Any]:
        """Window describes without and with grounding, interleaved pair by pair (the order alternating), each
        on new pixels: first audio of both, the grounded one's delay over the plain one in each pair, and
        the peak memory with the recognizer loaded beside the vision model."""
        opts = self.opts
        plain: list[Run] = []
        grounded: list[Run] = []
        rss_before = rss_mb()
        self.say(f"Scenario grounding: {opts.warmup} warm-up + {opts.runs} interleaved pairs ...")
        for n in range(opts.warmup + opts.runs):
            pair = {}
            for grounding in ((False, True) if n % 2 == 0 else (True, False)):
                self.engine.grounding = grounding
                self.next_desktop()
                pair[grounding] = self._submit_and_measure(self._request(target="window", detail=opts.detail))
            if n >= opts.warmup:
                plain.append(pair[False])
                grounded.append(pair[True])
        self.engine.grounding = opts.grounding
        delays = [g.total - p.total for p, g in zip(plain, grounded, strict=True)
                  if g.total is not None and p.total is not None]

        def spread(values: list[float]) -> dict[str, float | None]:
            return {"min": round(min(values), 3) if values else None,
                    "median": round(statistics.median(values), 3) if values else None}

        peak = max((r.peak_rss_mb or 0) for r in grounded) or None
        delay = spread(delays)
        return {"ours": summarize(grounded), "plain": summarize(plain),
                "first_audio_s": {"plain": spread([r.total for r in plain if r.total is not None]),
                                  "grounded": spread([r.total for r in grounded if r.total is not None])},
                "delay_s": {**delay, "pairs": [round(d, 3) for d in delays], "target": GROUNDING_DELAY_TARGET_S,
                            "met": delay["median"] is not None and delay["median"] <= GROUNDING_DELAY_TARGET_S},
                "peak_rss_mb": {"grounded": peak, "plain": max((r.peak_rss_mb or 0) for r in plain) or None,
                                "rss_before_mb": rss_before, "rss_after_mb": rss_mb(),
                                "target": GROUNDING_RSS_TARGET_MB,
                                "met": peak is not None and peak <= GROUNDING_RSS_TARGET_MB}}

    # -- the naive path -------------------------------------------------------------------

    def naive(self, scenario: str, model: Any) -> Run:
        desktop = self.next_desktop()
        trace = Trace(0, scenario)
        question = FOLLOW_UP if scenario == "followup" else ""
        target, region = {"screen": ("screen", None), "region": ("region", desktop.region_rect)
                          }.get(scenario, ("window", None))
        start = time.monotonic()
        trace.mark("trigger", start)
        reset_peak_rss()
        speech_end = None
        if scenario == "voice":
            time.sleep(self.opts.speech_seconds)
            speech_end = time.monotonic()
            trace.mark("speech_end", speech_end)
            question = self.recognizer.transcribe(self.question_pcm, "en").text
            trace.mark("transcribed")
        capture = capture_target(self.desk, target, region)
        trace.mark("captured")
        mode = Mode.ASK if question else Mode.DESCRIBE
        prompt = prompts.build_prompt(mode, question, "auto", capture.title)
        naive = generate_naive(model, capture.image, prompt, self.opts.tokens, ignore_eos=True)
        text = naive.text
        trace.mark("first_token")
        if naive.vision_tiles:
            trace.mark("encoded", trace.marks["captured"] + naive.vision_s)
            self.vision_samples_naive.append((naive.vision_tiles, naive.vision_s))
        trace.mark("first_utterance")
        self.speaker.say(text or "nothing", tag=NaiveTag(trace))
        self._wait_first_audio(trace)
        self.speaker.stop()
        return self._run_from_trace(trace, speech_end, None)

    # -- text recognition: the read scenario -----------------------------------------------

    def read_scenario(self) -> dict[str, Any]:
        """The read scenario (assistant/bench_ocr/read.py) with the vision model loaded beside the recognizer."""
        from assistant.model_loading import VisionModelLoader
        from benchmark.ocr import read
        from models import runtime

        opts = self.opts
        threads = runtime.configure_threads(opts.threads)
        folder = self.model_folder()
        self.say(f"Loading {folder.name} beside the recognizer ...")
        model = VisionModelLoader(folder, quantize=opts.quantize, threads=opts.threads)()
        self.speaker = self.make_speaker()
        hooks = read.ReadHooks(self.speaker, NaiveTag, self._wait_first_audio, reset_peak_rss, peak_rss_mb, rss_mb)
        try:
            engines = read.run(opts.engines, read.default_images(opts.data), hooks, opts.runs, opts.warmup, self.say)
        finally:
            self.speaker.close()
        del model
        peak = max(img["peak_rss_mb"] or 0 for e in engines.values() for img in e["images"].values())
        return {"settings": f"{folder.name} loaded ({'int8' if opts.quantize else 'fp32'}), {threads} torch "
                            f"threads, speech: {self.tts_note}, median of {opts.runs} "
                            f"(+{opts.warmup} warm-up), seconds from the start of recognition",
                "engines": engines,
                "peak_rss_mb": {"value": peak, "target": read.PEAK_RSS_TARGET_MB,
                                "met": peak <= read.PEAK_RSS_TARGET_MB}}

    # -- orchestration ----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from assistant.engine import Engine
        from assistant.model_loading import Ready, VisionModelLoader

        opts = self.opts
        wall = time.monotonic()
        report: dict[str, Any] = {"machine": machine_info(), "command": None}
        folder = self.model_folder()
        hears = opts.variant in GEMMA4_VARIANTS and opts.model is None  # the model takes the audio itself
        speech = self.speech_folder() if "voice" in opts.scenarios and not hears else None
        from models import runtime

        threads = runtime.configure_threads(opts.threads)
        self.say(f"Measuring this machine's matmul speed ({threads} threads) ...")
        matmul = runtime.measure_matmul(seconds=0.3 if opts.quick else 1.0)
        report["machine"]["isa_cap"] = kernels.capped_to()
        self.speaker = self.make_speaker()
        self.question_pcm = self.load_question()

        if opts.variant in GEMMA4_VARIANTS:
            kind = ("int8 language-model weights, the rest in this processor's float dtype" if opts.quantize
                    else "this processor's float dtype")
        else:
            kind = "int8" if opts.quantize else "float32"
        self.say(f"Loading {folder.name} ({kind}) ...")
        reset_peak_rss()
        start_rss = rss_mb()
        t0 = time.monotonic()
        loader = self.loader = VisionModelLoader(folder, quantize=opts.quantize, threads=opts.threads,
                                                 openvino=opts.openvino_encoder)
        model = loader()
        prepare = getattr(model, "prepare_step", None)  # what the app does while idle, done first
        t_prepare = time.monotonic()
        while prepare is not None and prepare():
            pass
        prepare_s = time.monotonic() - t_prepare
        flops = kernels.vision_flops_per_tile(model)
        quantized = bool(getattr(model, "quantized", opts.quantize))
        weights = "int8" if quantized else str(getattr(model.model, "dtype", "float32")).removeprefix("torch.")
        paths = getattr(model, "paths", None)  # SmolVLM's kernel path per part (Gemma 4 runs as stored)
        encoder_reference = ("fp32_gflops" if paths is None
                             else kernels.matmul_reference(paths.encoder.kernel.value, paths.encoder.packed))
        if paths is not None:
            report["processor"] = {"description": model.processor_info, "paths": paths.as_dict(),
                                   "paths_text": paths.describe()}
            self.say(f"Processor {model.processor_info}; paths: {paths.describe()}")
        load = {"seconds": round(time.monotonic() - t0 - prepare_s, 2),
                "prepare_seconds": round(prepare_s, 2), "rss_before_mb": start_rss,
                "rss_after_mb": rss_mb(), "peak_rss_mb": peak_rss_mb(), "quantized": quantized}
        if speech is not None and not getattr(model, "hears_audio", False):
            from assistant.model_loading import SpeechModelLoader

            t1 = time.monotonic()
            self.recognizer = SpeechModelLoader(speech, threads=opts.threads)()
            load["speech_seconds"] = round(time.monotonic() - t1, 2)
            load["rss_with_speech_mb"] = rss_mb()
        generated = self.generated
        self.engine = Engine(FixedLengthProvider(loader, generated), capture=lambda: self.desk, speaker=self.speaker,
                             listener=self.recorder, detail=opts.detail, language="en",
                             transcriber=Ready(self.recognizer) if self.recognizer is not None else None,
                             segmenter_factory=lambda: FirstUtteranceAfter(opts.first_tokens, generated),
                             grounding=opts.grounding, facts=bench_facts())
        scenarios: dict[str, Any] = {}
        try:
            for name in opts.scenarios:
                if name == "grounding":
                    scenarios[name] = self.grounding_comparison()
                    self.say("  " + format_grounding(scenarios[name]))
                    continue
                self.say(f"Scenario {name}: {opts.warmup} warm-up + {opts.runs} runs ...")
                for _ in range(opts.warmup):
                    self.ours(name)
                runs = [self.ours(name) for _ in range(opts.runs)]
                scenarios[name] = {"ours": summarize(runs)}
                self.say("  " + _short(scenarios[name]["ours"]))
            if "background" in opts.scenarios:
                report["background_cost"] = self.idle_cpu()
            if opts.peer and opts.variant not in GEMMA4_VARIANTS:  # the peer converts SmolVLM's encoder
                report["peer"] = kernels.peer_openvino(model, self.next_desktop().image, opts.cache, threads,
                                                       opts.runs, self.say)
        finally:
            self.engine.close()
        ours_vision = list(self.vision_samples)
        del model
        loader.unload()
        self.engine = self.loader = None
        import gc

        gc.collect()
        runtime.trim_heap()
        if opts.naive and opts.variant not in GEMMA4_VARIANTS:  # the naive path is SmolVLM's
            self.say("Loading the naive path's model (float32, processor defaults) ...")
            naive_model = VisionModelLoader(folder, quantize=False, threads=opts.threads, dtype="float32")()
            naive_model.set_pixel_cache_size(0)
            for name in opts.scenarios:
                if name in COMPARISONS:
                    continue  # our path against itself: the naive path has nothing to add
                if name == "background" and "window" in opts.scenarios:
                    # The naive path prepares nothing ahead: its key press is the window case.
                    scenarios[name]["naive"] = dict(scenarios["window"]["naive"],
                                                    note="same request as naive window")
                    continue
                self.say(f"Naive {name}: {opts.naive_runs} run(s) ...")
                runs = [self.naive(name, naive_model) for _ in range(opts.naive_runs)]
                scenarios[name]["naive"] = summarize(runs)
                self.say("  " + _short(scenarios[name]["naive"]))
            del naive_model
        self.speaker.close()
        target_seconds, rss_target = targets(opts.variant)
        for name, entry in scenarios.items():
            ours_total = entry["ours"]["median"].get("total_s")
            naive_total = entry.get("naive", {}).get("median", {}).get("total_s")
            entry["naive_over_ours"] = (round(naive_total / ours_total, 1)
                                        if ours_total and naive_total else None)
            entry["target_s"] = target_seconds.get(name)
            entry["met"] = (None if entry["target_s"] is None or ours_total is None
                            else ours_total <= entry["target_s"]
                            and (entry["naive_over_ours"] or 0) >= NAIVE_SPEEDUP_TARGET.get(name, 0))
        peak = max([load["peak_rss_mb"] or 0] + [e["ours"]["median"].get("peak_rss_mb") or 0
                                                   for n, e in scenarios.items() if n != "voice"])
        voice_peak = scenarios.get("voice", {}).get("ours", {}).get("median", {}).get("peak_rss_mb")
        report.update({
            "settings": {
                "model": str(folder), "variant": None if opts.model else opts.variant,
                "threads": threads, "runs": opts.runs, "warmup": opts.warmup,
                "new_tokens": opts.tokens, "first_utterance_tokens": opts.first_tokens,
                "detail": opts.detail, "quantized": quantized, "weights": weights,
                "speech_seconds": opts.speech_seconds, "tts": self.tts_note,
                "capture": self.desk.real_note, "naive_runs": opts.naive_runs if opts.naive else 0,
                "grounding": opts.grounding,
            },
            "load": load,
            "peak_rss_mb": {"ours": peak, "target": rss_target,
                            "met": None if rss_target is None else peak <= rss_target,
                            "with_speech_model": voice_peak},
            "compute": compute_report(matmul, flops, ours_vision, self.vision_samples_naive,
                                      encoder_reference),
            "scenarios": scenarios,
        })
        report["machine"]["load_average_end"] = (os.getloadavg()
                                                 if hasattr(os, "getloadavg") else None)
        report["wall_seconds"] = round(time.monotonic() - wall, 1)
        return report


def bench_facts() -> Any:
    """The facts an accessibility API would tell about the synthetic desktop's window (scripted: the
    benchmark must not read the real desktop's)."""
    from assistant.facts import FocusedControl, ScreenFacts, ScriptedFactsSource
    from benchmark.screens import WINDOW_TITLE

    return ScriptedFactsSource(ScreenFacts("Text Editor", WINDOW_TITLE, FocusedControl("push button", "Save"),
                                           source="scripted"))


def compute_report(matmul: dict[str, float], flops_per_tile: float | None,
                   ours: list[tuple[int, float]], naive: list[tuple[int, float]],
                   ours_reference: str = "int8_gflops") -> dict[str, Any]:
    """Achieved vision-encoder GFLOP/s against this machine's matmul speed in the encoder's dtype."""
    out: dict[str, Any] = {"matmul_gflops": {k: round(v, 1) for k, v in matmul.items()}}
    if flops_per_tile is None:
        return out
    out["vision_gflop_per_tile"] = round(flops_per_tile / 1e9, 1)
    for name, samples, reference in (("ours", ours, ours_reference),
                                     ("naive", naive, "fp32_gflops")):
        if not samples:
            continue
        rates = [tiles * flops_per_tile / secs / 1e9 for tiles, secs in samples if secs > 0]
        rate = statistics.median(rates)
        peak = matmul.get(reference) or matmul.get("fp32_gflops")
        out[f"vision_{name}"] = {
            "seconds_per_tile": round(statistics.median(s / t for t, s in samples), 3),
            "achieved_gflops": round(rate, 1),
            "matmul_reference": reference if reference in matmul else "fp32_gflops",
            "fraction_of_matmul": round(rate / peak, 2) if peak else None,
        }
    return out


def summarize(runs: list[Run]) -> dict[str, Any]:
    """Median of each stage and of the totals over the runs, plus every run."""
    def med(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return round(statistics.median(present), 4) if present else None

    keys = list(dict.fromkeys(k for r in runs for k in r.stages))
    median: dict[str, Any] = {"stages": {k: med([r.stages.get(k) for r in runs]) for k in keys},
                              "total_s": med([r.total for r in runs]),
                              "tokens_per_s": med([r.tokens_per_s for r in runs]),
                              "peak_rss_mb": max((r.peak_rss_mb or 0) for r in runs) or None}
    shifted = [r.extra["stages_from_speech_end"] for r in runs if "stages_from_speech_end" in r.extra]
    if shifted:
        median["stages_from_speech_end"] = {k: med([s.get(k) for s in shifted]) for k in shifted[0]}
    return {"median": median, "runs": [r.as_dict() for r in runs]}


def _short(summary: dict[str, Any]) -> str:
    m = summary["median"]
    total = m.get("total_s")
    return (f"first audio {total:.2f} s" if total is not None else "no audio") + (
        f", {m['tokens_per_s']:.1f} tok/s" if m.get("tokens_per_s") else "")


def format_grounding(entry: dict[str, Any]) -> str:
    """The grounding comparison in two lines: first audio plain and grounded, the delay, peak memory."""
    fa, delay, peak = entry["first_audio_s"], entry["delay_s"], entry["peak_rss_mb"]
    return (f"grounding: first audio min/median plain {_fmt(fa['plain']['min'], 0)}/{_fmt(fa['plain']['median'], 0)}"
            f" s, grounded {_fmt(fa['grounded']['min'], 0)}/{_fmt(fa['grounded']['median'], 0)} s; grounded - plain "
            f"per pair min/median {_fmt(delay['min'], 0, 3)}/{_fmt(delay['median'], 0, 3)} s (target <= "
            f"{delay['target']} s: {'ok' if delay['met'] else 'MISSED'})\n"
            f"grounding: peak RSS grounded {_fmt(peak['grounded'], 0, 0)} MB, plain {_fmt(peak['plain'], 0, 0)} MB "
            f"(target <= {peak['target']} MB: {'ok' if peak['met'] else 'MISSED'})")


def _check_audio_output() -> None:
    from assistant.speech_out.audio_out import _sounddevice
    from base.errors import AudioError

    sd = _sounddevice()
    try:
        sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError) as exc:
        raise AudioError(f"No audio output device ({exc}).", "Speech goes to a WAV file.") from exc


def build_speech(out_dir: Path, tiny: bool) -> Path:
    """A random-weight Moonshine (real tiny size unless `tiny`) that writes non-empty text."""
    from models.synthetic_speech import build_tiny_moonshine, default_data_dir

    src = default_data_dir() / "moonshine-tiny"
    with tempfile.TemporaryDirectory() as tmp:
        config = json.loads((src / "config.json").read_text())
        # Default-init random decoders repeat their start token and transcribe nothing.
        config["initializer_range"] = 0.1
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        shutil.copyfile(src / "tokenizer.standin.json", Path(tmp) / "tokenizer.standin.json")
        return build_tiny_moonshine(out_dir, data_dir=Path(tmp), tiny=tiny)


# -- output -----------------------------------------------------------------------------------


def _fmt(value: float | None, width: int = 6, digits: int = 2) -> str:
    return f"{value:{width}.{digits}f}" if isinstance(value, int | float) else " " * (width - 1) + "-"


def format_table(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        f"screensight bench: {Path(s['model']).name}, {s.get('weights') or ('int8' if s['quantized'] else 'fp32')}, "
        f"{s['threads']} threads, detail {s['detail']}, {s['new_tokens']} new tokens, first "
        f"utterance after {s['first_utterance_tokens']}, median of {s['runs']} "
        f"(+{s['warmup']} warm-up)",
        f"cpu: {report['machine']['cpu']}"
        + (f" (capped to {report['machine']['isa_cap']})" if report['machine'].get('isa_cap') else "")
        + f", load average {report['machine']['load_average']} -> "
        f"{report['machine'].get('load_average_end')}",
        f"speech: {s['tts']}; capture: {s['capture']}; OpenMP wait policy: "
        f"{s.get('omp_wait_policy', 'default')}; grounding: {'on' if s.get('grounding') else 'off'}",
        "",
        "scenario    capture  prep encode  token   utt  audio  tok/s peak MB   naive      x "
        "target",
    ]
    for name, entry in report["scenarios"].items():
        m = entry["ours"]["median"]
        st = m.get("stages_from_speech_end") or m["stages"]
        naive = entry.get("naive", {}).get("median", {}).get("total_s")
        ratio = entry.get("naive_over_ours")
        target = entry.get("target_s")
        met = entry.get("met")
        verdict = "" if met is None else ("ok" if met else "MISSED")
        lines.append(
            f"{name:<11}{_fmt(st.get('captured'), 8)}{_fmt(st.get('preprocessed'))}"
            f"{_fmt(st.get('encoded'), 7)}{_fmt(st.get('first_token'), 7)}"
            f"{_fmt(st.get('first_utterance'))}{_fmt(m.get('total_s'), 7)}"
            f"{_fmt(m.get('tokens_per_s'), 7, 1)}{_fmt(m.get('peak_rss_mb'), 8, 0)}"
            f"{_fmt(naive, 8)}{_fmt(ratio, 7, 1)}  "
            f"{'<= ' + format(target, '.1f') if target else '':<7}{verdict}")
    load = report["load"]
    peak = report["peak_rss_mb"]
    lines += [
        "",
        f"voice: every time counted from the end of speech ({s['speech_seconds']:.0f} s question; "
        "negative = done while the user was still talking).",
        f"model load {load['seconds']:.1f} s"
        + (f" (then {load['prepare_seconds']:.1f} s of kernel preparation while idle)"
           if load.get("prepare_seconds", 0) >= 0.05 else "")
        + f", peak RSS {peak['ours']:.0f} MB with the vision model"
        + ("" if peak["target"] is None else
           f" (target <= {peak['target']} MB: {'ok' if peak['met'] else 'MISSED'})")
        + (f", {peak['with_speech_model']:.0f} MB with the speech model too"
           if peak.get("with_speech_model") else ""),
    ]
    c = report["compute"]
    mm = c["matmul_gflops"]
    lines.append("matmul " + ", ".join(f"{k.split('_')[0]} {v:.1f} GFLOP/s" for k, v in mm.items()))
    for name in ("ours", "naive"):
        v = c.get(f"vision_{name}")
        if v:
            lines.append(
                f"vision encoder ({name}): {v['seconds_per_tile']:.2f} s/tile, "
                f"{v['achieved_gflops']:.1f} GFLOP/s = {v['fraction_of_matmul']:.0%} of "
                f"{v['matmul_reference'].split('_')[0]} matmul ({c['vision_gflop_per_tile']} "
                "GFLOP/tile)")
    lines += kernels.format_lines(report)
    if "grounding" in report["scenarios"]:
        lines.append(format_grounding(report["scenarios"]["grounding"]))
    bg = report.get("background_cost")
    if bg:
        lines.append(f"background watcher: {bg['watcher_cost_percent']:.2f}% of one core while "
                     f"idle (polling every {bg['poll_interval_s']} s)")
    lines.append(f"wall time {report['wall_seconds']:.0f} s")
    return "\n".join(lines)


def run_ocr(opts: Options, say: Callable[[str], None]) -> dict[str, Any]:
    """The text recognition scenarios asked for: read-accuracy (the scorer on --data) and read (timings)."""
    from benchmark.ocr import accuracy

    report: dict[str, Any] = {"machine": machine_info()}
    if "read-accuracy" in opts.scenarios:
        say(f"read-accuracy: {opts.data} ...")
        report["read_accuracy"] = accuracy.run(opts.data, opts.engines)
    if "read" in opts.scenarios:
        report["read"] = Bench(opts, out=say).read_scenario()
    return report


def format_ocr(report: dict[str, Any]) -> str:
    from benchmark.ocr import accuracy, read

    parts = [accuracy.format_table(report["read_accuracy"])] if "read_accuracy" in report else []
    return "\n\n".join(parts + ([read.format_table(report["read"])] if "read" in report else []))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and write the JSON report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `screensight bench -- --runs 5` (argparse keeps the separator)
        argv = argv[1:]
    from models.runtime import prefer_passive_openmp

    passive = prefer_passive_openmp()
    if "--cap-avx2" in argv:
        return kernels.run_capped([a for a in argv if a != "--cap-avx2"])
    try:
        opts = parse_options(argv)
        say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
        vlm = tuple(name for name in opts.scenarios if name not in OCR_SCENARIOS)
        report = Bench(replace(opts, scenarios=vlm), out=say).run() if vlm else {}
        if len(vlm) < len(opts.scenarios):
            report["text_recognition"] = run_ocr(opts, say)
    except ScreenSightError as exc:
        print(f"screensight bench: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  {exc.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return 130
    report["command"] = "screensight bench " + " ".join(argv)
    if "settings" in report:
        report["settings"]["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "") or (
            "default" if not passive else "PASSIVE")
    opts.json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    if "scenarios" in report:
        print(format_table(report))
    if "text_recognition" in report:
        print(format_ocr(report["text_recognition"]))
    print(f"JSON report: {opts.json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
