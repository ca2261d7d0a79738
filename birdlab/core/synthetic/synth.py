"""Synthetic soundscapes with exact ground truth, for tests, benchmarks, the demo and training.

A soundscape is a stationary background bed (pink, brown or white noise) plus placed sounds:
calls of synthetic species (the ground truth), distractors (sounds of no species, kept apart
so they can serve as negatives) and weather (wind and rain bursts, neither truth nor negative).

Conventions, chosen so a detector trained on the output can be scored exactly:

* Times are whole samples: a call occupies samples ``[n_on, n_on + n_len)`` and its box is
  ``t_min = n_on / sr``, ``t_max = (n_on + n_len) / sr``. Outside that range the call is zero.
* ``f_min``/``f_max`` are the extent of the instantaneous frequencies of everything the call
  carries (all harmonics, all trill notes), or the pass band of band-limited sounds (clicks,
  noise bursts). Onset/offset ramps (raised cosine, ``ramp_s``) and short notes spread energy
  only a few tens to ~200 Hz beyond that.
* Weather boxes are loose (wind: 15 Hz to its cut-off; rain: 0-16 kHz, broadband ticks).
* SNR (``snr_db``) is per call and in band: ``10 log10(P_call / P_noise_band)`` where ``P_call``
  is the mean square of the call over its own time extent ``[t_min, t_max)`` and
  ``P_noise_band`` is the power of the stationary background bed inside ``[f_min, f_max]``
  (known analytically from the bed's spectrum). Wind, rain, distractors and other calls are
  not part of the reference. Rain levels are relative to the bed's total power instead.

Every sample is a pure function of the seed and its index: the background is cross-faded
noise blocks each drawn from its own seed, every placed sound is rendered from its own seed,
so `write_long_recording` can stream any length chunk by chunk and the result does not
depend on the chunk size. Layer rule: stdlib, numpy and soundfile only.

Long because: every sound kind follows the same sample and band conventions above, which one
module keeps in one place; the project-level generator is `synth_project`.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from birdlab.core.atomic import atomic_open
from birdlab.core.model import Box, HasBox

__all__ = [
    "CallShape",
    "SpeciesSpec",
    "SoundscapeConfig",
    "SynthEvent",
    "Soundscape",
    "default_species",
    "generate_soundscape",
    "write_soundscape",
    "write_long_recording",
    "write_truth_csv",
    "truth_csv_path",
    "DISTRACTOR_KINDS",
    "TRUTH_COLUMNS",
]

TRUTH_COLUMNS = ("recording", "t_min", "t_max", "f_min", "f_max", "label")
DISTRACTOR_KINDS = ("tonal_blip", "noise_burst")

# Stream tags keep the random streams of the plan parts and the background independent, so
# that e.g. removing all species leaves the background and the distractors unchanged.
_TAG_SPECIES, _TAG_DISTRACTOR, _TAG_WIND, _TAG_RAIN, _TAG_BACKGROUND, _TAG_CHANNEL = range(1, 7)
_HARMONIC_ARCH_MAX = 0.06  # largest rise of a harmonic stack's fundamental (fraction)
_CLICK_EDGE_S = 0.003  # first/last click this far inside the call, so its ringing fits
_CLICK_RAMP_S = 0.001
_MIN_CALL_S = 0.02
_NOISE_LOW_HZ = 20.0  # the 1/f^a bed is flat below this (no infinite power at DC)


class CallShape(str, Enum):
    """How a species' call is drawn in the time-frequency plane."""

    UP_SWEEP = "up_sweep"  # one rising tone, log-frequency glide
    DOWN_SWEEP = "down_sweep"  # one falling tone
    WHISTLE = "whistle"  # near-constant tone with slow vibrato
    TRILL = "trill"  # a run of short falling notes (AM + FM)
    HARMONIC_STACK = "harmonic_stack"  # fundamental with harmonics, slight arch (frog/corvid)
    CLICK_TRAIN = "click_train"  # band-limited broadband clicks (bat/insect)


