#!/usr/bin/env bash
# Build the environment and run the test suite (offscreen; no GPU, no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
BIRDLAB_EXTRAS="${BIRDLAB_EXTRAS:-gui,test,train,birdnet,cluster}" bash scripts/setup-env.sh
# A real audio stack for the playback tests (tests/gui/test_playback_real_audio.py: a PulseAudio
# null sink, recorded back with parec); they skip and say why when it cannot be had. Started
# before pytest: PortAudio lists its devices once, when sounddevice is first imported.
if ! command -v pulseaudio >/dev/null 2>&1 || ! command -v parec >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends pulseaudio pulseaudio-utils libasound2-plugins >/dev/null; } \
        || echo "test.sh: could not install pulseaudio; the real-audio playback tests will be skipped"
fi
bash scripts/start-audio.sh
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q "$@"
