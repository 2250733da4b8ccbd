#!/usr/bin/env bash
# Builds dist/ScreenSight-VERSION-macos-ARCH.dmg on macOS: the .app from packaging/screensight.spec,
# signed with the hardened runtime and packaging/macos/entitlements.plist (ad hoc unless
# CODESIGN_IDENTITY names a Developer ID), notarized when NOTARY_PROFILE names a notarytool
# keychain profile, in a compressed disk image with a link to /Applications.
# Usage: packaging/macos/build-dmg.sh [--skip-build]   (PYTHON=... to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-.venv/bin/python}
skip_build=0
[ "${1:-}" = "--skip-build" ] && skip_build=1
if [ "$(uname -s)" != Darwin ]; then
  echo "build-dmg.sh needs macOS (codesign, hdiutil)." >&2
  exit 2
fi
version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(uname -m)
dist=build/pyinstaller/dist
app="$dist/ScreenSight.app"
if [ "$skip_build" -eq 0 ]; then
  "$py" -m PyInstaller --noconfirm --clean --distpath "$dist" --workpath build/pyinstaller/work \
    packaging/screensight.spec
fi
[ -d "$app" ] || { echo "No $app: build it first." >&2; exit 1; }

identity=${CODESIGN_IDENTITY:--}
sign_args=(--force --deep --options runtime --entitlements packaging/macos/entitlements.plist --sign "$identity")
[ "$identity" != "-" ] && sign_args+=(--timestamp)
codesign "${sign_args[@]}" "$app"
codesign --verify --deep --strict --verbose=1 "$app"

staging=build/dmg/ScreenSight
rm -rf "$staging"
mkdir -p "$staging" dist
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
cp packaging/offline-models.md "$staging/Offline models.txt"
dmg="dist/ScreenSight-$version-macos-$arch.dmg"
rm -f "$dmg"
hdiutil create -volname "ScreenSight $version" -srcfolder "$staging" -ov -format UDZO "$dmg"

if [ -n "${NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$dmg"
fi
echo "Built $dmg ($(du -h "$dmg" | cut -f1))"