@dataclass(frozen=True)
class SpeciesSpec:
    """A synthetic species: every call's box lies inside ``[f_low, f_high]``.

    ``rate_hz`` is notes per second for TRILL and clicks per second for CLICK_TRAIN;
    ``harmonics`` counts the partials (fundamental included) of a HARMONIC_STACK.
    """

    name: str
    shape: CallShape
    f_low: float
    f_high: float
    duration_s: tuple[float, float]
    calls_per_minute: float
    harmonics: int = 1
    rate_hz: tuple[float, float] = (10.0, 20.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", CallShape(self.shape))
        object.__setattr__(self, "duration_s", tuple(float(v) for v in self.duration_s))
        object.__setattr__(self, "rate_hz", tuple(float(v) for v in self.rate_hz))
        problems = self.problems()
        if problems:
            raise ValueError(f"species {self.name!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Why this spec cannot be synthesised (empty when it can), independent of sample rate."""
        out: list[str] = []
        if not self.name or self.name != self.name.strip() or "," in self.name:
            out.append("name must be non-empty, without surrounding blanks or commas")
        values = (self.f_low, self.f_high, *self.duration_s, self.calls_per_minute, *self.rate_hz)
        if not all(math.isfinite(v) for v in values):
            return out + ["all numbers must be finite"]
        if not 0 < self.f_low < self.f_high:
            out.append(f"need 0 < f_low < f_high (got {self.f_low:g}, {self.f_high:g} Hz)")
        if len(self.duration_s) != 2 or not _MIN_CALL_S <= self.duration_s[0] <= self.duration_s[1]:
            out.append(f"duration_s must be (min, max) with {_MIN_CALL_S} s <= min <= max")
        if self.calls_per_minute < 0:
            out.append("calls_per_minute must be >= 0")
        if len(self.rate_hz) != 2 or not 0 < self.rate_hz[0] <= self.rate_hz[1]:
            out.append("rate_hz must be (min, max) with 0 < min <= max")
        if self.harmonics < 1:
            out.append("harmonics must be >= 1")
        if self.shape is CallShape.HARMONIC_STACK and out == []:
            need = self.harmonics * self.f_low * (1 + _HARMONIC_ARCH_MAX)
            if self.f_high < need:
                out.append(f"a {self.harmonics}-partial stack from {self.f_low:g} Hz needs "
                           f"f_high >= {need:g} Hz (got {self.f_high:g})")
        return out


def default_species(sample_rate: int = 32000) -> list[SpeciesSpec]:
    """Six species told apart by shape, with bands that partly overlap (band alone is not enough).

    Bands are nominal up to 14 kHz, which fits from 32 kHz up. Below that every frequency is
    scaled by the same factor so the set fits under 90 % of Nyquist (relative layout kept).
    """
    if sample_rate < 8000:
        raise ValueError(f"default_species needs a sample rate of at least 8000 Hz (got {sample_rate})")
    top = 14000.0
    k = min(1.0, 0.9 * (sample_rate / 2) / top)
    S = CallShape
    return [
        SpeciesSpec("upsweep_warbler", S.UP_SWEEP, 2500 * k, 6000 * k, (0.2, 0.5), 8.0),
        SpeciesSpec("downsweep_tit", S.DOWN_SWEEP, 3500 * k, 8000 * k, (0.15, 0.4), 8.0),
        SpeciesSpec("whistle_thrush", S.WHISTLE, 2000 * k, 4500 * k, (0.3, 0.9), 6.0),
        SpeciesSpec("trill_frog", S.TRILL, 1200 * k, 3000 * k, (0.5, 1.5), 5.0, rate_hz=(12.0, 22.0)),
        SpeciesSpec("harmonic_crow", S.HARMONIC_STACK, 450 * k, 4200 * k, (0.2, 0.5), 5.0, harmonics=6),
        SpeciesSpec("click_bat", S.CLICK_TRAIN, 9000 * k, top * k, (0.15, 0.5), 6.0, rate_hz=(20.0, 60.0)),
    ]


@dataclass(frozen=True)
class SoundscapeConfig:
    """What to synthesise. Levels in dB; ranges are (min, max) drawn uniformly per sound.

    ``species=None`` means `default_species(sample_rate)` (resolved when used, so
    ``dataclasses.replace(cfg, sample_rate=...)`` keeps working); ``()`` means no calls.
    ``max_concurrent`` caps how many calls (any species) sound at once; calls of one species
    never overlap each other and keep ``min_gap_s`` apart. Calls that would break the rule
    are dropped, so dense configs get somewhat fewer calls than ``calls_per_minute``.
    Distractors and weather are placed independently of calls and may overlap them.
    ``noise_dbfs`` is the bed's RMS in streamed files; `generate_soundscape` instead scales
    the whole mix so its peak is ``peak_dbfs``.
    """

    duration_s: float = 60.0
    sample_rate: int = 32000
    species: Sequence[SpeciesSpec] | None = None
    seed: int = 0
    snr_db: tuple[float, float] = (0.0, 20.0)
    background: Literal["pink", "brown", "white"] = "pink"
    noise_dbfs: float = -40.0
    max_concurrent: int = 2
    min_gap_s: float = 0.1
    ramp_s: float = 0.005
    wind_per_minute: float = 0.5
    wind_snr_db: tuple[float, float] = (0.0, 12.0)
    rain_per_minute: float = 0.3
    rain_db: tuple[float, float] = (-6.0, 3.0)
    distractors_per_minute: float = 4.0
    distractor_snr_db: tuple[float, float] = (0.0, 20.0)
    peak_dbfs: float = -3.0

    def __post_init__(self) -> None:
        if self.species is not None:
            object.__setattr__(self, "species", tuple(self.species))
        for name in ("snr_db", "wind_snr_db", "rain_db", "distractor_snr_db"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        problems = self.problems()
        if problems:
            raise ValueError("impossible soundscape config: " + "; ".join(problems))

    @property
    def nyquist(self) -> float:
        return self.sample_rate / 2.0

    @property
    def n_samples(self) -> int:
        return int(round(self.duration_s * self.sample_rate))

    def resolved_species(self) -> tuple[SpeciesSpec, ...]:
        """The species actually used (the defaults for this sample rate when None)."""
        if self.species is None:
            return tuple(default_species(self.sample_rate))
        return tuple(self.species)

    def problems(self) -> list[str]:
        """Why this config cannot be generated (empty when it can)."""
        out: list[str] = []
        if not isinstance(self.sample_rate, (int, np.integer)) or self.sample_rate < 1000:
            return [f"sample_rate must be an integer >= 1000 Hz (got {self.sample_rate!r})"]
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            out.append(f"duration_s must be > 0 (got {self.duration_s!r})")
        elif self.n_samples < 1:
            out.append("duration_s is shorter than one sample")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            out.append(f"seed must be a non-negative integer (got {self.seed!r})")
        if self.background not in ("pink", "brown", "white"):
            out.append(f"background must be 'pink', 'brown' or 'white' (got {self.background!r})")
        for name in ("snr_db", "wind_snr_db", "rain_db", "distractor_snr_db"):
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not all(math.isfinite(v) for v in lo_hi) or lo_hi[0] > lo_hi[1]:
                out.append(f"{name} must be a finite (min, max) range with min <= max (got {lo_hi})")
        for name in ("wind_per_minute", "rain_per_minute", "distractors_per_minute", "min_gap_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                out.append(f"{name} must be >= 0 (got {value!r})")
        if not (isinstance(self.max_concurrent, (int, np.integer)) and self.max_concurrent >= 1):
            out.append(f"max_concurrent must be an integer >= 1 (got {self.max_concurrent!r})")
        if not (math.isfinite(self.ramp_s) and 0 <= self.ramp_s <= 0.05):
            out.append(f"ramp_s must be within [0, 0.05] s (got {self.ramp_s!r})")
        if not (math.isfinite(self.noise_dbfs) and self.noise_dbfs < 0):
            out.append(f"noise_dbfs must be < 0 (got {self.noise_dbfs!r})")
        if not (math.isfinite(self.peak_dbfs) and self.peak_dbfs <= 0):
            out.append(f"peak_dbfs must be <= 0 (got {self.peak_dbfs!r})")
        if out:
            return out
        try:
            species = self.resolved_species()
        except ValueError as exc:
            return [str(exc)]
        names = [s.name for s in species]
        if len(set(names)) != len(names):
            out.append(f"species names must be unique (got {names})")
        limit = 0.98 * self.nyquist  # keep a guard band: ramps spread energy a little
        for spec in species:
            if spec.f_high > limit:
                out.append(f"species {spec.name!r} reaches {spec.f_high:g} Hz but at "
                           f"{self.sample_rate} Hz the Nyquist frequency is {self.nyquist:g} Hz "
                           f"(calls must stay below {limit:g} Hz); lower its f_high or raise the "
                           f"sample rate (default_species(sample_rate) fits itself)")
        return out


@dataclass(frozen=True)
class SynthEvent(HasBox):
    """One placed sound and its exact box (seconds, Hz). ``snr_db``: see the module doc."""

    box: Box
    label: str
    snr_db: float


@dataclass
class Soundscape:
    """A generated soundscape. ``gain`` maps the unit mix (bed RMS 1) to ``audio``."""

    audio: np.ndarray | None
    sample_rate: int
    duration_s: float
    events: list[SynthEvent]
    distractors: list[SynthEvent]
    weather: list[SynthEvent]
    config: SoundscapeConfig
    gain: float = 1.0


# ---------------------------------------------------------------------------------------------
# Planning: where every sound goes and its box, drawn up front (small even for 10 hours).


@dataclass(frozen=True)
class _Item:
    kind: str  # shape value, distractor kind, "wind" or "rain"
    label: str
    n_on: int
    n_len: int
    f_min: float
    f_max: float
    level_db: float
    seed: int
    params: tuple[float, ...]

    def event(self, sr: int) -> SynthEvent:
        return SynthEvent(Box(self.n_on / sr, (self.n_on + self.n_len) / sr, self.f_min, self.f_max),
                          self.label, self.level_db)


@dataclass
class _Plan:
    cfg: SoundscapeConfig
    calls: list[_Item]
    distractors: list[_Item]
    weather: list[_Item]
    items: list[_Item] = field(init=False)  # all, sorted by onset: the render order

    def __post_init__(self) -> None:
        self.items = sorted(self.calls + self.distractors + self.weather,
                            key=lambda it: (it.n_on, it.n_len, it.label, it.seed))
        self.onsets = np.array([it.n_on for it in self.items], dtype=np.int64)
        self.ends = np.array([it.n_on + it.n_len for it in self.items], dtype=np.int64)
        self.max_len = int(max((it.n_len for it in self.items), default=0))

    @cached_property
    def bed(self) -> "_Bed":
        return _Bed(self.cfg.sample_rate, self.cfg.background, self.cfg.seed)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def _new_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**62))


def _poisson_slots(rng: np.random.Generator, per_minute: float, dur_range: tuple[float, float],
                   sr: int, n_total: int) -> list[tuple[int, int]]:
    """(onset, length) in samples for a Poisson count of sounds fully inside the recording."""
    count = int(rng.poisson(per_minute * n_total / sr / 60.0)) if per_minute > 0 else 0
    slots = []
    for _ in range(count):
        n_len = max(16, int(round(rng.uniform(*dur_range) * sr)))
        if n_len > n_total:
            continue
        slots.append((int(rng.integers(0, n_total - n_len + 1)), n_len))
    return slots


def _call_params(spec: SpeciesSpec, n_len: int, sr: int,
                 rng: np.random.Generator) -> tuple[tuple[float, ...], float, float]:
    """Shape parameters of one call and its exact frequency extent."""
    lo_b, hi_b = spec.f_low, spec.f_high
    dur = n_len / sr
    shape = spec.shape
    if shape in (CallShape.UP_SWEEP, CallShape.DOWN_SWEEP):
        octaves = math.log2(hi_b / lo_b)
        span = octaves * rng.uniform(0.6, 1.0)
        lo = lo_b * 2 ** rng.uniform(0.0, octaves - span)
        hi = min(lo * 2**span, hi_b)
        gamma = rng.uniform(0.7, 1.4)
        return (lo, hi, gamma, rng.uniform(0, 2 * np.pi)), lo, hi
    if shape is CallShape.WHISTLE:
        bw = hi_b - lo_b
        depth = min(max(60.0, rng.uniform(0.02, 0.05) * (lo_b + hi_b) / 2), 0.4 * bw)
        fc = rng.uniform(lo_b + depth, hi_b - depth)
        vib = max(rng.uniform(4.0, 8.0), 1.0 / dur)  # at least one cycle: both extremes reached
        return (fc, depth, vib, rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)), fc - depth, fc + depth
    if shape is CallShape.TRILL:
        bw = hi_b - lo_b
        note_bw = bw * rng.uniform(0.3, 0.6)
        lo = rng.uniform(lo_b, hi_b - note_bw)
        hi = lo + note_bw
        notes = max(2, int(round(dur * rng.uniform(*spec.rate_hz))))
        duty = rng.uniform(0.5, 0.75)
        return (lo, hi, float(notes), duty), lo, hi
    if shape is CallShape.HARMONIC_STACK:
        arch = rng.uniform(0.0, _HARMONIC_ARCH_MAX)
        h = spec.harmonics
        f0_top = hi_b / (h * (1 + arch))
        f0 = rng.uniform(lo_b, max(lo_b, f0_top))
        return (f0, arch, float(h), rng.uniform(0.5, 1.2), rng.uniform(0.0, 0.5)), f0, h * f0 * (1 + arch)
    if shape is CallShape.CLICK_TRAIN:
        bw = hi_b - lo_b
        lo = lo_b + rng.uniform(0.0, 0.2) * bw
        hi = hi_b - rng.uniform(0.0, 0.2) * bw
        return (lo, hi, rng.uniform(*spec.rate_hz)), lo, hi
    raise ValueError(f"unknown call shape {shape!r}")  # pragma: no cover


def _plan(cfg: SoundscapeConfig) -> _Plan:
    sr, n_total, nyq = cfg.sample_rate, cfg.n_samples, cfg.nyquist
    species = cfg.resolved_species()
    candidates: list[tuple[int, int, _Item]] = []
    for index, spec in enumerate(species):
        rng = _rng(cfg.seed, _TAG_SPECIES, index)
        for n_on, n_len in _poisson_slots(rng, spec.calls_per_minute, spec.duration_s, sr, n_total):
            params, f_min, f_max = _call_params(spec, n_len, sr, rng)
            snr = float(rng.uniform(*cfg.snr_db))
            item = _Item(spec.shape.value, spec.name, n_on, n_len, float(f_min), float(f_max), snr,
                         _new_seed(rng), tuple(float(p) for p in params))
            candidates.append((n_on, index, item))
    candidates.sort(key=lambda c: (c[0], c[1]))
    gap = int(round(cfg.min_gap_s * sr))
    last_end: dict[str, int] = {}
    active_ends: list[int] = []
    calls: list[_Item] = []
    for n_on, _, item in candidates:
        if n_on < last_end.get(item.label, -(10**18)) + gap:
            continue
        active_ends = [e for e in active_ends if e > n_on]
        if len(active_ends) >= cfg.max_concurrent:
            continue
        active_ends.append(n_on + item.n_len)
        last_end[item.label] = n_on + item.n_len
        calls.append(item)

    distractors: list[_Item] = []
    rng = _rng(cfg.seed, _TAG_DISTRACTOR)
    top = 0.9 * nyq
    for n_on, n_len in _poisson_slots(rng, cfg.distractors_per_minute, (0.02, 0.4), sr, n_total):
        kind = DISTRACTOR_KINDS[int(rng.integers(len(DISTRACTOR_KINDS)))]
        snr = float(rng.uniform(*cfg.distractor_snr_db))
        if kind == "tonal_blip":
            n_len = min(n_len, max(16, int(0.08 * sr)))  # blips are short: <= 80 ms
            glide = min(rng.uniform(100.0, 400.0), 0.2 * top)
            fa = rng.uniform(min(300.0, 0.1 * top), top - glide)
            fb = fa + glide
            if rng.random() < 0.5:
                fa, fb = fb, fa
            params: tuple[float, ...] = (fa, fb, rng.uniform(0, 2 * np.pi))
            f_min, f_max = min(fa, fb), max(fa, fb)
        else:
            bw = min(rng.uniform(300.0, 3000.0), 0.5 * top)
            f_min = rng.uniform(min(200.0, 0.05 * top), top - bw)
            f_max = f_min + bw
            params = (f_min, f_max)
        distractors.append(_Item(kind, kind, n_on, n_len, float(f_min), float(f_max), snr,
                                 _new_seed(rng), tuple(float(p) for p in params)))

    weather: list[_Item] = []
    rng = _rng(cfg.seed, _TAG_WIND)
    wind_top = min(600.0, 0.3 * nyq)
    for n_on, n_len in _poisson_slots(rng, cfg.wind_per_minute, (2.0, 8.0), sr, n_total):
        fc = rng.uniform(0.4, 1.0) * wind_top
        gust = [rng.uniform(0.2, 1.5) for _ in range(3)] + [rng.uniform(0.2, 0.6) for _ in range(3)]
        weather.append(_Item("wind", "wind", n_on, n_len, 15.0, float(fc),
                             float(rng.uniform(*cfg.wind_snr_db)), _new_seed(rng), (fc, *gust)))
    rng = _rng(cfg.seed, _TAG_RAIN)
    for n_on, n_len in _poisson_slots(rng, cfg.rain_per_minute, (1.0, 5.0), sr, n_total):
        density = rng.uniform(150.0, 600.0)
        weather.append(_Item("rain", "rain", n_on, n_len, 0.0, float(min(nyq, 16000.0)),
                             float(rng.uniform(*cfg.rain_db)), _new_seed(rng), (density,)))
    key = lambda it: (it.n_on, it.label)  # noqa: E731
    return _Plan(cfg, sorted(calls, key=key), sorted(distractors, key=key), sorted(weather, key=key))


# ---------------------------------------------------------------------------------------------
# Background bed: overlapping noise blocks, each from its own seed, cross-faded with
# power-complementary sine windows so the variance stays exactly 1 everywhere.


class _Bed:
    def __init__(self, sr: int, colour: str, seed: int):
        self.sr, self.seed = sr, seed
        self.hop = 1 << max(8, math.ceil(math.log2(sr * 0.5)))  # ~0.5-1 s, ~1 Hz resolution
        size = 2 * self.hop
        freqs = np.fft.rfftfreq(size, 1.0 / sr)
        exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
        power = np.maximum(freqs, _NOISE_LOW_HZ) ** -exponent
        power[0] = 0.0
        power[-1] = 0.0
        power *= (size / 2) / power.sum()  # => unit variance after irfft (see _segment)
        self.freqs = freqs
        self.cum_power = np.concatenate([[0.0], np.cumsum(power)]) / power.sum()
        self.amp = (np.sqrt(power * size / 2)).astype(np.float32)
        m = np.arange(size)
        self.window = np.sin(np.pi * (m + 0.5) / size).astype(np.float32)

    def band_fraction(self, f_lo: float, f_hi: float) -> float:
        """Share of the bed's power inside [f_lo, f_hi] (the SNR reference)."""
        step = self.freqs[1]
        edges = np.concatenate([self.freqs - step / 2, [self.freqs[-1] + step / 2]])
        lo, hi = np.interp([f_lo, f_hi], edges, self.cum_power)
        return float(max(hi - lo, 1e-12))

    def _segment(self, channel: int, j: int) -> np.ndarray:
        rng = _rng(self.seed, _TAG_BACKGROUND, channel, j)
        z = rng.standard_normal(2 * (self.hop + 1), dtype=np.float32).view(np.complex64)
        z *= self.amp
        return np.fft.irfft(z, 2 * self.hop) * self.window

    def add_to(self, out: np.ndarray, start: int, channel: int) -> None:
        """Add bed samples [start, start + len(out)) to `out`."""
        hop, stop = self.hop, start + len(out)
        for j in range(start // hop, (stop - 1) // hop + 2):
            seg_start = (j - 1) * hop  # segment j covers [(j-1) hop, (j+1) hop)
            a, b = max(start, seg_start), min(stop, seg_start + 2 * hop)
            if a < b:
                out[a - start:b - start] += self._segment(channel, j)[a - seg_start:b - seg_start]


# ---------------------------------------------------------------------------------------------
# Rendering single sounds (unscaled; `_render_item` sets the level).


def _ramps(n: int, ramp: int) -> np.ndarray:
    env = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp > 0:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
        env[:ramp] = rise
        env[n - ramp:] = rise[::-1]
    return env


def _tukey(n: int, frac: float) -> np.ndarray:
    return _ramps(n, int(n * frac))


def _band_mask(nfft: int, sr: int, lo: float, hi: float, taper: float) -> np.ndarray:
    """1 inside [lo + taper, hi - taper], raised-cosine edges, exactly 0 outside [lo, hi]."""
    f = np.fft.rfftfreq(nfft, 1.0 / sr)
    taper = max(min(taper, (hi - lo) / 2), 1e-9)
    mask = np.clip(np.minimum(f - lo, hi - f) / taper, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * mask)


def _fft_size(n: int) -> int:
    return 1 << max(4, (n - 1).bit_length())


def _tone(freq: np.ndarray, sr: int, phase0: float) -> np.ndarray:
    return np.sin(2 * np.pi * np.cumsum(freq) / sr + phase0)


def _render_shape(item: _Item, cfg: SoundscapeConfig) -> np.ndarray:
    sr, n, p = cfg.sample_rate, item.n_len, item.params
    ramp = int(round(cfg.ramp_s * sr))
    u = (np.arange(n) + 0.5) / n
    kind = item.kind
    if kind in ("up_sweep", "down_sweep"):
        lo, hi, gamma, phase0 = p
        pos = u if kind == "up_sweep" else 1.0 - u
        return _tone(lo * (hi / lo) ** (pos**gamma), sr, phase0) * _ramps(n, ramp)
    if kind == "whistle":
        fc, depth, vib, vphase, phase0 = p
        freq = fc + depth * np.sin(2 * np.pi * vib * np.arange(n) / sr + vphase)
        return _tone(freq, sr, phase0) * _ramps(n, ramp)
    if kind == "harmonic_stack":
        f0, arch, h, tilt, decay = p
        rng = _rng(item.seed)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + arch * np.sin(np.pi * u))) / sr
        out = np.zeros(n)
        for k in range(1, int(h) + 1):  # a handful of partials, each vectorised
            out += k**-tilt * rng.uniform(0.7, 1.0) * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        return out * _ramps(n, ramp) * (1.0 - decay * u)
    if kind == "trill":
        lo, hi, notes_f, duty = p
        notes = int(notes_f)
        rng = _rng(item.seed)
        gains, phases = rng.uniform(0.6, 1.0, notes), rng.uniform(0, 2 * np.pi, notes)
        period = n / (notes - 1 + duty)
        note_len = duty * period
        m = np.arange(n)
        idx = np.minimum((m // period).astype(np.int64), notes - 1)
        pos = m - idx * period
        inside = pos < note_len
        tau, t_note = pos / sr, note_len / sr
        phase = 2 * np.pi * (hi * tau - (hi - lo) * tau**2 / (2 * t_note)) + phases[idx]
        # flat-topped notes (raised-cosine over a fifth of each end) so the note edges carry energy
        edge = np.clip(np.minimum(pos, note_len - pos) / (0.2 * note_len), 0.0, 1.0)
        amp = np.where(inside, 0.5 - 0.5 * np.cos(np.pi * edge), 0.0) * gains[idx]
        return amp * np.sin(phase)
    if kind == "click_train":
        lo, hi, rate = p
        rng = _rng(item.seed)
        edge = int(round(_CLICK_EDGE_S * sr))
        span = max(n - 1 - 2 * edge, 0)
        clicks = max(1, int(round(span / sr * rate)) + 1)
        pos = np.linspace(edge, edge + span, clicks)
        if clicks > 1:
            pos += rng.uniform(-0.15, 0.15, clicks) * span / (clicks - 1)
        pos = np.clip(np.round(pos), edge, edge + span).astype(np.int64)
        nfft = _fft_size(n + 2 * edge)
        x = np.zeros(nfft)
        np.add.at(x, pos, rng.uniform(0.5, 1.0, clicks) * rng.choice([-1.0, 1.0], clicks))
        spec = np.fft.rfft(x) * _band_mask(nfft, sr, lo, hi, 0.15 * (hi - lo))
        return np.fft.irfft(spec, nfft)[:n] * _ramps(n, int(round(_CLICK_RAMP_S * sr)))
    if kind == "tonal_blip":
        fa, fb, phase0 = p
        return _tone(fa + (fb - fa) * u, sr, phase0) * _ramps(n, min(ramp, n // 4))
    if kind == "noise_burst":
        lo, hi = p
        nfft = _fft_size(n)
        rng = _rng(item.seed)
        spec = np.fft.rfft(rng.standard_normal(nfft)) * _band_mask(nfft, sr, lo, hi, 0.1 * (hi - lo))
        return np.fft.irfft(spec, nfft)[:n] * _ramps(n, ramp)
    if kind == "wind":
        fc, *gust = p
        rng = _rng(item.seed)
        nfft = _fft_size(n)
        f = np.fft.rfftfreq(nfft, 1.0 / sr)
        shape = _band_mask(nfft, sr, 15.0, fc, 0.3 * fc) / np.sqrt(np.maximum(f, 15.0))
        z = (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))) * shape
        t = np.arange(n) / sr
        swell = sum(c * np.sin(2 * np.pi * nu * t + rng.uniform(0, 2 * np.pi))
                    for nu, c in zip(gust[:3], gust[3:]))
        return np.fft.irfft(z, nfft)[:n] * np.exp(swell) * _tukey(n, 0.25)
    if kind == "rain":
        (density,) = p
        rng = _rng(item.seed)
        nfft = _fft_size(n + int(0.002 * sr))
        f = np.fft.rfftfreq(nfft, 1.0 / sr)
        drops = max(1, int(density * n / sr))
        spec = np.zeros(len(f), dtype=complex)
        for _ in range(4):  # four drop sizes: Gaussian-derivative ticks, smooth broadband spectra
            sigma = rng.uniform(0.04e-3, 0.25e-3)
            x = np.zeros(nfft)
            np.add.at(x, rng.integers(0, n, drops // 4 + 1),
                      rng.lognormal(0.0, 0.6, drops // 4 + 1) * rng.choice([-1.0, 1.0], drops // 4 + 1))
            spec += np.fft.rfft(x) * (f * sigma) * np.exp(-0.5 * (2 * np.pi * f * sigma) ** 2)
        return np.fft.irfft(spec, nfft)[:n] * _tukey(n, 0.2)
    raise ValueError(f"unknown sound kind {kind!r}")  # pragma: no cover


def _render_item(item: _Item, plan: _Plan) -> np.ndarray:
    """The sound at its level relative to the unit-variance bed (see the module doc)."""
    wave = _render_shape(item, plan.cfg)
    if item.kind == "rain":
        target = 10 ** (item.level_db / 10)
    else:
        target = plan.bed.band_fraction(item.f_min, item.f_max) * 10 ** (item.level_db / 10)
    power = float(np.mean(wave**2))
    return wave * math.sqrt(target / power) if power > 0 else wave


def _channel_gain(item: _Item, channel: int) -> float:
    """Channel 0 carries every sound at its stated SNR; others 0-6 dB quieter, per sound."""
    if channel == 0:
        return 1.0
    return 10 ** (-_rng(item.seed, _TAG_CHANNEL, channel).uniform(0.0, 6.0) / 20)


def _render(plan: _Plan, start: int, stop: int, channel: int = 0) -> np.ndarray:
    """Samples [start, stop) of the unit mix (bed RMS 1) of one channel, float32."""
    out = np.zeros(stop - start, dtype=np.float32)
    plan.bed.add_to(out, start, channel)
    first = int(np.searchsorted(plan.onsets, start - plan.max_len, side="left"))
    last = int(np.searchsorted(plan.onsets, stop, side="left"))
    for i in range(first, last):
        item = plan.items[i]
        if plan.ends[i] <= start:
            continue
        wave = _render_item(item, plan)
        gain = _channel_gain(item, channel)
        a, b = max(start, item.n_on), min(stop, item.n_on + item.n_len)
        out[a - start:b - start] += (wave[a - item.n_on:b - item.n_on] * gain).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------
# Public entry points.


def generate_soundscape(cfg: SoundscapeConfig | None = None) -> Soundscape:
    """Render a whole soundscape in memory, peak-normalised to ``cfg.peak_dbfs`` (mono).

    Holds the whole mix (4 bytes a sample): for hours of audio use `write_long_recording`.
    """
    cfg = cfg or SoundscapeConfig()
    plan = _plan(cfg)
    mix = _render(plan, 0, cfg.n_samples, 0)
    peak = float(np.max(np.abs(mix))) if mix.size else 0.0
    gain = 10 ** (cfg.peak_dbfs / 20) / peak if peak > 0 else 1.0
    audio = np.clip(mix * np.float32(gain), -1.0, 1.0).astype(np.float32, copy=False)
    sr = cfg.sample_rate
    return Soundscape(audio, sr, cfg.n_samples / sr, [it.event(sr) for it in plan.calls],
                      [it.event(sr) for it in plan.distractors], [it.event(sr) for it in plan.weather],
                      cfg, gain)


def truth_csv_path(audio_path: str | Path) -> Path:
    """``dir/name.wav`` -> ``dir/name.truth.csv``."""
    audio_path = Path(audio_path)
    return audio_path.with_name(audio_path.stem + ".truth.csv")


def write_truth_csv(path: str | Path, recording: str, events: Sequence[SynthEvent]) -> None:
    """Write boxes as recording,t_min,t_max,f_min,f_max,label (µs and 0.01 Hz precision)."""
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        for ev in events:
            writer.writerow([recording, f"{ev.t_min:.6f}", f"{ev.t_max:.6f}",
                             f"{ev.f_min:.2f}", f"{ev.f_max:.2f}", ev.label])


def _sound_format(path: Path, n_bytes: int) -> str:
    fmt = path.suffix.lstrip(".").upper()
    if fmt == "AIF":
        fmt = "AIFF"
    if fmt not in sf.available_formats():
        raise ValueError(f"cannot tell the audio format from {path.name!r}: use .wav, .flac, .w64, ...")
    if fmt == "WAV" and n_bytes > 0xFFFFFFFF - (1 << 20):
        fmt = "RF64"  # plain WAV cannot hold more than 4 GiB; RF64 can (same .wav name)
    return fmt


def _without_peak_chunk(handle: sf.SoundFile) -> None:
    """Stop libsndfile adding a PEAK chunk to float files: it holds a timestamp, so identical
    audio would give different bytes. Uses soundfile internals; skipped if they change."""
    lib, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    file_ptr = getattr(handle, "_file", None)
    if lib is not None and ffi is not None and file_ptr is not None:
        try:
            lib.sf_command(file_ptr, 0x1050, ffi.NULL, 0)  # SFC_SET_ADD_PEAK_CHUNK, SF_FALSE
        except Exception:  # pragma: no cover - only if soundfile's internals change
            pass


def _write_whole(handle, audio: np.ndarray, sr: int, subtype: str, fmt: str) -> None:
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    with sf.SoundFile(handle, "w", samplerate=sr, channels=channels, subtype=subtype,
                      format=fmt) as out:
        _without_peak_chunk(out)
        out.write(audio)


_BYTES_PER_SAMPLE = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4,
                     "FLOAT": 4, "DOUBLE": 8}


def write_soundscape(path: str | Path, cfg: SoundscapeConfig | None = None,
                     subtype: str = "PCM_16", *, distractors_csv: bool = False) -> Soundscape:
    """Write ``path`` (format from its suffix) and ``<stem>.truth.csv`` beside it; both atomic.

    ``distractors_csv=True`` also writes ``<stem>.distractors.csv`` (same columns) for use
    as negatives. Returns the soundscape, audio included.
    """
    path = Path(path)
    scape = generate_soundscape(cfg)
    assert scape.audio is not None
    fmt = _sound_format(path, scape.audio.size * _BYTES_PER_SAMPLE.get(subtype, 4))
    if not sf.check_format(fmt, subtype):
        raise ValueError(f"subtype {subtype!r} is not valid for {fmt}")
    with atomic_open(path, "wb") as handle:
        _write_whole(handle, scape.audio, scape.sample_rate, subtype, fmt)
    write_truth_csv(truth_csv_path(path), path.name, scape.events)
    if distractors_csv:
        write_truth_csv(path.with_name(path.stem + ".distractors.csv"), path.name, scape.distractors)
    return scape


def write_long_recording(path: str | Path, duration_s: float, sample_rate: int, seed: int,
                         channels: int = 1, subtype: str = "PCM_16", chunk_s: float = 60.0, *,
                         config: SoundscapeConfig | None = None,
                         truth_csv: bool = True) -> list[SynthEvent]:
    """Stream a long soundscape to ``path`` chunk by chunk; returns the calls' ground truth.

    Memory is bounded by one chunk (about ``chunk_s * sample_rate * channels * 8`` bytes),
    whatever the duration. The file depends only on the settings and the seed, not on
    ``chunk_s``. ``config`` is a template for everything but duration, rate and seed. Levels
    are absolute (bed RMS ``noise_dbfs``, channel 0 as `generate_soundscape` up to a gain);
    channels beyond the first have their own bed noise and each sound 0-6 dB quieter.
    Samples beyond full scale (only with extreme levels) are clipped, with a warning.
    WAV files over 4 GiB are written as RF64. Also writes ``<stem>.truth.csv`` unless
    ``truth_csv`` is False.
    """
    path = Path(path)
    if not (isinstance(channels, (int, np.integer)) and channels >= 1):
        raise ValueError(f"channels must be an integer >= 1 (got {channels!r})")
    if not (math.isfinite(chunk_s) and chunk_s > 0):
        raise ValueError(f"chunk_s must be > 0 (got {chunk_s!r})")
    base = config or SoundscapeConfig()
    cfg = dataclasses.replace(base, duration_s=float(duration_s), sample_rate=int(sample_rate),
                              seed=int(seed))
    n_total = cfg.n_samples
    fmt = _sound_format(path, n_total * channels * _BYTES_PER_SAMPLE.get(subtype, 4))
    if not sf.check_format(fmt, subtype):
        raise ValueError(f"subtype {subtype!r} is not valid for {fmt}")
    plan = _plan(cfg)
    level = np.float32(10 ** (cfg.noise_dbfs / 20))
    chunk = max(1, int(round(chunk_s * cfg.sample_rate)))
    clipped = 0
    with atomic_open(path, "wb") as handle:
        with sf.SoundFile(handle, "w", samplerate=cfg.sample_rate, channels=channels,
                          subtype=subtype, format=fmt) as out:
            _without_peak_chunk(out)
            for start in range(0, n_total, chunk):
                stop = min(n_total, start + chunk)
                block = np.empty((stop - start, channels), dtype=np.float32)
                for c in range(channels):
                    block[:, c] = _render(plan, start, stop, c)
                block *= level
                over = np.abs(block) > 1.0
                if over.any():
                    clipped += int(over.sum())
                    np.clip(block, -1.0, 1.0, out=block)
                out.write(block)
    if clipped:
        warnings.warn(f"{path.name}: {clipped} samples clipped; lower snr/levels or noise_dbfs",
                      RuntimeWarning, stacklevel=2)
    events = [it.event(cfg.sample_rate) for it in plan.calls]
    if truth_csv:
        write_truth_csv(truth_csv_path(path), path.name, events)
    return events
