"""The Player: what reaches the sound card, the cursor, states, workers, and no-device behaviour."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.sound.audio import MIX
from birdlab.core.sound.playback import prepare
from birdlab.gui import playback
from birdlab.gui.playback import Player, probe_sound_device

RATE = 48000


class FakeStream:
    """Records exactly what the Player's callback produces; the test plays the sound card."""

    def __init__(self, samplerate: int, callback, latency: float = 0.0):
        self.samplerate, self.callback, self.latency = samplerate, callback, latency
        self.sent: list[np.ndarray] = []
        self.active = self.closed = False

    def start(self) -> None:
        assert not self.closed
        self.active = True

    def stop(self) -> None:
        self.active = False

    def close(self) -> None:
        self.active, self.closed = False, True

    def pump(self, frames: int) -> None:
        out = np.full((frames, 1), np.nan, dtype=np.float32)  # NaN shows any frame left unwritten
        self.callback(out, frames, None, None)
        self.sent.append(out[:, 0].copy())

    @property
    def samples(self) -> np.ndarray:
        return np.concatenate(self.sent) if self.sent else np.zeros(0, np.float32)


class Factory:
    def __init__(self, latency: float = 0.0):
        self.streams: list[FakeStream] = []
        self.latency = latency

    def __call__(self, samplerate, callback) -> FakeStream:
        stream = FakeStream(samplerate, callback, self.latency)
        self.streams.append(stream)
        return stream


@pytest.fixture
def wav(tmp_path):
    def make(seconds: float = 2.0, rate: int = 16000, name: str = "rec.wav", freq: float = 1000.0):
        path = tmp_path / name
        t = np.arange(int(seconds * rate)) / rate
        sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, subtype="FLOAT")
        return path
    return make


@pytest.fixture
def rig(qtbot):
    """A Player on a fake stream, with every signal recorded."""
    factory = Factory()
    player = Player(stream_factory=factory, device_rate=RATE)
    log: dict[str, list] = {"state": [], "position": [], "unavailable": [], "failed": []}
    player.stateChanged.connect(log["state"].append)
    player.positionChanged.connect(log["position"].append)
    player.unavailable.connect(log["unavailable"].append)
    player.failed.connect(log["failed"].append)
    yield player, factory, log
    player.stop()
    player.wait()


def test_samples_sent_equal_the_prepared_clip(rig, wav):
    player, factory, log = rig
    path = wav()
    player.play(path, 0.2, 1.2, channel=MIX, band=(500, 1500), speed=0.5)
    expected = prepare(path, 0.2, 1.2, channel=MIX, band=(500, 1500), speed=0.5, device_rate=RATE)
    assert log["state"] == ["playing"] and len(factory.streams) == 1
    stream = factory.streams[0]
    assert stream.samplerate == RATE and stream.active
    while len(stream.samples) < expected.frames + 1000:
        stream.pump(441)  # an odd block size: blocks straddle the clip's end
    sent = stream.samples
    np.testing.assert_array_equal(sent[:expected.frames], expected.samples)
    assert not np.any(sent[expected.frames:])  # zeros after the end, never NaN
    assert player.clip is not None and player.clip.frames == expected.frames


def test_position_follows_frames_played_in_recording_seconds(rig, wav, qtbot):
    player, factory, log = rig
    player.play(wav(), 0.5, 1.5, speed=0.5)
    assert log["position"] == [0.5]
    stream = factory.streams[0]
    stream.pump(24000)  # 0.5 s of output at 0.5x = 0.25 s of recording
    qtbot.waitUntil(lambda: log["position"][-1] == pytest.approx(0.75), timeout=2000)
    assert player.position == pytest.approx(0.75)
    stream.pump(24000)
    qtbot.waitUntil(lambda: log["position"][-1] == pytest.approx(1.0), timeout=2000)
    assert log["position"] == sorted(log["position"])


def test_position_allows_for_the_device_latency(qtbot, wav):
    factory = Factory(latency=0.1)
    player = Player(stream_factory=factory, device_rate=RATE)
    player.play(wav(), 0.0, 1.0)
    factory.streams[0].pump(14400)  # 0.3 s handed out, 0.1 s of it still in the device
    assert player.position == pytest.approx(0.2)
    player.pause()  # stop() plays the buffer out: everything handed out was heard
    assert player.position == pytest.approx(0.3)
    player.stop()


