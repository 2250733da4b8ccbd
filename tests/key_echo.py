"""Run inside an xterm: every byte a key press sends to the terminal is appended to a file.

`python -m tests.key_echo FILE` puts the terminal in raw mode (no line buffering, no echo, no
signals from Ctrl+C or Ctrl+Z) and writes one line per read: the bytes in hex. A journey test
focuses this xterm, presses ScreenSight's global hotkeys and then checks that none of them
reached the focused application: a grabbed hotkey never arrives here, a typed key does.
"""

from __future__ import annotations

import os
import sys
import termios
import tty


def main(path: str) -> int:
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(out, b"ready\n")
    try:
        while True:
            data = os.read(fd, 1024)
            if not data:
                return 0
            os.write(out, data.hex().encode() + b"\n")
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        os.close(out)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
