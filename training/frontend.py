"""The log-mel frontend: STFT power (outside the exported graph) and mel/log/normalise (inside).

`stft_power_torch` is the torch twin of `birdlab.core.sound.features.stft_power` (the one feature
definition the scorer uses); `tests/training/test_frontend.py` proves they agree. `LogMel`
is the in-graph part: a torchaudio mel filterbank, dB with a top_db floor, optionally each mel
band less its mean over the window (`band_norm`), and per-example standardisation, so that
recorder gain (and, with `band_norm`, a recorder's frequency response) does not shift the input.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from birdlab.core.sound.features import StftSpec


def stft_power_torch(audio: torch.Tensor, spec: StftSpec) -> torch.Tensor:
    """|STFT|^2 of [batch, samples] audio -> [batch, frames, bins] (no centre padding, periodic Hann)."""
    window = torch.hann_window(spec.n_fft, periodic=True, device=audio.device, dtype=torch.float32)
    stft = torch.stft(audio.float(), n_fft=spec.n_fft, hop_length=spec.hop, window=window, center=False,
                      return_complex=True)
    return (stft.real.square() + stft.imag.square()).transpose(1, 2)


class LogMel(nn.Module):
    """STFT power [batch, frames, bins] -> standardised log-mel image [batch, 1, mels, frames]."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float, top_db: float,
                 band_norm: bool = False):
        super().__init__()
        self.band_norm = band_norm
        f_max = min(f_max, sample_rate / 2)
        fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate,
                                                   norm=None, mel_scale="htk")
        self.register_buffer("fb", fb)  # [bins, mels]
        self.top_db = float(top_db)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(power, self.fb)  # [B, T, M]
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        peak = db.amax(dim=(1, 2), keepdim=True)
        db = torch.maximum(db, peak - self.top_db)
        if self.band_norm:  # each mel band less its mean over the window: a recorder's colouring and
            db = db - db.mean(dim=1, keepdim=True)  # steady noise go, the calls (brief) stay
        mean = db.mean(dim=(1, 2), keepdim=True)
        std = db.std(dim=(1, 2), keepdim=True)
        x = (db - mean) / (std + 1e-5)
        return x.transpose(1, 2).unsqueeze(1)  # [B, 1, M, T]


class SpecAugment(nn.Module):
    """Time and frequency masking of the log-mel image, in training mode only (never exported)."""

    def __init__(self, time_masks: int, time_mask_frames: int, freq_masks: int, freq_mask_bins: int):
        super().__init__()
        self.time_masks, self.freq_masks = time_masks, freq_masks
        self.time = torchaudio.transforms.TimeMasking(time_mask_frames, iid_masks=True) if time_masks else None
        self.freq = torchaudio.transforms.FrequencyMasking(freq_mask_bins, iid_masks=True) if freq_masks else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        for _ in range(self.time_masks):
            x = self.time(x)
        for _ in range(self.freq_masks):
            x = self.freq(x)
        return x