def test_callback_driven_from_an_audio_thread_ends_in_stopped(rig, wav, qtbot):
    player, factory, log = rig
    player.play(wav(), 0.0, 0.5)
    stream = factory.streams[0]
    clip_frames = player.clip.frames

    def audio_thread():
        while stream.active and len(stream.samples) < clip_frames + 4096:
            stream.pump(512)
            time.sleep(0.001)

    worker = threading.Thread(target=audio_thread)
    worker.start()
    with qtbot.waitSignal(player.stateChanged, timeout=5000) as blocker:
        pass
    worker.join()
    assert blocker.args == ["stopped"] and stream.closed
    assert log["position"][-1] == pytest.approx(0.5)
    assert len(log["position"]) > 2 and log["position"] == sorted(log["position"])
    assert player.clip is None and player.position == pytest.approx(0.5)


def test_pause_resume_and_stop(rig, wav):
    player, factory, log = rig
    player.play(wav(), 1.0, 2.0)
    stream = factory.streams[0]
    stream.pump(4800)  # 0.1 s
    player.pause()
    assert not stream.active and player.state == "paused"
    assert player.position == pytest.approx(1.1)
    player.pause()  # a second pause changes nothing
    player.resume()
    assert stream.active and player.state == "playing"
    stream.pump(4800)
    assert player.position == pytest.approx(1.2)
    player.stop()
    assert stream.closed and player.position == pytest.approx(1.2)
    player.resume()  # nothing to resume
    assert log["state"] == ["playing", "paused", "playing", "stopped"]


def test_toggle_pauses_resumes_and_replays(rig, wav):
    player, factory, log = rig
    player.toggle()  # nothing played yet: nothing happens
    assert log["state"] == []
    player.play(wav(), 0.0, 1.0)
    player.toggle()
    player.toggle()
    player.stop()
    player.toggle()  # stopped: the last request again, from its start, on a new stream
    assert log["state"] == ["playing", "paused", "playing", "stopped", "playing"]
    assert len(factory.streams) == 2 and factory.streams[0].closed and factory.streams[1].active


def test_a_new_play_replaces_the_old_stream(rig, wav):
    player, factory, log = rig
    path = wav()
    player.play(path, 0.0, 1.0)
    player.play(path, 1.0, 2.0)
    assert factory.streams[0].closed and factory.streams[1].active
    assert player.clip.t0 == 1.0 and log["state"] == ["playing"]


def test_long_clips_are_prepared_on_a_worker_and_superseded_ones_dropped(qtbot, wav):
    factory = Factory()
    player = Player(stream_factory=factory, device_rate=RATE, sync_limit_s=0.0)
    path = wav(seconds=3.0)
    player.play(path, 0.0, 3.0)  # superseded before it could start
    player.play(path, 1.0, 2.0)
    assert factory.streams == []  # nothing blocks: the clip is still being prepared
    with qtbot.waitSignal(player.stateChanged, timeout=5000) as blocker:
        pass
    assert blocker.args == ["playing"]
    player.wait()
    qtbot.wait(50)  # let any late result of the first request arrive (it must be dropped)
    assert len(factory.streams) == 1 and player.clip.t0 == 1.0
    expected = prepare(path, 1.0, 2.0, channel=MIX, device_rate=RATE)
    np.testing.assert_array_equal(player.clip.samples, expected.samples)
    player.stop()


def test_heavy_short_clips_go_to_the_worker_too(qtbot, wav):
    # 3 s of a 384 kHz file at 0.1x: 1.15 M samples read, 1.44 M made.
    factory = Factory()
    player = Player(stream_factory=factory, device_rate=RATE)
    player.play(wav(seconds=3.0, rate=384000, freq=40000), 0.0, 3.0, speed=0.1)
    assert factory.streams == []
    qtbot.waitUntil(lambda: player.state == "playing", timeout=5000)
    assert player.clip.duration == pytest.approx(30.0, abs=1e-3)
    player.stop()


def test_stop_drops_a_clip_still_being_prepared(qtbot, wav):
    factory = Factory()
    player = Player(stream_factory=factory, device_rate=RATE, sync_limit_s=0.0)
    player.play(wav(), 0.0, None)  # to the end of the file: always on the worker
    assert player.loading
    player.stop()
    player.wait()
    qtbot.wait(50)
    assert factory.streams == [] and player.state == "stopped" and not player.loading
    player.play(wav(), 0.0, None)
    player.toggle()  # the space bar while loading cancels
    player.wait()
    qtbot.wait(50)
    assert factory.streams == [] and not player.loading


def test_an_unreadable_file_is_reported_with_its_name(rig, tmp_path, qtbot):
    player, factory, log = rig
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF junk")
    player.play(bad, 0.0, 1.0)
    assert len(log["failed"]) == 1 and "broken.wav" in log["failed"][0]
    player.sync_limit_s = 0.0
    with qtbot.waitSignal(player.failed, timeout=5000) as blocker:
        player.play(bad, 0.0, 1.0)
    assert "broken.wav" in blocker.args[0]
    assert factory.streams == [] and player.state == "stopped"


