"""Mixing augmentations: a mixed-in positive makes its class positive; masks are the union."""

import numpy as np
import torch

from training.augment import BatchAugmenter, mix_targets, pink_noise, sumix, sumup
from training.config import AugmentConfig


def _batch():
    audio = torch.stack([torch.ones(8), 2 * torch.ones(8)])
    targets = torch.zeros(2, 2, 4)
    mask = torch.zeros(2, 2, 4)
    targets[0, 0, 0:2] = 1
    mask[0, 0, 0:2] = 1  # crop 0: class 0 positive on frames 0-1
    mask[1, 0, 2:4] = 1  # crop 1: class 0 negative on frames 2-3
    mask[1, 1, :] = 1
    targets[1, 1, 3] = 1  # crop 1: class 1 positive on frame 3, negative elsewhere
    return audio, targets, mask


def test_sumup_sums_audio_and_unions_targets_and_masks():
    audio, targets, mask = _batch()
    perm = torch.tensor([1, 0])
    mixed, t, m = sumup(audio, targets, mask, perm)
    assert torch.all(mixed == 3)
    expected_t0 = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float32)
    expected_m0 = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1]], dtype=torch.float32)
    assert torch.equal(t[0], expected_t0) and torch.equal(m[0], expected_m0)
    assert torch.equal(t[1], expected_t0) and torch.equal(m[1], expected_m0)


def test_sumix_uses_random_gains_with_the_same_targets():
    audio, targets, mask = _batch()
    perm = torch.tensor([1, 0])
    mixed, t, m = sumix(audio, targets, mask, perm, torch.Generator().manual_seed(0))
    assert not torch.all(mixed[0] == 3)  # gains differ from 1
    assert torch.all((mixed[0] >= 0.5 + 1.0) & (mixed[0] <= 1.5 + 3.0))
    t_ref, m_ref = mix_targets(targets, mask, perm)
    assert torch.equal(t, t_ref) and torch.equal(m, m_ref)


def test_unlabelled_positive_frames_do_not_become_targets():
    targets = torch.ones(2, 1, 2)  # "positive" values where the mask says nothing must not leak
    mask = torch.zeros(2, 1, 2)
    t, m = mix_targets(targets, mask, torch.tensor([1, 0]))
    assert torch.all(t == 0) and torch.all(m == 0)


def test_time_shift_rolls_targets_with_the_audio():
    cfg = AugmentConfig(gain_db=0, gaussian_snr_db=None, pink_snr_db=None, time_shift=True)
    aug = BatchAugmenter(cfg, frame_samples=2, seed=3)
    audio = torch.zeros(4, 16)
    targets = torch.zeros(4, 1, 8)
    for i in range(4):
        audio[i, 2 * i:2 * i + 2] = 1  # a click in frame i ...
        targets[i, 0, i] = 1  # ... labelled in frame i
    a, t, m = aug(audio, targets, targets.clone())
    for i in range(4):
        frame = int(torch.nonzero(a[i])[0]) // 2
        assert t[i, 0, frame] == 1 and t[i, 0].sum() == 1


def test_pink_noise_has_falling_spectrum():
    noise = pink_noise((1, 32000), np.random.default_rng(0))[0]
    power = np.abs(np.fft.rfft(noise)) ** 2
    assert power[10:100].mean() > 10 * power[5000:10000].mean()
    assert abs(noise.std() - 1) < 1e-3
