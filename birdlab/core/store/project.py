"""A project folder: `project.sqlite` plus `models/`, `runs/` and `cache/` (DESIGN.md section 2).

Every public method that changes something is one transaction, committed before it
returns (WAL, synchronous=FULL): a crash or `kill -9` after a call returns loses nothing.
Subscribers of `project.changes` hear about each change after its commit. One connection
is shared by all threads behind a lock, so a background scorer and the GUI can both write.

Long because: it is the project's only write path. Every method runs under the one lock and
transaction discipline above and notifies `changes` after its commit; split across modules,
that discipline would be repeated in each. Reading tools that need no transaction live apart
(`review`, `audio_files`, `schema`).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from birdlab.core.sound.audio import AudioError
from birdlab.core.store.audio_files import Probed, iter_audio_files, probe_file
from birdlab.core.ml.box_match import match_boxes
from birdlab.core.events import Change, ChangeHub
from birdlab.core.failures import sqlite_reason
from birdlab.core.sound.fingerprint import fingerprint
from birdlab.core.model import (Box, ClassInfo, Detection, Label, ModelVersion, Polarity, Recording,
                                ReviewedExtent, Source, TrainingRun, clean_tags, parse_tags)
from birdlab.core.store.schema import MIGRATIONS, SCHEMA_VERSION

DB_NAME = "project.sqlite"
CACHE_KIB = 65536  # SQLite's page cache: the detection indexes of an archive outgrow the 2 MB default
BUSY_TIMEOUT_S = 10.0  # a project another process is writing: wait this long, then say who holds it


def path_to_db(text: str) -> str | bytes:
    """A path for SQLite: text when it is UTF-8, else its OS bytes (a non-UTF-8 file name)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text)


def path_from_db(value: str | bytes) -> str:
    """A stored path back as the OS's str (undecodable bytes as surrogate escapes, os.fsdecode)."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def writable(root: Path) -> bool:
    """Whether this user may change the project (its database, and the folder for SQLite's journal)."""
    return os.access(root / DB_NAME, os.W_OK) and os.access(root, os.W_OK)


class ProjectError(Exception):
    """A project that cannot be opened or an edit that cannot be made; says why."""


def now() -> str:
    """UTC time stamp with milliseconds, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def new_label(recording_id: int, class_id: int, box: Box, polarity: Polarity = Polarity.POSITIVE,
              source: Source = Source.IMPORT, author: str = "", note: str = "",
              tags: Iterable[str] = ()) -> Label:
    """A label to add in bulk (an import): its id and times are the project's to give (0 and
    empty until `add_labels` stores it)."""
    return Label(0, recording_id, class_id, box, polarity, source, author, note=note,
                 tags=parse_tags(tags) if isinstance(tags, str) else clean_tags(tags))


def _tags_json(tags: Iterable[str] | str) -> str:
    """A label's tags as stored: a JSON list of texts (a text is read as typed: "a; b")."""
    return json.dumps(list(parse_tags(tags) if isinstance(tags, str) else clean_tags(tags)), ensure_ascii=False)


