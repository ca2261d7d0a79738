"""The embedding index without BirdNET: incremental refresh, crash safety, exact and approximate search."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import soundfile as sf

from birdlab.core.model import Recording
from birdlab.scoring import embedding_index
from birdlab.scoring.embedding_index import EmbeddingIndex
from birdlab.scoring.similarity import Span, build_index, find_similar, open_index


NOISE_SEED = 0  # the background noise is the same in every run (str hash() is not)


class BandEmbedder:
    """A fast stand-in: log energies in 16 frequency bands of a 1 s window at 8 kHz."""

    name, sha256, sample_rate, window_s, dim = "bands", "", 8000, 1.0, 16

    def __init__(self):
        self.windows = 0

    def embed(self, audio: np.ndarray, batch: int = 8) -> np.ndarray:
        self.windows += len(audio)
        power = np.abs(np.fft.rfft(audio, axis=1)) ** 2
        bands = np.array_split(power[:, 1:], self.dim, axis=1)
        return np.log(np.stack([b.sum(axis=1) for b in bands], axis=1) + 1e-6).astype(np.float32)


def tone_file(path, freqs_at: dict[float, float], duration: float = 6.0, rate: int = 8000) -> Recording:
    """Noise with 0.5 s tones at {start s: Hz}."""
    rng = np.random.default_rng(zlib.crc32(path.name.encode()) + NOISE_SEED)
    audio = 0.01 * rng.standard_normal(int(duration * rate))
    t = np.arange(int(0.5 * rate)) / rate
    for start, freq in freqs_at.items():
        i = int(start * rate)
        audio[i:i + len(t)] += 0.5 * np.sin(2 * np.pi * freq * t)
    sf.write(path, audio.astype(np.float32), rate)
    rid = int(path.stem[1:])
    return Recording(rid, str(path), path.stat().st_size, f"fp-{path.name}-{len(freqs_at)}", duration, rate, 1,
                     abs_path=path)


@pytest.fixture
def recordings(tmp_path):
    return [tone_file(tmp_path / "r1.wav", {1.0: 1000, 4.0: 3000}),
            tone_file(tmp_path / "r2.wav", {2.0: 1000}),
            tone_file(tmp_path / "r3.wav", {0.0: 3000, 3.0: 1000})]


def test_the_index_embeds_only_new_or_changed_recordings(tmp_path, recordings):
    embedder = BandEmbedder()
    index, report = build_index(tmp_path / "cache", recordings[:2], embedder, hop_s=0.5)
    assert report.added == [1, 2] and report.windows == 24 and embedder.windows == 24
    # a new recording: only its windows are computed
    index, report = build_index(tmp_path / "cache", recordings, embedder, hop_s=0.5)
    assert report.added == [3] and report.removed == [] and embedder.windows == 36 and index.size == 36
    # one leaves the project: it is cut out, nothing is embedded again
    index, report = build_index(tmp_path / "cache", [recordings[0], recordings[2]], embedder, hop_s=0.5)
    assert report.removed == [2] and report.added == [] and embedder.windows == 36
    assert sorted(index.blocks) == [1, 3] and index.size == 24
    # its audio changed (a new fingerprint): its windows go and come back
    changed = tone_file(tmp_path / "r3.wav", {5.0: 2000})
    index, report = build_index(tmp_path / "cache", [recordings[0], changed], embedder, hop_s=0.5)
    assert report.removed == [3] and report.added == [3] and embedder.windows == 48
    # what a row holds survives reopening, and matches a fresh embedding of the window
    again = open_index(tmp_path / "cache", embedder, 0.5)
    assert again.size == 24 and again.blocks == index.blocks
    np.testing.assert_allclose(again.mean(), index.mean(), atol=1e-6)


def test_the_mean_follows_the_rows_through_cuts(tmp_path, recordings):
    embedder = BandEmbedder()
    index, _ = build_index(tmp_path / "cache", recordings, embedder, hop_s=0.5)
    build_index(tmp_path / "cache", recordings[1:], embedder, hop_s=0.5)
    index = open_index(tmp_path / "cache", embedder, 0.5)
    rows = np.asarray(index.vectors(), np.float32)
    np.testing.assert_allclose(index.mean(), rows.mean(axis=0), atol=2e-3)


def covers(hit, recording_id: int, t0: float, t1: float = None) -> bool:
    t1 = t0 + 0.5 if t1 is None else t1
    return hit.recording_id == recording_id and hit.t_start < t1 and t0 < hit.t_end


def before_noise(hits, tones) -> list:
    """The hits before the first one that covers none of the tones ((recording id, start s))."""
    for i, hit in enumerate(hits):
        if not any(covers(hit, r, t) for r, t in tones):
            return hits[:i]
    return hits


def test_a_query_tone_finds_the_same_tone_elsewhere_first(tmp_path, recordings):
    embedder = BandEmbedder()
    index, _ = build_index(tmp_path / "cache", recordings, embedder, hop_s=0.25)
    hits = find_similar(index, embedder, [Span(recordings[0], 1.0, 1.5)], k=5)
    # the 1 kHz tones of r2 (at 2.0 s) and r3 (at 3.0 s) before any noise (a tone may give two
    # hits: windows overlapping by less than half are both kept); the query's own window never
    leading = before_noise(hits, ((2, 2.0), (3, 3.0)))
    assert 2 <= len(leading) < len(hits)  # noise after them
    assert {h.recording_id for h in leading} == {2, 3} and len(leading) <= 4
    assert not any(covers(h, 1, 1.0) for h in hits)
    assert all(-1.0 <= h.similarity <= 1.0 for h in hits) and hits[0].similarity >= hits[-1].similarity
    # limited to one recording
    only = find_similar(index, embedder, [Span(recordings[0], 1.0, 1.5)], k=1, recording_ids=[3])
    assert len(only) == 1 and covers(only[0], 3, 3.0)


def test_one_call_gives_one_hit(tmp_path, recordings):
    embedder = BandEmbedder()
    index, _ = build_index(tmp_path / "cache", recordings, embedder, hop_s=0.25)
    hits = find_similar(index, embedder, [Span(recordings[0], 1.0, 1.5)], k=10)
    for a in hits:
        for b in hits:
            if a is not b and a.recording_id == b.recording_id:
                assert min(a.t_end, b.t_end) - max(a.t_start, b.t_start) <= embedder.window_s / 2


def test_an_interrupted_append_is_cut_off_and_lost_vectors_start_again(tmp_path, recordings):
    embedder = BandEmbedder()
    index, _ = build_index(tmp_path / "cache", recordings[:1], embedder, hop_s=0.5)
    size = index.vectors_path.stat().st_size
    with open(index.vectors_path, "ab") as f:
        f.write(b"\0" * 100)  # rows written, manifest never updated
    reader = open_index(tmp_path / "cache", embedder, 0.5)
    assert reader.size == 12 and index.vectors_path.stat().st_size == size + 100  # a reader changes nothing
    index, report = build_index(tmp_path / "cache", recordings[:2], embedder, hop_s=0.5)  # the next writer cuts
    assert report.added == [2] and index.vectors_path.stat().st_size == 2 * size
    np.testing.assert_allclose(np.asarray(index.vectors()[:12], np.float32),
                               np.asarray(reader.vectors(), np.float32))
    with open(index.vectors_path, "r+b") as f:
        f.truncate(size // 2)  # vectors lost: empty to a reader, built again by a writer (cache/ is disposable)
    assert open_index(tmp_path / "cache", embedder, 0.5).size == 0
    index, report = build_index(tmp_path / "cache", recordings[:2], embedder, hop_s=0.5)
    assert report.added == [1, 2] and index.size == 24 and index.vectors_path.stat().st_size == 2 * size


def test_a_sum_saved_for_other_rows_is_computed_again(tmp_path, recordings):
    embedder = BandEmbedder()
    index, _ = build_index(tmp_path / "cache", recordings, embedder, hop_s=0.5)
    np.savez(index.sum_path, sum=np.ones(16), rows=999)  # as after a crash between the sum and the manifest
    again = open_index(tmp_path / "cache", embedder, 0.5)
    np.testing.assert_allclose(again.mean(), np.asarray(again.vectors(), np.float32).mean(axis=0), atol=2e-3)


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, dim)).astype(np.float32)
    return centres[rng.integers(0, 50, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)


def test_the_approximate_index_agrees_with_the_exact_search(tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    monkeypatch.setattr(embedding_index, "ANN_MIN", 3000)
    dim = 32
    index = EmbeddingIndex(tmp_path / "idx", dim, 1.0, 3.0, "made-up")
    data = clustered(6000, dim, 0)
    for rid in range(1, 7):
        index._append(Recording(rid, f"r{rid}.wav", 0, f"fp{rid}", 1000.0, 32000, 1), data[(rid - 1) * 1000:rid * 1000])
    index._update_ann()
    assert index.ann_rows == 6000 and index.ann_path.exists()
    queries = clustered(20, dim, 1)
    overlap = []
    for q in queries:
        approx = {(h.recording_id, h.t_start) for h in index.search(q, 10)}
        exact_rows, exact_sims = index._exact(embedding_index.normalise(q[None]), 10 * 3 * 2 + 16, None)
        exact = {(h.recording_id, h.t_start) for h in index._hits(exact_rows, exact_sims, 10, [])}
        overlap.append(len(approx & exact) / 10)
    assert np.mean(overlap) >= 0.8
    # a recording filter holds on the approximate path too
    hits = index.search(queries[0], 10, recording_ids=[4])
    assert hits and {h.recording_id for h in hits} == {4}
    # rows added later join the trained index without training again
    trained = index.ann_trained_on
    index._append(Recording(7, "r7.wav", 0, "fp7", 500.0, 32000, 1), clustered(500, dim, 2))
    index._update_ann()
    assert index.ann_rows == 6500 and index.ann_trained_on == trained
    assert EmbeddingIndex(tmp_path / "idx", dim, 1.0, 3.0).ann_rows == 6500


def test_combining_queries_by_mean_or_max(tmp_path, recordings):
    embedder = BandEmbedder()
    index, _ = build_index(tmp_path / "cache", recordings, embedder, hop_s=0.25)
    spans = [Span(recordings[0], 1.0, 1.5), Span(recordings[0], 4.0, 4.5)]  # 1 kHz and 3 kHz
    tones = ((2, 2.0), (3, 3.0), (3, 0.0))  # r2's 1 kHz, r3's 1 kHz and 3 kHz
    # max: a window like either tone counts, so all three tones come before any noise (a tone
    # may give two hits: windows overlapping by less than half are both kept)
    best = find_similar(index, embedder, spans, k=6, combine="max")
    leading = before_noise(best, tones)
    assert {(r, t) for r, t in tones if any(covers(h, r, t) for h in leading)} == set(tones)
    # mean: one query between the two; a tone is still nearer to it than noise is
    mean = find_similar(index, embedder, spans, k=3, combine="mean")
    assert any(covers(mean[0], r, t) for r, t in tones)
    assert mean[0].similarity < best[0].similarity
    with pytest.raises(ValueError, match="combine"):
        index.search(np.ones(16), 3, combine="median")
