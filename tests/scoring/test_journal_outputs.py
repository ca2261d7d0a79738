"""The journal survives a kill mid-line; output names are unique and order-independent."""

from __future__ import annotations

import pytest

from birdlab.scoring.journal import DoneFiles, Journal, done_entries, done_event, load_done, read_events
from birdlab.scoring.outputs import FileDone, output_names, write_combined_raven, write_csv


def done(path: str, n: int = 1) -> FileDone:
    return FileDone(path, 10.0, 32000, tuple((1.0 * i, 1.0 * i + 0.5, 0.0, 16000.0, "a", 0.9) for i in range(n)))


def test_partial_last_line_is_skipped_and_the_next_line_starts_fresh(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fresh=True)
    j.append(done_event(done("/x/a.wav"), "v1:a", "P", 1.0))
    with open(path, "a") as f:
        f.write('{"event": "done", "file": "/x/b.wav", "finger')  # killed mid-write
    j2 = Journal(path, fresh=False)
    j2.append(done_event(done("/x/c.wav", 2), "v1:c", "P", 1.0))
    files = [e["file"] for e in read_events(path)]
    assert files == ["/x/a.wav", "/x/c.wav"]
    entries = done_entries([path], "P")
    assert sorted(entries) == ["/x/a.wav", "/x/c.wav"]
    assert entries["/x/c.wav"][0] == "v1:c" and len(load_done(entries["/x/c.wav"][1]).detections) == 2
    assert load_done(entries["/x/c.wav"][1]) == done("/x/c.wav", 2)
    assert done_entries([path], "other params") == {}
    Journal(path, fresh=True)
    assert list(read_events(path)) == []


def test_later_entries_win(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fresh=True)
    j.append(done_event(done("/x/a.wav", 1), "v1:old", "P", 1.0))
    j.append(done_event(done("/x/a.wav", 3), "v1:new", "P", 1.0))
    assert done_entries([path], "P")["/x/a.wav"][0] == "v1:new"
    assert load_done(done_entries([path], "P")["/x/a.wav"][1]) == done("/x/a.wav", 3)


def test_done_files_read_detections_back_by_offset_on_every_iteration(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = Journal(path, fresh=True)
    items = [done(f"/x/{name}.wav", n) for name, n in (("a", 3), ("b", 0), ("c", 1))]
    offsets = [j.append(done_event(item, "v1", "P", 1.0)) for item in items]
    assert offsets[0] == 0 and offsets[1] > offsets[0]
    entries = done_entries([path], "P")
    files = DoneFiles([entries[f"/x/{name}.wav"][1] for name in "cab"])
    assert len(files) == 3
    assert list(files) == [items[2], items[0], items[1]] == list(files)  # re-iterable, in the order given
    assert write_csv(tmp_path / "d.csv", files).read_text().count("\n") == 1 + 4
    path.write_text("{}\n" * 100)  # the journal changed under the run: a clear error, not wrong tables
    with pytest.raises(ValueError, match=r"journal.jsonl: the line at byte \d+ \(/x/c.wav\) changed"):
        list(files)


def test_output_names(tmp_path):
    files = [tmp_path / "site1" / "a.wav", tmp_path / "site2" / "a.wav", tmp_path / "site2" / "b.wav",
             tmp_path / "site2" / "b.flac", tmp_path / "site2" / "deep" / "c.wav"]
    names = output_names(files)
    assert [names[f] for f in files] == ["site1/a", "site2/a", "site2/b.wav", "site2/b.flac", "site2/deep/c"]
    assert output_names(list(reversed(files))) == names
    assert output_names([tmp_path / "one.wav"]) == {tmp_path / "one.wav": "one"}


def test_combined_tables(tmp_path):
    items = [done("/x/a.wav", 2), done("/x/quiet.wav", 0), done("/x/b.wav", 1)]
    text = write_csv(tmp_path / "d.csv", items).read_text().splitlines()
    assert text[0] == "file,t_min,t_max,f_min,f_max,class,score"
    assert text[1:] == ["/x/a.wav,0.000000,0.500000,0.0,16000.0,a,0.900000",
                        "/x/a.wav,1.000000,1.500000,0.0,16000.0,a,0.900000",
                        "/x/b.wav,0.000000,0.500000,0.0,16000.0,a,0.900000"]
    lines = write_combined_raven(tmp_path / "d.txt", items).read_text().splitlines()
    header = lines[0].split("\t")
    row = dict(zip(header, lines[3].split("\t")))
    # b.wav begins after a.wav and quiet.wav (10 s each) in Raven's concatenated timeline
    assert row["Begin File"] == "b.wav" and row["File Offset (s)"] == "0.000000"
    assert row["Begin Time (s)"] == "20.000000" and row["Score"] == "0.9"
    empty = write_combined_raven(tmp_path / "e.txt", [done("/x/q.wav", 0)]).read_text().splitlines()
    assert len(empty) == 1 and "Begin File" in empty[0]


def test_combined_raven_rows_run_by_time_then_class_within_a_file(tmp_path):
    item = FileDone("/x.wav", 10.0, 8000, ((1.0, 2.0, 0.0, 100.0, "zeta", 0.9), (1.0, 1.5, 0.0, 100.0, "alpha", 0.8),
                                           (0.5, 3.0, 0.0, 100.0, "zeta", 0.7)))
    lines = write_combined_raven(tmp_path / "d.txt", [item]).read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert [(r["Begin Time (s)"], r["Annotation"]) for r in rows] == [
        ("0.500000", "zeta"), ("1.000000", "alpha"), ("1.000000", "zeta")]


def test_combined_tables_match_the_general_writers_cell_for_cell(tmp_path):
    """The combined tables skip csv.writer's per-cell work and Raven's Annotation per box; their
    text stays exactly what the general writers give, awkward names and classes included."""
    import csv

    from birdlab.core.formats import raven
    from birdlab.core.formats.common import Annotation, RecordingRef
    from birdlab.scoring.outputs import write_combined

    awkward = ["plain", "with,comma", 'say "hi"', "tab\there", "line\nbreak", "ünïcode", ""]
    items = [FileDone(f"/x/{name}.wav", 10.0 + i, 16000,
                      tuple((0.25 * k, 0.25 * k + 0.5, 100.0 * k, 8000.0, awkward[(i + k) % len(awkward)],
                             0.123456789 / (k + 1)) for k in range(5, 0, -1)))
             for i, name in enumerate(["a", "b, c", 'd"e', "f\tg"])]
    written = write_combined(tmp_path, items, ("csv", "raven"))
    assert [p.name for p in written] == ["detections.csv", "detections.selections.txt"]

    expected_csv = tmp_path / "expected.csv"
    with open(expected_csv, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "t_min", "t_max", "f_min", "f_max", "class", "score"])
        for item in items:
            writer.writerows([item.path, f"{a:.6f}", f"{b:.6f}", f"{c:.1f}", f"{d:.1f}", label, f"{s:.6f}"]
                             for a, b, c, d, label, s in item.detections)
    assert (tmp_path / "detections.csv").read_bytes() == expected_csv.read_bytes()

    recordings = [(RecordingRef(item.path, item.path, item.duration, item.sample_rate),
                   [Annotation(recording=item.path, t_min=a, t_max=b, f_min=c, f_max=d, label=label, score=s)
                    for a, b, c, d, label, s in sorted(item.detections, key=lambda x: (x[0], x[1], x[4]))])
                  for item in items]
    expected_raven = raven.write_multi_file(tmp_path / "expected.txt", recordings, with_score=True)
    assert (tmp_path / "detections.selections.txt").read_bytes() == expected_raven.read_bytes()
