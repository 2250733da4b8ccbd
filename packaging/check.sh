#!/usr/bin/env bash
# The full packaging check, run on demand (about 6-15 minutes on 2 cores; not part of pytest):
# builds the Linux bundle and .deb, installs it into this system with apt/dpkg, runs the
# installed `screensight --self-test` and one `describe` under Xvfb with tiny models, offline,
# and reports the bundle and package sizes. Needs root or sudo (it installs the package).
# Usage: packaging/check.sh [--keep]   (--keep leaves the package installed;
#        DEB_COMPRESSION=xz for the smaller release package)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
t0=$(date +%s)

scripts/system-packages.sh test
# The .venv with the test and packaging extras (kept as it is when PyInstaller is already there).
.venv/bin/python -c "import PyInstaller" 2>/dev/null || scripts/venv.sh "test,packaging"
t_setup=$(date +%s)

# zstd packs the ~860 MB bundle in seconds (xz, the release default, takes 10-20 minutes).
DEB_COMPRESSION=${DEB_COMPRESSION:-zstd} packaging/linux/build-deb.sh
t_build=$(date +%s)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
deb="$PWD/dist/screensight_${version}_$(dpkg --print-architecture).deb"

# apt resolves the Depends: line the way a user's "install this .deb" does.
$SUDO apt-get install -y -qq --no-install-recommends "$deb" >/dev/null
if [ "$keep" -eq 0 ]; then
  trap '$SUDO dpkg -r screensight >/dev/null 2>&1 || true' EXIT
fi
dpkg -s screensight | sed -n '/^Status/p;/^Version/p;/^Installed-Size/p'
[ -L /usr/bin/screensight ] || { echo "check.sh: /usr/bin/screensight is missing" >&2; exit 1; }
t_install=$(date +%s)

status=0
dbus-run-session -- .venv/bin/python packaging/check_installed.py --binary /usr/bin/screensight \
  --json build/installed-check.json || status=$?
t_run=$(date +%s)

echo
echo "== Packaging check summary"
echo "bundle:    $(du -sh build/pyinstaller/dist/screensight | cut -f1)  (build/pyinstaller/dist/screensight)"
echo "package:   $(du -h "$deb" | cut -f1)  ($deb)"
echo "installed: $(dpkg-deb -f "$deb" Installed-Size) KiB"
echo "time:      setup $((t_setup - t0)) s, bundle+deb $((t_build - t_setup)) s," \
     "install $((t_install - t_build)) s, installed app $((t_run - t_install)) s," \
     "total $((t_run - t0)) s"
[ "$status" -eq 0 ] && echo "RESULT: PASSED" || echo "RESULT: FAILED"
exit "$status"
