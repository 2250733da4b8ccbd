"""The read scenario: a 1280x800 window and a 1920x1080 screen of real text, through each engine.

Per engine and image: seconds from the start of recognition to the first block, to its first utterance
(the real Segmenter, flushed at the end of each block), to first audio (the benchmark's speaker: espeak-ng,
a WAV file or silent) and to the whole text; the process's peak resident memory with the recognizer loaded
next to the vision model.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from assistant.speech_out.segmenter import Segmenter
from assistant.trace import Trace

IMAGES = {"window 1280x800": "chromium-table-light.png", "screen 1920x1080": "chromium-screen-1920.png"}
TARGETS = {"window 1280x800": {"first_audio": 1.0, "whole": 2.5}, "screen 1920x1080": {"whole": 3.5}}
PEAK_RSS_TARGET_MB = 1300  # the recognizer beside the default vision model


@dataclass
class ReadHooks:
    """What the benchmark lends this scenario: its speaker, a tag that marks first audio, memory probes."""

    speaker: Any
    tag: Callable[[Trace], object]
    wait_first_audio: Callable[[Trace], None]
    reset_peak: Callable[[], bool]
    peak_mb: Callable[[], float | None]
    rss_mb: Callable[[], float | None]


def default_images(folder: Path) -> dict[str, Path]:
    """The scenario's two images in the project's set."""
    return {label: folder / name for label, name in IMAGES.items()}


def read_once(recognizer: Any, image: Image.Image, hooks: ReadHooks) -> dict[str, Any]:
    """One timed read: recognition streams blocks, the segmenter cuts them, the speaker speaks the first."""
    trace = Trace(0, "read")
    hooks.reset_peak()
    trace.mark("trigger")
    segmenter = Segmenter()
    blocks = 0
    for block in recognizer.recognize(image):
        blocks += 1
        trace.mark("first_block")
        # A block (paragraph, toolbar, table) is a unit: what it holds is said before the next one arrives.
        for utterance in segmenter.feed(block.text()) + segmenter.flush():
            trace.mark("first_utterance")
            hooks.speaker.say(utterance, tag=hooks.tag(trace))
    trace.mark("whole")
    hooks.wait_first_audio(trace)
    hooks.speaker.stop()
    stages = {k: round(v, 4) for k, v in trace.since_trigger().items()}
    return {"stages": stages, "blocks": blocks, "peak_rss_mb": hooks.peak_mb()}


def run(engines: Sequence[str | None], images: dict[str, Path], hooks: ReadHooks, runs: int, warmup: int,
        say: Callable[[str], None]) -> dict[str, Any]:
    """Every engine on every image: median stages over the runs, load time and memory."""
    from assistant.text_recognition import default_registry

    registry = default_registry()
    loaded = {label: _load(path) for label, path in images.items()}
    out: dict[str, Any] = {}
    for engine in engines:
        before = hooks.rss_mb()
        t0 = time.monotonic()
        recognizer = registry.choose("en", engine).recognizer
        load = {"seconds": round(time.monotonic() - t0, 2), "rss_before_mb": before, "rss_after_mb": hooks.rss_mb()}
        entry: dict[str, Any] = {"load": load, "images": {}}
        for label, image in loaded.items():
            say(f"Read {recognizer.name}, {label}: {warmup} warm-up + {runs} runs ...")
            for _ in range(warmup):
                read_once(recognizer, image, hooks)
            done = [read_once(recognizer, image, hooks) for _ in range(runs)]
            entry["images"][label] = summarize(label, done)
        out[recognizer.name] = entry
        del recognizer
    return out


def summarize(label: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each stage over the runs, the peak memory and the targets met."""
    keys = list(dict.fromkeys(k for r in runs for k in r["stages"]))
    median = {k: round(statistics.median(r["stages"][k] for r in runs if k in r["stages"]), 3) for k in keys}
    targets = TARGETS.get(label, {})
    return {"median": median, "peak_rss_mb": max(r["peak_rss_mb"] or 0 for r in runs), "blocks": runs[0]["blocks"],
            "targets": {k: {"target_s": v, "met": median.get(k, float("inf")) <= v} for k, v in targets.items()},
            "runs": runs}


def _load(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def format_table(report: dict[str, Any]) -> str:
    """One line per engine and image: seconds to the first block, utterance, audio and the whole text."""
    lines = [f"read: {report['settings']}", "engine      image               block   utt  audio  whole  peak MB  "
                                          "blocks  target"]
    for name, entry in report["engines"].items():
        for label, img in entry["images"].items():
            m = img["median"]
            verdict = ", ".join(f"{k} <= {v['target_s']} {'ok' if v['met'] else 'MISSED'}"
                                for k, v in img["targets"].items())
            lines.append(f"{name:<12}{label:<18}{_f(m.get('first_block'))}{_f(m.get('first_utterance'))}"
                         f"{_f(m.get('first_audio'))}{_f(m.get('whole'))}{img['peak_rss_mb']:9.0f}"
                         f"{img['blocks']:8d}  {verdict}")
        lines.append(f"{'':<12}load {entry['load']['seconds']:.2f} s, RSS {entry['load']['rss_before_mb']} -> "
                     f"{entry['load']['rss_after_mb']} MB")
    peak = report["peak_rss_mb"]
    lines.append(f"peak RSS with the vision model: {peak['value']:.0f} MB (target <= {peak['target']} MB: "
                 f"{'ok' if peak['met'] else 'MISSED'})")
    return "\n".join(lines)


def _f(value: float | None) -> str:
    return f"{value:7.2f}" if isinstance(value, int | float) else "      -"
