"""The labels browser on an archive: how long the count and a page take with a million labels.

    .venv/bin/python benchmarks/bench_labels_browser.py [--labels 1000000] [--recordings 1000]
        [--work bench-out/labels-browser] [--check]

Builds (once, cached in --work) a project of one-minute recordings with that many labels spread
over them (20 classes, every tenth with a note, every fifth with tags), then times what the All
labels dock asks for: the count and the first page (500 rows) for every sort, both directions;
a page deep in the list; a filter by a class name and by a tag. `--check` exits 1 when any of
them takes over 2 s (what a user waits for a table to fill).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIMIT_S = 2.0


def build(work: Path, recordings: int, labels: int) -> Path:
    import numpy as np

    from benchmarks.bench_scale import make_audio
    from birdlab.core.model import Box, Polarity, Source
    from birdlab.core.store.project import Project, new_label

    folder = work / f"project-{recordings}-{labels}"
    if (folder / "built").exists():
        return folder
    make_audio(work / f"audio-{recordings}", recordings)
    project = Project.create(folder)
    added, errors = project.add_audio(sorted((work / f"audio-{recordings}").glob("*.flac"))[:recordings])
    assert not errors
    classes = [project.add_class(f"species_{i:02d}").id for i in range(20)]
    rng = np.random.default_rng(0)
    per = labels // len(added)
    polarities = (Polarity.POSITIVE, Polarity.NEGATIVE, Polarity.UNCERTAIN)
    for rec in added:
        starts = rng.uniform(0, 57.0, per)
        project.add_labels([new_label(rec.id, classes[i % 20], Box(float(t), float(t) + 0.5 + (i % 7) * 0.3,
                                                                    500.0, 3500.0 - (i % 9) * 100),
                                      polarities[i % 3], Source.REVIEW, "bench",
                                      note="faint" if i % 10 == 0 else "",
                                      tags=("calltype:song",) if i % 5 == 0 else ())
                            for i, t in enumerate(starts)])
    project.close()
    (folder / "built").write_text("")
    return folder


def measure(folder: Path) -> dict:
    from birdlab.core.store.label_browser import SORTS, LabelQuery, count_labels, label_page
    from birdlab.core.store.project import Project

    figures: dict[str, float] = {}
    with Project.open(folder) as project:
        def timed(name: str, query: LabelQuery, offset: int = 0) -> None:
            t0 = time.perf_counter()
            total = count_labels(project, query)
            rows = label_page(project, query, offset, 500)
            figures[name] = time.perf_counter() - t0
            assert rows or total <= offset, name

        for sort in SORTS:
            timed(f"sort {sort}", LabelQuery(sort=sort))
            timed(f"sort {sort} desc", LabelQuery(sort=sort, descending=True))
        timed("deep page (recording order, offset 500k)", LabelQuery(), 500_000)
        timed("filter class name", LabelQuery(text="species_07"))
        timed("filter tag", LabelQuery(text="calltype:song"))
        timed("filter two words, sorted by class", LabelQuery(text="species_07 negative", sort="class"))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--recordings", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path("bench-out/labels-browser"))
    parser.add_argument("--check", action="store_true", help=f"exit 1 when anything takes over {LIMIT_S} s")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    folder = build(args.work, args.recordings, args.labels)
    print(f"project ready in {time.perf_counter() - t0:.1f} s: {folder}", flush=True)
    figures = measure(folder)
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}, indent=1))
    slow = {k: v for k, v in figures.items() if v > LIMIT_S}
    if args.check and slow:
        print(f"over {LIMIT_S} s: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
