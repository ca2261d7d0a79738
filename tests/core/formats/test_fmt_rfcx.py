from __future__ import annotations

from pathlib import Path

import pytest

from birdlab.core.formats import rfcx
from birdlab.core.formats.common import TableError
from birdlab.core.model import Polarity
from tests.core.formats.fmt_helpers import (
    FIXTURES, assert_same_boxes, by_stem, error_lines, expected, sample_boxes, table_errors,
)

HEADER = "recording_id,species_id,songtype_id,t_min,f_min,t_max,f_max"


def test_roundtrip_tp_and_fp(tmp_path: Path) -> None:
    recs, anns = sample_boxes(scores=True)
    files = rfcx.write(anns, tmp_path, recs)
    assert [p.name for p in files] == ["train_tp.csv", "train_fp.csv"]
    tp, fp = rfcx.read(files[0]), rfcx.read(files[1])
    assert {a.polarity for a in tp} == {Polarity.POSITIVE}
    assert {a.polarity for a in fp} == {Polarity.NEGATIVE}
    stems = by_stem(recs)
    want = expected(anns, recs, fill_band=True, keep_scores=False,
                    keep=lambda a: a.polarity is not Polarity.UNCERTAIN)  # uncertain: not expressible
    assert len(want) < len(anns)
    assert_same_boxes(want, tp + fp, t_tol=1e-6, f_tol=6e-4, recording_of=lambda a: stems[a.recording])
    assert files[0].read_text().splitlines()[0] == HEADER


def test_songtype_goes_into_the_label_only_when_not_1(tmp_path: Path) -> None:
    got = rfcx.read(FIXTURES / "train_tp.csv")
    assert [(a.recording, a.label, a.line) for a in got] == [
        ("003bec244", "14", 2), ("006ab765f", "23", 3), ("007f87ba2", "12", 4), ("0099c367b", "17_4", 5)]
    first = got[0]
    assert (first.t_min, first.f_min, first.t_max, first.f_max) == (44.544, 2531.25, 45.1307, 5531.25)
    assert all(a.polarity is Polarity.POSITIVE for a in got)
    assert rfcx.split_label("17_4") == ("17", "4")
    assert rfcx.split_label("Parus_major") == ("Parus_major", "1")


def test_fp_file_is_negative_unless_told_otherwise() -> None:
    got = rfcx.read(FIXTURES / "train_fp.csv")
    assert [(a.recording, a.label, a.polarity) for a in got] == [
        ("00204008d", "21", Polarity.NEGATIVE), ("00204008d", "8", Polarity.NEGATIVE)]
    forced = rfcx.read(FIXTURES / "train_fp.csv", polarity=Polarity.UNCERTAIN)
    assert {a.polarity for a in forced} == {Polarity.UNCERTAIN}
    assert rfcx.is_fp_name("my-fp.csv") and not rfcx.is_fp_name("hfproject_tp.csv")


def test_bad_rows_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "train_tp.csv"
    error = table_errors(rfcx.read, path, [
        HEADER,
        "a,1,1,1.0,100,2.0,200",      # 2 good
        "b,1,1,x,100,2.0,200",        # 3 not a number
        "c,1,1,3.0,100,2.0,200",      # 4 t_max before t_min
        "d,1,1,1.0,-100,2.0,200",     # 5 negative f
        "e,,1,1.0,100,2.0,200",       # 6 no species
        "f,1,1,1.0,900,2.0,200",      # 7 f_max below f_min
    ])
    assert [e.line for e in error.errors] == [3, 4, 5, 6, 7]
    assert [a.recording for a in error.annotations] == ["a"]
    assert "t_min 'x' is not a number" in error.errors[0].reason


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "train_tp.csv"
    path.write_text("recording_id,species_id,t_min,f_min,t_max,f_max\na,1,1,2,3,4\n")
    with pytest.raises(TableError) as exc:
        rfcx.read(path)
    assert error_lines(exc) == [1]
    assert "'songtype_id'" in exc.value.errors[0].reason and "'recording_id'" in exc.value.errors[0].reason


def test_empty_species_takes_the_default(tmp_path: Path) -> None:
    path = tmp_path / "train_tp.csv"
    path.write_text(HEADER + "\na,,1,1.0,100,2.0,200\n")
    assert [a.label for a in rfcx.read(path, default_label="frog")] == ["frog"]
