"""Batch augmentations on waveforms, with the targets and masks they imply.

Mixing rules (RFCX masks, BirdCLEF mixing): when two crops are mixed, a class is positive
where either crop is positive and labelled where either is labelled (targets and masks are
the unions). This holds for sumup (plain sum), sumix (random gains) and mixup
(Beta(1.5, 1.5) convex weights): a call mixed in at lower level is still a call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from training.config import AugmentConfig


def mix_targets(targets: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Union of each crop's (positive) targets and masks with those of crop perm[i]."""
    pos = torch.maximum(targets * mask, targets[perm] * mask[perm])
    return pos, torch.maximum(mask, mask[perm])


def sumup(audio: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor):
    """Plain sum of two crops."""
    return (audio + audio[perm],) + mix_targets(targets, mask, perm)


def sumix(audio: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor,
          gen: torch.Generator):
    """Sum with random gains (each in [0.5, 1.5])."""
    g = 0.5 + torch.rand(audio.shape[0], 2, generator=gen)
    mixed = g[:, :1] * audio + g[:, 1:] * audio[perm]
    return (mixed,) + mix_targets(targets, mask, perm)


def mixup(audio: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, perm: torch.Tensor,
          rng: np.random.Generator):
    """Convex mix with lambda ~ Beta(1.5, 1.5)."""
    lam = torch.from_numpy(rng.beta(1.5, 1.5, size=(audio.shape[0], 1)).astype(np.float32))
    return (lam * audio + (1 - lam) * audio[perm],) + mix_targets(targets, mask, perm)


def pink_noise(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS pink (1/f power) noise, by shaping white noise in the frequency domain."""
    white = np.fft.rfft(rng.standard_normal(shape), axis=-1)
    f = np.arange(white.shape[-1], dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(white / np.sqrt(f), n=shape[-1], axis=-1)
    return (noise / (noise.std(axis=-1, keepdims=True) + 1e-12)).astype(np.float32)


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-8)


class BatchAugmenter:
    """Applies the switched-on augmentations of an AugmentConfig to a batch (CPU, before the device)."""

    def __init__(self, cfg: AugmentConfig, frame_samples: int, seed: int,
                 background: Callable[[np.random.Generator], np.ndarray | None] | None = None):
        self.cfg, self.frame_samples = cfg, frame_samples
        self.rng = np.random.default_rng([seed, 99])
        self.gen = torch.Generator().manual_seed(seed + 99)
        self.background = background

    def __call__(self, audio: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor):
        cfg, rng = self.cfg, self.rng
        b, n = audio.shape
        if cfg.time_shift:
            audio, targets, mask = self._shift(audio, targets, mask)
        if b > 1:
            perm = torch.from_numpy(rng.permutation(b))
            for p, fn in ((cfg.sumup, lambda: sumup(audio, targets, mask, perm)),
                          (cfg.sumix, lambda: sumix(audio, targets, mask, perm, self.gen)),
                          (cfg.mixup, lambda: mixup(audio, targets, mask, perm, rng))):
                if p > 0 and rng.random() < p:
                    audio, targets, mask = fn()
                    break
        if cfg.gain_db > 0:
            gain = 10 ** (rng.uniform(-cfg.gain_db, cfg.gain_db, size=(b, 1)) / 20)
            audio = audio * torch.from_numpy(gain.astype(np.float32))
        audio = self._noise(audio)
        return audio, targets, mask

    def _shift(self, audio, targets, mask):
        """Roll each crop by whole frames so targets and masks roll with it exactly."""
        n_frames = targets.shape[-1]
        shifts = self.rng.integers(-n_frames // 4, n_frames // 4 + 1, size=audio.shape[0])
        out = [(torch.roll(a, int(s) * self.frame_samples), torch.roll(t, int(s), -1), torch.roll(m, int(s), -1))
               for a, t, m, s in zip(audio, targets, mask, shifts)]
        return tuple(torch.stack(x) for x in zip(*out))

    def _noise(self, audio: torch.Tensor) -> torch.Tensor:
        cfg, rng = self.cfg, self.rng
        b, n = audio.shape
        signal = _rms(audio)
        for snr, make in ((cfg.gaussian_snr_db, lambda: rng.standard_normal((b, n)).astype(np.float32)),
                          (cfg.pink_snr_db, lambda: pink_noise((b, n), rng))):
            if snr is None or cfg.noise_p <= 0:
                continue
            on = torch.from_numpy((rng.random((b, 1)) < cfg.noise_p).astype(np.float32))
            level = torch.from_numpy(10 ** (-rng.uniform(*snr, size=(b, 1)) / 20).astype(np.float32))
            audio = audio + on * level * signal * torch.from_numpy(make())
        if self.background is not None and cfg.background_p > 0:
            for i in range(b):
                if rng.random() < cfg.background_p:
                    bg = self.background(rng)
                    if bg is not None:
                        bg_t = torch.from_numpy(bg)
                        level = 10 ** (-rng.uniform(*cfg.background_snr_db) / 20)
                        audio[i] = audio[i] + level * _rms(audio[i:i + 1])[0] / _rms(bg_t[None])[0] * bg_t
        return audio
