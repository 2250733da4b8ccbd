"""The `screensight` command line: describe, models, bench, and starting the desktop app."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from base.errors import ConfigError, ScreenSightError
from base.vocabulary import Detail, Mode, ReadWith, Role, Target

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="screensight",
        description="Describe the screen aloud with an on-device model. With no command, start the app.",
    )
    parser.add_argument("--trigger", metavar="ACTION",
                        help="tell the running app to act, e.g. describe-window (for desktop shortcuts)")
    parser.add_argument("--self-test", action="store_true", help="check this machine and report")
    parser.add_argument("--json", dest="self_test_json", action="store_true",
                        help="with --self-test: print the checks as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="log timings and errors to stderr")
    sub = parser.add_subparsers(dest="command")

    d = sub.add_parser("describe", help="describe an image, the screen, a window or a region")
    what = d.add_mutually_exclusive_group()
    what.add_argument("--image", type=Path, help="an image file")
    what.add_argument("--screen", action="store_true", help="the monitor under the mouse pointer")
    what.add_argument("--window", action="store_true", help="the active window (the default)")
    what.add_argument("--pointer", action="store_true", help="the area around the mouse pointer")
    what.add_argument("--region", metavar="X,Y,W,H", help="a rectangle of the desktop")
    d.add_argument("--question", "-q", action="append", default=[],
                   help="ask about it; repeat for follow-ups on the same screenshot")
    d.add_argument("--mode", choices=[m.value for m in (Mode.DESCRIBE, Mode.MORE, Mode.READ)],
                   default=Mode.DESCRIBE.value,
                   help="describe briefly, in detail (more), or read the text")
    d.add_argument("--read-with", choices=[w.value for w in ReadWith],
                   help="read mode: text recognition (exact, the default) or the vision model")
    d.add_argument("--find", metavar="WORD", help="find this text and say where it is (see: screensight find)")
    d.add_argument("--model", help="a catalog id or a model folder (default: the setting)")
    d.add_argument("--detail", choices=[level.value for level in Detail], help="how many pixels go in")
    d.add_argument("--language", help="answer language code, e.g. de; auto = the question's")
    d.add_argument("--no-speak", action="store_true", help="print only")
    d.add_argument("--wav", type=Path, help="write the speech to this WAV file instead of playing it")
    d.add_argument("--json", action="store_true", help="print one JSON object at the end")
    d.add_argument("--trace", action="store_true", help="print the timing of each stage")
    d.add_argument("--threads", type=int, help="CPU threads for the model (default: physical cores)")
    d.add_argument("--no-quantize", action="store_true", help="keep full-precision linear layers")
    d.add_argument("--max-tokens", type=int, help="longest answer in tokens")

    f = sub.add_parser("find", help="find text in the active window (or an image) and say where it is")
    f.add_argument("word", help="the word or words to find")
    f.add_argument("--image", type=Path, help="an image file instead of the active window")
    f.add_argument("--move", action="store_true", help="move the mouse pointer to what was found")
    f.add_argument("--no-speak", action="store_true", help="print only")
    f.add_argument("--json", action="store_true", help="print one JSON object at the end")
    f.add_argument("--language", help="the language of the text, e.g. de")

    m = sub.add_parser("models", help="list, download, locate or verify models")
    msub = m.add_subparsers(dest="models_command", required=True)
    msub.add_parser("list", help="the models ScreenSight knows")
    for name, text in (("download", "download a model into the user cache"),
                       ("path", "print where a model is"), ("verify", "check a model's files")):
        p = msub.add_parser(name, help=text)
        p.add_argument("id", help="a catalog id (see: screensight models list), or a folder for verify")

    sub.add_parser("bench", help="measure key press to first spoken word (see: screensight bench --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from models.runtime import prefer_passive_openmp

    prefer_passive_openmp()  # before anything imports torch: idle threads must not spin
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from benchmark.run import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        if args.self_test:
            from assistant.selftest import run_self_test

            return run_self_test(as_json=args.self_test_json)
        if args.trigger:
            from ui.single_instance import send_trigger

            return EXIT_OK if send_trigger(args.trigger) else EXIT_ERROR
        if args.command == "describe":
            return _describe(args)
        if args.command == "find":
            return _describe(_find_args(args))
        if args.command == "models":
            return _models(args)
        from ui.app import main as app_main

        return app_main()
    except ScreenSightError as exc:
        _error(exc)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_ERROR
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _setup_logging(verbose: bool) -> None:
    """The private log file; content (screen text, questions, answers) only if the user asked."""
    from assistant.config import load_settings
    from assistant.logging_setup import setup_logging

    try:
        debug_content = load_settings().debug_log_content
    except ScreenSightError:
        debug_content = False  # the broken settings file is reported by the command itself
    try:
        setup_logging(debug_content, verbose)
    except OSError as exc:  # an unwritable cache folder must not stop the command
        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
        logging.getLogger(__name__).warning("no log file: %s", exc)


def _error(exc: ScreenSightError) -> None:
    print(f"screensight: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"  {exc.hint}", file=sys.stderr)


class _PrintingListener:
    """Prints text as it streams and collects results."""

    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.results: list[Any] = []
        self.done = threading.Event()

    def on_started(self, request_id: int, request: Any) -> None: ...
    def on_question(self, request_id: int, question: str) -> None: ...
    def on_utterance(self, request_id: int, text: str) -> None: ...

    def on_status(self, request_id: int, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def on_progress(self, request_id: int, message: str, percent: int) -> None:
        if percent % 10 == 0:
            print(f"{message}: {percent} %", file=sys.stderr, flush=True)

    def on_text(self, request_id: int, piece: str) -> None:
        if self.stream:
            sys.stdout.write(piece)
            sys.stdout.flush()

    def on_finished(self, result: Any) -> None:
        if self.stream and result.text:
            sys.stdout.write("\n")
            sys.stdout.flush()
        self.results.append(result)
        self.done.set()


def _find_args(args: argparse.Namespace) -> argparse.Namespace:
    """`screensight find WORD` as the describe command with --find WORD."""
    return argparse.Namespace(
        image=args.image, screen=False, window=args.image is None, pointer=False, region=None, question=[],
        mode=Mode.READ, read_with=ReadWith.OCR, find=args.word, model=None, detail=None, language=args.language,
        no_speak=args.no_speak, wav=None, json=args.json, trace=False, threads=None, no_quantize=False,
        max_tokens=None, move=args.move)


def _describe(args: argparse.Namespace) -> int:
    from assistant.capture import parse_region
    from assistant.config import load_settings
    from assistant.engine import Engine, Request
    from assistant.model_loading import TextRecognizerLoader, VisionModelLoader

    settings = load_settings()
    if args.image is not None:
        target, region = Target.FILE, None
    elif args.screen:
        target, region = Target.SCREEN, None
    elif args.pointer:
        target, region = Target.POINTER, None
    elif args.region:
        target, region = Target.REGION, parse_region(args.region)
    else:
        target, region = Target.WINDOW, None
    if args.image is not None:
        # Fail on a bad file before loading a model for it.
        from assistant.images import load_image

        load_image(args.image)
    model_source = args.model or settings.vision_model
    read_with = ReadWith(args.read_with or settings.read_with)
    mode = Mode.FIND if args.find else Mode(args.mode)
    if mode in (Mode.DESCRIBE, Mode.MORE) or args.question or (mode == Mode.READ and read_with == ReadWith.MODEL):
        from assistant.model_loading import check_source

        check_source(model_source, Role.VISION)
    loader = VisionModelLoader(model_source, quantize=settings.quantize and not args.no_quantize,
                         threads=args.threads or settings.threads or None)
    speaker = _make_speaker(args, settings)
    listener = _PrintingListener(stream=not args.json)
    capture_factory = secure_input = None
    if target != Target.FILE:
        from assistant.capture import default_backend
        from assistant.secure_input import default_detector

        capture_factory, secure_input = default_backend, default_detector()
    language = args.language or settings.language
    pointer = None
    if getattr(args, "move", False):
        from assistant.pointer import default_pointer

        pointer = default_pointer()
    engine = Engine(loader, capture=capture_factory, speaker=speaker, listener=listener,
                    detail=Detail(args.detail or settings.detail), language=language, secure_input=secure_input,
                    text_recognizer=TextRecognizerLoader(settings.text_engine, language),
                    pointer=pointer, read_with=read_with)
    requests = [Request(mode=mode, target=target, region=region, image_path=args.image,
                        max_new_tokens=args.max_tokens, question=args.find or "")]
    first, *follow_ups = args.question or [""]
    if first:
        requests[0].mode, requests[0].question = Mode.ASK, first
    for question in follow_ups:
        requests.append(Request(mode=Mode.ASK, target=None, question=question,
                                max_new_tokens=args.max_tokens))
    try:
        for request in requests:
            listener.done.clear()
            request.triggered_at = time.monotonic()
            engine.submit(request)
            listener.done.wait()
            result = listener.results[-1]
            if result.error is not None:
                raise result.error
            if speaker is not None:
                speaker.wait_idle()
    except KeyboardInterrupt:
        engine.cancel()
        raise
    finally:
        engine.close()
        if secure_input is not None:
            secure_input.close()
        if speaker is not None:
            speaker.close()
    for result in listener.results:
        for note in result.recognized.notes if result.recognized is not None else ():
            print(f"screensight: {note}", file=sys.stderr)
    if args.trace:
        for result in listener.results:
            print(result.trace.format(), file=sys.stderr)
    if args.json:
        print(json.dumps([_result_json(r) for r in listener.results] if len(listener.results) > 1
                         else _result_json(listener.results[0]), ensure_ascii=False, indent=2))
    return EXIT_OK


def _make_speaker(args: argparse.Namespace, settings: Any) -> Any:
    if args.no_speak and args.wav is None:
        return None
    from assistant.speech_out.speaker import Speaker
    from assistant.speech_out.tts import make_tts_engine
    from base.errors import SpeechError

    try:
        tts = make_tts_engine("wav", wav_path=args.wav) if args.wav else make_tts_engine("pyttsx3")
        tts.configure(voice=settings.voice or None, rate=settings.rate, volume=settings.volume)
    except SpeechError as exc:
        _error(exc)
        print("  Continuing with text only.", file=sys.stderr)
        return None
    def report(exc: Exception) -> None:
        print(f"screensight: speech failed: {exc}", file=sys.stderr)

    return Speaker(tts, on_error=report)


def _result_json(result: Any) -> dict[str, Any]:
    capture = None
    if result.capture is not None:
        c = result.capture
        capture = {"source": c.source, "rect": c.rect, "title": c.title, "size": list(c.image.size)}
    return {
        "request_id": result.request_id,
        "mode": result.request.mode,
        "question": result.question,
        "text": result.text,
        "cancelled": result.cancelled,
        "capture": capture,
        "trace": result.trace.as_dict()["seconds"],
        **_recognized_json(result),
    }


def _recognized_json(result: Any) -> dict[str, Any]:
    """Read and find results: every line with its box (image pixels) and desktop point."""
    if result.recognized is None:
        return {}
    from assistant.pointer import screen_point

    rect = result.capture.rect if result.capture is not None else None
    lines = [{"text": line.text, "box": list(line.box), "confidence": round(line.confidence, 3),
              "where": result.recognized.where(line),
              "point": screen_point(rect, result.recognized.image_size, line.box)}
             for line in result.recognized.lines]
    found = None
    if result.found is not None:
        found = {"text": result.found.text, "box": list(result.found.box), "point": result.point,
                 "where": result.recognized.where(result.found)}
    return {"engine": result.recognized.engine, "notes": list(result.recognized.notes), "lines": lines,
            "found": found}


def _models(args: argparse.Namespace) -> int:
    from models import catalog, store

    if args.models_command == "list":
        _list_models()
        return EXIT_OK
    if args.models_command == "path":
        print(store.resolve(args.id))
        return EXIT_OK
    if args.models_command == "verify":
        report = store.verify(args.id)
        for problem in report.problems:
            print(f"problem: {problem}")
        print("ok" if report.ok else "damaged: download it again with: "
              f"screensight models download {args.id}")
        return EXIT_OK if report.ok else EXIT_ERROR
    if args.models_command == "download":
        info = catalog.get_model(args.id)
        print(f"Downloading {info.label} ({info.size_mb} MB, {info.licence}).", file=sys.stderr)
        path = store.download(info.id, progress=_progress_bar())
        print(file=sys.stderr)
        print(path)
        return EXIT_OK
    return EXIT_USAGE


def _list_models() -> None:
    """The vision tiers (the one recommended for this computer marked), then the speech models."""
    from models import catalog
    from models.machine import recommended_tier_here

    recommended = recommended_tier_here()
    print("Vision models, by tier (* = recommended for this computer):")
    for info in catalog.tier_ordered([m for m in catalog.all_models() if m.role == Role.VISION]):
        mark = "*" if info.tier == recommended and info.tier_default else " "
        _print_model(info, f"{mark} {catalog.tier_choice_label(info)}")
    print("Speech models (for spoken questions to the SmolVLM tiers):")
    for info in catalog.all_models():
        if info.role == Role.SPEECH:
            _print_model(info, f"  {info.label}")


def _print_model(info: Any, title: str) -> None:
    from models import catalog, store

    where = "downloaded" if store.is_downloaded(info) else "not downloaded"
    print(f"{title}  [{info.id}, {where}]")
    print(f"    {catalog.model_facts(info)}")
    print(f"    {info.good_for}")


def _progress_bar():
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and done < total:
            return
        last[0] = now
        if total:
            width = 30
            filled = int(width * done / total)
            print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done / 1e6:7.1f} / {total / 1e6:.1f} MB",
                  end="", file=sys.stderr, flush=True)
        else:
            print(f"\r{done / 1e6:7.1f} MB", end="", file=sys.stderr, flush=True)

    return show
