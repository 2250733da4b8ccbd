#!/usr/bin/env bash
# Builds dist/screensight_VERSION_ARCH.deb: the PyInstaller bundle in /opt/screensight, the
# `screensight` command in /usr/bin, a desktop entry, icons, AppStream metainfo and the
# runtime dependencies the bundle loads from the system (espeak-ng, PortAudio, X11/xcb, GL).
# Models are not in the package: the app downloads them when the user asks, into ~/.cache.
#
# Usage: packaging/linux/build-deb.sh [--bundle DIR] [--out DIR]
#   --bundle DIR   package an existing onedir bundle instead of running PyInstaller
#   --out DIR      where the .deb goes (default: dist/)
# Environment: PYTHON (default .venv/bin/python), DEB_COMPRESSION (xz, zstd, gzip or none;
# default xz).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
bundle=""
out="$root/dist"
compression=${DEB_COMPRESSION:-xz}

while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$(cd "$2" && pwd); shift 2 ;;
    --out) mkdir -p "$2"; out=$(cd "$2" && pwd); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-deb.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

app_id=org.screensight.ScreenSight
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/pyproject.toml" | head -n 1)
[ -n "$version" ] || { echo "build-deb.sh: no version in pyproject.toml" >&2; exit 1; }
arch=$(dpkg --print-architecture)

if [ -z "$bundle" ]; then
  echo "Building the bundle with PyInstaller (several minutes)..."
  "$py" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$root/build/pyinstaller/dist" --workpath "$root/build/pyinstaller/work" \
    "$root/packaging/screensight.spec"
  bundle="$root/build/pyinstaller/dist/screensight"
fi
if [ ! -x "$bundle/screensight" ]; then
  echo "build-deb.sh: $bundle/screensight is missing or not executable." >&2
  exit 1
fi

stage="$root/build/deb/screensight_${version}_${arch}"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin"
cp -a "$bundle" "$stage/opt/screensight"
ln -s /opt/screensight/screensight "$stage/usr/bin/screensight"
install -Dm644 "$here/$app_id.desktop" "$stage/usr/share/applications/$app_id.desktop"
install -Dm644 "$here/$app_id.metainfo.xml" "$stage/usr/share/metainfo/$app_id.metainfo.xml"
install -Dm644 "$root/packaging/icons/screensight.svg" \
  "$stage/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
install -Dm644 "$root/packaging/icons/screensight.png" \
  "$stage/usr/share/icons/hicolor/256x256/apps/$app_id.png"
install -Dm644 "$root/packaging/offline-models.md" "$stage/usr/share/doc/screensight/offline-models.md"
cat > "$stage/usr/share/doc/screensight/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ScreenSight
Comment: The bundle in /opt/screensight contains Python, PyTorch, transformers, Qt (PySide6)
 and other libraries under their own licences; see their metadata in /opt/screensight/_internal.
 Models are not included; each is downloaded under its own licence.

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
EOF

# Owner-writable only; keep the bundle's executable bits.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod go-w {} +

installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
# Libraries the bundle loads from the system: Qt's xcb platform plugin, OpenGL/EGL, fonts,
# D-Bus (accessibility), PortAudio (sounddevice), espeak-ng (pyttsx3), X11 (mss, pynput) and the
# Wayland client libraries (Qt's wayland plugin; the app itself needs X11 or XWayland).
depends="libc6 (>= 2.31), espeak-ng, libespeak-ng1, libportaudio2, libasound2t64 | libasound2, \
libxcb-cursor0, libxkbcommon-x11-0, libxkbcommon0, libegl1, libgl1, libfontconfig1, libfreetype6, \
libdbus-1-3, libglib2.0-0t64 | libglib2.0-0, libxcb1, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, \
libxcb-render-util0, libxcb-shape0, libxcb-xinerama0, libxcb-xkb1, libxcb-xfixes0, libx11-6, \
libx11-xcb1, libxrandr2, libxfixes3, libxext6, libxtst6, libwayland-client0, libwayland-cursor0, \
libwayland-egl1"
cat > "$stage/DEBIAN/control" <<EOF
Package: screensight
Version: $version
Architecture: $arch
Maintainer: ScreenSight project <screensight@users.noreply.github.com>
Installed-Size: $installed_kb
Depends: $depends
Recommends: at-spi2-core, pulseaudio | pipewire-pulse, libasound2-plugins
Section: utils
Priority: optional
Homepage: https://github.com/screensight/screensight
Description: describe the screen aloud with an on-device model
 ScreenSight is an assistant for blind and low-vision people. A hotkey describes the
 active window, the whole screen or the area around the mouse pointer, aloud, and a
 push-to-talk key lets you ask a spoken question about it. Screenshots, recordings
 and models stay on this computer.
 .
 The first start offers to download a vision model (about 500 MB) into ~/.cache;
 nothing is downloaded without asking. Run "screensight --self-test" to check
 sound, screen capture, hotkeys and the model.
EOF
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
  | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/screensight_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compression" --build "$stage" "$deb" >/dev/null
echo "Built $deb"
echo "  package: $(du -h "$deb" | cut -f1)  installed: $((installed_kb / 1024)) MB  bundle: $bundle"
