"""A private desktop like a blind user's: X server, window manager, tray, AT-SPI, Orca, speech.

`DesktopSession.start(root)` starts, each with a deadline and in this order:

- Xvfb 1280x800 (its own display: the rest of the suite keeps the session's display);
- openbox (`--sm-disable`), ready once _NET_SUPPORTING_WM_CHECK is on the root window;
- tint2 as the system tray, ready once it owns the _NET_SYSTEM_TRAY_S0 selection;
- the AT-SPI bus on the session bus of `dbus-run-session`, with org.a11y.Status IsEnabled and
  ScreenReaderEnabled set true, as a desktop with a screen reader on has them;
- speech-dispatcher (espeak-ng module) with a log that records every message it is asked to
  speak, on a socket of its own (SPEECHD_ADDRESS), its audio on a null sink "reader" of the test
  PulseAudio, so the "speaker" sink carries only the app's own voice and earcons;
- Orca, in a PID namespace of its own (Orca will not start beside another Orca of the same user,
  and other test sessions may run one), with private settings (speech on, speech-dispatcher as
  the server) and a debug log
  (buffered: complete once Orca exits), ready once it said "Screen reader on" through
  speech-dispatcher, which it does after connecting to the AT-SPI registry;
- a key-echo xterm (tests/key_echo.py): every key that reaches it is written to a file.

Clients of this desktop get `session.env` (DISPLAY, SPEECHD_ADDRESS, ...); os.environ is not
changed. `stop()` ends everything in reverse order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from Xlib import X, Xatom
from Xlib import display as xdisplay
from Xlib import error as xerror

from tests.services import Services, start_xvfb
from tests.speechd_service import SpeechDispatcherService, start_speech_dispatcher

ROOT = Path(__file__).resolve().parent.parent
SIZE = "1280x800x24"
ECHO_TITLE = "Key echo"
BINARIES = ("Xvfb", "openbox", "tint2", "orca", "speech-dispatcher", "xterm", "xdotool", "gdbus",
            "pactl")
AT_SPI_BUS_LAUNCHER = ("/usr/libexec/at-spi-bus-launcher", "/usr/lib/at-spi2-core/at-spi-bus-launcher")


def _own_pid_namespace() -> list[str]:
    """The command prefix that runs a program in a PID namespace of its own ([] if none can be made)."""
    prefix = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
    if shutil.which("unshare") is None:
        return []
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else []


def missing_binaries() -> list[str]:
    """The programs this desktop needs that are not installed."""
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if not any(os.path.exists(path) for path in AT_SPI_BUS_LAUNCHER):
        missing.append("at-spi-bus-launcher")
    return missing


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             proc: subprocess.Popen | None = None, interval: float = 0.05, log: Path | None = None) -> object:
    """Poll `predicate` until it returns something true; raise TimeoutError naming `what` (with the
    end of the process's `log`, when given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{_log_tail(log)}")
        time.sleep(interval)


def _log_tail(log: Path | None, lines: int = 25) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; the end of {log.name}:\n" + "\n".join(tail)


class SpeechLog:
    """What speech-dispatcher was asked to speak, read from its own log (log level 5).

    Each message handed to the synthesizer appears as `Command sent to output module: |SSML| (N)`
    (tests/speechd_service.py); the tags are removed here. The file is read incrementally.
    """

    _SENT = re.compile(r"Command sent to output module: \|(.*?)\| \(\d+\)", re.DOTALL)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._buffer = ""
        self._messages: list[str] = []

    def messages(self) -> list[str]:
        """Every message queued so far, in order, as plain text."""
        if self.path.exists():
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
            self._offset += len(data)
            self._buffer += data.decode("utf-8", errors="replace")
            end = 0
            for match in self._SENT.finditer(self._buffer):
                if match.group(1).lstrip().startswith("<speak>"):
                    self._messages.append(_plain(match.group(1)))
                end = match.end()
            # keep an unfinished last message for the next read
            tail = self._buffer[end:]
            start = tail.rfind("Command sent to output module: |")
            self._buffer = tail[start:] if start >= 0 else tail[-200:]
        return list(self._messages)

    def mark(self) -> int:
        """A position: `since(mark)` gives the messages queued after it."""
        return len(self.messages())

    def since(self, mark: int) -> list[str]:
        return self.messages()[mark:]

    def text_since(self, mark: int) -> str:
        return normalise(" ".join(self.since(mark)))


def _plain(ssml: str) -> str:
    text = re.sub(r"<[^>]*>", " ", ssml)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return " ".join(text.split())


def normalise(text: str) -> str:
    """Lower case, words only: for comparing what was shown with what was spoken."""
    return " ".join(re.findall(r"\w+", text.lower()))


@dataclass
class DesktopSession:
    """The running desktop; `env` is the environment for a client on it."""

    root: Path
    services: Services = field(default_factory=Services)
    env: dict[str, str] = field(default_factory=dict)
    display: str = ""
    speech: SpeechLog | None = None
    speechd: SpeechDispatcherService | None = None
    orca_log: Path | None = None
    echo_log: Path | None = None
    echo_window: int = 0
    _conn: object = None
    _modules: list[str] = field(default_factory=list)

    # -- start ---------------------------------------------------------------------------------

    @classmethod
    def start(cls, root: Path) -> DesktopSession:
        session = cls(Path(root))
        try:
            session._start()
        except BaseException:
            session.stop()
            raise
        return session

    def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        home = self.root / "home"
        for sub in ("config", "data", "cache", "runtime"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(home / "runtime", 0o700)
        self.display = start_xvfb(self.services, SIZE)
        self.env = dict(os.environ, DISPLAY=self.display,
                        XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
                        XDG_CACHE_HOME=str(home / "cache"), XDG_RUNTIME_DIR=str(home / "runtime"),
                        XDG_SESSION_TYPE="x11", GTK_A11Y="atspi", NO_AT_BRIDGE="0")
        self.env.pop("QT_QPA_PLATFORM", None)
        self.env.pop("WAYLAND_DISPLAY", None)
        self._conn = wait_for(self._connect, 15, "the X server")
        self._start_openbox()
        self._start_tint2()
        self._start_atspi()
        self._start_speech_dispatcher()
        self._start_orca()
        self._start_echo()

    def _connect(self):
        try:
            return xdisplay.Display(self.display)
        except (xerror.DisplayError, ConnectionError, OSError):
            return None

    def _spawn(self, argv: list[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = (self.root / log_name).open("ab")
        proc = subprocess.Popen(argv, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT)
        log.close()
        self.services.procs.append(proc)
        return proc

    def atom(self, name: str) -> int:
        return self._conn.intern_atom(name)

    def _root_window(self):
        return self._conn.screen().root

    def _start_openbox(self) -> None:
        proc = self._spawn(["openbox", "--sm-disable"], "openbox.log")
        check = self.atom("_NET_SUPPORTING_WM_CHECK")

        def managed() -> bool:
            prop = self._root_window().get_full_property(check, Xatom.WINDOW)
            return bool(prop is not None and prop.value)

        wait_for(managed, 20, "openbox to manage the display (_NET_SUPPORTING_WM_CHECK)", proc)

    def _start_tint2(self) -> None:
        proc = self._spawn(["tint2", "-c", "/etc/xdg/tint2/tint2rc"], "tint2.log")
        selection = self.atom("_NET_SYSTEM_TRAY_S0")
        wait_for(lambda: self._conn.get_selection_owner(selection) != X.NONE, 20,
                 "tint2 to own the system tray (_NET_SYSTEM_TRAY_S0)", proc)

    # -- AT-SPI --------------------------------------------------------------------------------

    def _gdbus(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["gdbus", "call", "--session", *args], env=self.env,
                              capture_output=True, text=True, timeout=15)

    def _name_owned(self, name: str) -> bool:
        reply = self._gdbus("--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
                            "--method", "org.freedesktop.DBus.NameHasOwner", name)
        return "true" in reply.stdout

    def _start_atspi(self) -> None:
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            raise RuntimeError("no D-Bus session bus: run the tests under dbus-run-session")
        if not self._name_owned("org.a11y.Bus"):
            launcher = next(p for p in AT_SPI_BUS_LAUNCHER if os.path.exists(p))
            proc = self._spawn([launcher, "--launch-immediately"], "at-spi-bus-launcher.log")
            wait_for(lambda: self._name_owned("org.a11y.Bus"), 20, "the AT-SPI bus (org.a11y.Bus)", proc)
        self._set_a11y_status(True)
        reply = self._gdbus("--dest", "org.a11y.Bus", "--object-path", "/org/a11y/bus", "--method",
                            "org.a11y.Bus.GetAddress")
        if "unix:" not in reply.stdout:
            raise RuntimeError(f"the AT-SPI bus has no address: {reply.stdout} {reply.stderr}")
        # gsettings of a desktop with the screen reader on (memory backend if dconf is absent)
        subprocess.run(["gsettings", "set", "org.gnome.desktop.a11y.applications", "screen-reader-enabled",
                        "true"], env=self.env, capture_output=True, timeout=15)

    def _set_a11y_status(self, on: bool) -> None:
        """org.a11y.Status IsEnabled and ScreenReaderEnabled: true while this desktop runs; false
        again at the end, since the session bus is shared with the other test modules (whose
        screen-reader detection must not see a reader that is gone)."""
        for prop in ("IsEnabled", "ScreenReaderEnabled"):
            reply = self._gdbus("--dest", "org.a11y.Bus", "--object-path", "/org/a11y/bus", "--method",
                                "org.freedesktop.DBus.Properties.Set", "org.a11y.Status", prop,
                                "<true>" if on else "<false>")
            if reply.returncode != 0 and on:
                raise RuntimeError(f"could not set org.a11y.Status.{prop}: {reply.stderr}")

    # -- speech-dispatcher ---------------------------------------------------------------------

    def _start_speech_dispatcher(self) -> None:
        sink = subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=reader"],
                              env=self.env, capture_output=True, text=True, timeout=15)
        if sink.returncode != 0:
            raise RuntimeError(f"could not add the 'reader' sink: {sink.stderr}")
        self._modules.append(sink.stdout.strip())
        logs = self.root / "speechd"
        logs.mkdir(exist_ok=True)
        self.speechd = start_speech_dispatcher(dict(self.env, PULSE_SINK="reader"), logs)
        self.env["SPEECHD_ADDRESS"] = f"unix_socket:{self.speechd.socket_path}"
        self.speech = SpeechLog(self.speechd.log_file)

    # -- Orca ----------------------------------------------------------------------------------

    def _start_orca(self) -> None:
        prefs = Path(self.env["XDG_DATA_HOME"]) / "orca"
        prefs.mkdir(parents=True, exist_ok=True)
        general = {"enableSpeech": True, "speechServerFactory": "speechdispatcherfactory",
                   "speechServerInfo": None, "enableBraille": False, "enableSound": False,
                   "enableTutorialMessages": False, "onlySpeakDisplayedText": False,
                   "firstStart": False}
        (prefs / "user-settings.conf").write_text(json.dumps({
            "general": general,
            "profiles": {"default": {"profile": ["Default", "default"], "pronunciations": {},
                                     "keybindings": {}, **general}},
            "pronunciations": {}, "keybindings": {}}, indent=2))
        self.orca_log = self.root / "orca-debug.out"
        mark = self.speech.mark()
        # Never `--replace`: it SIGKILLs every Orca of this user (other test sessions' too), and waits
        # forever while a killed one is a zombie. Orca refuses to start while another runs, so it
        # runs in a PID namespace of its own where it sees no other Orca (when one can be made).
        proc = self._spawn([*_own_pid_namespace(), "orca", "--debug-file", str(self.orca_log)], "orca.log")

        wait_for(lambda: any("screen reader on" in m.lower() for m in self.speech.since(mark)), 60,
                 "Orca to say 'Screen reader on' through speech-dispatcher", proc, log=self.root / "orca.log")

    # -- the key-echo window -------------------------------------------------------------------

    def _start_echo(self) -> None:
        self.echo_log = self.root / "key-echo.log"
        proc = self._spawn(["xterm", "-title", ECHO_TITLE, "-geometry", "100x30+40+40",
                            "-e", sys.executable, "-m", "tests.key_echo", str(self.echo_log)],
                           "xterm.log", env=dict(self.env, PYTHONPATH=str(ROOT)))
        wait_for(lambda: self.echo_log.exists() and self.echo_log.read_text().startswith("ready"), 30,
                 "the key-echo xterm", proc)
        self.echo_window = int(wait_for(lambda: self.find_window(ECHO_TITLE), 15, "the key-echo window"))

    def echo_lines(self) -> list[str]:
        """Hex lines of the bytes keys sent to the key-echo xterm (after its 'ready' line)."""
        return self.echo_log.read_text().splitlines()[1:]

    # -- driving it ----------------------------------------------------------------------------

    def xdotool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True,
                              timeout=30, check=check)

    def find_window(self, name: str) -> int:
        """The id of a visible window whose title is exactly `name` (0 when none)."""
        reply = self.xdotool("search", "--onlyvisible", "--name", f"^{re.escape(name)}$", check=False)
        ids = [int(w) for w in reply.stdout.split()]
        return ids[-1] if ids else 0

    def tray_icon(self, wm_class: str) -> int:
        """The icon window a client with this WM_CLASS class docked in tint2's tray (0 if none)."""
        conn = xdisplay.Display(self.display)
        try:
            stack = list(conn.screen().root.query_tree().children)
            while stack:
                window = stack.pop()
                try:
                    names = window.get_wm_class() or ()
                    geometry = window.get_geometry()
                    children = window.query_tree().children
                except (xerror.BadWindow, xerror.BadDrawable):
                    continue
                if wm_class in names and 0 < geometry.width <= 64 and \
                        window.get_attributes().map_state == X.IsViewable and self._in_tray(window):
                    return window.id
                stack.extend(children)
            return 0
        finally:
            conn.close()

    @staticmethod
    def _in_tray(window) -> bool:
        parent = window.query_tree().parent
        while parent:
            classes = parent.get_wm_class() or ()
            if "tint2" in classes:
                return True
            tree = parent.query_tree()
            if tree.root == parent or tree.parent == 0:
                return False
            parent = tree.parent
        return False

    def mapped_toplevels(self) -> set[int]:
        """Ids of the viewable children of the root window (frames, popups, menus)."""
        conn = xdisplay.Display(self.display)
        try:
            found = set()
            for window in conn.screen().root.query_tree().children:
                try:
                    if window.get_attributes().map_state == X.IsViewable:
                        found.add(window.id)
                except (xerror.BadWindow, xerror.BadDrawable):
                    continue
            return found
        finally:
            conn.close()

    def active_window(self) -> int:
        prop = self._root_window().get_full_property(self.atom("_NET_ACTIVE_WINDOW"), Xatom.WINDOW)
        return int(prop.value[0]) if prop is not None and len(prop.value) else 0

    def window_title(self, window: int) -> str:
        reply = self.xdotool("getwindowname", str(window), check=False)
        return reply.stdout.strip()

    def activate(self, window: int, timeout: float = 10) -> None:
        """Make `window` the active window through the window manager, as Alt+Tab would."""
        self.xdotool("windowactivate", str(window), check=False)
        wait_for(lambda: self._is_active(window), timeout, f"window {window:#x} to be active")

    def _is_active(self, window: int) -> bool:
        active = self.active_window()
        if active == window:
            return True
        reply = self.xdotool("getactivewindow", check=False)
        return reply.stdout.strip() == str(window)

    def focus_echo(self) -> None:
        self.activate(self.echo_window)

    def key(self, *keys: str) -> None:
        """Press and release keys (xdotool names), one after another, with the real keyboard."""
        self.xdotool("key", "--clearmodifiers", *keys)

    def can_grab(self, keysym_name: str = "d", modifiers: int = X.ControlMask | X.Mod1Mask | X.ShiftMask
                 ) -> bool:
        """Whether another X client can grab the key now (False while a client holds the grab)."""
        conn = xdisplay.Display(self.display)
        try:
            failed: list[object] = []
            conn.set_error_handler(lambda err, *_: failed.append(err))
            root = conn.screen().root
            from Xlib import XK

            code = conn.keysym_to_keycode(XK.string_to_keysym(keysym_name))
            root.grab_key(code, modifiers, True, X.GrabModeAsync, X.GrabModeAsync)
            conn.sync()
            if not failed:
                root.ungrab_key(code, modifiers)
                conn.sync()
            return not failed
        finally:
            conn.close()

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        if self._name_owned("org.a11y.Bus"):
            self._set_a11y_status(False)
            subprocess.run(["gsettings", "set", "org.gnome.desktop.a11y.applications", "screen-reader-enabled",
                            "false"], env=self.env, capture_output=True, timeout=15)
        for module in self._modules:
            subprocess.run(["pactl", "unload-module", module], env=self.env, capture_output=True, timeout=15)
        self._modules.clear()
        if self._conn is not None:
            try:
                self._conn.close()
            except (xerror.ConnectionClosedError, OSError):
                pass
            self._conn = None
        self.services.stop()
        if self.speechd is not None:
            self.speechd.stop()
            self.speechd = None
