"""The audio layer over generated files: rates, channels, sample formats, containers, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.sound.audio import MIX, AudioError, iter_windows, probe, read_window, readable_formats, resample
from tests.conftest import tone

RATES = [8000, 22050, 44100, 48000, 96000, 256000, 384000]
CHANNELS = [1, 2, 6]
# (container, subtype, tolerance of the decoded samples against the source)
WAV_SUBTYPES = [("WAV", "PCM_U8", 1e-2), ("WAV", "PCM_16", 1e-4), ("WAV", "PCM_24", 1e-6),
                ("WAV", "PCM_32", 1e-6), ("WAV", "FLOAT", 1e-7)]


def _write(path: Path, container: str, subtype: str, rate: int, channels: int, seconds: float = 0.5):
    data = tone(seconds, rate, 440.0, channels)
    sf.write(path, data, rate, format=container, subtype=subtype)
    return data


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("container,subtype,tol", WAV_SUBTYPES)
def test_wav_matrix_probe_and_read(tmp_path, rate, channels, container, subtype, tol):
    path = tmp_path / "x.wav"
    data = _write(path, container, subtype, rate, channels)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames) == (rate, channels, len(data))
    assert info.subtype == subtype and info.format == "WAV"
    assert info.duration == pytest.approx(0.5)
    # A window in the middle, every channel, compared with the source.
    got, sr = read_window(path, 0.1, 0.3, channel=None)
    assert sr == rate and got.dtype == np.float32
    np.testing.assert_allclose(got, data[int(0.1 * rate):int(0.3 * rate)], atol=tol)
    last, _ = read_window(path, 0.1, 0.3, channel=channels - 1)
    np.testing.assert_allclose(last, data[int(0.1 * rate):int(0.3 * rate), -1], atol=tol)
    mixed, _ = read_window(path, 0.1, 0.3, channel=MIX)
    np.testing.assert_allclose(mixed, data[int(0.1 * rate):int(0.3 * rate)].mean(axis=1), atol=tol)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("subtype", ["PCM_S8", "PCM_16", "PCM_24"])
def test_flac_matrix(tmp_path, rate, channels, subtype):
    path = tmp_path / "x.flac"
    data = _write(path, "FLAC", subtype, rate, channels)
    info = probe(path)
    assert (info.format, info.sample_rate, info.channels, info.frames) == ("FLAC", rate, channels, len(data))
    got, _ = read_window(path, 0.2, 0.4, channel=0)
    np.testing.assert_allclose(got, data[int(0.2 * rate):int(0.4 * rate), 0], atol=1e-2 if subtype == "PCM_S8" else 1e-4)


# The Vorbis encoder in libsndfile 1.2 crashes above 192 kHz, so OGG stops there.
@pytest.mark.parametrize("rate", [r for r in RATES if r <= 192000])
@pytest.mark.parametrize("channels", CHANNELS)
def test_ogg_vorbis(tmp_path, rate, channels):
    path = tmp_path / "x.ogg"
    data = _write(path, "OGG", "VORBIS", rate, channels)
    info = probe(path)
    assert (info.format, info.subtype, info.sample_rate, info.channels) == ("OGG", "VORBIS", rate, channels)
    assert info.frames == pytest.approx(len(data), abs=rate // 100)
    got, _ = read_window(path, 0.1, 0.4, channel=0)
    assert got.shape == (int(0.3 * rate),)
    # Lossy: the level survives, not the samples.
    ref = data[int(0.1 * rate):int(0.4 * rate), 0]
    assert np.sqrt(np.mean(got**2)) == pytest.approx(np.sqrt(np.mean(ref**2)), rel=0.1)


@pytest.mark.skipif("MP3" not in readable_formats(), reason="libsndfile built without MP3 (needs 1.1+)")
@pytest.mark.parametrize("rate", [r for r in RATES if r <= 48000])  # MPEG audio tops out at 48 kHz
@pytest.mark.parametrize("channels", [1, 2])  # and at 2 channels
def test_mp3(tmp_path, rate, channels):
    path = tmp_path / "x.mp3"
    _write(path, "MP3", "MPEG_LAYER_III", rate, channels, seconds=1.0)
    info = probe(path)
    assert (info.format, info.sample_rate, info.channels) == ("MP3", rate, channels)
    assert info.duration == pytest.approx(1.0, abs=0.1)
    got, _ = read_window(path, 0.3, 0.7, channel=0)
    assert len(got) == int(0.4 * rate)
    # Low-rate MP3 is coarse in level; the tone must still be the loudest thing in it.
    assert np.sqrt(np.mean(got**2)) > 0.1
    peak_hz = np.argmax(np.abs(np.fft.rfft(got))) * rate / len(got)
    assert peak_hz == pytest.approx(440, abs=5)


def test_window_is_read_by_seeking_and_clipped_at_end(make_wav):
    path = make_wav(duration=3.0, sample_rate=8000)
    got, _ = read_window(path, 2.5, 10.0)
    assert len(got) == 4000  # cut at the end
    empty, _ = read_window(path, 5.0, 6.0)
    assert empty.shape == (0,)


def test_read_window_resamples(make_wav):
    path = make_wav(duration=2.0, sample_rate=48000, freq=1000.0)
    got, sr = read_window(path, 0.5, 1.5, sample_rate=32000)
    assert sr == 32000 and len(got) == 32000
    spectrum = np.abs(np.fft.rfft(got))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # 1 Hz bins over 1 s


def test_resample_keeps_a_tone():
    x = tone(1.0, 44100, 3000.0)[:, 0]
    y = resample(x, 44100, 22050)
    assert len(y) == 22050
    assert np.argmax(np.abs(np.fft.rfft(y))) == pytest.approx(3000, abs=1)


def test_bad_channel_names_the_file(make_wav):
    path = make_wav(channels=2)
    with pytest.raises(AudioError, match=r"x?rec\.wav: has 2 channel\(s\); channel 3"):
        read_window(path, 0, 1, channel=2)


@pytest.mark.parametrize("rate_in,rate_out", [(16000, None), (48000, 32000), (8000, 32000)])
def test_iter_windows_matches_whole_read(make_wav, rate_in, rate_out):
    path = make_wav(duration=7.3, sample_rate=rate_in, freq=500.0)
    rate = rate_out or rate_in
    whole, _ = read_window(path, sample_rate=rate_out)
    windows = list(iter_windows(path, 2.0, 1.5, sample_rate=rate_out, block_s=1.1))
    assert [w.start for w in windows] == pytest.approx([0, 1.5, 3.0, 4.5, 6.0])
    for w in windows:
        i = int(round(w.start * rate))
        part = whole[i:i + 2 * rate]
        assert len(w.samples) == 2 * rate and w.valid == len(part)
        # Streaming resampling matches resampling the whole file, away from the file's ends.
        np.testing.assert_allclose(w.samples[:w.valid], part, atol=2e-3 if rate_out else 1e-6)
        assert not w.samples[w.valid:].any()


def test_overlapping_windows_are_read_only_views(make_wav):
    """Windows share the decoded block (no copy per window), so one consumer writing into its
    window would change the next, overlapping one: they are read-only instead."""
    path = make_wav(duration=5.0, sample_rate=16000, freq=500.0)
    first, second = list(iter_windows(path, 2.0, 1.0, block_s=10.0))[:2]
    assert np.shares_memory(first.samples, second.samples)
    with pytest.raises(ValueError, match="read-only"):
        first.samples[16000:] = 0.0
    assert second.samples[:16000].any()


def test_iter_windows_without_padding_drops_the_tail(make_wav):
    path = make_wav(duration=5.0, sample_rate=8000)
    starts = [w.start for w in iter_windows(path, 2.0, 2.0, pad_last=False)]
    assert starts == [0.0, 2.0]


# ---- bad files: each error names the file -------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match=r"nope\.wav: file not found"):
        probe(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: file is empty"):
        probe(path)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioError, match=r"notes\.wav: not a readable audio file"):
        probe(path)


def test_truncated_wav(tmp_path, make_wav):
    good = make_wav("good.wav", duration=1.0)
    path = tmp_path / "truncated.wav"
    path.write_bytes(good.read_bytes()[:30])  # cut inside the header
    with pytest.raises(AudioError, match=r"truncated\.wav"):
        probe(path)


def test_wav_truncated_in_its_data_reads_what_is_there(tmp_path, make_wav):
    """A recorder that died mid-write leaves a header promising more than is there."""
    good = make_wav("good.wav", duration=1.0, sample_rate=8000)
    path = tmp_path / "cut.wav"
    path.write_bytes(good.read_bytes()[:44 + 2 * 4000])  # header + 0.5 s of 16-bit mono
    info = probe(path)
    assert info.frames == 4000  # libsndfile trusts the file size over the header
    got, _ = read_window(path, 0.0, 1.0)
    assert len(got) == 4000


def test_folder_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="is a folder"):
        probe(tmp_path)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_iter_windows_gives_libsndfiles_float_samples_for_every_subtype(tmp_path, subtype):
    """16-bit files are decoded as int16 and scaled by us: the samples must not change."""
    rng = np.random.default_rng(0)
    data = rng.uniform(-1, 1, (40000, 2)).astype(np.float32)
    data[:2] = [[-1.0, 0.999969], [1.0, -0.5]]  # the extremes of 16-bit PCM
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, data, 16000, subtype=subtype)
    whole, _ = sf.read(path, dtype="float32", always_2d=True)
    for channel, want in ((0, whole[:, 0]), (1, whole[:, 1]), (MIX, whole.mean(axis=1, dtype=np.float32))):
        got = np.concatenate([w.samples[:w.valid] for w in iter_windows(path, 1.0, 1.0, channel=channel,
                                                                        block_s=0.7)])
        assert got.dtype == np.float32 and np.array_equal(got, want), (subtype, channel)
