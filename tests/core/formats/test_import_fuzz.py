"""The seeded importer fuzzer (tests/core/formats/fuzz.py) on a bounded budget: every mutated
table imports cleanly or fails with a birdlab error, and a failed import changes nothing."""

from __future__ import annotations

from tests.core.formats.fuzz import FORMATS, run_fuzz


def test_mutated_tables_import_cleanly_or_fail_cleanly_and_change_nothing(tmp_path):
    report = run_fuzz(tmp_path / "fuzz", iterations=600, seed=12)
    assert not report.crashes, f"{len(report.crashes)} crash(es); the first:\n{report.crashes[0]}"
    assert not report.changed, report.changed[:3]
    assert report.cases == 600 and report.imported > 30 and report.refused > 300  # both paths exercised


def test_every_format_has_seeds(tmp_path):
    from tests.core.formats.fuzz import make_fuzz_project, seed_tables
    with make_fuzz_project(tmp_path) as project:
        seeds = seed_tables(project, tmp_path / "seeds")
    assert {fmt for fmt, _ in seeds} == set(FORMATS)
