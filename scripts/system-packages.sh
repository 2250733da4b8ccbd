#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages ScreenSight needs. Usage: system-packages.sh runtime|test
set -euo pipefail
want=${1:-runtime}
runtime=(python3 python3-venv espeak-ng libespeak-ng1 libportaudio2 libasound2-plugins libxcb-cursor0 libxkbcommon-x11-0
         libegl1 libgl1 libfontconfig1 libdbus-1-3 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
         libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 at-spi2-core)
test_only=(xvfb xdotool x11-utils pulseaudio pulseaudio-utils dbus dbus-x11
           python3-pyatspi sox nsis dpkg-dev fakeroot desktop-file-utils appstream shellcheck
           openbox tint2 orca speech-dispatcher speech-dispatcher-espeak-ng xterm python3-tk
           tesseract-ocr tesseract-ocr-deu tesseract-ocr-fra)
pkgs=("${runtime[@]}")
[ "$want" = test ] && pkgs+=("${test_only[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "Installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
