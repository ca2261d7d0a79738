from __future__ import annotations

from pathlib import Path

import pytest

from birdlab.core.formats import birdnet
from birdlab.core.formats.common import Annotation, TableError
from birdlab.core.model import Polarity
from tests.core.formats.fmt_helpers import (
    FIXTURES, assert_same_boxes, error_lines, expected, make_recordings, sample_boxes,
)


def test_roundtrip_combined_csv(tmp_path: Path) -> None:
    recs, anns = sample_boxes(scores=True)
    out = tmp_path / "all.csv"
    assert birdnet.write(anns, out, recs) == [out]
    header = out.read_text().splitlines()[0]
    assert header == "Start (s),End (s),Scientific name,Common name,Confidence,File,Polarity"
    got = birdnet.read(out)
    # the CSV has no frequencies; polarity comes back through the extra column
    assert_same_boxes(expected(anns, recs, drop_band=True), got, t_tol=1e-6, f_tol=0)


def test_roundtrip_folder_of_detections(tmp_path: Path) -> None:
    recs, anns = sample_boxes(polarities=[Polarity.POSITIVE], scores=True)
    files = birdnet.write(anns, tmp_path / "out", recs)
    assert sorted(p.name for p in files) == ["dawn_01.BirdNET.results.csv", "night-02.BirdNET.results.csv",
                                             "pass_03.BirdNET.results.csv"]
    assert files[0].read_text().splitlines()[0] == "Start (s),End (s),Scientific name,Common name,Confidence,File"
    got = [a for p in files for a in birdnet.read(p)]
    assert_same_boxes(expected(anns, recs, drop_band=True), got, t_tol=1e-6, f_tol=0)


def test_label_split_on_write(tmp_path: Path) -> None:
    recs = make_recordings()
    key = next(iter(recs))
    anns = [Annotation(key, 0, 3, None, None, "Turdus merula_Eurasian Blackbird", score=0.5),
            Annotation(key, 3, 6, None, None, "Custom class", score=0.25)]
    out = tmp_path / "d.csv"
    birdnet.write(anns, out, recs)
    lines = out.read_text().splitlines()
    assert lines[1].split(",")[2:5] == ["Turdus merula", "Eurasian Blackbird", "0.5"]
    assert lines[2].split(",")[2:5] == ["Custom class", "", "0.25"]


def test_csv_fixture_with_bom_and_file_column() -> None:
    got = birdnet.read(FIXTURES / "XC123.BirdNET.results.csv")
    assert [(a.recording, a.t_min, a.t_max, a.f_min, a.label, a.score, a.polarity) for a in got] == [
        ("/data/XC123.wav", 0.0, 3.0, None, "Turdus merula_Eurasian Blackbird", 0.9123, Polarity.POSITIVE),
        ("/data/XC123.wav", 3.0, 6.0, None, "Turdus merula_Eurasian Blackbird", 0.5512, Polarity.POSITIVE),
        ("/data/XC123.wav", 3.0, 6.0, None, "Erithacus rubecula_European Robin", 0.2101, Polarity.POSITIVE)]


def test_old_csv_without_file_column() -> None:
    got = birdnet.read(FIXTURES / "old.BirdNET.results.csv", polarity=Polarity.NEGATIVE)
    assert [(a.recording, a.t_min, a.t_max, a.label, a.score, a.polarity) for a in got] == [
        ("", 9.0, 12.0, "Strix aluco_Tawny Owl", 0.8, Polarity.NEGATIVE)]


def test_r_table() -> None:
    got = birdnet.read(FIXTURES / "XC123.BirdNET.results.r.csv")
    assert [(a.recording, a.t_min, a.t_max, a.label, a.score) for a in got] == [
        ("/data/XC123.wav", 0.0, 3.0, "Turdus merula_Eurasian Blackbird", 0.9123)]


def test_kaleidoscope_table(tmp_path: Path) -> None:
    path = tmp_path / "BirdNET_Kaleidoscope.csv"
    path.write_text("INDIR,FOLDER,IN FILE,OFFSET,DURATION,scientific_name,common_name,confidence,lat,lon,week,"
                    "overlap,sensitivity\n/data,site1,rec.wav,6.0,3.0,Strix aluco,Tawny Owl,0.7000,-1,-1,-1,0,1\n")
    (a,) = birdnet.read(path)
    assert (Path(a.recording).as_posix(), a.t_min, a.t_max, a.label, a.score) == (
        "/data/site1/rec.wav", 6.0, 9.0, "Strix aluco_Tawny Owl", 0.7)


