"""Core speed: read a 10 s window of a 1-hour 48 kHz file, its display spectrogram, and an
import of 10,000 Raven rows.

    .venv/bin/python benchmarks/bench_core.py [--work DIR]

The 1-hour file is generated once (synthetic soundscape) and kept in the work folder
(default `bench-out/`, git-ignored). Each figure is the median of several runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from birdlab.core.sound.audio import read_window  # noqa: E402
from birdlab.core.store.label_io import import_tables  # noqa: E402
from birdlab.core.store.project import Project  # noqa: E402
from birdlab.core.sound.spectrogram import SpectrogramConfig, spectrogram_db  # noqa: E402
from birdlab.core.synthetic.synth import write_long_recording  # noqa: E402

RAVEN_HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"


def median_ms(fn, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def hour_file(work: Path) -> Path:
    path = work / "hour_48k.flac"
    if not path.exists():
        print("generating a 1-hour 48 kHz recording (once)...", flush=True)
        write_long_recording(path, 3600.0, 48000, seed=7, truth_csv=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="bench-out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path = hour_file(args.work)

    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 3590, 7)
    it = iter(starts)
    read_ms = median_ms(lambda: read_window(path, (t := next(it)), t + 10.0))
    samples, sr = read_window(path, 1800.0, 1810.0)
    spec_ms = median_ms(lambda: spectrogram_db(samples, sr, SpectrogramConfig(n_fft=1024, hop=256)))
    mel_ms = median_ms(lambda: spectrogram_db(samples, sr, SpectrogramConfig(n_fft=1024, hop=256, mel=True)))

    table = args.work / "hour_48k.Table.1.selections.txt"
    with open(table, "w") as f:
        f.write(RAVEN_HEADER)
        for i in range(10_000):
            t0 = float(rng.uniform(0, 3595))
            f.write(f"{i + 1}\tSpectrogram 1\t1\t{t0:.3f}\t{t0 + 2:.3f}\t1000\t8000\tsp{i % 20}\n")
    import_s = []
    for _ in range(3):
        proj_dir = args.work / f"import_project_{len(import_s)}"
        if proj_dir.exists():
            for p in sorted(proj_dir.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            proj_dir.rmdir()
        with Project.create(proj_dir) as project:
            project.add_recording(path)
            t0 = time.perf_counter()
            result = import_tables(project, "raven", [table])
            import_s.append(time.perf_counter() - t0)
            assert result.labels == 10_000, result
    print(f"file: {path} (1 h, 48 kHz, FLAC)")
    print(f"read a 10 s window:            {read_ms:8.1f} ms")
    print(f"display spectrogram (linear):  {spec_ms:8.1f} ms   (10 s, n_fft 1024, hop 256)")
    print(f"display spectrogram (mel 128): {mel_ms:8.1f} ms")
    print(f"import 10,000 Raven rows:      {statistics.median(import_s):8.2f} s")


if __name__ == "__main__":
    main()
