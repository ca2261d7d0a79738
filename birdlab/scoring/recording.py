"""Score one recording: windows -> features -> model -> stitched tracks -> detections.

`score_recording` is the one function both the batch runner and the app call, so headless
and interactive scoring give identical detections. Memory is bounded by a few batches of
windows plus the tracks (memory-mapped past a limit), whatever the file's length.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from birdlab.core.sound.audio import MIX, iter_windows, probe
from birdlab.core.store.embedding_cache import WindowEmbeddingCache
from birdlab.core.model import Box, HasBox
from birdlab.core.paths import shown
from birdlab.scoring.detect import DetectSettings, Event, find_events
from birdlab.scoring.embedders import EmbeddingSpec
from birdlab.scoring.metadata import ModelFileError
from birdlab.scoring.postprocess import PostProcessor, PostSettings
from birdlab.scoring.prefetch import Prefetcher
from birdlab.scoring.scorer import Features, Scorer
from birdlab.scoring.tracks import DEFAULT_MAX_TRACK_BYTES, Stitcher, WindowPlan


class ScoringCancelled(Exception):
    """`should_stop` asked score_recording to stop."""


@dataclass(frozen=True)
class ScoreSettings:
    """Everything besides the model that decides a recording's scores and detections."""

    hop_s: float | None = None  # window hop; None: the model's default (no overlap unless it names one)
    batch_size: int = 4  # windows per inference call (CNNs on CPU: 1-4 beat 8, caches)
    channel: int = MIX  # channel index, or MIX (mean of all channels)
    detect: DetectSettings = field(default_factory=DetectSettings)
    post: PostSettings = field(default_factory=PostSettings)
    # Band (Hz) of a class's boxes, overriding the model's class_bands (e.g. a project's).
    class_bands: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    prefetch: int = 2  # batches prepared ahead in a thread (0: no thread)
    max_track_bytes: int = DEFAULT_MAX_TRACK_BYTES  # beyond this, tracks are memory-mapped

    def problems(self) -> list[str]:
        out = self.detect.problems() + self.post.problems()
        if self.hop_s is not None and not (math.isfinite(self.hop_s) and self.hop_s > 0):
            out.append(f"hop {self.hop_s!r} s must be > 0")
        if not 1 <= self.batch_size <= MAX_BATCH:
            out.append(f"batch size {self.batch_size} must be in [1, {MAX_BATCH}] (windows held in memory at once)")
        for name, (lo, hi) in self.class_bands.items():
            if not (0 <= lo < hi):
                out.append(f"band of {name!r} [{lo:g}, {hi:g}] Hz needs 0 <= f_min < f_max")
        return out

    def to_json(self) -> dict:
        """The settings that change results (for journals and fingerprints)."""
        data = dataclasses.asdict(self)
        data["class_bands"] = {k: list(v) for k, v in sorted(self.class_bands.items())}
        for key in ("prefetch", "max_track_bytes", "batch_size"):  # speed only
            data.pop(key)
        return data


MAX_BATCH = 1024


@dataclass(frozen=True)
class ScoredBox(HasBox):
    """A detection on a recording: seconds, Hz, class name and score (max in the event)."""

    box: Box
    label: str
    score: float
    class_index: int


@dataclass
class RecordingScores:
    """The result of scoring one recording."""

    path: str
    duration: float  # seconds of audio scored
    sample_rate: int  # the recording's own rate (the model may use another)
    channels: int
    classes: tuple[str, ...]
    frame_hop_s: float
    tracks: np.ndarray  # float32 [frames, classes]: stitched framewise probabilities
    window_starts: np.ndarray  # float64 [windows]: start of each model window (s)
    clipwise: np.ndarray  # float32 [windows, classes]
    detections: list[ScoredBox]
    seconds: float = 0.0  # wall time spent

    @property
    def nyquist(self) -> float:
        return self.sample_rate / 2.0

    @property
    def frame_times(self) -> np.ndarray:
        """Start time (s) of every track frame."""
        return np.arange(len(self.tracks)) * self.frame_hop_s


