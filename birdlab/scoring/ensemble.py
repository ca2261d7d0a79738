"""Several models scored as one: weighted arithmetic or geometric mean of their probabilities.

Members must agree on classes (same names, same order), sample rate, window and frame hop,
so their outputs line up frame by frame; their STFT specs may differ (features are computed
once per distinct spec). The ensemble is itself a `Scorer`, so everything downstream is the
same for one model or many.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from birdlab.scoring.metadata import ModelFileError
from birdlab.scoring.scorer import Features, InputSpec, Scorer, compute_features

COMBINE = ("mean", "geometric")
EPS = 1e-7  # floor of probabilities before the log of the geometric mean


def _name(member: Scorer) -> str:
    return str(getattr(member, "path", repr(member)))


class Ensemble:
    """Weighted combination of scorers (usually `ModelBundle`s); implements `Scorer`."""

    def __init__(self, members: Sequence[Scorer], weights: Sequence[float] | None = None,
                 combine: str = "mean"):
        if not members:
            raise ValueError("an ensemble needs at least one model")
        if combine not in COMBINE:
            raise ValueError(f"unknown combination {combine!r} (use {' or '.join(COMBINE)})")
        weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
        if len(weights) != len(members):
            raise ValueError(f"{len(weights)} weights given for {len(members)} models")
        if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
        first = members[0]
        for other in members[1:]:
            for what in ("classes", "sample_rate", "out_frames"):
                if getattr(other, what) != getattr(first, what):
                    raise ModelFileError(_name(other), f"{what} {getattr(other, what)!r} differ from "
                                                       f"{_name(first)}'s {getattr(first, what)!r}; "
                                                       "ensemble members must agree")
            for what in ("window_s", "frame_hop_s"):
                if not math.isclose(getattr(other, what), getattr(first, what), rel_tol=1e-9):
                    raise ModelFileError(_name(other), f"{what} {getattr(other, what):g} differs from "
                                                       f"{_name(first)}'s {getattr(first, what):g}")
        self.members = list(members)
        total = sum(weights)
        self.weights = np.array([w / total for w in weights], dtype=np.float64)
        self.combine = combine

    # ---- Scorer ----------------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return self.members[0].classes

    @property
    def sample_rate(self) -> int:
        return self.members[0].sample_rate

    @property
    def window_s(self) -> float:
        return self.members[0].window_s

    @property
    def frame_hop_s(self) -> float:
        return self.members[0].frame_hop_s

    @property
    def out_frames(self) -> int:
        return self.members[0].out_frames

    @property
    def class_bands(self) -> dict[str, tuple[float, float]]:
        """The first member's band for each class that any member knows a band of."""
        bands: dict[str, tuple[float, float]] = {}
        for member in reversed(self.members):
            bands.update(member.class_bands)
        return bands

    @property
    def fingerprint(self) -> str:
        blob = json.dumps({"members": [m.fingerprint for m in self.members],
                           "weights": [round(float(w), 12) for w in self.weights], "combine": self.combine})
        return "ensemble:" + hashlib.sha256(blob.encode()).hexdigest()

    def describe(self) -> dict:
        return {"kind": "ensemble", "combine": self.combine, "weights": [float(w) for w in self.weights],
                "members": [m.describe() for m in self.members]}

    @property
    def default_hop_s(self) -> float | None:
        return self.members[0].default_hop_s

    @property
    def overlap(self) -> str:
        return self.members[0].overlap

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        specs: list[InputSpec] = []
        for member in self.members:
            specs += [spec for spec in member.input_specs if spec not in specs]
        return tuple(specs)

    @property
    def needs_audio(self) -> bool:
        return any(member.needs_audio for member in self.members)

    def features(self, audio: np.ndarray) -> Features:
        threads = max((getattr(m, "threads", 1) for m in self.members), default=1)
        return compute_features(audio, self.input_specs, int(round(self.window_s * self.sample_rate)),
                                self.needs_audio, threads)

    def predict_features(self, features: Features) -> tuple[np.ndarray, np.ndarray]:
        framewise = clipwise = None
        for weight, member in zip(self.weights, self.members):
            fw, cw = member.predict_features(features)
            if self.combine == "geometric":
                fw, cw = np.log(np.clip(fw, EPS, 1.0)), np.log(np.clip(cw, EPS, 1.0))
            fw, cw = fw.astype(np.float64) * weight, cw.astype(np.float64) * weight
            framewise = fw if framewise is None else framewise + fw
            clipwise = cw if clipwise is None else clipwise + cw
        assert framewise is not None and clipwise is not None
        if self.combine == "geometric":
            framewise, clipwise = np.exp(framewise), np.exp(clipwise)
        return framewise.astype(np.float32), clipwise.astype(np.float32)

    def predict(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_features(self.features(audio))

    def __repr__(self) -> str:
        return f"Ensemble({len(self.members)} models, {self.combine})"


def load_scorer(paths: Sequence[str | Path], weights: Sequence[float] | None = None, combine: str = "mean",
                threads: int | None = None, *, verify: bool = True) -> Scorer:
    """One model file -> its ModelBundle; several -> their Ensemble. Errors name the file."""
    from birdlab.scoring.bundle import ModelBundle

    if not paths:
        raise ValueError("no model file given")
    bundles = [ModelBundle.load(p, threads, verify=verify) for p in paths]
    if len(bundles) == 1 and weights is None:
        return bundles[0]
    return Ensemble(bundles, weights, combine)
