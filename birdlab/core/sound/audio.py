"""Audio files: probe without decoding, read any window by seeking, stream long files.

Recordings can be many hours long, so nothing here decodes more than the window asked
for. Reading goes through libsndfile (the `soundfile` package): WAV/W64/RF64, FLAC,
OGG/Vorbis, Opus, AIFF and, with libsndfile 1.1 or newer, MP3. Resampling uses soxr.
Every failure is an `AudioError` that names the file and the reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from birdlab.core.failures import OS_REASONS
from birdlab.core.paths import shown

log = logging.getLogger("birdlab.audio")

# Channel choice: an index (0-based) or MIX for the mean of all channels.
MIX = -1


class AudioError(Exception):
    """A recording that cannot be read; the message names the file and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{shown(path, limit=400)}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str  # container, e.g. WAV, FLAC, OGG, MP3
    subtype: str  # sample format, e.g. PCM_16, FLOAT, VORBIS

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def nyquist(self) -> float:
        return self.sample_rate / 2.0


def libsndfile_version() -> str:
    return sf.__libsndfile_version__


def readable_formats() -> dict[str, str]:
    """Containers the installed libsndfile reads, e.g. {'WAV': 'Microsoft WAV', 'MP3': ...}."""
    return dict(sf.available_formats())


def _open(path: str | Path) -> sf.SoundFile:
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioError(path, "file not found") from None
    except OSError as exc:
        raise AudioError(path, OS_REASONS.get(exc.errno, exc.strerror or str(exc))) from None
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise AudioError(path, "permission denied (a folder that cannot be read; its files were not added)")
        raise AudioError(path, "is a folder, not an audio file")
    if st.st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioError(path, "permission denied (the file is not readable by this user)")
    try:
        # bytes as the OS gives them: a name that is not valid UTF-8 still opens
        return sf.SoundFile(os.fsencode(path) if os.name == "posix" else str(path))
    except sf.LibsndfileError as exc:
        raise AudioError(path, f"not a readable audio file ({_reason(exc)})") from None
    except (RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"not a readable audio file ({exc})") from None


def _reason(exc: Exception) -> str:
    text = str(exc)
    # libsndfile messages start with the file name in quotes; keep only the reason.
    return text.split(": ", 1)[-1] if ": " in text else text


def _reads_at(path: str | Path, position: int, count: int) -> bool:
    """Whether `count` frames decode from `position`. A fresh handle each time: after a failed
    seek libsndfile's FLAC decoder has lost sync and fails every later call."""
    try:
        with sf.SoundFile(os.fsencode(path) if os.name == "posix" else str(path)) as f:
            f.seek(position)
            return len(f.read(count, dtype="float32", always_2d=True)) == count
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError):
        return False


def decodable_frames(path: str | Path, frames: int, tail: int = 1024) -> int:
    """The frames that really decode: the header's count, or less for a truncated file.

    A cut-off FLAC or MP3 keeps the header of the whole file. Checking the last `tail` frames
    costs one seek; only a file that fails there is searched (about 20 seeks, some 50 ms),
    never decoded whole.
    """
    if frames <= 0 or _reads_at(path, max(0, frames - tail), min(tail, frames)):
        return frames
    if not _reads_at(path, 0, 1):
        return 0
    good, bad = 0, frames  # frame `good` decodes, frame `bad` does not
    while bad - good > 1:
        mid = (good + bad) // 2
        if _reads_at(path, mid, 1):
            good = mid
        else:
            bad = mid
    return good + 1


def probe(path: str | Path) -> AudioInfo:
    """Read the header: sample rate, channels, frames (those that decode), container and sample format."""
    with _open(path) as f:
        frames = int(f.frames)
        real = decodable_frames(path, frames) if f.seekable() else frames
        if real < frames:
            log.warning("%s: truncated: the header says %.2f s but only %.2f s decode; using %.2f s",
                        shown(path), frames / f.samplerate, real / f.samplerate, real / f.samplerate)
        info = AudioInfo(str(path), int(f.samplerate), int(f.channels), real,
                         str(f.format), str(f.subtype))
    if info.sample_rate <= 0 or info.channels <= 0:
        raise AudioError(path, f"header says {info.sample_rate} Hz, {info.channels} channels")
    if info.frames <= 0:
        raise AudioError(path, "holds no audio frames (empty or truncated before the data)")
    return info


FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # only these can hold NaN or infinity


def _silence_non_finite(block: np.ndarray, path: str | Path, start_s: float, rate: int) -> np.ndarray:
    """Replace NaN/Inf samples by silence, with a warning naming the file and the time range."""
    bad = ~np.isfinite(block)
    if not bad.any():
        return block
    rows = np.flatnonzero(bad.any(axis=1) if block.ndim == 2 else bad)
    log.warning("%s: %d NaN/infinite sample(s) between %.3f and %.3f s replaced by silence", shown(path),
                int(bad.sum()), start_s + rows[0] / rate, start_s + (rows[-1] + 1) / rate)
    return np.where(bad, np.float32(0.0), block)


def _select_channel(block: np.ndarray, channel: int, path: str | Path) -> np.ndarray:
    """[frames, channels] -> [frames] for one channel, or the mean for MIX."""
    if channel == MIX:
        return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
    if not 0 <= channel < block.shape[1]:
        raise AudioError(path, f"has {block.shape[1]} channel(s); channel {channel + 1} asked for")
    return block[:, channel]