def test_a_stream_that_cannot_open_reports_unavailable_not_an_exception(qtbot, wav):
    def refuse(samplerate, callback):
        raise OSError("Device unavailable [PaErrorCode -9985]")

    player = Player(stream_factory=refuse, device_rate=RATE)
    with qtbot.waitSignal(player.unavailable, timeout=1000) as blocker:
        player.play(wav(), 0.0, 1.0)
    assert "could not open the audio output" in blocker.args[0] and "-9985" in blocker.args[0]
    assert not player.is_available and player.reason == blocker.args[0] and player.state == "stopped"


@pytest.mark.parametrize("error, words", [
    (ImportError("No module named 'sounddevice'"), "sounddevice package is not installed"),
    (OSError("PortAudio library not found"), "PortAudio library is missing"),
])
def test_missing_sounddevice_or_portaudio_turns_playback_off(monkeypatch, qtbot, wav, error, words):
    def fail():
        raise error

    monkeypatch.setattr(playback, "_import_sounddevice", fail)
    player = Player()
    assert not player.is_available and words in player.reason
    with qtbot.waitSignal(player.unavailable, timeout=1000) as blocker:
        player.play(wav(), 0.0, 1.0)
    assert blocker.args == [player.reason] and player.state == "stopped"


def test_no_output_device_is_reported_with_the_reason(monkeypatch, qtbot):
    class NoDevice:
        @staticmethod
        def query_devices(kind=None):
            raise RuntimeError("Error querying device -1")

    monkeypatch.setattr(playback, "_import_sounddevice", lambda: NoDevice)
    player = Player()
    assert player.reason == "playback off: no audio output device found (PortAudio: Error querying device -1)"


def test_device_rate_comes_from_the_default_output_device(monkeypatch):
    class Card:
        @staticmethod
        def query_devices(kind=None):
            return {"name": "card", "default_samplerate": 44100.0}

    monkeypatch.setattr(playback, "_import_sounddevice", lambda: Card)
    assert Player().device_rate == 44100 and Player().is_available
    monkeypatch.setattr(Card, "query_devices", staticmethod(lambda kind=None: {"default_samplerate": 0}))
    assert Player().device_rate == 48000


def test_real_sounddevice_without_a_device_reports_unavailable(qtbot, tmp_path):
    if probe_sound_device().reason is None:
        pytest.skip("this machine has an audio output device")
    player = Player()  # the real sounddevice factory
    assert not player.is_available and player.reason.startswith("playback off:")
    with qtbot.waitSignal(player.unavailable, timeout=1000) as blocker:
        player.play(tmp_path / "never-read.wav", 0.0, 1.0)  # refused before any decoding
    assert blocker.args == [player.reason] and player.state == "stopped"


def test_real_sounddevice_plays_to_the_end(qtbot, wav):
    if probe_sound_device().reason is not None:
        pytest.skip(f"no audio output: {probe_sound_device().reason}")
    player = Player()
    states: list[str] = []
    player.stateChanged.connect(states.append)
    player.play(wav(), 0.0, 0.3)
    if not player.is_available:
        pytest.skip(player.reason)  # a device is listed but cannot be opened (busy, headless)
    qtbot.waitUntil(lambda: player.state == "stopped", timeout=5000)
    assert states == ["playing", "stopped"] and player.position == pytest.approx(0.3)


def test_a_device_that_appears_later_is_found_at_the_next_play(monkeypatch, qtbot, wav):
    class Card:  # no device at start; PortAudio rescanned finds one
        present = False
        rescans = 0

        @staticmethod
        def query_devices(kind=None):
            if not Card.present:
                raise RuntimeError("Error querying device -1")
            return {"name": "usb", "default_samplerate": 44100.0}

        @staticmethod
        def _terminate():
            Card.rescans += 1

        @staticmethod
        def _initialize():
            pass

    monkeypatch.setattr(playback, "_import_sounddevice", lambda: Card)
    player = Player()
    assert not player.is_available
    with qtbot.waitSignal(player.unavailable, timeout=1000):
        player.play(wav(), 0.0, 1.0)  # still none: asked again, still off
    assert Card.rescans == 1
    Card.present = True  # plugged in
    opened = []
    monkeypatch.setattr(player, "_factory", lambda rate, callback: opened.append(rate) or FakeStream(rate, callback))
    player.play(wav(), 0.0, 1.0)
    qtbot.waitUntil(lambda: bool(opened), timeout=5000)
    assert player.is_available and opened == [44100]
