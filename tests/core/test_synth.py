"""Synthetic soundscapes: exact boxes, in-band SNR, determinism, streaming writes."""

from __future__ import annotations

import csv
import dataclasses
import hashlib

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.synthetic.synth import (
    DISTRACTOR_KINDS,
    TRUTH_COLUMNS,
    CallShape,
    SoundscapeConfig,
    SpeciesSpec,
    SynthEvent,
    default_species,
    generate_soundscape,
    truth_csv_path,
    write_long_recording,
    write_soundscape,
)

QUIET = dict(wind_per_minute=0.0, rain_per_minute=0.0, distractors_per_minute=0.0)


def _band_power(x: np.ndarray, sr: int, f_lo: float, f_hi: float) -> float:
    """Mean power of `x` inside [f_lo, f_hi] (periodogram, Parseval-exact)."""
    return _BandMeter(x, sr)(f_lo, f_hi)


class _BandMeter:
    """One periodogram, many band powers."""

    def __init__(self, x: np.ndarray, sr: int):
        spec = np.abs(np.fft.rfft(x)) ** 2
        self.freqs = np.fft.rfftfreq(len(x), 1.0 / sr)
        power = float(np.mean(np.square(x, dtype=np.float64)))
        self.cum = np.concatenate([[0.0], np.cumsum(spec)]) * power / spec.sum()

    def __call__(self, f_lo: float, f_hi: float) -> float:
        a = int(np.searchsorted(self.freqs, f_lo, side="left"))
        b = int(np.searchsorted(self.freqs, f_hi, side="right"))
        return float(self.cum[b] - self.cum[a])


def _span(ev: SynthEvent, sr: int) -> slice:
    return slice(int(round(ev.t_min * sr)), int(round(ev.t_max * sr)))


@pytest.fixture(scope="module")
def pair():
    """The same soundscape with and without calls: their difference is the calls alone."""
    species = [dataclasses.replace(s, calls_per_minute=14.0) for s in default_species(32000)]
    cfg = SoundscapeConfig(duration_s=40.0, sample_rate=32000, seed=7, species=species,
                           snr_db=(15.0, 15.0), max_concurrent=1, **QUIET)
    full = generate_soundscape(cfg)
    bed = generate_soundscape(dataclasses.replace(cfg, species=()))
    clean = full.audio.astype(np.float64) / full.gain - bed.audio.astype(np.float64) / bed.gain
    noise = bed.audio.astype(np.float64) / bed.gain
    return cfg, full, clean, noise


def test_default_species_distinct_shapes_and_overlapping_bands():
    species = default_species(32000)
    assert len(species) >= 5
    assert len({s.name for s in species}) == len(species)
    assert len({s.shape for s in species}) == len(species)
    assert set(CallShape) <= {s.shape for s in species}
    overlapping = [(a.name, b.name) for i, a in enumerate(species) for b in species[i + 1:]
                   if a.f_low < b.f_high and b.f_low < a.f_high]
    assert len(overlapping) >= 3  # band alone cannot tell them apart
    for rate in (8000, 16000, 22050, 32000, 48000, 96000):
        assert max(s.f_high for s in default_species(rate)) < rate / 2


def test_same_seed_same_output_other_seed_differs():
    cfg = SoundscapeConfig(duration_s=8.0, sample_rate=16000, seed=3, distractors_per_minute=20,
                           wind_per_minute=8, rain_per_minute=8)
    a, b = generate_soundscape(cfg), generate_soundscape(cfg)
    assert a.audio.tobytes() == b.audio.tobytes()
    assert a.events == b.events and a.distractors == b.distractors and a.weather == b.weather
    c = generate_soundscape(dataclasses.replace(cfg, seed=4))
    assert not np.array_equal(a.audio, c.audio)
    assert a.events != c.events


@pytest.mark.parametrize("rate", [16000, 32000, 48000, 96000])
def test_events_valid_and_audio_in_range(rate):
    species = [dataclasses.replace(s, calls_per_minute=40.0) for s in default_species(rate)]
    cfg = SoundscapeConfig(duration_s=6.0, sample_rate=rate, seed=11, species=species,
                           distractors_per_minute=30, wind_per_minute=10, rain_per_minute=10)
    scape = generate_soundscape(cfg)
    audio = scape.audio
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) == 6 * rate
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
    assert np.max(np.abs(audio)) == pytest.approx(10 ** (-3 / 20), rel=1e-3)  # headroom kept
    assert len(scape.events) >= 5 and scape.distractors
    names = {s.name for s in species}
    for ev in scape.events + scape.distractors + scape.weather:
        assert 0.0 <= ev.t_min < ev.t_max <= 6.0
        assert 0.0 <= ev.f_min < ev.f_max <= rate / 2
        assert ev.box.problems(duration=6.0, nyquist=rate / 2) == []
    assert {ev.label for ev in scape.events} <= names
    assert {ev.label for ev in scape.distractors} <= set(DISTRACTOR_KINDS)
    assert {ev.label for ev in scape.weather} <= {"wind", "rain"}
    assert scape.events == sorted(scape.events, key=lambda e: e.t_min)


