from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import birdlab.core.formats as formats
from birdlab.core.formats import FORMATS, get_format
from birdlab.core.formats.common import RowError, TableError, read_text_table, unique_names
from tests.core.formats.fmt_helpers import FIXTURES

PACKAGE = Path(formats.__file__).parent


def test_registry_has_the_seven_formats() -> None:
    assert sorted(FORMATS) == ["aoef", "audacity", "avianz", "birdnet", "csv", "raven", "rfcx"]
    for name, module in FORMATS.items():
        assert module.NAME == name
        assert list(inspect.signature(module.read).parameters) == ["path", "default_label", "polarity"]
        assert list(inspect.signature(module.write).parameters) == ["annotations", "out", "recordings"]
    assert get_format("Raven") is FORMATS["raven"]
    assert [n for n, m in FORMATS.items() if m.DETECTIONS] == ["birdnet"]


def test_every_module_of_the_package_is_a_registered_plug_in() -> None:
    """Adding a format is adding its module: the registry, the CLI choices and sniffing follow."""
    from birdlab.cli import build_parser
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "common"}
    assert {m.__name__.rsplit(".", 1)[1] for m in FORMATS.values()} == modules
    parser = build_parser()
    labels = next(a for a in parser._actions if a.dest == "command").choices["labels"]
    imp = next(a for a in labels._actions if a.dest == "labels_command").choices["import"]
    assert tuple(next(a for a in imp._actions if a.dest == "format").choices) == formats.format_names()


def test_each_format_sniffs_its_own_exports(tmp_path: Path) -> None:
    from tests.core.formats.fmt_helpers import make_annotations, make_recordings
    recs = make_recordings()
    for name, module in FORMATS.items():
        suffix = module.EXTENSIONS[0]
        out = tmp_path / name / f"all{suffix}"
        written = module.write(make_annotations(recs, scores=module.DETECTIONS), out, recs)
        for path in written:
            assert formats.guess_format(path) == name, (name, path.name)


def test_unknown_format_lists_the_valid_names() -> None:
    with pytest.raises(ValueError) as exc:
        get_format("excel")
    assert "'excel'" in str(exc.value)
    assert all(name in str(exc.value) for name in FORMATS)


def test_formats_import_only_what_the_core_layer_may() -> None:
    allowed_third_party = {"numpy"}
    import sys
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ok = (top in sys.stdlib_module_names or top in allowed_third_party
                      or name == "birdlab.core" or name.startswith("birdlab.core."))
                assert ok, f"{path.name} imports {name}"


def test_row_error_text_names_file_and_line() -> None:
    err = TableError([RowError("t.txt", 3, "bad"), RowError("t.txt", 0, "unreadable")])
    assert "t.txt:3: bad" in str(err) and "t.txt: unreadable" in str(err)


def test_text_table_tolerates_bom_crlf_blank_lines_and_trailing_columns() -> None:
    table = read_text_table(FIXTURES / "XC100.Table.1.selections.txt", "\t")
    assert table.header[0] == "Selection" and table.header[-1] == "Annotation"
    assert [line for line, _ in table.rows] == [2, 3, 4, 5, 6, 7]
    assert table.rows[0][1]["annotation"] == "Parus major"


def test_text_table_utf16_and_cp1252(tmp_path: Path) -> None:
    text = "Begin Time (s)\tEnd Time (s)\tSpecies\r\n1\t2\tGrünling\r\n"
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes(text.encode("utf-16"))
    cp = tmp_path / "cp.txt"
    cp.write_bytes(text.encode("cp1252"))
    for path in (utf16, cp):
        assert FORMATS["raven"].read(path)[0].label == "Grünling"


def test_stray_cells_beyond_the_header_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Begin Time (s)\tEnd Time (s)\tSpecies\n1\t2\tA\textra\n1\t2\tA\t\t\n")
    with pytest.raises(TableError) as exc:
        FORMATS["raven"].read(path)
    assert [e.line for e in exc.value.errors] == [2]


def test_unique_names() -> None:
    assert unique_names(["a.txt", "b.txt", "A.txt", "a.txt"]) == ["a.txt", "b.txt", "A_2.txt", "a_3.txt"]


def test_recording_name_handles_windows_and_posix_paths() -> None:
    from birdlab.core.formats.common import recording_name
    assert recording_name("C:\\data\\site1\\rec_a.wav") == "rec_a.wav"
    assert recording_name("/data/site A/dawn_01.wav") == "dawn_01.wav"
    assert recording_name("003bec244") == "003bec244"
