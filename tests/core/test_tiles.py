"""Spectrogram tiles: levels, coverage, agreement with the plain spectrogram, bounded cost."""

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.sound.audio import AudioError, probe
from birdlab.core.sound.spectrogram import SpectrogramConfig, spectrogram_db
from birdlab.core.sound.tiles import TileGrid, compute_tile


def _tone_file(path, seconds=20.0, sr=16000, freq=1000.0):
    t = np.arange(int(seconds * sr)) / sr
    audio = 0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(path, audio.astype(np.float32), sr, subtype="PCM_16")
    return path


def test_levels_cover_any_view_with_a_few_tiles():
    grid = TileGrid(sample_rate=48000, frames=48000 * 3600 * 10, n_fft=1024, columns=256)
    assert grid.level_for(1.0, 1000) == 0
    for seconds in (10, 600, 3600, 36000):
        level = grid.level_for(seconds, 1000)
        assert grid.column_s(level) <= seconds / 1000 or level == 0
        assert len(grid.tiles_for(100.0, 100.0 + seconds, level)) <= 1000 / 256 * 2 + 2
    top = grid.top_level
    assert grid.tiles_for(0, grid.duration, top) == range(0, 1)


def test_dense_tile_equals_the_plain_spectrogram(tmp_path):
    path = _tone_file(tmp_path / "tone.wav")
    info = probe(path)
    grid = TileGrid(info.sample_rate, info.frames, 512, 64)
    cfg = SpectrogramConfig(n_fft=512, hop=grid.hop(1))
    tile = compute_tile(path, grid, level=1, index=3, cfg=cfg)
    assert tile.exact and tile.values.shape == (257, 64)
    start = int(round(tile.t0 * info.sample_rate))
    audio, _ = sf.read(path, dtype="float32")
    ref = spectrogram_db(audio[start:start + 64 * grid.hop(1) + 512], info.sample_rate, cfg).values[:, :64]
    assert np.allclose(tile.values, ref, atol=1e-3)


def test_far_zoomed_tile_samples_columns_and_finds_the_tone(tmp_path):
    path = _tone_file(tmp_path / "tone.flac")
    info = probe(path)
    grid = TileGrid(info.sample_rate, info.frames, 512, 16)
    tile = compute_tile(path, grid, grid.top_level, 0, SpectrogramConfig(n_fft=512), pooled=False)
    assert not tile.exact and tile.values.shape[1] <= 16
    peak_hz = tile.freqs[tile.values.argmax(axis=0)]
    assert np.all(np.abs(peak_hz - 1000.0) < 40)  # every sampled column sees the 1 kHz tone
    assert tile.t1 >= info.duration - grid.column_s(grid.top_level)


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(AudioError, match="bad.wav"):
        compute_tile(bad, TileGrid(16000, 16000), 0, 0)


TONE_HZ, TONE_EVERY_S, TONE_S = 1500.0, 30.0, 0.5


@pytest.fixture(scope="module")
def hour_of_tones(tmp_path_factory):
    """1 h at 8 kHz: faint noise and a 0.5 s tone every 30 s (120 tones), written block by block."""
    path = tmp_path_factory.mktemp("tones") / "hour.wav"
    sr, rng = 8000, np.random.default_rng(1)
    with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as f:
        for start in range(0, 3600, 60):
            t = start + np.arange(60 * sr) / sr
            audio = 0.005 * rng.standard_normal(len(t))
            on = ((t - 15.0) % TONE_EVERY_S) < TONE_S
            audio[on] += 0.5 * np.sin(2 * np.pi * TONE_HZ * t[on])
            f.write(audio.astype(np.float32))
    return path


def tones_seen(path, grid, level, t1, cfg, pooled=True) -> int:
    """How many separate tones the tiles of `level` over [0, t1] show (runs of loud columns)."""
    tiles = [compute_tile(path, grid, level, i, cfg, pooled=pooled) for i in grid.tiles_for(0.0, t1, level)]
    columns = np.concatenate([tile.values for tile in tiles], axis=1)
    row = columns[int(np.abs(tiles[0].freqs - TONE_HZ).argmin())]
    n_cols = int(np.ceil(t1 / grid.column_s(level)))
    loud = row[:n_cols] > np.median(row) + 15.0
    return int(loud[0]) + int(np.count_nonzero(loud[1:] & ~loud[:-1]))


def test_every_tone_shows_at_every_zoom_level(hour_of_tones):
    info = probe(hour_of_tones)
    grid = TileGrid(info.sample_rate, info.frames, 256, 512)
    cfg = SpectrogramConfig(n_fft=256)
    wide = [level for level in range(grid.top_level + 1) if grid.hop(level) > grid.n_fft]
    assert wide and wide[-1] == grid.top_level
    for level in (wide[0], wide[len(wide) // 2]):  # zoomed out: the first five minutes, every tone
        assert tones_seen(hour_of_tones, grid, level, 300.0, cfg) == 10, f"level {level}"
    assert tones_seen(hour_of_tones, grid, grid.top_level, info.duration, cfg) == 120  # the whole hour


def test_sampled_columns_miss_tones_that_pooled_ones_show(hour_of_tones):
    info = probe(hour_of_tones)
    grid = TileGrid(info.sample_rate, info.frames, 256, 512)
    cfg = SpectrogramConfig(n_fft=256)
    assert tones_seen(hour_of_tones, grid, grid.top_level, info.duration, cfg, pooled=False) < 60


def test_every_tile_carries_the_waveform_envelope_of_its_columns(tmp_path, hour_of_tones):
    path = _tone_file(tmp_path / "tone.wav", seconds=20.0)
    info = probe(path)
    audio, _ = sf.read(path, dtype="float32")
    grid = TileGrid(info.sample_rate, info.frames, 512, 64)
    tile = compute_tile(path, grid, 1, 2, SpectrogramConfig(n_fft=512))  # dense
    hop, first = grid.hop(1), 2 * 64 * grid.hop(1)
    cols = audio[first:first + 64 * hop].reshape(64, hop)
    assert np.allclose(tile.envelope, [cols.min(axis=1), cols.max(axis=1)])
    hour = probe(hour_of_tones)
    wide = TileGrid(hour.sample_rate, hour.frames, 256, 512)
    pooled = compute_tile(hour_of_tones, wide, wide.top_level, 0, SpectrogramConfig(n_fft=256))
    loud = pooled.envelope[1] > 0.3  # every tone's column reaches its 0.5 amplitude
    assert int(loud[0]) + int(np.count_nonzero(loud[1:] & ~loud[:-1])) == 120
    assert pooled.envelope.shape == (2, pooled.values.shape[1])
