"""Workbench speed: open a 1-hour 48 kHz recording, repaint after zoom and scroll, peak memory.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_gui.py [--work bench-out] [--check]

- open project: the app's real path, from `MainWindow.open_project` on a project holding the
  1-hour file, 2,000 labels and 10,000 detections of the active version, to the first view
  painted with its labels, detections and score tracks and the review queue filled;
- open: from `set_recording` to every tile of the first view (30 s) on screen (the view alone);
- repaint: a zoom (x2 in or out) or a scroll (half a view) handled and the view repainted
  synchronously with what is available (the overview underneath, cached tiles); then the
  time until the sharp tiles of the new view are all in (computed on worker threads, started
  once the frame is painted); medians of 12;
- memory: peak RSS of a process that opens the file, zooms out to the whole recording and
  scrolls through it, for a 1-hour and a 10-minute file (they should be about the same).
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


def make_files(work: Path) -> dict[str, Path]:
    from birdlab.core.synthetic.synth import write_long_recording
    files = {"1h": work / "hour_48k.wav", "10min": work / "tenmin_48k.wav"}
    for name, seconds in (("1h", 3600.0), ("10min", 600.0)):
        if not files[name].exists():
            print(f"generating {files[name]} (once)...", flush=True)
            write_long_recording(files[name], seconds, 48000, seed=7, truth_csv=False)
    return files


def make_project(work: Path, audio: Path) -> Path:
    """A project with the hour file, 2,000 labels and 10,000 detections of an active version (once)."""
    import numpy as np

    from birdlab.core.model import Box, Polarity
    from birdlab.core.store.project import Project, Source, new_label
    folder = work / "open-project"
    if (folder / "project.sqlite").exists():
        return folder
    rng = np.random.default_rng(0)
    with Project.create(folder) as project:
        rec = project.add_recording(audio)
        classes = [project.add_class(f"species_{i}").id for i in range(10)]
        starts = np.sort(rng.uniform(0, rec.duration - 5, 2000))
        project.add_labels([new_label(rec.id, classes[i % 10], Box(t, t + 2.0, 1000.0, 6000.0),
                                     Polarity.POSITIVE if i % 3 else Polarity.NEGATIVE, Source.IMPORT, "bench")
                            for i, t in enumerate(starts)])
        model = project.add_model_version("bench", kind="external", activate=True)
        boxes = [(classes[i % 10], float(t), float(t) + 3.0, 0.0, 24000.0, float(rng.uniform(0.2, 1.0)))
                 for i, t in enumerate(np.sort(rng.uniform(0, rec.duration - 5, 10000)))]
        project.set_detections(model.id, rec.id, boxes)
    return folder


def measure_open(folder: str) -> dict:
    from benchmarks.gui_window import open_window

    _, window, seconds = open_window(folder, timeout_s=60, ready=lambda w: (
        w.recording is not None and w.view.is_painted() and not w.view.loader.pending(w.view._wanted)
        and w.view.detection_items and w.review.model.items))
    shown = len(window.view.detection_items)
    window.close()
    return {"open_project_s": seconds, "detections_drawn": shown}


def measure(path: str) -> dict:
    from PySide6.QtWidgets import QApplication

    from birdlab.core.sound.audio import probe
    from birdlab.gui.spectrogram_view import SpectrogramView

    app = QApplication.instance() or QApplication([])
    view = SpectrogramView()
    view.resize(1400, 600)
    view.show()
    app.processEvents()
    info = probe(path)

    frames = {"painted": 0, "at_last_tile": 0}  # a tile is on screen once a frame is painted after it came
    view.graphics.framePainted.connect(lambda: frames.update(painted=frames["painted"] + 1))
    view.loader.tileReady.connect(lambda *_: frames.update(at_last_tile=frames["painted"]))

    def until_painted(timeout: float = 20.0, sharp: bool = True) -> float:
        """Seconds until the tiles in view are painted (`sharp`: and none of them still computing;
        the whole-file overview refining in the background is not what the user looks at), the
        frame that shows the last of them included."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            app.processEvents()
            if view.is_painted() and not (sharp and view.loader.pending(view._wanted)) \
                    and frames["painted"] > frames["at_last_tile"]:
                return time.perf_counter() - t0
            time.sleep(0.0005)
        return float("nan")

    t0 = time.perf_counter()
    view.set_recording(path, info.sample_rate, info.frames, info.channels)
    first = time.perf_counter() - t0 + until_painted(sharp=False)

    def repaint_after(action) -> tuple[float, float]:
        t0 = time.perf_counter()
        action()
        view._update_timer.stop()
        view._update_tiles()
        view.graphics.viewport().repaint()
        handled = time.perf_counter() - t0
        return handled, handled + until_painted()

    results: dict[str, list] = {"zoom": [], "scroll": []}
    view.set_visible_range(1200.0, 1230.0)
    until_painted()
    while view.loader.busy:  # the steady state: the whole-file overview has finished refining
        app.processEvents()
        time.sleep(0.001)
    for i in range(12):  # medians of 12: single repaints here swing by a third
        results["zoom"].append(repaint_after(lambda: view.zoom(0.5 if i % 2 else 2.0)))
        results["scroll"].append(repaint_after(lambda: view.scroll(0.5)))
    view.loader.shutdown()
    return {"first_paint_s": first,
            **{f"{k}_repaint_ms": 1000 * statistics.median(h for h, _ in v) for k, v in results.items()},
            **{f"{k}_sharp_ms": 1000 * statistics.median(s for _, s in v) for k, v in results.items()}}