def test_calls_are_silent_outside_their_time_boxes(pair):
    cfg, full, clean, _ = pair
    sr = cfg.sample_rate
    inside = np.zeros(len(clean), bool)
    for ev in full.events:
        inside[_span(ev, sr)] = True
    assert len(full.events) >= 20
    assert np.max(np.abs(clean[~inside])) < 1e-4 * np.max(np.abs(clean))
    for ev in full.events:  # smooth onsets: the first/last samples are near zero
        seg = clean[_span(ev, sr)]
        assert abs(seg[0]) < 0.05 * np.max(np.abs(seg)) and abs(seg[-1]) < 0.05 * np.max(np.abs(seg))


def test_call_energy_lies_inside_its_frequency_box(pair):
    cfg, full, clean, _ = pair
    sr = cfg.sample_rate
    seen = set()
    for ev in full.events:
        seg = clean[_span(ev, sr)]
        spec = np.abs(np.fft.rfft(seg, 4 * len(seg))) ** 2
        freqs = np.fft.rfftfreq(4 * len(seg), 1.0 / sr)
        margin = 300.0 if ev.label == "click_bat" else 150.0
        inside = (freqs >= ev.f_min - margin) & (freqs <= ev.f_max + margin)
        share = spec[inside].sum() / spec.sum()
        assert share > 0.99, f"{ev.label}: only {share:.4f} of the energy inside its box"
        # ...and it fills the box: energy near both frequency edges of the box
        edge = max(0.1 * (ev.f_max - ev.f_min), 60.0)
        low = spec[(freqs >= ev.f_min - 50) & (freqs <= ev.f_min + edge)].sum() / spec.sum()
        high = spec[(freqs >= ev.f_max - edge) & (freqs <= ev.f_max + 50)].sum() / spec.sum()
        assert low > 0.003 and high > 0.003, f"{ev.label}: box wider than the call"
        seen.add(ev.label)
    assert seen == {s.name for s in default_species(32000)}


def test_box_band_stands_out_from_just_before_and_after(pair):
    cfg, full, _, _ = pair
    sr, x = cfg.sample_rate, full.audio
    checked = 0
    for ev in full.events:
        n0, n1 = _span(ev, sr).start, _span(ev, sr).stop
        n = n1 - n0
        if n0 - n < 0 or n1 + n > len(x):
            continue
        if any(o is not ev and o.t_min * sr < n1 + n and o.t_max * sr > n0 - n for o in full.events):
            continue
        during = _band_power(x[n0:n1], sr, ev.f_min, ev.f_max)
        around = 0.5 * (_band_power(x[n0 - n:n0], sr, ev.f_min, ev.f_max)
                        + _band_power(x[n1:n1 + n], sr, ev.f_min, ev.f_max))
        assert 10 * np.log10(during / around) > 10.0, ev
        checked += 1
    assert checked >= 6


def test_snr_is_in_band_call_power_over_bed_power(pair):
    cfg, full, clean, noise = pair
    sr = cfg.sample_rate
    from_clean, from_mix = [], []
    outside = np.ones(len(noise), bool)
    for ev in full.events:
        outside[_span(ev, sr)] = False
    mix = full.audio.astype(np.float64) / full.gain
    noise_meter, bed_meter = _BandMeter(noise, sr), _BandMeter(mix[outside], sr)
    for ev in full.events:
        span = _span(ev, sr)
        call_power = float(np.mean(clean[span] ** 2))
        from_clean.append(10 * np.log10(call_power / noise_meter(ev.f_min, ev.f_max)))
        # the mixture alone: band power during the call vs band power of call-free stretches
        during = _band_power(mix[span], sr, ev.f_min, ev.f_max)
        bed = bed_meter(ev.f_min, ev.f_max)
        from_mix.append(10 * np.log10(max(during / bed - 1.0, 1e-6)))
    assert np.allclose(from_clean, 15.0, atol=0.5), from_clean
    assert abs(np.median(from_mix) - 15.0) < 1.5 and np.all(np.abs(np.array(from_mix) - 15.0) < 4.0)


def test_snr_range_and_overlap_policy():
    species = [dataclasses.replace(s, calls_per_minute=60.0) for s in default_species(8000)]
    cfg = SoundscapeConfig(duration_s=60.0, sample_rate=8000, seed=5, species=species,
                           snr_db=(-3.0, 6.0), max_concurrent=2, min_gap_s=0.1, **QUIET)
    events = generate_soundscape(cfg).events
    assert all(-3.0 <= ev.snr_db <= 6.0 for ev in events)
    assert np.ptp([ev.snr_db for ev in events]) > 5.0
    bounds = sorted([(ev.t_min, 1) for ev in events] + [(ev.t_max, -1) for ev in events])
    assert max(np.cumsum([d for _, d in bounds])) <= 2
    assert any(a.t_max > b.t_min for a, b in zip(events, events[1:]))  # species do overlap
    for name in {ev.label for ev in events}:
        own = [ev for ev in events if ev.label == name]
        assert all(b.t_min >= a.t_max + 0.1 - 1e-9 for a, b in zip(own, own[1:]))
    single = generate_soundscape(dataclasses.replace(cfg, max_concurrent=1)).events
    assert all(b.t_min >= a.t_max for a, b in zip(single, single[1:]))


