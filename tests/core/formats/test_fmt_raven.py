from __future__ import annotations

from pathlib import Path

import pytest

from birdlab.core.formats import raven
from birdlab.core.formats.common import Annotation, RecordingRef, TableError, table_stem
from birdlab.core.model import Polarity
from tests.core.formats.fmt_helpers import (
    FIXTURES, assert_same_boxes, by_stem, error_lines, expected, sample_boxes, table_errors,
)

HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation"


def test_roundtrip_multi_file_table(tmp_path: Path) -> None:
    recs, anns = sample_boxes(scores=True)
    out = tmp_path / "all.txt"
    assert raven.write(anns, out, recs) == [out]
    got = raven.read(out)
    assert_same_boxes(expected(anns, recs, fill_band=True), got, t_tol=2e-6, f_tol=6e-4)
    # Begin Time lays the files end to end in the order of `recordings`
    lines = out.read_text().splitlines()
    header = lines[0].split("\t")
    assert header[:10] == ["Selection", "View", "Channel", "Begin File", "Begin Path", "File Offset (s)",
                           "Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)"]
    assert header[10:] == ["Annotation", "Polarity", "Score"]
    first_of_second = next(line.split("\t") for line in lines[1:] if "night-02.flac" in line)
    assert first_of_second[3] == "night-02.flac"
    offset, begin = float(first_of_second[5]), float(first_of_second[6])
    assert begin == pytest.approx(61.25 + offset, abs=2e-6)
    assert all(line.split("\t")[1] == "Spectrogram 1" for line in lines[1:])


def test_roundtrip_folder_of_tables(tmp_path: Path) -> None:
    recs, anns = sample_boxes()  # no scores -> no Score column
    files = raven.write(anns, tmp_path / "tables", recs)
    assert sorted(p.name for p in files) == ["dawn_01.Table.1.selections.txt", "night-02.Table.1.selections.txt",
                                             "pass_03.Table.1.selections.txt"]
    assert "Score" not in files[0].read_text().splitlines()[0].split("\t")
    stems = by_stem(recs)
    got = []
    for path in files:
        rows = raven.read(path)
        assert all(a.recording == "" for a in rows)
        got += [Annotation(stems[table_stem(path)], a.t_min, a.t_max, a.f_min, a.f_max, a.label, a.polarity,
                           a.score) for a in rows]
    assert_same_boxes(expected(anns, recs, fill_band=True), got, t_tol=1e-6, f_tol=6e-4)


def test_waveform_and_spectrogram_rows_are_one_box() -> None:
    path = FIXTURES / "XC100.Table.1.selections.txt"  # BOM, CRLF, trailing empty column, blank line
    got = raven.read(path, default_label="unknown")
    assert [(a.label, a.line) for a in got] == [("Parus major", 3), ("Turdus merula", 5),
                                                ("Erithacus rubecula", 6), ("unknown", 7)]
    parus, turdus, robin, unknown = got
    assert (parus.t_min, parus.t_max) == (1.23456789, 2.345678901)
    assert (parus.f_min, parus.f_max) == (2500.0, 6200.5)  # from the Spectrogram row
    assert (turdus.f_min, turdus.f_max) == (1800.0, 4000.0)
    assert (robin.f_min, robin.f_max) == (None, None)  # only a waveform row: full band
    assert (unknown.f_min, unknown.f_max) == (3000.0, 9000.0)
    assert all(a.recording == "" and a.polarity is Polarity.POSITIVE and a.score is None for a in got)
    assert parus.file == str(path)


def test_empty_label_without_default_is_an_error() -> None:
    path = FIXTURES / "XC100.Table.1.selections.txt"
    with pytest.raises(TableError) as exc:
        raven.read(path)
    assert error_lines(exc) == [7]
    assert "label" in exc.value.errors[0].reason


def test_khz_columns_polarity_and_score() -> None:
    got = raven.read(FIXTURES / "bats_khz.Table.1.selections.txt")
    assert [(a.label, a.f_min, a.f_max) for a in got] == [
        ("Myotis daubentonii", 2500.0, 7125.0),
        ("Pipistrellus pipistrellus", 30000.0, 60500.0),
        ("Myotis daubentonii", 40000.0, 45250.0)]
    assert [a.polarity for a in got] == [Polarity.POSITIVE, Polarity.NEGATIVE, Polarity.UNCERTAIN]
    assert [a.score for a in got] == [0.91, None, 0.5]


def test_multi_file_table_uses_file_offset_and_begin_path() -> None:
    got = raven.read(FIXTURES / "site1_sequence.selections.txt")
    assert [(a.recording, a.t_min, a.t_max, a.f_min, a.f_max, a.label) for a in got] == [
        ("C:\\data\\site1\\rec_a.wav", 10.0, 12.5, 1000.0, 4000.0, "Strix aluco"),
        ("C:\\data\\site1\\rec_b.wav", 5.25, pytest.approx(6.0), 500.0, 2000.0, "Bubo bubo"),
        ("C:\\data\\site1\\rec_b.wav", 59.5, pytest.approx(60.0), 800.0, 1600.0, "Strix aluco")]


