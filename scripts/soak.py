"""Soak test: many describe + follow-up cycles in one process; memory, threads and files must not grow.

Run on demand (a few minutes with the tiny model):

    .venv/bin/python scripts/soak.py                 # 300 cycles, RSS within 10 % of cycle 20
    .venv/bin/python scripts/soak.py --cycles 40 --warmup 10 --tolerance 0.3 --json

Each cycle describes one of several different pictures (so the screenshot is encoded again:
more pictures than the model's context cache holds) and asks a follow-up question about it,
through the real Engine and Speaker, with a tiny random-weight SmolVLM built with the real
classes. Prints a report and exits 1 if RSS, threads or open files grew, or a request failed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assistant.engine import Engine, EngineListener, Request, Result  # noqa: E402
from assistant.model_loading import Ready  # noqa: E402
from assistant.speech_out.speaker import Speaker  # noqa: E402
from assistant.speech_out.tts import make_tts_engine  # noqa: E402
from benchmark.fixed_length import FixedLengthAnswers  # noqa: E402

PICTURES = 6  # more than the model's context cache (4), so describes keep encoding
QUESTIONS = ("What does the dialog ask?", "Is there a Cancel button?", "What colour is the bar?")


@dataclass
class Sample:
    """Process resources after a cycle."""

    cycle: int
    rss_mb: float
    threads: int
    native_threads: int
    fds: int
    seconds: float


@dataclass
class Report:
    cycles: int
    warmup: int
    tolerance: float
    baseline: Sample | None = None
    final: Sample | None = None
    threads_before: int = 0
    threads_after_close: int = 0
    peak_rss_mb: float = 0.0
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems


def rss_mb() -> float:
    """Resident memory now (not the peak): /proc on Linux, else the peak from getrusage."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def native_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def open_fds() -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return -1


def sample(cycle: int, seconds: float) -> Sample:
    gc.collect()
    return Sample(cycle, round(rss_mb(), 1), threading.active_count(), native_threads(), open_fds(),
                  round(seconds, 3))


class _Listener(EngineListener):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Result | None = None

    def on_finished(self, result: Result) -> None:
        self.result = result
        self.done.set()


def make_pictures(folder: Path, count: int = PICTURES) -> list[Path]:
    """Different dialog-like pictures (different pixels, so each is encoded on its own)."""
    from PIL import Image, ImageDraw

    paths = []
    for i in range(count):
        image = Image.new("RGB", (800, 500), (255 - 20 * i, 255, 255))
        draw = ImageDraw.Draw(image)
        draw.rectangle((40 + 10 * i, 40, 760, 460), fill="lightgray", outline="black")
        draw.rectangle((60, 380, 200 + 30 * i, 420), fill=(30 * i, 90, 200))
        draw.text((70, 70), f"Save changes to report-{i}.txt?", fill="black")
        path = folder / f"screen-{i}.png"
        image.save(path)
        paths.append(path)
    return paths