@dataclass
class _Batch:
    first: int  # index of its first window
    starts: list[float]
    features: Features
    end_sample: int  # last real (not padding) sample + 1, at the model's rate


def _batches(path: str | Path, scorer: Scorer, plan: WindowPlan, settings: ScoreSettings,
             frames: int | None = None) -> Iterator[_Batch]:
    rate = scorer.sample_rate
    hop = int(round(plan.hop_s * rate))
    pending: list = []
    index = 0

    def flush() -> _Batch:
        audio = np.stack([w.samples for w in pending])
        first = index - len(pending)
        end = max((first + i) * hop + w.valid for i, w in enumerate(pending))
        batch = _Batch(first, [w.start for w in pending], scorer.features(audio), end)
        pending.clear()
        return batch

    for window in iter_windows(path, scorer.window_s, plan.hop_s, sample_rate=rate, channel=settings.channel,
                               frames=frames):
        pending.append(window)
        index += 1
        if len(pending) == settings.batch_size:
            yield flush()
    if pending:
        yield flush()


def resolve_bands(classes: tuple[str, ...], nyquist: float, model_bands: Mapping[str, tuple[float, float]],
                  overrides: Mapping[str, tuple[float, float]]) -> list[tuple[float, float]]:
    """Box band per class: override, else the model's band, else 0..Nyquist; clipped to the
    recording's Nyquist (a band entirely above it falls back to the full band)."""
    out = []
    for name in classes:
        lo, hi = overrides.get(name) or model_bands.get(name) or (0.0, nyquist)
        lo, hi = max(0.0, float(lo)), min(float(hi), nyquist)
        out.append((lo, hi) if lo < hi else (0.0, nyquist))
    return out


def detect(tracks: np.ndarray, classes: tuple[str, ...], frame_hop_s: float, duration: float,
           bands: list[tuple[float, float]], settings: ScoreSettings) -> list[ScoredBox]:
    """Post-process and threshold tracks into boxes (also used to re-threshold without rescoring)."""
    processor = PostProcessor(settings.post, frame_hop_s)
    events: list[Event] = find_events(processor.chunks(tracks), len(classes), frame_hop_s, settings.detect)
    boxes = []
    for e in events:
        t_min = e.start * frame_hop_s
        t_max = min(e.stop * frame_hop_s, duration)
        if t_max <= t_min:
            continue
        lo, hi = bands[e.class_index]
        boxes.append(ScoredBox(Box(round(t_min, 6), round(t_max, 6), lo, hi), classes[e.class_index],
                               e.score, e.class_index))
    return boxes


def redetect(scores: RecordingScores, scorer_bands: Mapping[str, tuple[float, float]],
             settings: ScoreSettings) -> list[ScoredBox]:
    """New detections from existing tracks with other thresholds or post-processing."""
    bands = resolve_bands(scores.classes, scores.nyquist, scorer_bands, settings.class_bands)
    return detect(scores.tracks, scores.classes, scores.frame_hop_s, scores.duration, bands, settings)


@dataclass(frozen=True)
class EmbeddingStore:
    """Where an embedding-family model's window embeddings of this recording are cached
    (a project's cache/ and the recording's content fingerprint). With every window there,
    scoring runs only the head (no audio is decoded): a retrained head rescores at once."""

    cache_root: Path
    fingerprint: str


def _embedding_cache(scorer: Scorer, plan: WindowPlan, store: EmbeddingStore | None):
    """The cache of the scorer's one embedder on this plan's grid, or None when not applicable."""
    specs = scorer.input_specs
    if store is None or not store.fingerprint or scorer.needs_audio or len(specs) != 1 \
            or not isinstance(specs[0], EmbeddingSpec):
        return None
    return WindowEmbeddingCache(store.cache_root, specs[0].embedder, specs[0].sha256, plan.hop_s)


def _cached_batches(spec: EmbeddingSpec, cached: dict[int, np.ndarray], n_windows: int, hop_s: float,
                    duration: float, rate: int, batch_size: int) -> Iterator[_Batch]:
    for first in range(0, n_windows, batch_size):
        idx = list(range(first, min(n_windows, first + batch_size)))
        features: Features = {spec: np.stack([cached[i] for i in idx]).astype(np.float32)}
        yield _Batch(first, [i * hop_s for i in idx], features, int(round(duration * rate)))