def test_begin_file_without_begin_path(tmp_path: Path) -> None:
    path = tmp_path / "seq.txt"
    path.write_text("Selection\tBegin File\tFile Offset (s)\tBegin Time (s)\tEnd Time (s)\tSpecies\n"
                    "1\ta.wav\t1.5\t1.5\t2.0\tX\n"
                    "2\tb.wav\t0.25\t100.25\t101.0\tY\n")
    got = raven.read(path)
    assert [(a.recording, a.t_min, a.t_max, a.f_min) for a in got] == [
        ("a.wav", 1.5, 2.0, None), ("b.wav", 0.25, pytest.approx(1.0), None)]


def test_polarity_argument_is_the_default_for_rows_without_one(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Begin Time (s)\tEnd Time (s)\tClass\tPolarity\n1\t2\tA\t\n3\t4\tA\tpositive\n")
    got = raven.read(path, polarity=Polarity.NEGATIVE)
    assert [a.polarity for a in got] == [Polarity.NEGATIVE, Polarity.POSITIVE]


def test_label_column_preference(tmp_path: Path) -> None:
    # an Annotation column left empty everywhere does not hide the Species column
    path = tmp_path / "t.txt"
    path.write_text("Begin Time (s)\tEnd Time (s)\tAnnotation\tSpecies\n1\t2\t\tParus major\n")
    assert [a.label for a in raven.read(path)] == ["Parus major"]


def test_bad_rows_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.Table.1.selections.txt"
    error = table_errors(raven.read, path, [
        HEADER,
        "1\tSpectrogram 1\t1\t1.0\t2.0\t100\t200\tA",      # 2 good
        "2\tSpectrogram 1\t1\tabc\t2.0\t100\t200\tA",      # 3 not a number
        "3\tSpectrogram 1\t1\t5.0\t4.0\t100\t200\tA",      # 4 end before start
        "",                                                 # 5 blank
        "4\tSpectrogram 1\t1\t1.0\t2.0\t-5\t200\tA",       # 6 negative frequency
        "5\tSpectrogram 1\t1\t1.0\t2.0\t100\t200\t",       # 7 no label
        "6\tSpectrogram 1\t1\t1.0\t2.0\t300\t200\tA",      # 8 high below low
        "7\tSpectrogram 1\t1\t-1.0\t2.0\t100\t200\tA",     # 9 negative time
    ])
    assert [e.line for e in error.errors] == [3, 4, 6, 7, 8, 9]
    assert [a.line for a in error.annotations] == [2]  # the good rows, for the importer's checks
    assert {e.file for e in error.errors} == {str(path)}
    reasons = [e.reason for e in error.errors]
    assert "'abc' is not a number" in reasons[0]
    assert "not after" in reasons[1]
    assert "negative" in reasons[2]
    assert "label" in reasons[3]
    assert "not above" in reasons[4]
    assert "negative" in reasons[5]
    assert str(path) in str(error) and ":3:" in str(error)


def test_missing_column_names_it_and_lists_the_columns_found(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Selection\tBegin Time (s)\tAnnotation\n1\t1.0\tA\n")
    with pytest.raises(TableError) as exc:
        raven.read(path)
    assert error_lines(exc) == [1]
    reason = exc.value.errors[0].reason
    assert "'End Time (s)'" in reason and "'Selection'" in reason and "'Annotation'" in reason


def test_no_label_column_and_no_default(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Begin Time (s)\tEnd Time (s)\n1\t2\n")
    with pytest.raises(TableError) as exc:
        raven.read(path)
    assert error_lines(exc) == [1]
    assert [a.label for a in raven.read(path, default_label="Bufo bufo")] == ["Bufo bufo"]


def test_empty_and_binary_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(TableError, match="empty"):
        raven.read(empty)
    binary = tmp_path / "audio.txt"
    binary.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    with pytest.raises(TableError, match="binary"):
        raven.read(binary)
    with pytest.raises(TableError, match="cannot read"):
        raven.read(tmp_path / "missing.txt")


def test_write_needs_every_recording(tmp_path: Path) -> None:
    recs = {"a": RecordingRef("a", "/x/a.wav", 10.0, 16000)}
    with pytest.raises(ValueError, match="'b'"):
        raven.write([Annotation("b", 1, 2, None, None, "X")], tmp_path / "t.txt", recs)


def test_same_stem_in_two_folders_does_not_overwrite(tmp_path: Path) -> None:
    recs = {"1": RecordingRef("1", "/x/rec.wav", 10.0, 16000), "2": RecordingRef("2", "/y/rec.wav", 10.0, 16000)}
    anns = [Annotation("1", 1, 2, None, None, "A"), Annotation("2", 3, 4, None, None, "B")]
    files = raven.write(anns, tmp_path, recs)
    assert [p.name for p in files] == ["rec.Table.1.selections.txt", "rec_2.Table.1.selections.txt"]
    assert [a.label for a in raven.read(files[1])] == ["B"]


def test_empty_label_message_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Begin Time (s)\tEnd Time (s)\tSpecies\n1\t2\t\n")
    with pytest.raises(TableError) as exc:
        raven.read(path)
    assert "column 'Species' is empty" in exc.value.errors[0].reason
