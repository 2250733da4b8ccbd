"""Runs an installed ScreenSight like a user would, with tiny models, and reports what happened.

Used by packaging/check.sh after the .deb is installed: starts a private Xvfb and PulseAudio
(the test services), builds tiny random-weight models with the real classes, writes settings
that point at them into a fresh home, then runs the installed binary's `--self-test` and one
`describe --image`. The hub endpoint points at a closed port, so any download attempt fails:
passing proves the installed app starts and answers offline.

Usage: python packaging/check_installed.py [--binary /usr/bin/screensight] [--json REPORT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import Settings, save_settings  # noqa: E402
from tests import services as test_services  # noqa: E402
from tests.x11_helpers import XDesktop  # noqa: E402


def run(cmd: list[str], env: dict[str, str], timeout: float) -> dict:
    """Run one command; return its exit status, output and wall time."""
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = 124, str(exc.stdout or ""), f"timed out after {timeout} s"
    return {"cmd": " ".join(cmd), "rc": code, "seconds": round(time.monotonic() - started, 2),
            "stdout": out, "stderr": err}


def user_env(home: Path) -> dict[str, str]:
    """A fresh user: own HOME and XDG folders, the test display and sound server, no network."""
    env = dict(os.environ)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
        "HF_ENDPOINT": "http://127.0.0.1:9",  # closed port: a download attempt fails at once
        "XDG_SESSION_TYPE": "x11",
    })
    for name in ("HF_HUB_OFFLINE", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="/usr/bin/screensight")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)

    from models.synthetic import build_vlm
    from models.synthetic_speech import build_tiny_moonshine

    report: dict = {"binary": args.binary}
    with tempfile.TemporaryDirectory(prefix="screensight-installed-") as tmp:
        home = Path(tmp)
        vlm = build_vlm(home / "models" / "tiny-vlm", variant="tiny")
        asr = build_tiny_moonshine(home / "models" / "tiny-moonshine")
        env = user_env(home)
        # A desktop with something on it (a blank Xvfb would make the capture check a note).
        desk = XDesktop("1280x800x24")
        desk.fill_root((40, 90, 160))
        desk.window("Quarterly report - Editor", (100, 80, 700, 500), (250, 250, 240))
        services = test_services.Services()
        test_services.start_pulseaudio(services)
        try:
            env.update(services.env)
            env["DISPLAY"] = desk.display
            # Where platformdirs puts the settings on Linux: $XDG_CONFIG_HOME/ScreenSight.
            save_settings(Settings(vision_model=str(vlm), speech_model=str(asr)),
                          path=home / "config" / "ScreenSight" / "settings.toml")
            report["help"] = run([args.binary, "--help"], env, 120)
            report["self_test"] = run([args.binary, "--self-test"], env, 600)
            report["describe"] = run(
                [args.binary, "describe", "--image", str(ROOT / "packaging/icons/screensight.png"),
                 "--model", str(vlm), "--no-speak", "--max-tokens", "8", "--json"], env, 600)
        finally:
            services.stop()
            desk.close()
    for step in ("help", "self_test", "describe"):
        result = report[step]
        print(f"== {result['cmd']}  (exit {result['rc']}, {result['seconds']} s)")
        if step != "help":
            print(result["stdout"].rstrip())
            if result["rc"] != 0 or step == "describe":
                print(result["stderr"].rstrip()[-3000:])
    ok = all(report[step]["rc"] == 0 for step in ("help", "self_test", "describe"))
    report["ok"] = ok
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print("INSTALLED APP CHECK:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
