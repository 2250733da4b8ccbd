"""Entry point of the frozen app: the same `main` as the `screensight` command."""

from __future__ import annotations

import multiprocessing
import sys


def run() -> int:
    multiprocessing.freeze_support()  # torch may start helper processes; frozen apps need this
    from screensight.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