def run(model_dir: Path, pictures: list[Path], cycles: int, warmup: int, tolerance: float,
        tokens: int, speech: str, progress: bool = True) -> Report:
    from models.vision import VisionLanguageModel

    report = Report(cycles, warmup, tolerance)
    model = VisionLanguageModel.load(model_dir, quantize=False)
    report.threads_before = threading.active_count()  # after loading: tqdm keeps a monitor thread
    speaker = Speaker(make_tts_engine(speech))
    listener = _Listener()
    engine = Engine(Ready(FixedLengthAnswers(model)), speaker=speaker, listener=listener)

    def ask(request: Request) -> None:
        listener.done.clear()
        engine.submit(request)
        if not listener.done.wait(300):
            report.failures.append(f"request {request.mode} did not finish in 300 s")
            return
        speaker.wait_idle(60)
        result = listener.result
        if result is None or result.cancelled or result.error is not None or not result.text:
            report.failures.append(f"{request.mode}: {result.error if result else 'no result'}")

    try:
        for cycle in range(1, cycles + 1):
            started = time.monotonic()
            picture = pictures[cycle % len(pictures)]
            ask(Request(mode="describe", target="file", image_path=picture, max_new_tokens=tokens))
            ask(Request(mode="ask", target=None, question=QUESTIONS[cycle % len(QUESTIONS)],
                        max_new_tokens=tokens))
            now = sample(cycle, time.monotonic() - started)
            report.peak_rss_mb = max(report.peak_rss_mb, now.rss_mb)
            if cycle == warmup:
                report.baseline = now
            report.final = now
            if progress and (cycle % 20 == 0 or cycle == cycles):
                print(f"cycle {cycle:4d}: RSS {now.rss_mb:8.1f} MB, threads {now.threads}/"
                      f"{now.native_threads}, fds {now.fds}, {now.seconds:.2f} s", flush=True)
            if len(report.failures) > 5:
                break
        turns = len(engine.conversation.turns) if engine.conversation is not None else 0
        if turns > 2:
            report.problems.append(f"the conversation kept {turns} turns (describe should reset it)")
    finally:
        engine.close()
        speaker.close()
    report.threads_after_close = threading.active_count()
    check(report)
    return report


def check(report: Report) -> None:
    base, end = report.baseline, report.final
    if base is None or end is None:
        report.problems.append("too few cycles to compare (cycles must exceed warmup)")
        return
    limit = base.rss_mb * (1 + report.tolerance)
    if end.rss_mb > limit:
        report.problems.append(f"RSS grew from {base.rss_mb:.1f} MB (cycle {base.cycle}) to "
                               f"{end.rss_mb:.1f} MB, over the {report.tolerance:.0%} allowed "
                               f"({limit:.1f} MB)")
    if end.threads > base.threads:
        report.problems.append(f"Python threads grew from {base.threads} to {end.threads}")
    if end.native_threads > base.native_threads:
        report.problems.append(f"native threads grew from {base.native_threads} to {end.native_threads}")
    if end.fds > base.fds:
        report.problems.append(f"open files grew from {base.fds} to {end.fds}")
    if report.threads_after_close > report.threads_before:
        report.problems.append(f"{report.threads_after_close - report.threads_before} thread(s) "
                               "still running after the engine and speaker were closed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20, help="cycle whose RSS is the baseline")
    parser.add_argument("--tolerance", type=float, default=0.10, help="allowed RSS growth (0.10 = 10 %%)")
    parser.add_argument("--tokens", type=int, default=8, help="tokens per answer")
    parser.add_argument("--model", type=Path, help="a model folder (default: build a tiny one)")
    parser.add_argument("--speech", default="silent", choices=("silent", "pyttsx3"),
                        help="speech engine behind the speaker (pyttsx3 plays real audio)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print the report as JSON at the end")
    args = parser.parse_args(argv)
    if args.cycles <= args.warmup:
        parser.error("--cycles must be larger than --warmup")

    from models import runtime

    runtime.configure_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="screensight-soak-") as tmp:
        folder = Path(tmp)
        model_dir = args.model
        if model_dir is None:
            from models.synthetic import build_vlm

            model_dir = build_vlm(folder / "tiny-vlm", variant="tiny")
        pictures = make_pictures(folder)
        report = run(model_dir, pictures, args.cycles, args.warmup, args.tolerance, args.tokens,
                     args.speech, progress=not args.json)
    if args.json:
        print(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    else:
        base, end = report.baseline, report.final
        print(f"baseline (cycle {base.cycle if base else '-'}): {asdict(base) if base else '-'}")
        print(f"final: {asdict(end) if end else '-'}; peak RSS {report.peak_rss_mb:.1f} MB; "
              f"threads before {report.threads_before}, after close {report.threads_after_close}")
        for line in report.failures + report.problems:
            print(f"FAIL: {line}")
        print("soak OK" if report.ok else "soak FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