def read_window(path: str | Path, t0: float = 0.0, t1: float | None = None, *,
                channel: int | None = MIX, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read [t0, t1) seconds as float32 by seeking; decode nothing outside it.

    channel: an index, MIX (mean of channels) or None (all channels, shape [frames, channels]).
    sample_rate: resample to this rate when given. Returns (samples, rate). A window past
    the end is cut at the end of the file.
    """
    with _open(path) as f:
        sr = int(f.samplerate)
        start = max(0, int(round(t0 * sr)))
        stop = int(f.frames) if t1 is None else min(int(f.frames), int(round(t1 * sr)))
        if stop <= start:
            data = np.zeros((0, f.channels), dtype=np.float32)
        else:
            try:
                f.seek(start)
                data = f.read(stop - start, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioError(path, f"could not read {t0:g}-{t1} s ({_reason(exc)})") from None
            if f.subtype in FLOAT_SUBTYPES:
                data = _silence_non_finite(data, path, start / sr, sr)
    samples = data if channel is None else _select_channel(data, channel, path)
    if sample_rate and sample_rate != sr:
        samples = resample(samples, sr, sample_rate)
        sr = sample_rate
    return np.ascontiguousarray(samples, dtype=np.float32), sr


def resample(samples: np.ndarray, rate_in: int, rate_out: int, quality: str = "HQ") -> np.ndarray:
    """Resample along the first axis with soxr (band-limited, about 4,000x real time)."""
    if rate_in == rate_out or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples.astype(np.float32, copy=False), rate_in, rate_out, quality=quality)


@dataclass(frozen=True)
class Window:
    """One window of a stream: its start time in seconds, its samples, how many are real."""

    start: float
    samples: np.ndarray  # float32, always `window` long (zero-padded at the end); read-only
    valid: int  # samples before the padding


def iter_windows(path: str | Path, window_s: float, hop_s: float, *, sample_rate: int | None = None,
                 channel: int = MIX, block_s: float = 60.0, pad_last: bool = True,
                 frames: int | None = None) -> Iterator[Window]:
    """Stream a file as overlapping windows with memory bounded by `block_s`, not the file.

    Windows start at 0, hop_s, 2*hop_s, ... while they start inside the file; the last is
    zero-padded to full length (set pad_last False to drop a partial tail). Resampling, when
    asked for, is done by a streaming soxr resampler, so there are no seams between blocks.
    `frames`: the frames that decode, when the caller has probed the file (saves a second check).
    """
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window_s and hop_s must be positive")
    with _open(path) as f:
        rate_in = int(f.samplerate)
        rate = sample_rate or rate_in
        win = int(round(window_s * rate))
        hop = int(round(hop_s * rate))
        stream = soxr.ResampleStream(rate_in, rate, 1, dtype="float32") if rate != rate_in else None
        block = max(int(block_s * rate_in), 1)
        # 16-bit PCM is read as int16 and scaled here: exactly libsndfile's float conversion
        # (x / 32768, a power of two), at about twice its speed (batch scoring reads hours).
        as_int16 = f.subtype == "PCM_16"
        buf = np.zeros(0, dtype=np.float32)
        offset = 0  # absolute index (at `rate`) of buf[0]
        next_start = 0
        read_frames = 0  # frames of the file read so far (at rate_in)
        if frames is not None:  # the caller probed the file: where decoding stops is known
            limit = frames
        elif f.seekable():  # a cut-off file stops where decoding does
            limit = decodable_frames(path, int(f.frames))
        else:
            limit = int(f.frames)
        done = False
        while True:
            if not done:
                want = min(block, limit - read_frames)
                try:
                    raw = f.read(want, dtype="int16" if as_int16 else "float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise AudioError(path, f"read failed near {offset / rate:.1f} s ({_reason(exc)})") from None
                done = len(raw) < want or read_frames + len(raw) >= limit
                if f.subtype in FLOAT_SUBTYPES:
                    raw = _silence_non_finite(raw, path, read_frames / rate_in, rate_in)
                read_frames += len(raw)
                if as_int16:
                    raw = np.multiply(raw, np.float32(1.0 / 32768.0), dtype=np.float32)
                mono = _select_channel(raw, channel, path) if len(raw) else np.zeros(0, np.float32)
                if stream is not None:
                    mono = stream.resample_chunk(np.ascontiguousarray(mono), last=done)
                mono = mono.astype(np.float32, copy=False)
                buf = np.concatenate([buf, mono]) if len(buf) else mono
                buf.flags.writeable = False  # windows are views of it
            while next_start + win <= offset + len(buf):
                i = next_start - offset
                yield Window(next_start / rate, buf[i:i + win], win)
                next_start += hop
            if done:
                end = offset + len(buf)
                while next_start < end and pad_last:
                    i = next_start - offset
                    part = buf[i:]
                    out = np.zeros(win, dtype=np.float32)
                    out[:len(part)] = part
                    yield Window(next_start / rate, out, len(part))
                    next_start += hop
                return
            drop = max(0, min(next_start - offset, len(buf)))
            buf = buf[drop:]
            offset += drop
