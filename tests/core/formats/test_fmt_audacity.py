from __future__ import annotations

from pathlib import Path

import pytest

from birdlab.core.formats import audacity
from birdlab.core.formats.common import TableError
from birdlab.core.model import Polarity
from tests.core.formats.fmt_helpers import (
    FIXTURES, assert_same_boxes, error_lines, expected, sample_boxes, read_back,
)


def test_roundtrip(tmp_path: Path) -> None:
    recs, anns = sample_boxes(scores=True)
    files = audacity.write(anns, tmp_path, recs)
    assert sorted(p.name for p in files) == ["dawn_01.txt", "night-02.txt", "pass_03.txt"]
    got = read_back(files, audacity.read, recs)
    # Audacity keeps the full band as "no frequency" (-1) but has no place for scores
    assert_same_boxes(expected(anns, recs, keep_scores=False), got, t_tol=1e-6, f_tol=1e-6)
    lines = files[0].read_text().splitlines()
    assert len(lines) == 10 and all(line.startswith("\\\t") for line in lines[1::2])
    assert "\\\t-1.000000\t-1.000000" in lines


def test_spectral_lines_and_polarity_suffixes() -> None:
    got = audacity.read(FIXTURES / "dawn.txt")
    assert [(a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.polarity, a.line) for a in got] == [
        (1.5, 2.75, 2500.0, 7000.0, "Parus major", Polarity.POSITIVE, 1),
        (3.0, 3.5, None, None, "Turdus merula", Polarity.NEGATIVE, 3),
        (4.25, 5.0, None, 4000.5, "Erithacus rubecula", Polarity.UNCERTAIN, 5),
        (6.0, 6.4, None, None, "Fringilla coelebs", Polarity.POSITIVE, 7)]
    assert all(a.recording == "" for a in got)


def test_plain_labels_crlf_and_empty_text() -> None:
    path = FIXTURES / "frogs.txt"
    with pytest.raises(TableError) as exc:
        audacity.read(path)
    assert error_lines(exc) == [2]
    got = audacity.read(path, default_label="unknown frog", polarity=Polarity.UNCERTAIN)
    assert [(a.label, a.f_min, a.polarity) for a in got] == [
        ("Bufo bufo", None, Polarity.UNCERTAIN), ("unknown frog", None, Polarity.UNCERTAIN),
        ("Rana temporaria", None, Polarity.UNCERTAIN)]


def test_birdnet_audacity_output_with_confidence(tmp_path: Path) -> None:
    path = tmp_path / "rec.BirdNET.results.txt"
    path.write_text("0.0\t3.0\tTurdus merula, Eurasian Blackbird\t0.8123\n")
    (a,) = audacity.read(path)
    assert (a.label, a.score) == ("Turdus merula, Eurasian Blackbird", 0.8123)


def test_bad_lines_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("\n".join([
        "1.0\t2.0\tA",           # 1 good
        "\\\t100\t200",          # 2 good
        "1,0x\t2.0\tA",          # 3 not a number
        "5.0\t4.0\tA",           # 4 end before start
        "1.0\t2.0\tA",           # 5 fine, but its frequency line is bad:
        "\\\t-5\t200",           # 6 negative frequency
        "1.0\t2.0\t",            # 7 empty label
        "3.0\t3.0\tclick",       # 8 a point label: not a box
        "1.0\t2.0\tB",           # 9
        "\\\t900\t200",          # 10 high below low
    ]) + "\n")
    with pytest.raises(TableError) as exc:
        audacity.read(path)
    assert error_lines(exc) == [3, 4, 6, 7, 8, 10]
    assert [a.line for a in exc.value.annotations] == [1]  # labels with a bad frequency line are out
    assert all(e.file == str(path) for e in exc.value.errors)


def test_frequency_line_without_label(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("\\\t100\t200\n")
    with pytest.raises(TableError) as exc:
        audacity.read(path)
    assert error_lines(exc) == [1]
