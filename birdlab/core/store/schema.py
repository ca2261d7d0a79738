"""The SQLite schema of a project, as a list of migrations.

`PRAGMA user_version` holds how many migrations a database has had. To change the schema,
append a migration; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE recordings (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        duration REAL NOT NULL,
        sample_rate INTEGER NOT NULL,
        channels INTEGER NOT NULL,
        format TEXT NOT NULL DEFAULT '',
        subtype TEXT NOT NULL DEFAULT '',
        added TEXT NOT NULL
    );
    CREATE INDEX recordings_fingerprint ON recordings(fingerprint);

    CREATE TABLE classes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        common_name TEXT NOT NULL DEFAULT '',
        f_min REAL,
        f_max REAL
    );

    CREATE TABLE model_versions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL DEFAULT 'onnx' CHECK (kind IN ('onnx', 'external')),
        path TEXT NOT NULL DEFAULT '',
        parent_id INTEGER REFERENCES model_versions(id) ON DELETE SET NULL,
        training_run_id INTEGER REFERENCES training_runs(id) ON DELETE SET NULL,
        card TEXT NOT NULL DEFAULT '{}',
        created TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 0
    );

    CREATE TABLE detections (
        id INTEGER PRIMARY KEY,
        model_version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
        recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        t_min REAL NOT NULL,
        t_max REAL NOT NULL,
        f_min REAL NOT NULL,
        f_max REAL NOT NULL,
        score REAL NOT NULL
    );
    CREATE INDEX detections_by_recording ON detections(model_version_id, recording_id, t_min);

    CREATE TABLE labels (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reuse an id: undo restores labels by id
        recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        t_min REAL NOT NULL,
        t_max REAL NOT NULL,
        f_min REAL NOT NULL,
        f_max REAL NOT NULL,
        polarity TEXT NOT NULL CHECK (polarity IN ('positive', 'negative', 'uncertain')),
        source TEXT NOT NULL CHECK (source IN ('manual', 'review', 'import')),
        author TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        modified TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        detection_id INTEGER REFERENCES detections(id) ON DELETE SET NULL,
        CHECK (t_min >= 0 AND t_min < t_max),
        CHECK (f_min >= 0 AND f_min < f_max)
    );
    CREATE INDEX labels_by_recording ON labels(recording_id, t_min);

    CREATE TABLE reviewed_extents (
        id INTEGER PRIMARY KEY,
        recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        t_min REAL NOT NULL,
        t_max REAL NOT NULL,
        author TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL,
        CHECK (t_min >= 0 AND t_min < t_max)
    );
    CREATE TABLE reviewed_extent_classes (
        extent_id INTEGER NOT NULL REFERENCES reviewed_extents(id) ON DELETE CASCADE,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        PRIMARY KEY (extent_id, class_id)
    );

    CREATE TABLE training_runs (
        id INTEGER PRIMARY KEY,
        folder TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'created'
            CHECK (status IN ('created', 'running', 'ok', 'failed', 'cancelled')),
        created TEXT NOT NULL,
        finished TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}',
        model_version_id INTEGER REFERENCES model_versions(id) ON DELETE SET NULL
    );
    """,
    # 2: detection ids are never reused (AUTOINCREMENT). A review label keeps the id of the
    # detection it was made from; the undo of a label deletion puts that id back, and it must
    # not then name another detection that took over the id of a deleted one.
    # (Run with foreign keys off, as SQLite's table rebuild requires: dropping the old table
    # must not null the labels' links.)
    """
    CREATE TABLE detections_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model_version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
        recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        t_min REAL NOT NULL,
        t_max REAL NOT NULL,
        f_min REAL NOT NULL,
        f_max REAL NOT NULL,
        score REAL NOT NULL
    );
    INSERT INTO detections_v2 SELECT id, model_version_id, recording_id, class_id, t_min, t_max, f_min, f_max, score
        FROM detections;
    DROP TABLE detections;
    ALTER TABLE detections_v2 RENAME TO detections;
    CREATE INDEX detections_by_recording ON detections(model_version_id, recording_id, t_min);
    """,
    # 3: archives (millions of detections). The review queue reads pages in order straight from
    # indexes: by score, by class and score, and by score bin in a fixed shuffled order (the
    # stratified order; the expressions must stay exactly those of core/review_queue.py). A
    # label's detection is found by index. Detection counts per model, recording and class are
    # kept as they are written, so totals never count millions of rows.
    """
    CREATE INDEX detections_by_score ON detections(model_version_id, score);
    CREATE INDEX detections_by_class_score ON detections(model_version_id, class_id, score);
    CREATE INDEX detections_stratified ON detections(
        model_version_id, min(4, CAST(score * 5 AS INTEGER)), (id * 2654435761) % 4294967291);
    CREATE INDEX labels_by_detection ON labels(detection_id) WHERE detection_id IS NOT NULL;
    CREATE TABLE detection_counts (
        model_version_id INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
        recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        PRIMARY KEY (model_version_id, recording_id, class_id)
    ) WITHOUT ROWID;
    INSERT INTO detection_counts
        SELECT model_version_id, recording_id, class_id, COUNT(*) FROM detections GROUP BY 1, 2, 3;
    CREATE INDEX reviewed_extents_by_recording ON reviewed_extents(recording_id, t_min);
    """,
    # 4: the stratified index carries the class too, so a class-filtered stratified queue skips
    # the other classes' rows in the index instead of reading each row from the table (5 s on a
    # cold disk with 10 M detections)
    """
    DROP INDEX detections_stratified;
    CREATE INDEX detections_stratified ON detections(
        model_version_id, min(4, CAST(score * 5 AS INTEGER)), (id * 2654435761) % 4294967291, class_id);
    """,
    # 5: a label's tags (Whombat's tags, free words or `key:value`), as a JSON list of texts
    """
    ALTER TABLE labels ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
