#!/usr/bin/env bash
# Build birdlab's environment on a fresh Debian/Ubuntu machine with python3:
# the system libraries it needs (PortAudio for playback, what Qt needs offscreen) and .venv.
# BIRDLAB_EXTRAS picks the optional parts (default gui,test; add train for the trainer).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${BIRDLAB_EXTRAS:-gui,test}"

PACKAGES=(libportaudio2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
          libglib2.0-0 libdbus-1-3 libxcb-cursor0)
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then PACKAGES+=(python3-venv); fi
missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"
