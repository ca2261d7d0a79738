#!/usr/bin/env bash
# Start a headless PulseAudio server with a null sink, for the playback tests that go through a
# real audio stack (tests/gui/test_playback_real_audio.py): PortAudio's `pulse` device plays into
# the sink `nullsink`, and `parec -d nullsink.monitor` records what was played.
#
# Idempotent and never blocks for long: a server already running is reused (the null sink is
# added if it lacks one), every PulseAudio call runs under `timeout`, and the script always exits 0
# (when no server can be had, the tests skip and say why). It installs nothing; the packages are
#   apt-get install -y --no-install-recommends pulseaudio pulseaudio-utils libasound2-plugins
set -uo pipefail

SINK=nullsink
LOG="${TMPDIR:-/tmp}/birdlab-pulseaudio.log"
say() { echo "start-audio: $*"; }

if ! command -v pulseaudio >/dev/null 2>&1; then
    say "pulseaudio is not installed: the playback tests through a real audio stack will be skipped"
    exit 0
fi
if ! command -v pactl >/dev/null 2>&1 || ! command -v parec >/dev/null 2>&1; then
    say "pactl/parec (pulseaudio-utils) are not installed: the playback tests through a real audio stack will be skipped"
    exit 0
fi

# Our own probes must not autospawn a server (a non-root client would start one with the desktop
# defaults, which exits when idle): give them a client config that says so.
CLIENT_CONF="$(mktemp "${TMPDIR:-/tmp}/birdlab-pulse-client.XXXXXX")" || exit 0
trap 'rm -f "$CLIENT_CONF"' EXIT
echo "autospawn = no" >"$CLIENT_CONF"
export PULSE_CLIENTCONFIG="$CLIENT_CONF"

server_up() { timeout 3 pactl info >/dev/null 2>&1; }
daemon_alive() { timeout 3 pulseaudio --check >/dev/null 2>&1; }
# wait_for SECONDS COMMAND: poll COMMAND until it succeeds or SECONDS have passed
wait_for() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.2; done; }
daemon_gone() { ! daemon_alive; }

if ! server_up; then
    # A daemon whose pid file says it runs but that does not answer is stuck: ask it to quit.
    if daemon_alive; then
        say "a pulseaudio daemon runs but does not answer; restarting it"
        timeout 5 pulseaudio --kill >/dev/null 2>&1
        wait_for 5 daemon_gone
    fi
    # -n: no default.pa (no hardware detection, no suspend-on-idle); as root PulseAudio only warns
    # that it is "not intended to be run as root", which is fine for a private test server.
    env -u PULSE_CLIENTCONFIG timeout 15 pulseaudio -D --exit-idle-time=-1 -n \
        --load="module-null-sink sink_name=$SINK" --load=module-native-protocol-unix \
        --log-target="file:$LOG" >>"$LOG" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || ! wait_for 10 server_up; then
        say "pulseaudio did not start (exit $rc; log in $LOG): the playback tests through a real audio stack will be skipped"
        tail -n 5 "$LOG" 2>/dev/null | sed 's/^/start-audio:   /'
        exit 0
    fi
fi

if ! timeout 5 pactl list short sinks 2>/dev/null | awk '{print $2}' | grep -qx "$SINK"; then
    timeout 5 pactl load-module module-null-sink "sink_name=$SINK" >/dev/null 2>&1 ||
        say "could not add the sink $SINK"
fi
if timeout 5 pactl set-default-sink "$SINK" >/dev/null 2>&1; then
    say "pulseaudio is running; default sink $SINK (record with: parec -d $SINK.monitor)"
else
    say "pulseaudio is running but the default sink could not be set to $SINK"
fi
exit 0
