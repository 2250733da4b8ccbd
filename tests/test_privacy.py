"""Nothing leaves the machine, and nothing the user saw or said is written to disk.

A describe (the CLI in-process, real Xvfb screen, real espeak-ng speech through PulseAudio) and
a voice question (real microphone recording through PulseAudio, tiny Moonshine, tiny SmolVLM)
run with every outbound network connection and name lookup blocked and recorded in-process;
the tests assert that none was even tried. Local IPC (AF_UNIX: X11, D-Bus) is allowed and only
counted. A model download reaches only the local hub emulator on 127.0.0.1.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from PIL import Image

from assistant.engine import Engine, EngineListener, Request
from assistant.model_loading import Ready
from base.errors import DownloadError
from screensight import cli
from tests.hub_server import HubServer
from tests.x11_helpers import XDesktop

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    """Records every network connection and name lookup tried in this process and refuses it.

    With `allow_loopback`, connections and lookups of 127.0.0.1 / ::1 / localhost go through
    (still recorded). AF_UNIX sockets are local IPC, not network: they go through and are
    counted in `local`.
    """

    def __init__(self, allow_loopback: bool = False) -> None:
        self.allow_loopback = allow_loopback
        self.attempts: list[tuple[str, object]] = []
        self.local: list[object] = []
        self._lock = threading.Lock()

    def _record(self, kind: str, target: object) -> None:
        with self._lock:
            self.attempts.append((kind, target))

    def _allowed(self, host: object) -> bool:
        return self.allow_loopback and _is_loopback(host)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
        guard = self
        real = {name: getattr(socket.socket, name)
                for name in ("connect", "connect_ex", "sendto", "sendmsg")}
        real_getaddrinfo = socket.getaddrinfo
        real_gethostbyname = socket.gethostbyname
        real_gethostbyname_ex = socket.gethostbyname_ex
        real_create_connection = socket.create_connection

        def local(sock: socket.socket) -> bool:
            return sock.family == getattr(socket, "AF_UNIX", None)

        def refuse(kind: str, target: object) -> OSError:
            return OSError(errno.ENETUNREACH, f"network blocked by the privacy test ({kind} {target!r})")

        def connect(sock, address):
            if local(sock):
                guard.local.append(address)
                return real["connect"](sock, address)
            guard._record("connect", address)
            if guard._allowed(address[0]):
                return real["connect"](sock, address)
            raise refuse("connect", address)

        def connect_ex(sock, address):
            if local(sock):
                guard.local.append(address)
                return real["connect_ex"](sock, address)
            guard._record("connect_ex", address)
            if guard._allowed(address[0]):
                return real["connect_ex"](sock, address)
            return errno.ENETUNREACH

        def sendto(sock, data, *args):
            address = args[-1]
            if local(sock):
                return real["sendto"](sock, data, *args)
            guard._record("sendto", address)
            if guard._allowed(address[0]):
                return real["sendto"](sock, data, *args)
            raise refuse("sendto", address)

        def sendmsg(sock, buffers, ancdata=(), flags=0, address=None):
            if local(sock) or address is None:
                return real["sendmsg"](sock, buffers, ancdata, flags, *([address] if address else []))
            guard._record("sendmsg", address)
            if guard._allowed(address[0]):
                return real["sendmsg"](sock, buffers, ancdata, flags, address)
            raise refuse("sendmsg", address)

        def getaddrinfo(host, *args, **kwargs):
            guard._record("getaddrinfo", host)
            if host is None or guard._allowed(host):
                return real_getaddrinfo(host, *args, **kwargs)
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup blocked by the privacy test ({host!r})")

        def gethostbyname(host):
            guard._record("gethostbyname", host)
            if guard._allowed(host):
                return real_gethostbyname(host)
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup blocked ({host!r})")

        def gethostbyname_ex(host):
            guard._record("gethostbyname_ex", host)
            if guard._allowed(host):
                return real_gethostbyname_ex(host)
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup blocked ({host!r})")

        def create_connection(address, *args, **kwargs):
            guard._record("create_connection", address)
            if guard._allowed(address[0]):
                return real_create_connection(address, *args, **kwargs)
            raise refuse("create_connection", address)

        for name, fn in (("connect", connect), ("connect_ex", connect_ex), ("sendto", sendto),
                         ("sendmsg", sendmsg)):
            monkeypatch.setattr(socket.socket, name, fn)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket, "gethostbyname", gethostbyname)
        monkeypatch.setattr(socket, "gethostbyname_ex", gethostbyname_ex)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        return self


class DiskWatch:
    """Polls folders while the code under test runs and records every file that appears."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(r) for r in roots]
        self.appeared: dict[str, int] = {}  # path -> mode of the folder it appeared in
        self._baseline: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="disk-watch", daemon=True)

    def _files(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for root in self.roots:
            for folder, _dirs, files in os.walk(root):
                for name in files:
                    found[os.path.join(folder, name)] = folder
        return found

    def _scan(self) -> None:
        for path, folder in self._files().items():
            if path not in self._baseline and path not in self.appeared:
                try:
                    self.appeared[path] = stat.S_IMODE(os.stat(folder).st_mode)
                except FileNotFoundError:
                    self.appeared[path] = -1

    def _poll(self) -> None:
        while not self._stop.wait(0.001):
            self._scan()

    def __enter__(self) -> DiskWatch:
        self._baseline = set(self._files())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._scan()

    def remaining(self) -> set[str]:
        """Files that appeared and are still there."""
        return {p for p in self.appeared if os.path.exists(p)}


def _xdg_dirs() -> list[Path]:
    dirs = [Path(os.environ[k]) for k in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _log_files() -> set[str]:
    """The app's own log (stage timings and errors), the one file a describe may write."""
    from base.paths import cache_dir

    return {str(p) for p in (cache_dir() / "logs").glob("screensight.log*")}


@pytest.fixture
def private_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder only this test uses (other processes on the machine write to /tmp)."""
    folder = tmp_path_factory.mktemp("private-tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


@pytest.fixture
def online_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a user's machine: no HF_HUB_OFFLINE safety net from the test set-up."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def guard(online_env, monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    return NetworkGuard().install(monkeypatch)


@pytest.fixture
def desktop(monkeypatch: pytest.MonkeyPatch) -> Iterator[XDesktop]:
    """A private X screen showing a dialog-like window (not black, so the model really runs)."""
    made = XDesktop("1280x800x24")
    made.fill_root((40, 90, 160))
    win = made.window("Bank account - Statement", (200, 150, 700, 450), (245, 245, 245))
    made.fill(win, (40, 40, 500, 60), (20, 20, 20))
    made.fill(win, (40, 140, 300, 40), (200, 30, 30))
    monkeypatch.setenv("DISPLAY", made.display)
    yield made
    made.close()


def _check_disk(watch: DiskWatch, answer: str) -> None:
    """Only the speech engine's private temp WAVs may appear, and none may stay."""
    logs = _log_files()
    for path, mode in watch.appeared.items():
        if path in logs:
            continue
        folder = Path(path).parent
        assert folder.name.startswith("screensight-tts-") and path.endswith(".wav"), \
            f"a describe wrote {path}"
        assert mode in (0o700, -1), f"{folder} is not private ({oct(mode)})"
    leftover = watch.remaining() - logs
    assert not leftover, f"files left behind: {sorted(leftover)}"
    for log in logs:  # the log keeps timings and errors, not what was on screen
        text = Path(log).read_text(encoding="utf-8", errors="replace")
        assert len(answer) < 12 or answer not in text


# ------------------------------------------------------------------------------- the guard


def test_the_guard_blocks_and_records_real_attempts(guard):
    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.com/", timeout=2)
    with pytest.raises(OSError):
        socket.create_connection(("10.11.12.13", 443), timeout=1)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(OSError):
            sock.sendto(b"x", ("192.0.2.1", 53))
        assert sock.connect_ex(("192.0.2.1", 80)) == errno.ENETUNREACH
    finally:
        sock.close()
    kinds = [kind for kind, _ in guard.attempts]
    assert "getaddrinfo" in kinds and "create_connection" in kinds
    assert "sendto" in kinds and "connect_ex" in kinds


# ------------------------------------------------------------------------------- describe


def test_cli_describe_of_the_screen_opens_no_network_and_writes_nothing(
        desktop, tiny_vlm_dir, guard, private_tmp, capsys):
    with DiskWatch([private_tmp, *_xdg_dirs()]) as watch:
        code = cli.main(["describe", "--screen", "--model", str(tiny_vlm_dir), "--json",
                         "--max-tokens", "12"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert '"source": "screen"' in out.out and '"text": "' in out.out
    assert "screen is black" not in out.out  # the model really ran on the window
    assert guard.attempts == [], guard.attempts
    answer = out.out.split('"text": "', 1)[1].split('",', 1)[0]
    _check_disk(watch, answer)
    # espeak-ng really synthesized (and so really wrote its temporary WAVs)
    assert any(p.endswith(".wav") for p in watch.appeared), "no speech was synthesized"


def test_describe_with_a_model_that_is_not_downloaded_does_not_download(
        guard, private_tmp, tmp_path, capsys):
    picture = tmp_path / "p.png"
    Image.new("RGB", (300, 200), "white").save(picture)
    code = cli.main(["describe", "--image", str(picture), "--model", "smolvlm-256m", "--no-speak"])
    err = capsys.readouterr().err
    assert code == 1
    assert "not downloaded" in err and "screensight models download smolvlm-256m" in err
    assert guard.attempts == []


# ------------------------------------------------------------------------------- voice


@pytest.fixture
def one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class _Listener(EngineListener):
    def __init__(self) -> None:
        self.results: list = []
        self.questions: list[str] = []

    def on_question(self, request_id: int, question: str) -> None:
        self.questions.append(question)

    def on_finished(self, result) -> None:
        self.results.append(result)


def _spoken_question(folder: Path) -> Path:
    path = folder / "question.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "what does the red text say"], check=True,
                   capture_output=True)
    return path


def test_voice_question_opens_no_network_and_keeps_the_recording_in_memory(
        desktop, tiny_vlm, tiny_moonshine_dir, tmp_path_factory, one_thread, online_env, monkeypatch):
    from assistant.capture import default_backend
    from assistant.speech_in.audio_in import Recorder
    from assistant.speech_out.speaker import Speaker
    from assistant.speech_out.tts import Pyttsx3Engine
    from models.speech import SpeechRecognizer

    question_wav = _spoken_question(tmp_path_factory.mktemp("voice"))
    folder = tmp_path_factory.mktemp("private-tmp")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    guard = NetworkGuard().install(monkeypatch)
    recognizers: list[SpeechRecognizer] = []

    def transcriber() -> SpeechRecognizer:
        if not recognizers:
            recognizers.append(SpeechRecognizer.load(tiny_moonshine_dir, threads=1))
        return recognizers[0]

    with DiskWatch([folder, *_xdg_dirs()]) as watch:
        speaker = Speaker(Pyttsx3Engine())
        listener = _Listener()
        engine = Engine(Ready(tiny_vlm), capture=default_backend, speaker=speaker, listener=listener,
                        transcriber=transcriber)
        try:
            audio: Future = Future()
            # Push-to-talk pressed: the screenshot is taken and encoded while the user speaks.
            engine.submit(Request(mode="ask", target="screen", audio=audio, max_new_tokens=10))
            recorder = Recorder(max_seconds=15)
            recorder.start()
            subprocess.run(["paplay", "--device=mic", str(question_wav)], check=True, timeout=30)
            played = time.monotonic()
            # The recording holds the last word once a sample taken after paplay ended arrived.
            deadline = played + 10
            while recorder.taken_until <= played:
                assert time.monotonic() < deadline, "the microphone stopped delivering"
                time.sleep(0.02)  # polling interval of a wait with a deadline
            recording = recorder.stop()
            audio.set_result(recording)
            assert engine.wait_idle(120)
            assert speaker.wait_idle(60)
        finally:
            engine.close()
            speaker.close()
    assert recording.rms > 0.005, "the microphone recorded silence: the test would prove nothing"
    (result,) = listener.results
    assert result.error is None, result.error
    assert result.question and listener.questions == [result.question]
    assert result.text
    assert guard.attempts == [], guard.attempts
    _check_disk(watch, result.text)
    assert any(p.endswith(".wav") for p in watch.appeared), "no speech was synthesized"


# ------------------------------------------------------------------------------- download


def test_download_reaches_only_the_local_hub(online_env, monkeypatch, tmp_path):
    from models import store
    from models.catalog import ModelInfo
    from tests.test_store import REPO_ID, make_model_folder

    repo = make_model_folder(tmp_path / "repo")
    server = HubServer()
    commit = server.add_repo(REPO_ID, repo)
    info = ModelInfo(id="privacy-tiny", repo_id=REPO_ID, revision=commit, role="vision",
                     family="idefics3", label="tiny", size_mb=2, ram_mb=10, licence="Apache-2.0",
                     languages=("en",), good_for="tests")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    guard = NetworkGuard(allow_loopback=True).install(monkeypatch)
    with server:
        folder = store.download(info, retries=1, backoff=0.01, timeout=10.0)
    assert (folder / "model.safetensors").is_file()
    connects = [target for kind, target in guard.attempts if kind in ("connect", "connect_ex")]
    assert connects, "the download made no connection: the guard saw nothing"
    assert all(_is_loopback(kind_target[1] if kind_target[0] == "getaddrinfo" else kind_target[1][0])
               for kind_target in guard.attempts), guard.attempts


def test_default_hub_is_refused_by_the_guard_and_said_plainly(online_env, monkeypatch, tmp_path):
    """Without a local hub the same download tries the internet: the guard must see it."""
    from models import store
    from models.catalog import get_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    guard = NetworkGuard(allow_loopback=True).install(monkeypatch)
    with pytest.raises(DownloadError) as caught:
        store.download(get_model("smolvlm-256m"), retries=1, backoff=0.01, timeout=2.0)
    assert guard.attempts and not all(_is_loopback(t if k == "getaddrinfo" else t[0])
                                      for k, t in guard.attempts)
    assert "could not reach https://huggingface.co" in str(caught.value)

