"""Session-wide test set-up: real Xvfb and PulseAudio, and the tiny models built once."""

from __future__ import annotations

import os
import tempfile

import pytest

from tests import services as _services

_STARTED: list[_services.Services] = []


def pytest_configure(config: pytest.Config) -> None:
    # Settings and model caches of the tests never touch the real user's folders.
    home = tempfile.mkdtemp(prefix="screensight-test-home-")
    os.environ["XDG_CONFIG_HOME"] = os.path.join(home, "config")
    os.environ["XDG_CACHE_HOME"] = os.path.join(home, "cache")
    os.environ["XDG_DATA_HOME"] = os.path.join(home, "data")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    _STARTED.append(_services.start_all())


NO_SKIPS_ENV = "SCREENSIGHT_NO_SKIPS"  # set by scripts/test.sh: here every test must run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Where the project's own scripts installed everything (Xvfb, PulseAudio, AT-SPI, Orca,
    tmpfs as root), a skipped test is a missing part, not a pass: fail the run and say which."""
    if not os.environ.get(NO_SKIPS_ENV):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if not skipped:
        return
    reporter.write_line(f"{len(skipped)} test(s) skipped although {NO_SKIPS_ENV} is set; each must run here:",
                        red=True)
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reporter.write_line(f"  {report.nodeid}: {reason}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    while _STARTED:
        _STARTED.pop().stop()


@pytest.fixture(scope="module")
def atspi_bus():
    """A private D-Bus session bus with the AT-SPI bus on it, for tests that read the tree."""
    from tests.atspi_session import private_atspi_bus

    yield from private_atspi_bus()


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight SmolVLM (real Idefics3 classes, real processor files), built once."""
    from models.synthetic import build_vlm

    return build_vlm(tmp_path_factory.mktemp("tiny-vlm"), variant="tiny")


@pytest.fixture(scope="session")
def tiny_vlm(tiny_vlm_dir):
    """The tiny model loaded through the app's own loader (shared: tests must not mutate it)."""
    from models.vision import VisionLanguageModel

    return VisionLanguageModel.load(tiny_vlm_dir, quantize=False)


@pytest.fixture(scope="session")
def tiny_gemma4_dir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight Gemma 4 (real classes, real config shape and processor settings), built once."""
    from models.synthetic_gemma4 import build_gemma4

    return build_gemma4(tmp_path_factory.mktemp("tiny-gemma4"), variant="tiny")


@pytest.fixture(scope="session")
def tiny_gemma4(tiny_gemma4_dir):
    """The tiny Gemma 4 loaded through the app's own loader with int8 language-model weights, as on a
    user's CPU (shared: tests must not mutate it)."""
    from models.loader import load_vision_model

    return load_vision_model(tiny_gemma4_dir, device="cpu", quantize=True)


@pytest.fixture(scope="session")
def tiny_moonshine_dir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight Moonshine (real classes, real tokenizer ids), built once."""
    from models.synthetic_speech import build_tiny_moonshine

    return build_tiny_moonshine(tmp_path_factory.mktemp("tiny-moonshine"))


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight Whisper (real classes, real processor files), built once."""
    from models.synthetic_speech import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))
