"""Playback to the sound card, with a cursor position in recording seconds.

The DSP lives in `birdlab.core.sound.playback`; this module owns the stream and the Qt side.
Output goes through a stream factory, `factory(samplerate, callback) -> stream` with
start/stop/close (sounddevice's `OutputStream` by default), so tests inject a fake stream
and drive the callback themselves. sounddevice is imported lazily: a machine without it,
without PortAudio or without an output device gets a Player that says why (`reason`,
`unavailable`) instead of an exception, and the rest of the app works.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from birdlab.core.sound.audio import MIX, AudioError, probe
from birdlab.core.sound.playback import DEFAULT_DEVICE_RATE, PlaybackClip, clip_time, prepare
from birdlab.gui.background import Background

PLAYING, PAUSED, STOPPED = "playing", "paused", "stopped"
TICK_MS = 33  # cursor updates at ~30 Hz

Callback = Callable[[np.ndarray, int, Any, Any], None]  # sounddevice's (outdata, frames, time, status)


class Stream(Protocol):
    """What the Player needs of an output stream (sounddevice.OutputStream has it)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


StreamFactory = Callable[[int, Callback], Stream]


def _import_sounddevice() -> Any:
    import sounddevice  # lazy: raises OSError when the PortAudio library is missing
    return sounddevice


@dataclass(frozen=True)
class OutputProbe:
    """The default output device's rate, or why there is no playback."""

    rate: int | None
    reason: str | None = None


def probe_sound_device(rescan: bool = False) -> OutputProbe:
    """Look for a default output device; never raises. `rescan`: have PortAudio list the devices
    again first (it lists them once, when sounddevice is imported, so a device plugged in or a
    sound server started later is otherwise never seen)."""
    try:
        sd = _import_sounddevice()
    except ImportError as exc:
        return OutputProbe(None, f"playback off: the sounddevice package is not installed ({exc})")
    except OSError as exc:
        return OutputProbe(None, f"playback off: the PortAudio library is missing ({exc}); "
                                 "install it (Debian/Ubuntu: libportaudio2)")
    if rescan and hasattr(sd, "_terminate"):
        try:
            sd._terminate()
            sd._initialize()
        except Exception:  # noqa: BLE001 (PortAudio could not start again: the query below says why)
            pass
    try:
        info = sd.query_devices(kind="output")
    except Exception as exc:  # PortAudioError, ValueError: no default output device
        return OutputProbe(None, f"playback off: no audio output device found (PortAudio: {exc})")
    rate = int(round(float(info.get("default_samplerate") or 0)))
    return OutputProbe(rate if 8000 <= rate <= 768000 else DEFAULT_DEVICE_RATE)


def sound_device_stream(samplerate: int, callback: Callback) -> Stream:
    """The default factory: a mono float32 sounddevice output stream."""
    sd = _import_sounddevice()
    # 150 ms of buffer: PortAudio's default (~35 ms through ALSA to PulseAudio) dropped out audibly
    # with both cores busy; the cursor subtracts the stream's latency, so it still follows the sound
    return sd.OutputStream(samplerate=samplerate, channels=1, dtype="float32", callback=callback, latency=0.15)


