"""The loop's speed: quick retrain of the demo project, from the click to rescored detections on screen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_loop.py [--epochs 10] [--work bench-out/loop]

Builds the demo project (6 x 60 s, three species, its labels), opens the app offscreen, reviews
20 detections by key, clicks Train in the Retrain dialog (quick mode: head only, cached
embeddings, CPU) and stops the clock when the new version's detections of the recording on
screen are drawn. Runs twice: the second run finds the embeddings cached.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("bench-out/loop"))
    args = parser.parse_args()
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from birdlab.cli import main as birdlab
    from birdlab.gui.main_window import MainWindow

    shutil.rmtree(args.work, ignore_errors=True)
    assert birdlab(["demo", str(args.work / "demo"), "--no-gui"]) == 0
    app = QApplication.instance() or QApplication([])
    win = MainWindow(QSettings(str(args.work / "settings.ini"), QSettings.Format.IniFormat))
    win.resize(1400, 900)
    win.show()
    win.open_project(args.work / "demo")
    win.review.autoplay.setChecked(False)
    win.go_to_detection(win.review.current())
    for _ in range(20):
        QTest.keyClick(win, Qt.Key.Key_A if win.review.current().score >= 0.5 else Qt.Key.Key_X)
    labels = sum(1 for lab in win.project.labels() if lab.polarity.value != "uncertain")
    for attempt in ("cold cache", "embeddings cached"):
        before = win.project.active_model().id
        dialog = win.open_retrain()
        dialog.epochs.setValue(args.epochs)
        shown = []
        win.modelOutputShown.connect(lambda rid: shown.append(time.perf_counter())
                                     if win.project.active_model().id != before else None)
        t0 = time.perf_counter()
        dialog.train_button.click()
        while not shown and time.perf_counter() - t0 < 300:
            app.processEvents()
            time.sleep(0.005)
        if not shown:
            raise SystemExit(f"no new detections on screen after 300 s: {dialog.status.text()}")
        print(f"quick retrain ({attempt}), {labels} labels, {args.epochs} epochs, 2 cores: "
              f"click -> rescored detections on screen in {shown[0] - t0:5.1f} s")
        dialog.close()
    win.close()


if __name__ == "__main__":
    main()
