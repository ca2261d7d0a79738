"""The one interface the scorer drives: a single model file or an ensemble of them.

Windows are scored in two steps so that the (numpy) feature computation of the next batch
can run in a thread while ONNX Runtime works on this one: `features(audio)` gives the STFT
power for every input spec the scorer needs, `predict_features` runs the model(s).
`predict(audio)` does both.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from birdlab.core.sound.features import StftSpec, stft_power
from birdlab.scoring.embedders import EmbeddingSpec, get_embedder

# STFT power per input spec: {spec: float32 [batch, frames, bins]}. Models that share a spec
# share one array, so an ensemble of same-input models computes its features once. Models with
# a raw-waveform branch also read the windows themselves, under the key RAW_AUDIO.
RAW_AUDIO = "audio"
Features = dict[StftSpec | EmbeddingSpec | str, np.ndarray]
InputSpec = StftSpec | EmbeddingSpec  # STFT power, or a frozen embedder's window embeddings


@runtime_checkable
class Scorer(Protocol):
    """What the window scorer needs of a model (ModelBundle and Ensemble both are one)."""

    @property
    def classes(self) -> tuple[str, ...]: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def window_s(self) -> float: ...

    @property
    def frame_hop_s(self) -> float: ...

    @property
    def out_frames(self) -> int:
        """Framewise output frames per window."""
        ...

    @property
    def overlap(self) -> str:
        """How the windows covering a frame combine: "mean", or "geometric" (one score per window)."""
        ...

    @property
    def default_hop_s(self) -> float | None:
        """The window hop to score with when the settings name none (None: no overlap)."""
        ...

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        """The STFT specs whose power, and the embedders whose embeddings, `predict_features` reads."""
        ...

    @property
    def class_bands(self) -> dict[str, tuple[float, float]]:
        """Known frequency band (Hz) per class, from the model files' metadata."""
        ...

    @property
    def needs_audio(self) -> bool:
        """Whether `predict_features` also reads the raw windows (features[RAW_AUDIO])."""
        ...

    @property
    def fingerprint(self) -> str:
        """Content hash of the model file(s) and how they are combined."""
        ...

    def describe(self) -> dict:
        """JSON-able description (paths, fingerprints, combination) for journals and cards."""
        ...

    def features(self, audio: np.ndarray) -> Features:
        """float32 [batch, window samples] at `sample_rate` -> the input features."""
        ...

    def predict_features(self, features: Features) -> tuple[np.ndarray, np.ndarray]:
        """-> (framewise [batch, out_frames, classes], clipwise [batch, classes]), probabilities."""
        ...

    def predict(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features + predict_features."""
        ...


def compute_features(audio: np.ndarray, specs: set[InputSpec] | list[InputSpec] | tuple[InputSpec, ...],
                     window_samples: int, raw_audio: bool = False, threads: int = 1) -> Features:
    """STFT power of a batch of windows for each STFT spec (the shared feature function), the
    window embeddings for each embedder spec (`threads` for the embedder), plus the windows
    themselves when a model reads them (`raw_audio`)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2 or audio.shape[1] != window_samples:
        raise ValueError(f"expected audio [batch, {window_samples}] (one window per row), got {audio.shape}")
    features: Features = {}
    for spec in specs:
        if isinstance(spec, EmbeddingSpec):
            features[spec] = get_embedder(spec, threads).embed(audio)
        else:
            features[spec] = stft_power(audio, spec)
    if raw_audio:
        features[RAW_AUDIO] = np.ascontiguousarray(audio)
    return features