def score_recording(path: str | Path, scorer: Scorer, settings: ScoreSettings | None = None, *,
                    progress: Callable[[float], None] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    embeddings: EmbeddingStore | None = None) -> RecordingScores:
    """Score one recording with a model or ensemble.

    progress(seconds_done) is called after each batch; should_stop() is polled between
    batches and raises ScoringCancelled when true. Unreadable audio raises
    birdlab.core.sound.audio.AudioError naming the file. `embeddings`: for an embedding-family
    model, read the window embeddings from there when all are cached, else store them.
    """
    settings = settings or ScoreSettings()
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    t0 = time.perf_counter()
    info = probe(path)
    hop_s = settings.hop_s if settings.hop_s is not None else scorer.default_hop_s
    plan = WindowPlan.make(scorer.window_s, scorer.frame_hop_s, scorer.out_frames, hop_s)
    capacity = plan.n_frames(info.duration) + plan.out_frames + plan.hop_frames + 1
    stitcher = Stitcher(plan, len(scorer.classes), capacity, settings.max_track_bytes, scorer.overlap)
    starts: list[float] = []
    clips: list[np.ndarray] = []
    end_sample = 0
    cache = _embedding_cache(scorer, plan, embeddings)
    cached = cache.load(embeddings.fingerprint) if cache is not None else {}
    n_windows = max(1, math.ceil(info.duration / plan.hop_s - 1e-9))
    spec = scorer.input_specs[0]
    if cache is not None and all(i in cached for i in range(n_windows)):
        source = _cached_batches(spec, cached, n_windows, plan.hop_s, info.duration, scorer.sample_rate,
                                 settings.batch_size)
        cache = None  # nothing new to store
    else:
        source = _batches(path, scorer, plan, settings, frames=info.frames)  # probe found what decodes
    computed: dict[int, np.ndarray] = {}
    items = Prefetcher(source, settings.prefetch) if settings.prefetch > 0 else None
    try:
        batches = items.__enter__() if items is not None else source
        for batch in batches:
            if should_stop is not None and should_stop():
                raise ScoringCancelled(f"{path}: scoring cancelled")
            try:
                framewise, clipwise = scorer.predict_features(batch.features)
            except ModelFileError as exc:  # e.g. NaN outputs: this file fails, named with the place
                raise ModelFileError(exc.path, f"{exc.reason}, scoring {shown(path)} at {batch.starts[0]:.1f} s; "
                                               f"the file is not scored") from None
            for i in range(len(batch.starts)):
                stitcher.add(batch.first + i, framewise[i])
                if cache is not None:
                    computed[batch.first + i] = batch.features[spec][i].astype(np.float16)
            starts += batch.starts
            clips.append(clipwise)
            end_sample = max(end_sample, batch.end_sample)
            if progress is not None:
                progress(min(info.duration, end_sample / scorer.sample_rate))
    finally:
        if items is not None:
            items.__exit__(None, None, None)
        else:
            source.close()
    if cache is not None and computed:
        cache.save(embeddings.fingerprint, {**cached, **computed})
    duration = min(info.duration, end_sample / scorer.sample_rate)
    tracks = stitcher.finish(plan.n_frames(duration))
    bands = resolve_bands(scorer.classes, info.nyquist, scorer.class_bands, settings.class_bands)
    boxes = detect(tracks, scorer.classes, scorer.frame_hop_s, duration, bands, settings)
    return RecordingScores(path=str(path), duration=duration, sample_rate=info.sample_rate,
                           channels=info.channels, classes=scorer.classes, frame_hop_s=scorer.frame_hop_s,
                           tracks=tracks, window_starts=np.asarray(starts, dtype=np.float64),
                           clipwise=np.concatenate(clips) if clips else np.zeros((0, len(scorer.classes)),
                                                                                 np.float32),
                           detections=boxes, seconds=time.perf_counter() - t0)