def test_write_soundscape_wav_and_truth_csv(tmp_path):
    cfg = SoundscapeConfig(duration_s=5.0, sample_rate=16000, seed=2,
                           species=[dataclasses.replace(s, calls_per_minute=40.0)
                                    for s in default_species(16000)])
    path = tmp_path / "scape.wav"
    scape = write_soundscape(path, cfg)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 80000, "PCM_16")
    audio, _ = sf.read(str(path), dtype="float32")
    assert np.max(np.abs(audio - scape.audio)) <= 1.0 / 32768 + 1e-7
    with open(truth_csv_path(path), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert truth_csv_path(path).name == "scape.truth.csv"
    assert tuple(rows[0].keys()) == TRUTH_COLUMNS and len(rows) == len(scape.events) > 0
    for row, ev in zip(rows, scape.events):
        assert row["recording"] == "scape.wav" and row["label"] == ev.label
        assert float(row["t_min"]) == pytest.approx(ev.t_min, abs=1e-6)
        assert float(row["f_max"]) == pytest.approx(ev.f_max, abs=0.01)
    write_soundscape(tmp_path / "f.flac", cfg, subtype="PCM_24", distractors_csv=True)
    assert sf.info(str(tmp_path / "f.flac")).subtype == "PCM_24"
    assert (tmp_path / "f.distractors.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "f.distractors.csv", "f.flac", "f.truth.csv", "scape.truth.csv", "scape.wav"]  # no temp files


def test_write_long_recording_streams_deterministically(tmp_path):
    sr, seconds = 8000, 130.0
    a = tmp_path / "a.wav"
    events = write_long_recording(a, seconds, sr, seed=9, channels=2, subtype="FLOAT", chunk_s=60.0)
    info = sf.info(str(a))
    assert (info.frames, info.channels, info.samplerate) == (130 * sr, 2, sr)
    b = tmp_path / "b.wav"  # another chunk size crosses boundaries elsewhere: same file
    assert write_long_recording(b, seconds, sr, seed=9, channels=2, subtype="FLOAT", chunk_s=7.3) == events
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(a) == digest(b)
    assert b"PEAK" not in a.read_bytes()[:512]  # libsndfile's PEAK chunk holds a timestamp
    assert events and all(0 <= ev.t_min < ev.t_max <= seconds for ev in events)
    with open(truth_csv_path(a), newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(events)
    # channel 0 is the in-memory soundscape up to a gain; channel 1 is a different take
    data, _ = sf.read(str(a), dtype="float64")
    scape = generate_soundscape(SoundscapeConfig(duration_s=seconds, sample_rate=sr, seed=9))
    assert scape.events == events
    level = 10 ** (SoundscapeConfig().noise_dbfs / 20)
    assert np.allclose(data[:, 0] / level, scape.audio / scape.gain, atol=1e-3)
    assert not np.allclose(data[:, 0], data[:, 1], atol=1e-3)
    assert 0.5 < np.std(data[:, 1]) / np.std(data[:, 0]) < 2.0
    c = tmp_path / "c.wav"
    assert write_long_recording(c, seconds, sr, seed=10, chunk_s=60.0, truth_csv=False) != events
    assert sf.info(str(c)).frames == 130 * sr and sf.info(str(c)).subtype == "PCM_16"
    assert not truth_csv_path(c).exists()


def test_impossible_configs_raise_clear_errors(tmp_path):
    high = SpeciesSpec("high_bird", CallShape.UP_SWEEP, 6000, 12000, (0.1, 0.3), 5.0)
    with pytest.raises(ValueError, match="Nyquist"):
        SoundscapeConfig(sample_rate=16000, species=[high])
    SoundscapeConfig(sample_rate=32000, species=[high])  # fits there
    with pytest.raises(ValueError, match="Nyquist"):
        generate_soundscape(dataclasses.replace(SoundscapeConfig(species=[high]), sample_rate=16000))
    with pytest.raises(ValueError, match="at least 8000"):
        default_species(4000)
    with pytest.raises(ValueError, match="duration_s"):
        SoundscapeConfig(duration_s=0.0)
    with pytest.raises(ValueError, match="snr_db"):
        SoundscapeConfig(snr_db=(10.0, 0.0))
    with pytest.raises(ValueError, match="f_low < f_high"):
        SpeciesSpec("bad", CallShape.WHISTLE, 5000, 3000, (0.1, 0.2), 1.0)
    with pytest.raises(ValueError, match="stack"):
        SpeciesSpec("bad", CallShape.HARMONIC_STACK, 1000, 3000, (0.1, 0.2), 1.0, harmonics=5)
    with pytest.raises(ValueError, match="unique"):
        SoundscapeConfig(species=[high, high])
    with pytest.raises(ValueError, match="channels"):
        write_long_recording(tmp_path / "x.wav", 1.0, 16000, 0, channels=0)
    with pytest.raises(ValueError, match="format"):
        write_soundscape(tmp_path / "x.unknown", SoundscapeConfig(duration_s=1.0))
