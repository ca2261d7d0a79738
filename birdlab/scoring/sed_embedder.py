"""An SED model's backbone as a window embedder, for similarity search without BirdNET.

Models exported since issue 17 have a third output, `embedding`: the backbone's time features
averaged over the window (1,280 numbers for EfficientNet-Lite0). Scoring never asks for it. Its
windows are the model's own (rate and length from the metadata); the index keys them by the
model file's sha256, so each version has its own cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from birdlab.scoring.bundle import ModelBundle
from birdlab.scoring.embedders import EmbedderUnavailable
from birdlab.scoring.scorer import RAW_AUDIO, compute_features

SED_EMBEDDER = "sed"


class SedEmbedder:
    """audio [n, window samples] at the model's rate -> [n, dim] (the `WindowEmbedder` protocol)."""

    name = SED_EMBEDDER

    def __init__(self, model_path: str | Path, threads: int = 1):
        self.bundle = ModelBundle.load(model_path, threads, verify=False)
        dim = self.bundle.embedding_dim
        if dim is None:
            raise EmbedderUnavailable(f"{model_path}: this model has no 'embedding' output (exported before "
                                      "similarity search existed); retrain it, or use --embedder birdnet-v2.4")
        self.dim = dim
        self.sha256 = self.bundle.file_hash
        self.sample_rate = self.bundle.sample_rate
        self.window_s = self.bundle.window_s

    def embed(self, audio: np.ndarray, batch: int = 8) -> np.ndarray:
        audio = np.asarray(audio, np.float32)
        out = np.empty((len(audio), self.dim), np.float32)
        for i in range(0, len(audio), batch):
            chunk = audio[i:i + batch]
            features = compute_features(chunk, self.bundle.input_specs, self.bundle.meta.window_samples,
                                        self.bundle.meta.raw_audio, self.bundle.threads)
            out[i:i + len(chunk)] = self.bundle.embed_power(features[self.bundle.spec],
                                                            features.get(RAW_AUDIO))
        return out