def memory(path: str) -> float:
    """Peak RSS (MiB) of opening the file, viewing it whole, and scrolling through it at 30 s per view."""
    from PySide6.QtWidgets import QApplication

    from birdlab.core.sound.audio import probe
    from birdlab.gui.spectrogram_view import SpectrogramView

    app = QApplication.instance() or QApplication([])
    view = SpectrogramView()
    view.resize(1400, 600)
    view.show()
    info = probe(path)
    view.set_recording(path, info.sample_rate, info.frames, info.channels)

    def settle() -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 20:
            app.processEvents()
            if view.is_painted() and not view.loader.busy:
                return
            time.sleep(0.001)

    settle()
    view.set_visible_range(0, view.duration)
    settle()
    for start in range(0, int(view.duration), int(view.duration / 40)):
        view.set_visible_range(start, start + 30)
        settle()
    view.loader.shutdown()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench-out"))
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless the first paint takes < 0.2 s and a repaint after zoom or scroll < 16 ms")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, path = args.child
        result = (measure(path) if what == "speed" else measure_open(path) if what == "open"
                  else {"peak_rss_mib": memory(path)})
        print(json.dumps(result))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    files = make_files(args.work)

    def child(what: str, path: Path) -> dict:
        out = subprocess.run([sys.executable, __file__, "--child", what, str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])

    opened = child("open", make_project(args.work, files["1h"]))
    print(f"open project (1-hour WAV, 2,000 labels, 10,000 detections) to first view painted with labels, "
          f"{opened['detections_drawn']} detections and the queue: {1000 * opened['open_project_s']:7.1f} ms")
    speed = child("speed", files["1h"])
    print(f"1-hour 48 kHz WAV, view 1400 x 600 px, {os.cpu_count()} cores")
    print(f"open to first spectrogram painted: {1000 * speed['first_paint_s']:7.1f} ms")
    print(f"zoom:   repaint {speed['zoom_repaint_ms']:6.1f} ms, sharp tiles in {speed['zoom_sharp_ms']:7.1f} ms")
    print(f"scroll: repaint {speed['scroll_repaint_ms']:6.1f} ms, sharp tiles in {speed['scroll_sharp_ms']:7.1f} ms")
    failed = [f"{what} {value:.1f} ms >= {limit:.0f} ms" for what, value, limit in (
        ("first paint", 1000 * speed["first_paint_s"], 200.0), ("zoom repaint", speed["zoom_repaint_ms"], 16.0),
        ("scroll repaint", speed["scroll_repaint_ms"], 16.0)) if value >= limit]
    for name in ("10min", "1h"):
        print(f"peak memory, {name:>5} file opened, viewed whole and scrolled through: "
              f"{child('memory', files[name])['peak_rss_mib']:6.0f} MiB")
    if args.check and failed:
        raise SystemExit("budget missed: " + "; ".join(failed))


if __name__ == "__main__":
    main()