class _Feed:
    """The audio callback: copies the next block of the clip, zeros after its end.

    Runs on the audio thread; `frames` (frames handed out, zeros included) is the only state
    shared with the GUI thread, a single int written by this thread only.
    """

    def __init__(self, samples: np.ndarray):
        self.samples = samples
        self.frames = 0

    def __call__(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        i = self.frames
        k = max(0, min(frames, len(self.samples) - i))
        outdata[:k, 0] = self.samples[i:i + k]
        outdata[k:] = 0.0
        self.frames = i + frames


@dataclass(frozen=True)
class _Request:
    path: str
    t0: float
    t1: float | None
    channel: int
    band: tuple[float, float] | None
    speed: float


class Player(QObject):
    """Plays a span of a recording; `positionChanged` follows it in recording seconds.

    Clips over `sync_limit_s` seconds of recording, or whose samples read plus samples
    made pass `sync_limit_samples` (10 s of a 384 kHz file slowed to 0.1x takes ~0.3 s),
    are decoded and resampled on a worker thread so the GUI stays responsive; a newer
    play() or stop() drops a pending one. Short clips start at once, on the GUI thread.
    Files that cannot be read are reported by `failed(message naming the file)`.
    """

    positionChanged = Signal(float)
    stateChanged = Signal(str)
    unavailable = Signal(str)
    failed = Signal(str)

    def __init__(self, stream_factory: StreamFactory | None = None, device_rate: int | None = None,
                 sync_limit_s: float = 10.0, sync_limit_samples: int = 1_500_000,
                 parent: QObject | None = None):
        super().__init__(parent)
        self._factory = stream_factory or sound_device_stream
        self._probe: OutputProbe | None = None
        if stream_factory is not None:  # injected: no device to look for
            self._probe = OutputProbe(device_rate or DEFAULT_DEVICE_RATE)
        self._device_rate = device_rate
        self._open_error: str | None = None
        self.sync_limit_s = sync_limit_s
        self.sync_limit_samples = sync_limit_samples
        self._state = STOPPED
        self._stream: Stream | None = None
        self._feed: _Feed | None = None
        self._clip: PlaybackClip | None = None
        self._last: _Request | None = None
        self._latency_frames = 0
        self._position = 0.0
        self._generation = itertools.count(1)
        self._wanted = 0
        self._lock = threading.Lock()
        self._background = Background(1, "playback", self)  # clips are decoded off the GUI thread
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._loading = False
        app = QCoreApplication.instance()
        if app is not None:  # never leave PortAudio calling back into a freed stream
            app.aboutToQuit.connect(self.stop)

    # -- availability ---------------------------------------------------------------------

    def _checked(self) -> OutputProbe:
        if self._probe is None:
            self._probe = probe_sound_device()
        return self._probe

    @property
    def is_available(self) -> bool:
        return self._checked().reason is None and self._open_error is None

    @property
    def reason(self) -> str:
        """Why playback is off ('' when it is on)."""
        return self._checked().reason or self._open_error or ""

    @property
    def device_rate(self) -> int:
        return self._device_rate or self._checked().rate or DEFAULT_DEVICE_RATE

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def loading(self) -> bool:
        """A long clip is being prepared on the worker."""
        return self._loading

    @property
    def clip(self) -> PlaybackClip | None:
        """The clip playing or paused (None when stopped or preparing)."""
        return self._clip

    @property
    def position(self) -> float:
        """Recording seconds under the cursor."""
        if self._state == PLAYING:
            self._position = self._now()
        return self._position

    def _now(self, heard_all: bool = False) -> float:
        """Cursor time; while playing, the device still holds `latency` of what was handed out."""
        if self._clip is None or self._feed is None:
            return self._position
        lag = 0 if heard_all else self._latency_frames
        return clip_time(self._clip, self._feed.frames - lag)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.stateChanged.emit(state)

    # -- commands -------------------------------------------------------------------------

    def play(self, path: str | Path, t0: float, t1: float | None, channel: int = MIX,
             band: tuple[float, float] | None = None, speed: float = 1.0) -> None:
        """Play t0..t1 s of the recording (replacing whatever plays); never raises for a missing device.
        With no device found before, it looks again (headphones plugged in since)."""
        lost = self._probe.reason if self._probe is not None else None
        if lost and "no audio output device" in lost:
            self._probe = probe_sound_device(rescan=True)
        device = self._checked()
        if device.reason is not None:
            self.unavailable.emit(device.reason)
            return
        self._halt()
        request = _Request(str(path), float(t0), None if t1 is None else float(t1), channel,
                           None if band is None else (float(band[0]), float(band[1])), float(speed))
        self._last = request
        generation = next(self._generation)
        with self._lock:
            self._wanted = generation
        if self._quick(request):
            clip, error = self._prepare(request)
            self._on_prepared(generation, clip, error)
        else:
            self._set_state(STOPPED)  # the old clip stopped; the new one starts when ready
            self._loading = True
            self._background.submit(self._work, generation, request)  # a superseded one returns at once

    def pause(self) -> None:
        if self._state != PLAYING or self._stream is None:
            return
        self._timer.stop()
        try:
            self._stream.stop()  # plays what is buffered, so every frame handed out was heard
        except Exception as exc:  # the device went away
            self._position = self._now()
            self._halt()
            self._open_failed(exc)
            return
        self._position = self._now(heard_all=True)
        self._set_state(PAUSED)
        self.positionChanged.emit(self._position)

    def resume(self) -> None:
        if self._state != PAUSED or self._stream is None:
            return
        if not self._start(self._stream):
            return
        self._set_state(PLAYING)
        self._timer.start()

    def toggle(self) -> None:
        """Space bar: pause, resume, cancel a clip still loading, or replay the last request."""
        if self._loading:
            self.stop()
        elif self._state == PLAYING:
            self.pause()
        elif self._state == PAUSED:
            self.resume()
        elif self._last is not None:
            r = self._last
            self.play(r.path, r.t0, r.t1, r.channel, r.band, r.speed)

    def stop(self) -> None:
        """Stop now (a pending long clip is dropped); the position stays where it was."""
        with self._lock:
            self._wanted = next(self._generation)  # a clip still being prepared is dropped when it arrives
        self._loading = False
        if self._state == PLAYING:
            self._position = self._now()
        self._halt()
        self._set_state(STOPPED)

    def wait(self, ms: int = 5000) -> bool:
        """Wait for the worker (tests, shutdown)."""
        return self._background.wait(ms)

    # -- internals ------------------------------------------------------------------------

    def _quick(self, r: _Request) -> bool:
        """Cheap enough to prepare on the GUI thread? (A header read decides.)"""
        if r.t1 is None or r.t1 - r.t0 > self.sync_limit_s:
            return False
        try:
            rate = probe(r.path).sample_rate
        except AudioError:
            return True  # prepare() reports it at once
        seconds = max(0.0, r.t1 - r.t0)
        return seconds * rate + seconds / max(r.speed, 1e-3) * self.device_rate <= self.sync_limit_samples

    def _prepare(self, r: _Request) -> tuple[PlaybackClip | None, str | None]:
        try:
            return prepare(r.path, r.t0, r.t1, channel=r.channel, band=r.band, speed=r.speed,
                           device_rate=self.device_rate), None
        except (AudioError, ValueError, OSError, MemoryError) as exc:
            return None, str(exc) if str(r.path) in str(exc) else f"{r.path}: {exc}"

    def _work(self, generation: int, request: _Request) -> None:
        with self._lock:
            if generation != self._wanted:
                return  # superseded before it started
        try:
            clip, error = self._prepare(request)
        except Exception as exc:  # anything else would vanish with the worker thread
            clip, error = None, f"{request.path}: playback failed ({type(exc).__name__}: {exc})"
        self._background.deliver(self._on_prepared, generation, clip, error)

    def _on_prepared(self, generation: int, clip: PlaybackClip | None, error: str | None) -> None:
        with self._lock:
            if generation != self._wanted:
                return  # a newer play() or a stop() came first
        self._loading = False
        if error is not None or clip is None:
            self._set_state(STOPPED)
            self.failed.emit(error or "playback failed")
            return
        feed = _Feed(clip.samples)
        try:
            stream = self._factory(clip.device_rate, feed)
        except Exception as exc:  # PortAudioError, device busy or gone
            self._open_failed(exc)
            return
        if not self._start(stream):
            return
        self._open_error = None
        self._stream, self._feed, self._clip = stream, feed, clip
        latency = getattr(stream, "latency", 0.0)  # seconds, for sounddevice streams
        self._latency_frames = round(latency * clip.device_rate) if isinstance(latency, (int, float)) else 0
        self._position = clip.t0
        self._set_state(PLAYING)
        self.positionChanged.emit(clip.t0)
        self._timer.start()

    def _start(self, stream: Stream) -> bool:
        try:
            stream.start()
        except Exception as exc:
            self._close(stream)
            self._stream = self._feed = self._clip = None
            self._open_failed(exc)
            return False
        return True

    def _open_failed(self, exc: Exception) -> None:
        self._open_error = f"playback off: could not open the audio output ({exc})"
        self._timer.stop()
        self._set_state(STOPPED)
        self.unavailable.emit(self._open_error)

    def _tick(self) -> None:
        if self._state != PLAYING or self._clip is None or self._feed is None:
            self._timer.stop()
            return
        self._position = self._now()
        self.positionChanged.emit(self._position)
        if self._feed.frames >= self._clip.frames + self._latency_frames:
            self._position = self._clip.t1  # the last sample has been heard
            self._halt()
            self._set_state(STOPPED)
            self.positionChanged.emit(self._position)

    def _halt(self) -> None:
        """Close the stream without touching state or position."""
        self._timer.stop()
        if self._stream is not None:
            self._close(self._stream)
        self._stream = self._feed = self._clip = None

    @staticmethod
    def _close(stream: Stream) -> None:
        try:
            stream.close()  # sounddevice: discards what is buffered, like abort()
        except Exception:
            pass  # a stream that failed to open or died has nothing left to free