class Project:
    """Open with `Project.create(folder)` or `Project.open(folder)`; close when done."""

    def __init__(self, root: Path, conn: sqlite3.Connection, read_only: bool = False):
        self.root = root
        self._root_text = str(root)
        self._conn = conn
        self.read_only = read_only  # opened for viewing: every write raises ProjectError
        self._lock = threading.RLock()
        self._batch_depth = 0
        self._pending: list[Change] = []
        self.changes = ChangeHub()
        self.generation = 0  # counts the committed changes made through this object (caches key on it)
        self.author = default_author()

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | Path) -> "Project":
        """Make a new project folder (or open the project already there)."""
        root = Path(folder).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        return cls._connect(root)

    @classmethod
    def open(cls, folder: str | Path, read_only: bool = False) -> "Project":
        """Open an existing project; migrates an older schema in place. A project this user
        cannot write (a read-only folder or database) opens read-only, for viewing."""
        root = Path(folder).expanduser().resolve()
        if not (root / DB_NAME).is_file():
            raise ProjectError(f"{root}: not a birdlab project (no {DB_NAME})")
        if read_only or not writable(root):
            return cls._connect_read_only(root)
        return cls._connect(root)

    @classmethod
    def _connect_read_only(cls, root: Path) -> "Project":
        """SQLite's read-only mode; `immutable` when the folder cannot even hold WAL's shared-memory file."""
        uri = (root / DB_NAME).as_uri()
        last: sqlite3.Error | None = None
        for query in ("?mode=ro", "?immutable=1"):
            try:
                conn = sqlite3.connect(uri + query, uri=True, isolation_level=None, check_same_thread=False,
                                       timeout=BUSY_TIMEOUT_S)
                conn.row_factory = sqlite3.Row
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.Error as exc:
                last = exc
                continue
            if version != SCHEMA_VERSION:
                conn.close()
                raise ProjectError(f"{root}: the project is read-only (permission denied) and its schema "
                                   f"({version}) needs migrating to {SCHEMA_VERSION}; open it once with write access")
            return cls(root, conn, read_only=True)
        raise ProjectError(f"cannot open the project: {sqlite_reason(last, root / DB_NAME)}")

    @classmethod
    def _connect(cls, root: Path) -> "Project":
        for sub in ("models", "runs", "cache"):
            (root / sub).mkdir(exist_ok=True)
        def failed(exc: sqlite3.Error) -> ProjectError:
            return ProjectError(f"cannot open the project: {sqlite_reason(exc, root / DB_NAME)}")

        try:
            conn = sqlite3.connect(root / DB_NAME, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_S)
        except sqlite3.DatabaseError as exc:
            raise failed(exc) from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.row_factory = sqlite3.Row
            cls._migrate(conn, root)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise failed(exc) from None
            raise
        return cls(root, conn)

    @staticmethod
    def _migrate(conn: sqlite3.Connection, root: Path) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ProjectError(f"{root}: made by a newer birdlab (schema {version}, this one knows "
                               f"{SCHEMA_VERSION}); update birdlab to open it")
        if version == SCHEMA_VERSION:
            return
        # Foreign keys off while tables are rebuilt (SQLite's documented procedure: dropping a
        # referenced table would otherwise null or delete the rows that point at it); every
        # reference is checked before each migration commits.
        conn.execute("PRAGMA foreign_keys=OFF")
        try:
            for number in range(version, SCHEMA_VERSION):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if conn.execute("PRAGMA user_version").fetchone()[0] > number:
                        conn.execute("COMMIT")  # another process migrated while we waited for the lock
                        continue
                    for statement in MIGRATIONS[number].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise ProjectError(f"{root}: migration {number + 1} would break {len(broken)} reference(s) "
                                           f"(first: table {broken[0][0]}, row {broken[0][1]}); nothing was changed")
                    conn.execute(f"PRAGMA user_version = {number + 1}")
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
                        conn.execute("ROLLBACK")
                    raise
        finally:
            conn.execute("PRAGMA foreign_keys=ON")

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    # ---- transactions --------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; nested calls join the outer one. Changes are announced after commit."""
        with self._lock:
            outer = self._batch_depth == 0
            if self.read_only:
                raise ProjectError(f"{self.root}: the project is read-only (permission denied), so edits "
                                   f"are refused; it can still be viewed (copy it, or ask for write access)")
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._batch_depth += 1
            try:
                yield self._conn
                if outer:
                    self._conn.execute("COMMIT")
            except BaseException:
                if outer:
                    # SQLite may have rolled back already (disk full, I/O error): then there is
                    # nothing to roll back, and the original error is the one to report
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    self._pending.clear()
                raise
            finally:
                self._batch_depth -= 1
            if not outer:
                return
            pending, self._pending = self._pending, []
            self.generation += bool(pending)
        for change in pending:
            self.changes.emit(change)

    def _announce(self, table: str, action: str, ids: Iterable[int], recordings: Iterable[int] = ()) -> None:
        ids = tuple(ids)
        if ids:
            self._pending.append(Change(table, action, ids, tuple(sorted(set(recordings)))))

    def _query(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def select(self, sql: str, params: Sequence = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query, for the core modules that page through big tables
        (core/store/review.py) instead of reading them whole."""
        return self._query(sql, params)

    # ---- recordings ----------------------------------------------------------------------

    def _stored_path(self, path: Path) -> str | bytes:
        """Relative to the project folder where possible, so the two can move together. A name
        that is not UTF-8 is stored as the OS gives it (bytes, a BLOB): SQLite text must be UTF-8."""
        try:
            text = os.path.relpath(path, self.root)
        except ValueError:  # another drive (Windows)
            text = str(path)
        return path_to_db(text)

    def resolve(self, stored: str) -> Path:
        """The absolute path of a stored one (normalised, without touching the disk: an archive
        of 50,000 recordings resolves them all when it opens)."""
        if os.path.isabs(stored):
            return Path(stored)
        return Path(os.path.normpath(os.path.join(self._root_text, stored)))

    def _recording(self, row: sqlite3.Row) -> Recording:
        rec = Recording(row["id"], path_from_db(row["path"]), row["size"], row["fingerprint"], row["duration"],
                        row["sample_rate"], row["channels"], row["format"], row["subtype"], row["added"])
        rec.abs_path = self.resolve(rec.path)
        return rec

    def add_recording(self, path: str | Path) -> Recording:
        """Add an audio file (probing its header). A file already known by path or by
        fingerprint at a path that no longer exists (moved) is returned, relinked if moved."""
        probed = probe_file(Path(path))
        if isinstance(probed, AudioError):
            raise probed
        with self.transaction() as db:
            return self.recording(self._insert_probed(db, probed))

    def _insert_probed(self, db: sqlite3.Connection, probed: Probed) -> int:
        """The recording id of a probed file: known by path, relinked by fingerprint, or inserted."""
        path, info, fp, size = probed
        stored = self._stored_path(path)
        row = db.execute("SELECT id FROM recordings WHERE path = ?", (stored,)).fetchone()
        if row is not None:
            return row["id"]
        for row in db.execute("SELECT id, path FROM recordings WHERE fingerprint = ?", (fp,)).fetchall():
            if not self.resolve(path_from_db(row["path"])).exists():
                db.execute("UPDATE recordings SET path = ? WHERE id = ?", (stored, row["id"]))
                self._announce("recordings", "updated", [row["id"]])
                return row["id"]
        cur = db.execute(
            "INSERT INTO recordings (path, size, fingerprint, duration, sample_rate, channels, format,"
            " subtype, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (stored, size, fp, info.duration, info.sample_rate, info.channels, info.format, info.subtype, now()))
        self._announce("recordings", "added", [cur.lastrowid])
        return cur.lastrowid

    def add_audio(self, paths: Iterable[str | Path], workers: int | None = None,
                  ) -> tuple[list[Recording], list[AudioError]]:
        """Add files and folders (recursively); bad files are returned with reasons, not raised.

        Headers are probed and fingerprinted on `workers` threads (libsndfile and hashlib let go of
        the GIL); then every good file is written in one transaction, so the call adds all of them
        or, when the write fails, none."""
        from concurrent.futures import ThreadPoolExecutor

        files = [p.expanduser().resolve() for p in iter_audio_files(paths)]
        workers = workers or min(8, (os.cpu_count() or 2) * 2)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            probed = list(pool.map(probe_file, files, chunksize=16))
        errors = [p for p in probed if isinstance(p, AudioError)]
        good = [p for p in probed if not isinstance(p, AudioError)]
        with self.transaction() as db:
            ids = [self._insert_probed(db, p) for p in good]
        by_id = {r.id: r for r in self.recordings_by_id(ids)}
        return [by_id[i] for i in ids], errors

    def recordings_by_id(self, ids: Iterable[int]) -> list[Recording]:
        """These recordings (in no particular order), read in chunks."""
        return [self._recording(r) for where, params in _id_chunks("id", ids)
                for r in self._query(f"SELECT * FROM recordings {where}", params)]

    def recordings(self) -> list[Recording]:
        return [self._recording(r) for r in self._query("SELECT * FROM recordings ORDER BY path")]

    def recording_names(self, recording_ids: Iterable[int]) -> dict[int, str]:
        """{id: file name} of these recordings (a page of the review queue names its rows)."""
        return {r[0]: Path(path_from_db(r[1])).name for where, params in _id_chunks("id", recording_ids)
                for r in self._query(f"SELECT id, path FROM recordings {where}", params)}

    def recording_ids(self) -> list[int]:
        """Every recording's id, in the order of `recordings()` (by path)."""
        return [r[0] for r in self._query("SELECT id FROM recordings ORDER BY path")]

    def recording(self, recording_id: int) -> Recording:
        rows = self._query("SELECT * FROM recordings WHERE id = ?", (recording_id,))
        if not rows:
            raise ProjectError(f"no recording with id {recording_id}")
        return self._recording(rows[0])

    def find_recording(self, name: str) -> Recording | None:
        """A recording by stored path, absolute path, file name or stem (RFCX ids are stems)."""
        return RecordingFinder(self.recordings()).find(name)

    def missing_recordings(self) -> list[Recording]:
        return [r for r in self.recordings() if not r.abs_path.exists()]

    def relink(self, search_dirs: Iterable[str | Path]) -> list[Recording]:
        """Find moved recordings under the given folders by size and fingerprint; returns those relinked."""
        missing = {r.fingerprint: r for r in self.missing_recordings()}
        by_size = {r.size for r in missing.values()}
        found: list[Recording] = []
        for path in iter_audio_files(search_dirs):
            if not missing:
                break
            try:
                if path.stat().st_size not in by_size:
                    continue
                rec = missing.pop(fingerprint(path), None)
            except OSError:
                continue
            if rec is None:
                continue
            with self.transaction() as db:
                db.execute("UPDATE recordings SET path = ? WHERE id = ?",
                           (self._stored_path(path.resolve()), rec.id))
                self._announce("recordings", "updated", [rec.id])
            found.append(self.recording(rec.id))
        return found

    def remove_recording(self, recording_id: int) -> None:
        """Forget a recording with its labels and detections (the audio file is not touched)."""
        with self.transaction() as db:
            db.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))
            self._announce("recordings", "removed", [recording_id])

    # ---- classes -------------------------------------------------------------------------

    @staticmethod
    def _class(row: sqlite3.Row) -> ClassInfo:
        return ClassInfo(row["id"], row["name"], row["common_name"], row["f_min"], row["f_max"])

    def add_class(self, name: str, common_name: str = "", f_min: float | None = None,
                  f_max: float | None = None) -> ClassInfo:
        """Get or create a class by name (names are trimmed; case is kept)."""
        name = name.strip()
        if not name:
            raise ProjectError("a class needs a name")
        with self.transaction() as db:
            row = db.execute("SELECT * FROM classes WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return self._class(row)
            cur = db.execute("INSERT INTO classes (name, common_name, f_min, f_max) VALUES (?, ?, ?, ?)",
                             (name, common_name, f_min, f_max))
            self._announce("classes", "added", [cur.lastrowid])
            return ClassInfo(cur.lastrowid, name, common_name, f_min, f_max)

    def classes(self) -> list[ClassInfo]:
        return [self._class(r) for r in self._query("SELECT * FROM classes ORDER BY name")]

    def class_by_name(self, name: str) -> ClassInfo | None:
        rows = self._query("SELECT * FROM classes WHERE name = ?", (name.strip(),))
        return self._class(rows[0]) if rows else None

    def class_(self, class_id: int) -> ClassInfo:
        rows = self._query("SELECT * FROM classes WHERE id = ?", (class_id,))
        if not rows:
            raise ProjectError(f"no class with id {class_id}")
        return self._class(rows[0])

    def rename_class(self, class_id: int, new_name: str) -> ClassInfo:
        with self.transaction() as db:
            try:
                db.execute("UPDATE classes SET name = ? WHERE id = ?", (new_name.strip(), class_id))
            except sqlite3.IntegrityError:
                raise ProjectError(f"a class named {new_name!r} already exists") from None
            self._announce("classes", "updated", [class_id])
        return self.class_(class_id)

    def delete_class(self, class_id: int) -> None:
        """Delete a class that no label uses (its detections go with it)."""
        with self.transaction() as db:
            used = db.execute("SELECT COUNT(*) FROM labels WHERE class_id = ?", (class_id,)).fetchone()[0]
            if used:
                raise ProjectError(f"class {self.class_(class_id).name!r} has {used} label(s); "
                                   "relabel or delete them first")
            db.execute("DELETE FROM classes WHERE id = ?", (class_id,))
            self._announce("classes", "removed", [class_id])

    def import_species_list(self, path: str | Path) -> list[ClassInfo]:
        """Add the classes of a species list: one name per line, or a CSV with a name column."""
        from birdlab.core.store.species import read_species_list
        entries = read_species_list(path)
        with self.transaction():
            return [self.add_class(e.name, e.common_name, e.f_min, e.f_max) for e in entries]

    # ---- labels --------------------------------------------------------------------------

    def _check_box(self, recording_id: int, box: Box) -> None:
        rec = self.recording(recording_id)
        problems = box.problems(rec.duration, rec.nyquist)
        if problems:
            raise ProjectError(f"{rec.path}: " + "; ".join(problems))

    def add_label(self, recording_id: int, class_id: int, box: Box,
                  polarity: Polarity = Polarity.POSITIVE, source: Source = Source.MANUAL,
                  author: str | None = None, note: str = "", detection_id: int | None = None,
                  tags: Iterable[str] = ()) -> Label:
        """Add one label, committed before this returns."""
        self._check_box(recording_id, box)
        stamp = now()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO labels (recording_id, class_id, t_min, t_max, f_min, f_max, polarity, source,"
                " author, created, modified, note, detection_id, tags) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (recording_id, class_id, box.t_min, box.t_max, box.f_min, box.f_max,
                 Polarity(polarity).value, Source(source).value, author if author is not None else self.author,
                 stamp, stamp, note, detection_id, _tags_json(tags)))
            self._announce("labels", "added", [cur.lastrowid], [recording_id])
        return self.label(cur.lastrowid)

    def add_labels(self, new: Sequence[Label]) -> list[int]:
        """Add many labels in one transaction (all or none); returns their ids (their own ids and
        times are ignored: `new_label` makes them)."""
        stamp = now()
        def value(member, kind):  # a member's value without Enum's call when it is one already
            return member.value if isinstance(member, kind) else kind(member).value

        rows = [(n.recording_id, n.class_id, n.box.t_min, n.box.t_max, n.box.f_min, n.box.f_max,
                 value(n.polarity, Polarity), value(n.source, Source), n.author or self.author,
                 stamp, stamp, n.note, _tags_json(n.tags) if n.tags else "[]") for n in new]
        sql = ("INSERT INTO labels (recording_id, class_id, t_min, t_max, f_min, f_max, polarity, source,"
               " author, created, modified, note, tags) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
        with self.transaction() as db:
            # one executemany (a million-row import): inside this transaction nobody else inserts,
            # so AUTOINCREMENT hands out the ids after the highest ever used, in order
            first = db.execute("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'labels'"
                               ).fetchone()[0] + 1
            first = max(first, (db.execute("SELECT COALESCE(MAX(id), 0) FROM labels").fetchone()[0]) + 1)
            db.executemany(sql, rows)
            ids = list(range(first, first + len(rows)))
            if rows and db.execute("SELECT COUNT(*) FROM labels WHERE id BETWEEN ? AND ?",
                                   (ids[0], ids[-1])).fetchone()[0] != len(rows):
                raise ProjectError("labels were added by someone else during this import; nothing was kept")
            self._announce("labels", "added", ids, [n.recording_id for n in new])
        return ids

    def label(self, label_id: int) -> Label:
        rows = self._query("SELECT * FROM labels WHERE id = ?", (label_id,))
        if not rows:
            raise ProjectError(f"no label with id {label_id}")
        return label_from_row(rows[0])

    def labels(self, recording_id: int | None = None, class_id: int | None = None,
               polarity: Polarity | None = None) -> list[Label]:
        where, params = [], []
        for column, value in (("recording_id", recording_id), ("class_id", class_id),
                              ("polarity", Polarity(polarity).value if polarity else None)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM labels" + (" WHERE " + " AND ".join(where) if where else "")
        return [label_from_row(r) for r in self._query(sql + " ORDER BY recording_id, t_min, id", params)]

    _EDITABLE = {"class_id", "t_min", "t_max", "f_min", "f_max", "polarity", "source", "note", "author", "tags"}

    def update_label(self, label_id: int, **fields: object) -> Label:
        """Change fields of a label (box, class, polarity, note, tags); committed before this returns."""
        unknown = set(fields) - self._EDITABLE
        if unknown:
            raise ProjectError(f"cannot edit label field(s) {', '.join(sorted(unknown))}")
        old = self.label(label_id)
        merged = {**{k: getattr(old, k) for k in self._EDITABLE}, **fields}
        self._check_box(old.recording_id, Box(float(merged["t_min"]), float(merged["t_max"]),
                                              float(merged["f_min"]), float(merged["f_max"])))
        merged["polarity"] = Polarity(merged["polarity"]).value
        merged["source"] = Source(merged["source"]).value
        merged["tags"] = _tags_json(merged["tags"])
        columns = sorted(fields)
        with self.transaction() as db:
            db.execute(f"UPDATE labels SET {', '.join(f'{c} = ?' for c in columns)}, modified = ? WHERE id = ?",
                       [merged[c] for c in columns] + [now(), label_id])
            self._announce("labels", "updated", [label_id], [old.recording_id])
        return self.label(label_id)

    def delete_labels(self, label_ids: Iterable[int]) -> list[Label]:
        """Delete labels in one transaction; returns them as they were (for undo)."""
        ids = list(label_ids)
        with self.transaction() as db:
            gone = [self.label(i) for i in ids]
            db.executemany("DELETE FROM labels WHERE id = ?", [(i,) for i in ids])
            self._announce("labels", "removed", ids, [g.recording_id for g in gone])
        return gone

    def restore_labels(self, labels: Iterable[Label]) -> None:
        """Put deleted labels back exactly as they were, ids and times included (undo of delete)."""
        labels = list(labels)
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO labels (id, recording_id, class_id, t_min, t_max, f_min, f_max, polarity,"
                " source, author, created, modified, note, detection_id, tags)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(x.id, x.recording_id, x.class_id, x.t_min, x.t_max, x.f_min, x.f_max,
                  Polarity(x.polarity).value, Source(x.source).value, x.author, x.created, x.modified,
                  x.note, self._detection_if_kept(db, x.detection_id), _tags_json(x.tags)) for x in labels])
            self._announce("labels", "added", [x.id for x in labels], [x.recording_id for x in labels])

    def replace_label(self, label: Label) -> None:
        """Write a label back exactly as given, timestamps included (undo of an edit)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE labels SET class_id=?, t_min=?, t_max=?, f_min=?, f_max=?, polarity=?, source=?,"
                " author=?, created=?, modified=?, note=?, detection_id=?, tags=? WHERE id=?",
                (label.class_id, label.t_min, label.t_max, label.f_min, label.f_max,
                 Polarity(label.polarity).value, Source(label.source).value, label.author, label.created,
                 label.modified, label.note, self._detection_if_kept(db, label.detection_id),
                 _tags_json(label.tags), label.id))
            self._announce("labels", "updated", [label.id], [label.recording_id])

    @staticmethod
    def _detection_if_kept(db: sqlite3.Connection, detection_id: int | None) -> int | None:
        """The link of a label being put back, or None when a rescoring has dropped that detection
        since (detection ids are never reused, so an existing id is the same detection)."""
        if detection_id is None:
            return None
        return detection_id if db.execute("SELECT 1 FROM detections WHERE id = ?", (detection_id,)).fetchone() else None

    def label_counts(self, recording_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
        """{recording_id: {polarity: count}} for the recordings panel (all, or only these recordings)."""
        out: dict[int, dict[str, int]] = {}
        for where, params in _id_chunks("recording_id", recording_ids):
            for row in self._query(f"SELECT recording_id, polarity, COUNT(*) AS n FROM labels {where}"
                                   " GROUP BY recording_id, polarity", params):
                out.setdefault(row["recording_id"], {})[row["polarity"]] = row["n"]
        return out

    def classes_with(self) -> dict[str, set[int]]:
        """{"positive"/"negative"/"uncertain"/"extent": class ids with such a label or reviewed extent},
        from aggregates (the Retrain dialog's warnings on a project of a million labels)."""
        out: dict[str, set[int]] = {"positive": set(), "negative": set(), "uncertain": set(), "extent": set()}
        for polarity, class_id in self._query("SELECT DISTINCT polarity, class_id FROM labels"):
            out[polarity].add(class_id)
        out["extent"] = {r[0] for r in self._query("SELECT DISTINCT class_id FROM reviewed_extent_classes")}
        return out

    def reviewed_seconds(self, recording_ids: Iterable[int] | None = None) -> dict[int, float]:
        """{recording_id: seconds inside reviewed-complete extents} (overlaps counted once each)."""
        out: dict[int, float] = {}
        for where, params in _id_chunks("recording_id", recording_ids):
            for row in self._query(f"SELECT recording_id, SUM(t_max - t_min) FROM reviewed_extents {where}"
                                   " GROUP BY recording_id", params):
                out[row[0]] = row[1]
        return out

    # ---- reviewed extents ----------------------------------------------------------------

    def add_extent(self, recording_id: int, t_min: float, t_max: float, class_ids: Iterable[int],
                   author: str | None = None) -> ReviewedExtent:
        """Mark [t_min, t_max] as listened to completely for these classes."""
        class_ids = tuple(sorted(set(class_ids)))
        rec = self.recording(recording_id)
        problems = Box(t_min, t_max, 0.0, 1.0).problems(rec.duration)
        if problems:
            raise ProjectError(f"{rec.path}: " + "; ".join(problems))
        if not class_ids:
            raise ProjectError("a reviewed extent needs at least one class")
        with self.transaction() as db:
            cur = db.execute("INSERT INTO reviewed_extents (recording_id, t_min, t_max, author, created)"
                             " VALUES (?, ?, ?, ?, ?)",
                             (recording_id, t_min, t_max, author if author is not None else self.author, now()))
            db.executemany("INSERT INTO reviewed_extent_classes (extent_id, class_id) VALUES (?, ?)",
                           [(cur.lastrowid, c) for c in class_ids])
            self._announce("extents", "added", [cur.lastrowid], [recording_id])
        return self.extents(recording_id, extent_id=cur.lastrowid)[0]

    def mark_empty(self, recording_ids: Iterable[int], class_ids: Iterable[int]) -> list[ReviewedExtent]:
        """Mark whole recordings reviewed and complete for these classes (they hold none of their calls),
        in one transaction; recordings already marked so for all of them are left as they are."""
        class_ids = set(class_ids)
        todo = []
        for rid in dict.fromkeys(recording_ids):
            rec = self.recording(rid)
            done = any(e.t_min <= 0.0 and e.t_max >= rec.duration and class_ids <= set(e.class_ids)
                       for e in self.extents(rid))
            if not done:
                todo.append(rec)
        with self.transaction():
            return [self.add_extent(rec.id, 0.0, rec.duration, class_ids) for rec in todo]

    def extents(self, recording_id: int | None = None, extent_id: int | None = None) -> list[ReviewedExtent]:
        sql = "SELECT * FROM reviewed_extents"
        where, params = [], []
        if recording_id is not None:
            where.append("recording_id = ?")
            params.append(recording_id)
        if extent_id is not None:
            where.append("id = ?")
            params.append(extent_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY recording_id, t_min", params)
        classes: dict[int, list[int]] = {}
        for i in range(0, len(rows), 500):
            chunk = [r["id"] for r in rows[i:i + 500]]
            for extent_id, class_id in self._query(
                    "SELECT extent_id, class_id FROM reviewed_extent_classes WHERE extent_id IN "
                    f"({','.join('?' * len(chunk))}) ORDER BY class_id", chunk):
                classes.setdefault(extent_id, []).append(class_id)
        return [ReviewedExtent(row["id"], row["recording_id"], row["t_min"], row["t_max"],
                               tuple(classes.get(row["id"], ())), row["author"], row["created"]) for row in rows]

    def restore_extents(self, extents: Iterable[ReviewedExtent]) -> None:
        """Put deleted extents back exactly as they were, ids, authors and times included (redo)."""
        extents = list(extents)
        with self.transaction() as db:
            db.executemany("INSERT INTO reviewed_extents (id, recording_id, t_min, t_max, author, created)"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           [(e.id, e.recording_id, e.t_min, e.t_max, e.author, e.created) for e in extents])
            db.executemany("INSERT INTO reviewed_extent_classes (extent_id, class_id) VALUES (?, ?)",
                           [(e.id, c) for e in extents for c in e.class_ids])
            self._announce("extents", "added", [e.id for e in extents], [e.recording_id for e in extents])

    def delete_extent(self, extent_id: int) -> None:
        with self.transaction() as db:
            rows = db.execute("SELECT recording_id FROM reviewed_extents WHERE id = ?", (extent_id,)).fetchall()
            db.execute("DELETE FROM reviewed_extents WHERE id = ?", (extent_id,))
            self._announce("extents", "removed", [extent_id], [r[0] for r in rows])

    # ---- model versions ------------------------------------------------------------------

    @staticmethod
    def _model(row: sqlite3.Row) -> ModelVersion:
        return ModelVersion(row["id"], row["name"], row["kind"], row["path"], row["parent_id"],
                            row["training_run_id"], json.loads(row["card"]), row["created"], bool(row["active"]))

    def add_model_version(self, name: str, kind: str = "onnx", path: str = "", parent_id: int | None = None,
                          training_run_id: int | None = None, card: dict | None = None,
                          activate: bool = False) -> ModelVersion:
        with self.transaction() as db:
            try:
                cur = db.execute(
                    "INSERT INTO model_versions (name, kind, path, parent_id, training_run_id, card, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (name, kind, path, parent_id, training_run_id, json.dumps(card or {}), now()))
            except sqlite3.IntegrityError as exc:
                raise ProjectError(f"cannot add model version {name!r}: {exc}") from None
            self._announce("models", "added", [cur.lastrowid])
            if activate:
                self.set_active_model(cur.lastrowid)
        return self.model_version(cur.lastrowid)

    def model_versions(self) -> list[ModelVersion]:
        return [self._model(r) for r in self._query("SELECT * FROM model_versions ORDER BY id")]

    def model_version(self, model_id: int) -> ModelVersion:
        rows = self._query("SELECT * FROM model_versions WHERE id = ?", (model_id,))
        if not rows:
            raise ProjectError(f"no model version with id {model_id}")
        return self._model(rows[0])

    def model_by_name(self, name: str) -> ModelVersion | None:
        rows = self._query("SELECT * FROM model_versions WHERE name = ?", (name,))
        return self._model(rows[0]) if rows else None

    def model_file(self, version: ModelVersion) -> Path | None:
        """The ONNX file of a model version (its path is a file, or a folder holding model.onnx)."""
        if version.kind != "onnx" or not version.path:
            return None
        path = self.resolve(version.path)
        return path if path.suffix == ".onnx" else path / "model.onnx"

    def set_active_model(self, model_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE model_versions SET active = (id = ?)", (model_id,))
            self._announce("models", "updated", [model_id])

    def active_model(self) -> ModelVersion | None:
        rows = self._query("SELECT * FROM model_versions WHERE active = 1")
        return self._model(rows[0]) if rows else None

    # ---- detections ----------------------------------------------------------------------

    def set_detections(self, model_id: int, recording_id: int,
                       boxes: Sequence[tuple[int, float, float, float, float, float]]) -> int:
        """Replace a model's detections on one recording: (class_id, t_min, t_max, f_min, f_max, score).

        A new box that is the same call as an old one (same class, time IoU >= 0.5) updates
        the old row instead of replacing it, so its id and the review labels made from it
        survive a rescoring; old boxes without a match are deleted.
        """
        with self.transaction() as db:
            old = db.execute("SELECT id, class_id, t_min, t_max FROM detections"
                             " WHERE model_version_id = ? AND recording_id = ?", (model_id, recording_id)).fetchall()
            matched = match_boxes([(r[1], r[2], r[3]) for r in old], [(b[0], b[1], b[2]) for b in boxes])
            kept = {old[i][0] for i in matched.values()}
            db.executemany("DELETE FROM detections WHERE id = ?", [(r[0],) for r in old if r[0] not in kept])
            db.executemany("UPDATE detections SET t_min = ?, t_max = ?, f_min = ?, f_max = ?, score = ? WHERE id = ?",
                           [(*boxes[j][1:], old[i][0]) for j, i in matched.items()])
            db.executemany(
                "INSERT INTO detections (model_version_id, recording_id, class_id, t_min, t_max, f_min, f_max,"
                " score) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(model_id, recording_id, *b) for j, b in enumerate(boxes) if j not in matched])
            db.execute("DELETE FROM detection_counts WHERE model_version_id = ? AND recording_id = ?",
                       (model_id, recording_id))
            db.executemany("INSERT INTO detection_counts (model_version_id, recording_id, class_id, n)"
                           " VALUES (?, ?, ?, ?)",
                           [(model_id, recording_id, c, n) for c, n in Counter(b[0] for b in boxes).items()])
            self._announce("detections", "updated", [recording_id])
        return len(boxes)

    def detection_totals(self, model_id: int) -> dict[int, int]:
        """{class id: detections of the model} from the kept counts (no detection is read)."""
        return {r[0]: r[1] for r in self._query("SELECT class_id, SUM(n) FROM detection_counts"
                                                " WHERE model_version_id = ? GROUP BY class_id", (model_id,))}

    def detection_recordings(self, model_id: int) -> list[int]:
        """The recordings the model has detections on."""
        return [r[0] for r in self._query("SELECT DISTINCT recording_id FROM detection_counts"
                                          " WHERE model_version_id = ? AND n > 0 ORDER BY recording_id", (model_id,))]

    def reviewed_counts(self, model_id: int) -> dict[int, int]:
        """{class id: detections of the model that a label was made from} (the review progress)."""
        return {r[0]: r[1] for r in self._query(
            # CROSS JOIN keeps the labels outside: a few thousand review labels, not millions of detections
            "SELECT d.class_id, COUNT(DISTINCT d.id) FROM labels l CROSS JOIN detections d ON d.id = l.detection_id"
            " WHERE l.detection_id IS NOT NULL AND d.model_version_id = ? GROUP BY d.class_id", (model_id,))}

    def is_reviewed(self, detection_id: int) -> bool:
        return bool(self._query("SELECT 1 FROM labels WHERE detection_id = ? LIMIT 1", (detection_id,)))

    def detection(self, detection_id: int) -> Detection | None:
        rows = self._query("SELECT * FROM detections WHERE id = ?", (detection_id,))
        return detection_from_row(rows[0]) if rows else None

    def detections(self, model_id: int, recording_id: int | None = None, class_id: int | None = None,
                   min_score: float | None = None) -> list[Detection]:
        sql = "SELECT * FROM detections WHERE model_version_id = ?"
        params: list = [model_id]
        for clause, value in (("recording_id = ?", recording_id), ("class_id = ?", class_id),
                              ("score >= ?", min_score)):
            if value is not None:
                sql += f" AND {clause}"
                params.append(value)
        sql = sql.replace("SELECT *", f"SELECT {DETECTION_COLUMNS}") + " ORDER BY recording_id, t_min, id"
        with self._lock:  # plain tuples straight into the dataclass: 3x faster than sqlite3.Row for 1,000s
            cur = self._conn.cursor()
            cur.row_factory = None
            return [Detection.from_values(*r) for r in cur.execute(sql, params).fetchall()]

    def iter_detections(self, model_id: int, recording_ids: Iterable[int] | None = None) -> Iterator[Detection]:
        """A model's detections, recording by recording (in id order), never all in memory: for
        exports and evaluations of archives with millions of rows."""
        ids = self.detection_recordings(model_id) if recording_ids is None else sorted(set(recording_ids))
        for rid in ids:
            yield from self.detections(model_id, rid)

    # ---- training runs -------------------------------------------------------------------

    @staticmethod
    def _run(row: sqlite3.Row) -> TrainingRun:
        return TrainingRun(row["id"], row["folder"], row["status"], row["created"], row["finished"],
                           json.loads(row["config"]), row["model_version_id"])

    def add_training_run(self, folder: str, config: dict | None = None) -> TrainingRun:
        with self.transaction() as db:
            cur = db.execute("INSERT INTO training_runs (folder, created, config) VALUES (?, ?, ?)",
                             (folder, now(), json.dumps(config or {})))
            self._announce("runs", "added", [cur.lastrowid])
        return self.training_run(cur.lastrowid)

    def training_run(self, run_id: int) -> TrainingRun:
        rows = self._query("SELECT * FROM training_runs WHERE id = ?", (run_id,))
        if not rows:
            raise ProjectError(f"no training run with id {run_id}")
        return self._run(rows[0])

    def training_runs(self) -> list[TrainingRun]:
        return [self._run(r) for r in self._query("SELECT * FROM training_runs ORDER BY id")]

    def finish_training_run(self, run_id: int, status: str, model_version_id: int | None = None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE training_runs SET status = ?, finished = ?, model_version_id = ? WHERE id = ?",
                       (status, now() if status != "running" else "", model_version_id, run_id))
            self._announce("runs", "updated", [run_id])

    # ---- checks --------------------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """SQLite's own integrity and foreign-key checks; empty when the database is sound."""
        problems = [r[0] for r in self._query("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in self._query("PRAGMA foreign_key_check")]
        return problems


def _id_chunks(column: str, ids: Iterable[int] | None, size: int = 500) -> Iterator[tuple[str, list]]:
    """WHERE clauses for `column IN (...)` in chunks under SQLite's variable limit (one empty
    clause when `ids` is None: all rows)."""
    if ids is None:
        yield "", []
        return
    ids = list(dict.fromkeys(ids))
    for i in range(0, len(ids), size):
        chunk = ids[i:i + size]
        yield f"WHERE {column} IN ({','.join('?' * len(chunk))})", chunk


DETECTION_COLUMNS = "id, model_version_id, recording_id, class_id, t_min, t_max, f_min, f_max, score"  # Detection's order


def label_from_row(row: sqlite3.Row) -> Label:
    return Label(row["id"], row["recording_id"], row["class_id"],
                 Box(row["t_min"], row["t_max"], row["f_min"], row["f_max"]), Polarity(row["polarity"]),
                 Source(row["source"]), row["author"], row["created"], row["modified"], row["note"],
                 row["detection_id"], tuple(json.loads(row["tags"])))


def detection_from_row(r: sqlite3.Row) -> Detection:
    return Detection.from_values(r["id"], r["model_version_id"], r["recording_id"], r["class_id"], r["t_min"],
                                 r["t_max"], r["f_min"], r["f_max"], r["score"])


class RecordingFinder:
    """Finds recordings by the names tables give them, over indexes built once (an import of a
    million rows looks up the same few thousand names again and again)."""

    def __init__(self, recordings: Iterable[Recording]):
        self._by: dict[str, dict] = {"path": {}, "abs": {}, "name": {}, "stem": {}}
        for r in recordings:
            for kind, key in (("path", r.path), ("abs", str(r.abs_path)), ("name", r.name),
                              ("stem", Path(r.path).stem)):
                self._by[kind].setdefault(key, []).append(r)

    def find(self, name: str) -> Recording | None:
        """By stored path, absolute path, file name, then stem; ProjectError when a rule finds several."""
        if not name:
            return None
        wanted = Path(name)
        by = self._by
        rules = [by["path"].get(name, []),
                 by["abs"].get(str(wanted.resolve()), []) if wanted.is_absolute() else [],
                 by["name"].get(wanted.name, []),
                 list({id(r): r for r in by["stem"].get(wanted.name, []) + by["stem"].get(wanted.stem, [])}.values())]
        for hits in rules:
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise ProjectError(f"{name!r} matches {len(hits)} recordings "
                                   f"({', '.join(h.path for h in hits[:3])}); give a longer path")
        return None
