"""The project store: schema, recordings and relinking, classes, labels, extents, models, events."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from birdlab.core.events import Change
from birdlab.core.formats.common import TableError
from birdlab.core.model import Box, Polarity, Source
from birdlab.core.store.project import DB_NAME, Project, ProjectError, new_label
from birdlab.core.store.schema import MIGRATIONS, SCHEMA_VERSION


@pytest.fixture
def project(tmp_path):
    with Project.create(tmp_path / "proj") as p:
        yield p


@pytest.fixture
def rec(project, make_wav, tmp_path):
    return project.add_recording(make_wav("site1/rec1.wav", duration=10.0, sample_rate=16000))


def test_new_project_layout_and_pragmas(project):
    for sub in ("models", "runs", "cache"):
        assert (project.root / sub).is_dir()
    db = sqlite3.connect(project.root / DB_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert project._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_open_refuses_non_projects_and_newer_schemas(tmp_path, project):
    with pytest.raises(ProjectError, match="not a birdlab project"):
        Project.open(tmp_path)
    db = sqlite3.connect(project.root / DB_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(ProjectError, match="newer birdlab"):
        Project.open(project.root)


def test_recording_is_probed_and_stored_relative(project, rec):
    assert (rec.duration, rec.sample_rate, rec.channels) == (10.0, 16000, 1)
    assert not rec.path.startswith("/") and rec.abs_path.exists()
    assert rec.fingerprint.startswith("v1:")
    assert project.add_recording(rec.abs_path).id == rec.id  # same file, same recording
    assert project.find_recording("rec1").id == rec.id
    assert project.find_recording("rec1.wav").id == rec.id
    assert project.find_recording(str(rec.abs_path)).id == rec.id
    assert project.find_recording("other") is None


def test_moved_recording_is_found_again_by_fingerprint(project, rec, tmp_path):
    label = project.add_label(rec.id, project.add_class("A").id, Box(1, 2, 100, 200))
    moved = tmp_path / "elsewhere" / "deep" / "renamed.wav"
    moved.parent.mkdir(parents=True)
    shutil.move(rec.abs_path, moved)
    assert [r.id for r in project.missing_recordings()] == [rec.id]
    relinked = project.relink([tmp_path / "elsewhere"])
    assert [r.id for r in relinked] == [rec.id]
    assert project.recording(rec.id).abs_path == moved.resolve()
    assert project.missing_recordings() == []
    assert project.label(label.id).recording_id == rec.id  # nothing dropped


def test_adding_a_moved_file_relinks_instead_of_duplicating(project, rec, tmp_path):
    moved = tmp_path / "new_place.wav"
    shutil.move(rec.abs_path, moved)
    again = project.add_recording(moved)
    assert again.id == rec.id and len(project.recordings()) == 1


def test_add_audio_reports_bad_files_and_goes_on(project, make_wav, tmp_path):
    folder = tmp_path / "field"
    make_wav("a.wav", folder=folder)
    make_wav("sub/b.wav", folder=folder)
    (folder / "broken.wav").write_text("not audio")
    added, errors = project.add_audio([folder])
    assert sorted(r.name for r in added) == ["a.wav", "b.wav"]
    assert len(errors) == 1 and "broken.wav" in str(errors[0])


def test_add_audio_probes_in_parallel_and_writes_all_or_nothing(project, make_wav, tmp_path, monkeypatch):
    """A bad file in the middle of a batch is reported and skipped; a write that fails in the middle
    leaves none of the batch behind."""
    folder = tmp_path / "batch"
    for i in range(12):
        make_wav(f"{i:02d}.wav", folder=folder)
    (folder / "06_bad.wav").write_bytes(b"RIFF\x00\x00")
    added, errors = project.add_audio([folder], workers=4)
    assert len(added) == 12 and [r.name for r in added] == sorted(r.name for r in added)
    assert len(errors) == 1 and "06_bad.wav" in str(errors[0])
    assert project.add_audio([folder])[0] == added  # known files: the same recordings, nothing new
    other = tmp_path / "more"
    for i in range(5):
        make_wav(f"m{i}.wav", folder=other)
    real, calls = Project._insert_probed, []

    def failing(self, db, probed):
        calls.append(probed)
        if len(calls) == 3:
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, db, probed)

    monkeypatch.setattr(Project, "_insert_probed", failing)
    with pytest.raises(sqlite3.OperationalError):
        project.add_audio([other])
    assert len(project.recordings()) == 12  # the two written before the failure were rolled back


def test_classes_and_species_lists(project, tmp_path):
    a = project.add_class("Turdus merula", "Blackbird")
    assert project.add_class(" Turdus merula ").id == a.id
    txt = tmp_path / "species.txt"
    txt.write_text("# my list\nParus major_Great Tit\nErithacus rubecula\n\n")
    names = [c.name for c in project.import_species_list(txt)]
    assert names == ["Parus major", "Erithacus rubecula"]
    assert project.class_by_name("Parus major").common_name == "Great Tit"
    csv = tmp_path / "species.csv"
    csv.write_text("name,common_name,f_min,f_max\nbat_a,Bat A,20000,60000\n")
    project.import_species_list(csv)
    bat = project.class_by_name("bat_a")
    assert (bat.common_name, bat.f_min, bat.f_max) == ("Bat A", 20000.0, 60000.0)


def test_bad_species_csv_names_lines_and_adds_nothing(project, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("species,f_min,f_max\nok,1,2\n,1,2\nx,abc,2\ny,5,3\n")
    with pytest.raises(TableError) as info:
        project.import_species_list(csv)
    assert [e.line for e in info.value.errors] == [3, 4, 5]
    assert project.classes() == []


def test_label_life_cycle_with_exact_restore(project, rec):
    cls = project.add_class("A")
    other = project.add_class("B")
    label = project.add_label(rec.id, cls.id, Box(1.0, 2.5, 500.0, 3000.0), Polarity.POSITIVE)
    assert label.source == Source.MANUAL and label.created == label.modified
    edited = project.update_label(label.id, polarity=Polarity.NEGATIVE, class_id=other.id, t_max=3.0)
    assert (edited.polarity, edited.class_id, edited.t_max) == (Polarity.NEGATIVE, other.id, 3.0)
    project.replace_label(label)  # undo of the edit: back exactly
    assert project.label(label.id) == label
    gone = project.delete_labels([label.id])
    assert project.labels() == []
    project.restore_labels(gone)  # undo of the delete
    assert project.labels() == [label]


def test_label_ids_are_never_reused(project, rec):
    cls = project.add_class("A")
    first = project.add_label(rec.id, cls.id, Box(1, 2, 0, 100))
    project.delete_labels([first.id])
    assert project.add_label(rec.id, cls.id, Box(1, 2, 0, 100)).id != first.id


@pytest.mark.parametrize("box,reason", [
    (Box(1, 11, 0, 100), "past the end"),
    (Box(1, 2, 0, 9000), "above the Nyquist"),
    (Box(2, 1, 0, 100), "not after t_min"),
    (Box(1, 2, 300, 100), "not above f_min"),
])
def test_bad_boxes_are_refused(project, rec, box, reason):
    cls = project.add_class("A")
    with pytest.raises(ProjectError, match=reason):
        project.add_label(rec.id, cls.id, box)
    assert project.labels() == []


def test_bulk_add_is_all_or_nothing(project, rec):
    cls = project.add_class("A")
    good = new_label(rec.id, cls.id, Box(1, 2, 0, 100))
    bad = new_label(rec.id, cls.id + 99, Box(1, 2, 0, 100))  # no such class: foreign key fails
    with pytest.raises(sqlite3.IntegrityError):
        project.add_labels([good, bad])
    assert project.labels() == []
    assert len(project.add_labels([good, good])) == 2


def test_changes_are_announced_after_commit(project, rec):
    seen: list[Change] = []
    counts_at_emit: list[int] = []

    def listener(change: Change) -> None:
        seen.append(change)
        counts_at_emit.append(len(project.labels()))

    unsubscribe = project.changes.subscribe(listener)
    cls = project.add_class("A")
    label = project.add_label(rec.id, cls.id, Box(1, 2, 0, 100))
    project.delete_labels([label.id])
    assert [(c.table, c.action) for c in seen] == [("classes", "added"), ("labels", "added"),
                                                   ("labels", "removed")]
    assert counts_at_emit == [0, 1, 0]  # the label was committed before the "added" event
    unsubscribe()
    project.add_class("B")
    assert len(seen) == 3


def test_a_failing_subscriber_does_not_break_edits(project, rec):
    project.changes.subscribe(lambda change: 1 / 0)
    assert project.add_class("A").name == "A"


def test_reviewed_extents(project, rec):
    a, b = project.add_class("A"), project.add_class("B")
    ext = project.add_extent(rec.id, 0.0, 5.0, [b.id, a.id])
    assert ext.class_ids == (a.id, b.id)
    assert project.extents(rec.id) == [ext]
    with pytest.raises(ProjectError, match="past the end"):
        project.add_extent(rec.id, 0.0, 50.0, [a.id])
    project.delete_extent(ext.id)
    assert project.extents() == []


def test_model_versions_and_detections(project, rec):
    cls = project.add_class("A")
    v1 = project.add_model_version("v1", path="models/v1/model.onnx", card={"cmAP": 0.5}, activate=True)
    v2 = project.add_model_version("v2", parent_id=v1.id, card={"cmAP": 0.7})
    assert project.active_model().id == v1.id
    project.set_active_model(v2.id)
    assert project.active_model().card == {"cmAP": 0.7} and not project.model_version(v1.id).active
    project.set_detections(v2.id, rec.id, [(cls.id, 1.0, 2.0, 0.0, 8000.0, 0.9),
                                           (cls.id, 3.0, 4.0, 0.0, 8000.0, 0.2)])
    assert [d.score for d in project.detections(v2.id, min_score=0.5)] == [0.9]
    project.set_detections(v2.id, rec.id, [(cls.id, 5.0, 6.0, 0.0, 8000.0, 0.4)])  # replaces
    assert [d.t_min for d in project.detections(v2.id)] == [5.0]


def test_rescoring_keeps_reviewed_detections_linked(project, rec):
    """A rescoring with the same version must not make reviewed detections unreviewed."""
    cls, other = project.add_class("A"), project.add_class("B")
    v1 = project.add_model_version("v1", activate=True)
    project.set_detections(v1.id, rec.id, [(cls.id, 1.0, 2.0, 0.0, 8000.0, 0.9),
                                           (cls.id, 3.0, 4.0, 0.0, 8000.0, 0.6),
                                           (other.id, 6.0, 7.0, 0.0, 8000.0, 0.7)])
    first = {(d.class_id, d.t_min): d.id for d in project.detections(v1.id)}
    reviewed = project.add_label(rec.id, cls.id, Box(1.0, 2.0, 0.0, 8000.0), Polarity.POSITIVE,
                                 detection_id=first[(cls.id, 1.0)])
    project.set_detections(v1.id, rec.id, [(cls.id, 1.1, 2.0, 500.0, 8000.0, 0.8),  # the same call, moved a little
                                           (other.id, 3.0, 4.0, 0.0, 8000.0, 0.6),  # same span, other class
                                           (other.id, 6.0, 7.0, 0.0, 8000.0, 0.75)])
    after = project.detections(v1.id)
    by_key = {(d.class_id, d.t_min): d for d in after}
    assert by_key[(cls.id, 1.1)].id == first[(cls.id, 1.0)] and by_key[(cls.id, 1.1)].score == 0.8
    assert by_key[(cls.id, 1.1)].f_min == 500.0
    assert by_key[(other.id, 6.0)].id == first[(other.id, 6.0)] and by_key[(other.id, 6.0)].score == 0.75
    assert by_key[(other.id, 3.0)].id not in first.values()
    assert len(after) == 3
    assert project.label(reviewed.id).detection_id == first[(cls.id, 1.0)]
    project.set_detections(v1.id, rec.id, [])  # the call is gone: the label stays, unlinked
    assert project.detections(v1.id) == [] and project.label(reviewed.id).detection_id is None


def test_undo_after_the_linked_detection_is_gone_restores_the_label_unlinked(project, rec):
    cls = project.add_class("A")
    v1 = project.add_model_version("v1")
    project.set_detections(v1.id, rec.id, [(cls.id, 1.0, 2.0, 0.0, 8000.0, 0.9)])
    det = project.detections(v1.id)[0]
    label = project.add_label(rec.id, cls.id, Box(1.0, 2.0, 0.0, 8000.0), detection_id=det.id)
    deleted = project.delete_labels([label.id])
    project.set_detections(v1.id, rec.id, [(cls.id, 5.0, 6.0, 0.0, 8000.0, 0.9)])  # the call is gone
    project.restore_labels(deleted)  # undo of the delete
    assert project.label(label.id).detection_id is None
    project.replace_label(label)  # undo of an edit made before the rescoring
    assert project.label(label.id).detection_id is None


def test_schema_1_projects_migrate_keeping_detection_ids_and_review_links(tmp_path, make_wav):
    """Migration 2 rebuilds the detections table; labels must stay linked (foreign keys off)."""
    wav = make_wav("old.wav", duration=10.0, sample_rate=16000)
    with Project.create(tmp_path / "new") as p:  # a recording row to copy into the old database
        rec = p.add_recording(wav)
    root = tmp_path / "old"
    root.mkdir()
    db = sqlite3.connect(root / DB_NAME)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO recordings (id, path, size, fingerprint, duration, sample_rate, channels, added)"
               " VALUES (1, ?, ?, ?, 10.0, 16000, 1, '2026-01-01')", (str(wav), rec.size, rec.fingerprint))
    db.execute("INSERT INTO classes (id, name) VALUES (1, 'A')")
    db.execute("INSERT INTO model_versions (id, name, kind, created) VALUES (1, 'v1', 'onnx', '2026-01-01')")
    db.executemany("INSERT INTO detections VALUES (?, 1, 1, 1, ?, ?, 0, 8000, 0.9)", [(7, 1.0, 2.0), (9, 3.0, 4.0)])
    db.execute("INSERT INTO labels (recording_id, class_id, t_min, t_max, f_min, f_max, polarity, source, author,"
               " created, modified, detection_id) VALUES (1, 1, 3, 4, 0, 8000, 'positive', 'review', 'x',"
               " '2026-01-01', '2026-01-01', 9)")
    db.commit()
    db.close()
    with Project.open(root) as p:
        assert p.schema_version == SCHEMA_VERSION == 5
        assert p.labels()[0].tags == ()  # migration 5: labels made before tags have none
        assert [d.id for d in p.detections(1)] == [7, 9]
        assert p.detection_totals(1) == {1: 2}  # migration 3 counted the rows already there
        assert p.reviewed_counts(1) == {1: 1}
        assert p.labels()[0].detection_id == 9
        assert p.integrity_problems() == []
        p.set_detections(1, 1, [(1, 1.0, 2.0, 0.0, 8000.0, 0.9)])  # drops 9, the highest id
        p.set_detections(1, 1, [(1, 1.0, 2.0, 0.0, 8000.0, 0.9), (1, 6.0, 7.0, 0.0, 8000.0, 0.5)])
        assert [d.id for d in p.detections(1)] == [7, 10]  # 9 is not handed out again
        assert p.labels()[0].detection_id is None


def test_tags_are_kept_cleaned_edited_and_put_back_by_undo(project, rec):
    cls = project.add_class("A")
    label = project.add_label(rec.id, cls.id, Box(1.0, 2.0, 0.0, 8000.0), tags=[" flight ", "", "calltype:song",
                                                                                  "flight"])
    assert project.label(label.id).tags == ("flight", "calltype:song")
    edited = project.update_label(label.id, tags="alarm;  calltype:song ;")  # typed text form
    assert edited.tags == ("alarm", "calltype:song")
    project.replace_label(label)  # undo of the edit
    assert project.label(label.id).tags == ("flight", "calltype:song")
    gone = project.delete_labels([label.id])
    project.restore_labels(gone)
    assert project.label(label.id).tags == ("flight", "calltype:song")
    [bulk] = project.add_labels([new_label(rec.id, cls.id, Box(3.0, 4.0, 0.0, 8000.0), tags=("ä; b",))])
    assert project.label(bulk).tags == ("ä; b",)  # a list is kept as given: no split, unicode intact


def test_a_second_process_does_not_migrate_again(tmp_path, make_wav):
    """Two processes open a project made by an older birdlab: the one that waited for the lock
    must see the migration done (redoing migration 2 would reset the detection id sequence)."""
    project = Project.create(tmp_path / "p")
    rec = project.add_recording(make_wav("a.wav", duration=10.0, sample_rate=16000))
    cls, v1 = project.add_class("A"), project.add_model_version("v1")
    project.set_detections(v1.id, rec.id, [(cls.id, 1.0, 2.0, 0, 8000, 0.9), (cls.id, 5.0, 6.0, 0, 8000, 0.9)])
    project.set_detections(v1.id, rec.id, [(cls.id, 1.0, 2.0, 0, 8000, 0.9)])  # drops id 2
    project.close()

    class ReadBeforeTheOtherMigrated:
        """A connection whose first look at the schema version is from before the migration."""

        def __init__(self, conn):
            self.conn, self.stale = conn, True

        def execute(self, sql, *args):
            if self.stale and sql == "PRAGMA user_version":
                self.stale = False
                return self.conn.execute("SELECT 1")
            return self.conn.execute(sql, *args)

        @property
        def in_transaction(self):
            return self.conn.in_transaction

    conn = sqlite3.connect(tmp_path / "p" / DB_NAME, isolation_level=None)
    Project._migrate(ReadBeforeTheOtherMigrated(conn), tmp_path / "p")
    conn.close()
    with Project.open(tmp_path / "p") as again:
        again.set_detections(v1.id, rec.id, [(cls.id, 1.0, 2.0, 0, 8000, 0.9), (cls.id, 8.0, 9.0, 0, 8000, 0.5)])
        assert [d.id for d in again.detections(v1.id)] == [1, 3]


def test_training_runs(project):
    run = project.add_training_run("runs/0001", {"epochs": 3})
    project.finish_training_run(run.id, "ok")
    got = project.training_run(run.id)
    assert got.status == "ok" and got.finished and got.config == {"epochs": 3}


def test_integrity_check_passes_on_a_used_project(project, rec):
    project.add_label(rec.id, project.add_class("A").id, Box(1, 2, 0, 100))
    assert project.integrity_problems() == []
