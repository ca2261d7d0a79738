"""Playback through a real audio stack: the app's keys, PlayActions and the Player with its real
sounddevice stream, into a PulseAudio null sink whose monitor `parec` records.

What the app sends to the sound card is checked with a fake stream in test_playback.py; these
tests check what comes out of PortAudio: a box played band-limited holds only its band, 0.1x
playback sounds a decade lower and lasts ten times longer, and the cursor stays on what is heard.

They need a PulseAudio server with a sink named `nullsink` (`bash scripts/start-audio.sh` starts
one; the packages are pulseaudio, pulseaudio-utils and libasound2-plugins) and skip, saying why,
without one. The output goes to PortAudio's `pulse` device (made the default device for the test)
and to `nullsink` (PULSE_SINK), so a desktop's own speakers never play these tones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from birdlab.core.model import Box
from birdlab.core.store.project import Project
from tests.gui.windows import new_window

SINK = "nullsink"
REC_RATE = 44100  # parec's rate (PulseAudio resamples if the sink runs at another)
INSTALL = ("apt-get install -y --no-install-recommends pulseaudio pulseaudio-utils libasound2-plugins, "
           "then: bash scripts/start-audio.sh")


# -- the audio stack ------------------------------------------------------------------------

def _pulse_env(tmp: Path) -> dict[str, str]:
    """The environment for our pactl probes: never autospawn a server of our own."""
    conf = tmp / "client.conf"
    conf.write_text("autospawn = no\n")
    return {**os.environ, "PULSE_CLIENTCONFIG": str(conf)}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(args, check=False, env=env, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _find_audio_stack(tmp: Path) -> tuple[str | None, int | None]:
    """(why the tests cannot run, None) or (None, the index of PortAudio's `pulse` device)."""
    missing = [tool for tool in ("pulseaudio", "pactl", "parec") if shutil.which(tool) is None]
    if missing:
        return f"no real audio stack: {', '.join(missing)} not installed ({INSTALL})", None
    env = _pulse_env(tmp)
    info = _run(["pactl", "info"], env)
    if info is None or info.returncode != 0:
        return "no PulseAudio server is running (start one: bash scripts/start-audio.sh)", None
    sinks = _run(["pactl", "list", "short", "sinks"], env)
    if sinks is None or SINK not in [line.split("\t")[1] for line in sinks.stdout.splitlines() if "\t" in line]:
        return f"the PulseAudio server has no sink named {SINK} (bash scripts/start-audio.sh adds it)", None
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        return f"sounddevice/PortAudio cannot be loaded ({exc})", None
    for device in sd.query_devices():
        if device["name"] == "pulse" and device["max_output_channels"] > 0:
            return None, int(device["index"])
    return "sounddevice finds no `pulse` device (PortAudio's ALSA plugin for PulseAudio: libasound2-plugins)", None


@pytest.fixture(scope="module")
def pulse_device(tmp_path_factory) -> int:
    reason, index = _find_audio_stack(tmp_path_factory.mktemp("pulse"))
    if reason is not None:
        pytest.skip(reason)
    return index


@pytest.fixture
def real_output(pulse_device, monkeypatch):
    """The default output device is PortAudio's `pulse`, and PulseAudio plays into the null sink."""
    import sounddevice as sd

    monkeypatch.setenv("PULSE_SINK", SINK)  # read by libpulse whenever a stream opens
    before = tuple(sd.default.device)
    sd.default.device = (before[0], pulse_device)
    yield
    sd.default.device = before


class Recorder:
    """`parec` of the null sink's monitor, read on a thread; knows when each block came in."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["parec", "-d", f"{SINK}.monitor", "--format=float32le", f"--rate={REC_RATE}", "--channels=1",
             "--latency-msec=20"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        self.blocks: list[bytes] = []
        self.arrivals: list[tuple[float, int]] = []  # (monotonic time, bytes read so far)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        total = 0
        while True:
            block = self.proc.stdout.read(8192)
            if not block:
                return
            total += len(block)
            self.blocks.append(block)
            self.arrivals.append((time.monotonic(), total))

    def wait_for_data(self, timeout: float = 10.0) -> None:
        """Until parec delivers (an idle null sink runs in 2 s blocks: the first ones take a while)."""
        end = time.monotonic() + timeout
        while not self.arrivals:
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                pytest.fail(f"parec -d {SINK}.monitor recorded nothing within {timeout:g} s "
                            f"(exit status {self.proc.returncode})")
            time.sleep(0.01)

    def stop(self) -> np.ndarray:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.reader.join(5)
        data = b"".join(self.blocks)
        return np.frombuffer(data[:len(data) // 4 * 4], dtype=np.float32)

    def wall_time(self, sample: int) -> float:
        """When a recorded sample was played (monotonic clock): a block arrives after its last
        sample, so the earliest arrival minus its duration bounds the recording's start best."""
        start = min(t - n / 4 / REC_RATE for t, n in self.arrivals)
        return start + sample / REC_RATE


# -- the app --------------------------------------------------------------------------------

@pytest.fixture
def open_app(qtbot, tmp_path, real_output):
    """The main window on a new project holding one recording (and boxes on it)."""
    windows = []

    def make(samples: np.ndarray, rate: int, boxes: tuple[Box, ...] = ()):
        wav = tmp_path / "rec.wav"
        sf.write(wav, samples.astype(np.float32), rate, subtype="FLOAT")
        project = Project.create(tmp_path / "project")
        (recording,), failed = project.add_audio([wav])
        assert not failed
        cls = project.add_class("tone")
        ids = [project.add_label(recording.id, cls.id, box).id for box in boxes]
        project.close()
        win = new_window(qtbot, tmp_path, (1000, 700))
        windows.append(win)
        win.open_project(tmp_path / "project")
        win.review.autoplay.setChecked(False)
        qtbot.waitUntil(lambda: win.view.is_painted() and all(i in win.view.boxes for i in ids), timeout=10000)
        return win, ids

    yield make
    for win in windows:
        win.playing.stop()
        if win.playing.player is not None:
            win.playing.player.wait()
        win.close()


def play_and_record(qtbot, win, start, max_seconds: float):
    """Start parec, run `start()` (a key press), wait for the Player to finish; the recording."""
    recorder = Recorder()
    try:
        recorder.wait_for_data()
        start()
        player = win.playing.player
        assert player is not None, "the play action made no Player"
        # the clip is prepared on a worker, then plays (or the Player says why not)
        qtbot.waitUntil(lambda: player.state == "playing" or not player.loading, timeout=10000)
        assert player.state == "playing", f"playback did not start: {player.reason or 'see the failed signal'}"
        qtbot.waitUntil(lambda: player.state == "stopped", timeout=int(max_seconds * 1000))
        qtbot.wait(300)  # what PulseAudio still holds reaches the monitor
    finally:
        recorded = recorder.stop()
    return recorded, recorder


# -- analysis -------------------------------------------------------------------------------

def t(seconds: float, rate: int) -> np.ndarray:
    return np.arange(round(seconds * rate)) / rate


def sounding(y: np.ndarray, floor: float = 0.01) -> np.ndarray:
    """The recorded span from the first to the last sample above `floor` (of full scale)."""
    loud = np.flatnonzero(np.abs(y) > floor)
    assert len(loud), f"nothing was recorded from {SINK}.monitor (peak {np.abs(y).max(initial=0):.2g})"
    return y[loud[0]:loud[-1] + 1]


def sounding_seconds(y: np.ndarray, floor: float = 0.01, block: float = 0.01) -> float:
    """How long something above `floor` was heard: 10 ms blocks with sound in them (a dropout
    under load leaves a silent gap that lengthens the span but is not counted here)."""
    n = int(block * REC_RATE)
    blocks = np.abs(y[:len(y) // n * n]).reshape(-1, n).max(axis=1)
    return float(np.count_nonzero(blocks > floor) * block)


def spectrum(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Hz, power per bin) of a Hann-windowed signal, scaled so a sine of amplitude A sums to A²/2."""
    w = np.hanning(len(y))
    power = np.abs(np.fft.rfft(y * w)) ** 2 * 2 / (len(y) * np.sum(w ** 2))
    return np.fft.rfftfreq(len(y), 1 / REC_RATE), power


def band_power(freqs, power, lo: float, hi: float) -> float:
    return float(power[(freqs >= lo) & (freqs <= hi)].sum())


def db(x: float) -> float:
    return 10 * np.log10(max(x, 1e-20))


# -- the tests ------------------------------------------------------------------------------

def test_key_b_plays_the_selected_box_band_limited(open_app, qtbot):
    """Tones in and out of a box's band: with B only the box's band and span are heard."""
    rate, amp, inside = 32000, 0.1, 3000.0
    outside = (500.0, 1500.0, 6000.0, 9000.0, 13000.0)
    x = t(2.0, rate)
    signal = sum(amp * np.sin(2 * np.pi * f * x) for f in (inside, *outside))
    win, (box,) = open_app(signal, rate, (Box(0.5, 1.5, 2000.0, 4000.0),))
    win.view.select_labels([box], emit=True)

    recorded, _ = play_and_record(qtbot, win, lambda: QTest.keyClick(win, Qt.Key.Key_B), max_seconds=10)

    heard = sounding(recorded)
    assert sounding_seconds(heard) == pytest.approx(1.0, abs=0.15)  # the box's 1 s, not the file's 2 s
    assert len(heard) / REC_RATE < 1.5
    freqs, power = spectrum(heard)
    total = float(power.sum())
    in_band = band_power(freqs, power, 2000.0, 4000.0)
    assert in_band / total > 0.9, f"only {in_band / total:.1%} of the energy is in the box's band"
    tone = band_power(freqs, power, inside - 30, inside + 30)
    assert db(tone) == pytest.approx(db(amp ** 2 / 2), abs=6)  # the band itself plays at full level
    for f in outside:
        leak = db(band_power(freqs, power, f - 30, f + 30)) - db(tone)
        assert leak < -30, f"the {f:g} Hz tone outside the band is only {-leak:.0f} dB down"


def test_slow_playback_lowers_the_pitch_and_stretches_time(open_app, qtbot):
    """0.1x (time expansion): 0.3 s of a 4 kHz tone plays for 3 s at 400 Hz."""
    rate, speed = 48000, 0.1
    win, _ = open_app(0.5 * np.sin(2 * np.pi * 4000 * t(1.0, rate)), rate)
    win.speed_box.setCurrentIndex(win.speed_box.findData(speed))
    assert win.speed_box.currentData() == speed

    recorded, _ = play_and_record(qtbot, win, lambda: win.playing.play(0.3, 0.6), max_seconds=10)

    heard = sounding(recorded)
    assert sounding_seconds(heard) == pytest.approx(3.0, abs=0.3)
    assert len(heard) / REC_RATE < 4.0
    freqs, power = spectrum(heard)
    peak = float(freqs[np.argmax(power)])
    assert peak == pytest.approx(400.0, abs=4.0)
    total = float(power.sum())
    assert band_power(freqs, power, 380, 420) / total > 0.9
    assert db(band_power(freqs, power, 3900, 4100)) - db(total) < -35  # nothing left at the original pitch


def test_the_cursor_follows_what_is_heard(open_app, qtbot):
    """Clicks at known recording times, played at 0.5x: when each is heard, the cursor is on it."""
    rate, speed, length = 32000, 0.5, 1.3
    clicks = (0.2, 0.5, 0.8, 1.1)
    x = t(length, rate)
    signal = np.zeros_like(x)
    for c in clicks:
        on = (x >= c) & (x < c + 0.04)
        signal[on] = 0.5 * np.sin(2 * np.pi * 1000 * x[on])
    win, _ = open_app(signal, rate)
    win.speed_box.setCurrentIndex(win.speed_box.findData(speed))
    win.view.set_cursor(0.9)  # elsewhere: playing moves it to the start of the span
    ticks: list[tuple[float, float, float]] = []  # (monotonic time, player's position, view's cursor)
    started: list[float] = []

    def start():
        started.append(time.monotonic())
        win.playing.play(0.0, length)
        win.playing.player.positionChanged.connect(
            lambda p: ticks.append((time.monotonic(), p, win.view.cursor.value())))

    recorded, recorder = play_and_record(qtbot, win, start, max_seconds=10)
    player = win.playing.player

    assert ticks[0][1] < 0.05 and ticks[0][2] < 0.05, f"the cursor started at {ticks[0][1:]}, not at 0 s"
    assert ticks[-1][1] == pytest.approx(length)
    assert player.position == pytest.approx(length) and win.view.cursor.value() == pytest.approx(length)
    wall, pos, cursor = (np.array(col) for col in zip(*ticks))
    np.testing.assert_allclose(cursor, pos)  # the view draws what the player reports
    assert np.all(np.diff(pos) >= 0)
    assert wall[-1] - started[0] == pytest.approx(length / speed, abs=0.5)
    moving = (pos > 0.05) & (pos < length - 0.05)
    assert moving.sum() > 20, f"the cursor moved in only {moving.sum()} steps"
    slope = np.polyfit(wall[moving], pos[moving], 1)[0]
    assert slope == pytest.approx(speed, rel=0.15)  # recording seconds per second of wall time

    loud = np.flatnonzero(np.abs(recorded) > 0.1)
    onsets = loud[np.r_[True, np.diff(loud) > 0.1 * REC_RATE]]
    assert len(onsets) == len(clicks), f"{len(onsets)} clicks recorded, {len(clicks)} played"
    heard_at = np.array([recorder.wall_time(i) for i in onsets])
    cursor_then = np.interp(heard_at, wall, pos)
    lag = (np.array(clicks) - cursor_then) / speed  # wall seconds by which the cursor trails the sound
    assert np.all(np.abs(lag) < 0.1), f"cursor off the sound by {np.round(lag, 3)} s"