def test_selection_table_uses_common_name() -> None:
    got = birdnet.read(FIXTURES / "XC123.BirdNET.selection.table.txt")
    assert [(a.recording, a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.score) for a in got] == [
        ("/data/XC123.wav", 0.0, 3.0, 0.0, 15000.0, "Eurasian Blackbird", 0.9123),
        ("/data/XC123.wav", 3.0, 6.0, 0.0, 15000.0, "Eurasian Blackbird", 0.5512),
        ("/data/XC123.wav", 3.0, 6.0, 0.0, 15000.0, "European Robin", 0.2101)]


def test_combined_selection_table_uses_file_offset() -> None:
    got = birdnet.read(FIXTURES / "BirdNET_SelectionTable.txt")
    assert [(a.recording, a.t_min, a.t_max, a.f_max, a.label) for a in got] == [
        ("/data/XC123.wav", 0.0, 3.0, 15000.0, "Eurasian Blackbird"),
        ("/data/XC456.wav", 3.0, 6.0, 12000.0, "Tawny Owl")]


def test_nocall_placeholder_rows_are_skipped() -> None:
    assert birdnet.read(FIXTURES / "silent.BirdNET.selection.table.txt") == []


def test_selection_table_with_scientific_name(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"
                    "Scientific Name\tCommon Name\tConfidence\n1\tSpectrogram 1\t1\t0\t3\t0\t15000\tStrix aluco\t"
                    "Tawny Owl\t0.5\n")
    assert [a.label for a in birdnet.read(path)] == ["Strix aluco_Tawny Owl"]


def test_bad_csv_rows_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.BirdNET.results.csv"
    path.write_text("\n".join([
        "Start (s),End (s),Scientific name,Common name,Confidence,File",
        "0.0,3.0,A,a,0.5,r.wav",     # 2 good
        "x,3.0,A,a,0.5,r.wav",       # 3 not a number
        "6.0,3.0,A,a,0.5,r.wav",     # 4 end before start
        "0.0,3.0,A,a,high,r.wav",    # 5 confidence not a number
        "-3.0,3.0,A,a,0.5,r.wav",    # 6 negative time
        "0.0,3.0,,,0.5,r.wav",       # 7 no species
    ]) + "\n")
    with pytest.raises(TableError) as exc:
        birdnet.read(path)
    assert error_lines(exc) == [3, 4, 5, 6, 7]
    assert [(a.line, a.label) for a in exc.value.annotations] == [(2, "A_a")]


def test_bad_table_rows_and_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.BirdNET.selection.table.txt"
    header = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"
              "Common Name\tSpecies Code\tConfidence\tBegin Path\tFile Offset (s)")
    path.write_text("\n".join([
        header,
        "1\tSpectrogram 1\t1\t0\t3\t0\t15000\tTawny Owl\ttawowl1\t0.5\t/r.wav\t0",      # 2 good
        "2\tSpectrogram 1\t1\t3\t6\t0\t-1\tTawny Owl\ttawowl1\t0.5\t/r.wav\t3",         # 3 negative f
        "3\tSpectrogram 1\t1\t6\t9\t0\t15000\tTawny Owl\ttawowl1\tn/a\t/r.wav\t6",      # 4 bad confidence
        "4\tSpectrogram 1\t1\t9\t12\t0\t15000\t\t\t0.5\t/r.wav\t9",                  # 5 no species
    ]) + "\n")
    with pytest.raises(TableError) as exc:
        birdnet.read(path)
    assert error_lines(exc) == [3, 4, 5]
    path.write_text("Start (s),End (s),Common name,Confidence\n0,3,Owl,0.5\n")
    with pytest.raises(TableError) as exc:
        birdnet.read(path)
    assert error_lines(exc) == [1]
    assert "'Scientific name'" in exc.value.errors[0].reason


def test_audacity_result_type(tmp_path: Path) -> None:
    path = tmp_path / "rec.BirdNET.results.txt"
    path.write_text("0.0\t3.0\tTurdus merula, Eurasian Blackbird\t0.8123\n3.0\t6.0\tCustom\t0.5000\n")
    got = birdnet.read(path)
    assert [(a.t_min, a.t_max, a.label, a.score) for a in got] == [
        (0.0, 3.0, "Turdus merula_Eurasian Blackbird", 0.8123), (3.0, 6.0, "Custom", 0.5)]
