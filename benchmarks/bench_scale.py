"""Archive scale: projects of 1,000 and 10,000 recordings with 100k to 10 M detections (issue 14).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_scale.py \
        [--sizes 1000:100000,10000:1000000,10000:10000000] [--work bench-out/scale] [--out docs/scale.json]

Per size (recordings:detections) it builds a project through the public `Project` API (cached
in --work between runs) and reports:

- add-audio time per file: `Project.add_audio` on a folder of one-minute FLAC files (8 kHz
  tones, 64 KB each, so that 10,000 of them fit on a laptop disk; 200 distinct ones, copied);
- the bulk write of the detections: `set_detections` per recording inside one transaction, as
  `birdlab score --project` stores a run (20 classes, scores from the app's 0.2 threshold up);
- in a fresh process (the app as a user starts it, offscreen):
  - open: `MainWindow.open_project` to the first painted view with its detections and the
    review queue filled;
  - decision: key press (A or X) to the next detection shown: its recording open, the view on
    it, the queue and the progress updated, and the window repainted (median and p95 over 50
    decisions; the sharp spectrogram tiles then arrive from worker threads); `handled` is the
    same without the repaint (the key's handler alone);
  - filter change: a class filter, an order change (uncertainty, stratified) or a score range,
    to the queue's first page on screen (median and maximum);
  - peak memory (max RSS) of that process;
- the SQLite file size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CLASSES = 20
DURATION_S = 60.0


def make_audio(folder: Path, n: int, distinct: int = 200) -> None:
    """n one-minute FLAC files of quiet tones (`distinct` different ones, then copies: encoding
    10,000 files takes longer than the benchmark); once."""
    import shutil

    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    names = [folder / f"site{i // 500:02d}_{i:05d}.flac" for i in range(n)]
    sr = 8000
    t = np.arange(int(DURATION_S * sr)) / sr
    for i, path in enumerate(names):
        if path.exists():
            continue
        if i < distinct:
            x = 0.05 * np.sin(2 * np.pi * (300 + (i * 7) % 3500) * t + i)
            sf.write(path, x.astype(np.float32), sr, subtype="PCM_16")
        else:
            shutil.copyfile(names[i % distinct], path)


def build(work: Path, recordings: int, detections: int) -> tuple[Path, dict]:
    """The project of one size (cached); returns it with the build figures."""
    import numpy as np

    from birdlab.core.store.project import Project

    audio = work / f"audio-{recordings}"
    folder = work / f"project-{recordings}-{detections}"
    figures_file = folder / "build.json"
    if figures_file.exists():
        return folder, json.loads(figures_file.read_text())
    make_audio(audio, recordings)
    if folder.exists():
        import shutil
        shutil.rmtree(folder)
    project = Project.create(folder)
    files = sorted(audio.glob("*.flac"))[:recordings]
    t0 = time.perf_counter()
    added, errors = project.add_audio(files)
    add_s = time.perf_counter() - t0
    assert not errors and len(added) == recordings, errors[:3]
    classes = [project.add_class(f"species_{i:02d}").id for i in range(CLASSES)]
    model = project.add_model_version("bench", kind="external", activate=True)
    rng = np.random.default_rng(0)
    per = detections // recordings
    t0 = time.perf_counter()
    with project.transaction():
        for rec in added:
            starts = rng.uniform(0, DURATION_S - 3, per)
            cls = rng.integers(0, CLASSES, per)
            scores = 0.2 + 0.8 * rng.random(per) ** 2
            project.set_detections(model.id, rec.id, [(classes[c], float(s), float(s) + 3.0, 500.0, 3500.0, float(p))
                                                      for c, s, p in zip(cls, starts, scores)])
    write_s = time.perf_counter() - t0
    project.close()
    figures = {"recordings": recordings, "detections": per * recordings, "add_audio_s": add_s,
               "add_audio_ms_per_file": 1000 * add_s / recordings, "write_detections_s": write_s,
               "detections_per_s": per * recordings / write_s}
    figures_file.write_text(json.dumps(figures, indent=1))
    return folder, figures


def measure_app(folder: str, decisions: int = 50) -> dict:
    """The app's figures, in this (fresh) process."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from benchmarks.gui_window import open_window

    app, window, open_s = open_window(folder, timeout_s=120, ready=lambda w: (
        w.recording is not None and w.view.is_painted() and w.review.model.items))
    window.review.autoplay.setChecked(False)
    window.go_to_detection(window.review.current())
    app.processEvents()
    latencies, handled = [], []
    for i in range(decisions):
        before = window.review.current()
        t0 = time.perf_counter()
        QTest.keyClick(window, Qt.Key.Key_A if i % 2 else Qt.Key.Key_X)
        handled.append(time.perf_counter() - t0)
        app.processEvents()
        latencies.append(time.perf_counter() - t0)
        now = window.review.current()
        assert now is not None and now.id != before.id and window.on_screen(now), "the queue did not move on"
    panel = window.review
    changes = []

    def timed(action) -> None:
        t0 = time.perf_counter()
        action()
        app.processEvents()
        changes.append(time.perf_counter() - t0)
        assert panel.model.items, "an empty queue after a filter change"

    timed(lambda: panel.class_box.setCurrentIndex(3))
    timed(lambda: panel.order_box.setCurrentText("uncertainty"))
    timed(lambda: panel.order_box.setCurrentText("stratified"))
    timed(lambda: panel.class_box.setCurrentIndex(0))
    timed(lambda: panel.min_score.setValue(0.5))
    timed(lambda: panel.order_box.setCurrentText("score"))
    window.close()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lat, hand = sorted(latencies), sorted(handled)
    return {"open_to_first_paint_s": open_s, "decision_median_ms": 1000 * statistics.median(lat),
            "decision_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
            "decision_handled_median_ms": 1000 * statistics.median(hand),
            "decision_handled_p95_ms": 1000 * hand[int(0.95 * (len(hand) - 1))], "filter_change_median_s": statistics.median(changes),
            "filter_change_max_s": max(changes), "peak_rss_mib": rss_mib,
            "filter_changes_s": dict(zip(("class", "uncertainty", "stratified", "all classes", "min score 0.5",
                                          "score order"), changes))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000:100000,10000:1000000,10000:10000000",
                        help="recordings:detections, comma-separated")
    parser.add_argument("--work", type=Path, default=Path("bench-out/scale"))
    parser.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    parser.add_argument("--measure-app", default=None, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.measure_app:
        print(json.dumps(measure_app(args.measure_app)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes.split(","):
        recordings, detections = (int(x) for x in size.split(":"))
        print(f"== {recordings} recordings, {detections} detections", flush=True)
        folder, figures = build(args.work, recordings, detections)
        child = subprocess.run([sys.executable, __file__, "--measure-app", str(folder)], capture_output=True,
                               text=True, timeout=1800)
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        figures.update(json.loads(child.stdout.strip().splitlines()[-1]))
        figures["sqlite_mib"] = (folder / "project.sqlite").stat().st_size / 2**20
        results.append(figures)
        print(json.dumps(figures, indent=1), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
