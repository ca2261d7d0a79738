"""Windowing and stitching: every frame lands on the global grid exactly; overlaps average."""

from __future__ import annotations

import math

import numpy as np
import pytest

from birdlab.scoring.recording import ScoreSettings, score_recording
from birdlab.scoring.tracks import Stitcher, WindowPlan, allocate
from tests.scoring.fakes import RampScorer, ramp_file


def expected_tracks(duration: float, hop_frames: int, rate: int = 1000) -> np.ndarray:
    """What stitching must give for RampScorer on a ramp file of `duration` seconds."""
    n = int(round(duration * rate))
    per, out_frames = 100, 50
    n_frames = math.ceil(duration / 0.1 - 1e-9)
    hop_samples = hop_frames * per
    starts = list(range(0, n, hop_samples))  # windows start while inside the file
    padded = np.zeros(starts[-1] + out_frames * per)
    padded[:n] = np.arange(n) / rate
    time_track = padded[:n_frames * per].reshape(n_frames, per).mean(axis=1)
    window_track = np.zeros(n_frames)
    for k in range(n_frames):
        covering = [i for i, s in enumerate(starts) if s // per <= k < s // per + out_frames]
        window_track[k] = np.mean(covering)
    return np.stack([time_track, window_track], axis=1)


@pytest.mark.parametrize("hop_s, hop_frames", [(None, 50), (2.5, 25), (1.0, 10), (0.3, 3), (0.1, 1)])
@pytest.mark.parametrize("duration", [12.34, 5.0, 3.0])
def test_stitching_is_exact(tmp_path, hop_s, hop_frames, duration):
    path = ramp_file(tmp_path / "ramp.wav", duration)
    scorer = RampScorer(hop_s or 5.0)
    scores = score_recording(path, scorer, ScoreSettings(hop_s=hop_s, batch_size=3))
    want = expected_tracks(duration, hop_frames)
    assert scores.tracks.shape == (math.ceil(duration * 10 - 1e-9), 2)
    assert scores.duration == pytest.approx(duration)
    np.testing.assert_allclose(scores.tracks, want, rtol=1e-6, atol=1e-6)  # float32 sums of up to 50 windows
    # window bookkeeping: starts on the hop grid, one clipwise row per window
    hop = hop_frames * 0.1
    n_windows = math.ceil(duration / hop - 1e-9)
    np.testing.assert_allclose(scores.window_starts, np.arange(n_windows) * hop, atol=1e-9)
    assert scores.clipwise.shape == (n_windows, 2)


def test_hop_is_rounded_to_whole_frames_and_never_longer_than_the_window():
    plan = WindowPlan.make(5.0, 0.1, 50, 0.26)
    assert plan.hop_frames == 3 and plan.hop_s == pytest.approx(0.3)
    assert WindowPlan.make(5.0, 0.1, 50, 0.01).hop_frames == 1  # at least one frame
    assert WindowPlan.make(5.0, 0.1, 50, None).hop_frames == 50
    with pytest.raises(ValueError, match="longer than the model's window"):
        WindowPlan.make(5.0, 0.1, 50, 6.0)
    with pytest.raises(ValueError, match="positive"):
        WindowPlan.make(5.0, 0.1, 50, -1.0)


def test_prefetch_thread_and_memory_mapped_tracks_give_the_same_result(tmp_path):
    path = ramp_file(tmp_path / "ramp.wav", 21.7)
    plain = score_recording(path, RampScorer(1.0), ScoreSettings(hop_s=1.0, prefetch=0))
    mapped = score_recording(path, RampScorer(1.0), ScoreSettings(hop_s=1.0, prefetch=2, max_track_bytes=64))
    assert isinstance(mapped.tracks, np.memmap) and not isinstance(plain.tracks, np.memmap)
    np.testing.assert_array_equal(plain.tracks, mapped.tracks)


def test_allocate_maps_big_arrays_and_stitcher_drops_frames_past_capacity():
    assert not isinstance(allocate(10, 3, max_bytes=1000), np.memmap)
    big = allocate(1000, 3, max_bytes=100)
    assert isinstance(big, np.memmap) and big.shape == (1000, 3) and not big.any()
    plan = WindowPlan.make(1.0, 0.1, 10, 0.5)
    st = Stitcher(plan, 1, capacity_frames=12)
    st.add(0, np.ones((10, 1), np.float32))
    st.add(1, np.full((10, 1), 3.0, np.float32))  # frames 5..14, only 5..11 kept
    out = st.finish(12)
    np.testing.assert_array_equal(out[:, 0], [1] * 5 + [2] * 5 + [3] * 2)
    with pytest.raises(ValueError):
        st.add(2, np.ones((9, 1), np.float32))


def test_geometric_overlap_averages_the_log_of_the_windows_on_each_frame():
    """One score per window (an embedding head): one window that does not hear a call pulls its frames down."""
    plan = WindowPlan.make(3.0, 1.0, 3, 1.0)
    stitcher = Stitcher(plan, 1, capacity_frames=8, overlap="geometric")
    p = [0.1, 0.9, 0.9, 0.9, 0.0]  # windows start at 0..4 s, each 3 frames long; the last says 0
    for k, value in enumerate(p):
        stitcher.add(k, np.full((3, 1), value, np.float32))
    track = stitcher.finish(8)[:, 0]
    geo = lambda *v: float(np.exp(np.mean(np.log(np.clip(v, 1e-6, 1)))))  # noqa: E731
    want = [0.1, geo(0.1, 0.9), geo(0.1, 0.9, 0.9), 0.9, geo(0.9, 0.9, 0.0), geo(0.9, 0.0), geo(0.0), 0.0]
    np.testing.assert_allclose(track, want, rtol=1e-5, atol=1e-7)  # frame 7: no window
    mean = Stitcher(plan, 1, capacity_frames=8)
    for k, p in enumerate([0.1, 0.9, 0.9, 0.9, 0.2]):
        mean.add(k, np.full((3, 1), p, np.float32))
    assert mean.finish(8)[2, 0] == pytest.approx((0.1 + 0.9 + 0.9) / 3)
    with pytest.raises(ValueError, match="overlap"):
        Stitcher(plan, 1, 8, overlap="min")
