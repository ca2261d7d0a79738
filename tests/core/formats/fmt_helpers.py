"""Shared helpers of the format tests: generated annotations and box comparison."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from birdlab.core.formats.common import Annotation, RecordingRef, TableError
from birdlab.core.model import Polarity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "formats"

ALL_POLARITIES = (Polarity.POSITIVE, Polarity.NEGATIVE, Polarity.UNCERTAIN)

LABELS = ("Parus major", "Turdus merula_Eurasian Blackbird", "3_4", "Kiwi, little spotted", "Hyla arborea")


def make_recordings() -> dict[str, RecordingRef]:
    """Three recordings with different rates; keys are paths (one with a space)."""
    refs = [
        RecordingRef("/data/site A/dawn_01.wav", "/data/site A/dawn_01.wav", 61.25, 48000),
        RecordingRef("/data/site B/night-02.flac", "/data/site B/night-02.flac", 30.5, 22050, 2),
        RecordingRef("/data/bats/pass_03.wav", "/data/bats/pass_03.wav", 12.0, 384000),
    ]
    return {r.key: r for r in refs}


def make_annotations(recordings: dict[str, RecordingRef], polarities: Iterable[Polarity] = ALL_POLARITIES,
                     scores: bool = False, seed: int = 7) -> list[Annotation]:
    """Five boxes per recording: fractional times and frequencies, every polarity and label,
    one full-band box (None, None) per recording, scores on some when `scores`."""
    rng = random.Random(seed)
    pols = list(polarities)
    out: list[Annotation] = []
    i = 0
    for ref in recordings.values():
        nyq = ref.sample_rate / 2
        for j in range(5):
            t0 = rng.uniform(0, ref.duration - 3)
            t1 = t0 + rng.uniform(0.05, 2.5)
            if j == 0:
                f0 = f1 = None
            else:
                f0 = rng.uniform(0, nyq * 0.6)
                f1 = f0 + rng.uniform(10.0, nyq * 0.35)
            out.append(Annotation(
                recording=ref.key, t_min=t0, t_max=t1, f_min=f0, f_max=f1,
                label=LABELS[i % len(LABELS)], polarity=pols[i % len(pols)],
                score=round(rng.uniform(0.01, 0.99), 6) if scores and j % 2 == 0 else None))
            i += 1
    return out


def expected(anns: list[Annotation], recordings: dict[str, RecordingRef], *, fill_band: bool = False,
             drop_band: bool = False, keep_scores: bool = True,
             keep: Callable[[Annotation], bool] = lambda a: True) -> list[Annotation]:
    """What a format should give back: full band filled (0..Nyquist) or dropped, scores kept or not."""
    out = []
    for a in anns:
        if not keep(a):
            continue
        f0, f1 = a.f_min, a.f_max
        if drop_band:
            f0 = f1 = None
        elif fill_band:
            f0 = 0.0 if f0 is None else f0
            f1 = recordings[a.recording].sample_rate / 2 if f1 is None else f1
        out.append(Annotation(a.recording, a.t_min, a.t_max, f0, f1, a.label, a.polarity,
                              a.score if keep_scores else None))
    return out


def assert_same_boxes(want: list[Annotation], got: list[Annotation], *, t_tol: float, f_tol: float,
                      recording_of: Callable[[Annotation], str] = lambda a: a.recording,
                      score_tol: float = 1e-6) -> None:
    """Same boxes (to the format's precision), labels, polarities and scores, in any order."""
    def key(a: Annotation, rec: str) -> tuple:
        return (rec, a.label, round(a.t_min, 3), a.polarity.value)

    want_sorted = sorted(want, key=lambda a: key(a, a.recording))
    got_sorted = sorted(got, key=lambda a: key(a, recording_of(a)))
    assert len(got_sorted) == len(want_sorted), (len(got_sorted), len(want_sorted))
    for w, g in zip(want_sorted, got_sorted):
        assert recording_of(g) == w.recording
        assert g.label == w.label
        assert g.polarity is w.polarity
        assert g.t_min == pytest.approx(w.t_min, abs=t_tol)
        assert g.t_max == pytest.approx(w.t_max, abs=t_tol)
        for gv, wv in ((g.f_min, w.f_min), (g.f_max, w.f_max)):
            if wv is None:
                assert gv is None
            else:
                assert gv == pytest.approx(wv, abs=f_tol)
        if w.score is None:
            assert g.score is None
        else:
            assert g.score == pytest.approx(w.score, rel=score_tol, abs=score_tol)


def error_lines(exc: pytest.ExceptionInfo[TableError]) -> list[int]:
    return [e.line for e in exc.value.errors]


def by_stem(recordings: dict[str, RecordingRef]) -> dict[str, str]:
    return {r.stem: k for k, r in recordings.items()}


def sample_boxes(**kwargs) -> tuple[dict[str, RecordingRef], list[Annotation]]:
    """`make_recordings()` and `make_annotations` over them (keyword arguments passed on)."""
    recs = make_recordings()
    return recs, make_annotations(recs, **kwargs)


def read_back(files, read, recordings: dict[str, RecordingRef]) -> list[Annotation]:
    """Every row of per-recording `files`, read with `read` and given its recording's key (by stem)."""
    from birdlab.core.formats.common import table_stem

    stems = by_stem(recordings)
    return [Annotation(stems[table_stem(path)], a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.polarity, a.score)
            for path in files for a in read(path)]


def table_errors(read, path: Path, lines: list[str]):
    """The TableError that `read` raises on a table of these lines (it must raise one)."""
    import pytest

    from birdlab.core.formats.common import TableError

    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TableError) as exc:
        read(path)
    return exc.value
