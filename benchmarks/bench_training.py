"""Training speed: throughput of full fine-tuning (samples/s) and a head-mode retrain of ~500 labels.

    .venv/bin/python benchmarks/bench_training.py [--backbone efficientnet_b0] [--device auto]
        [--head-backbone NAME|birdnet] [--head-only] [--labels 500] [--work bench-out/training]

1. Full mode: `--steps` optimiser steps of batch `--batch` on 5 s crops of a synthetic project
   (after 2 warm-up steps), through the trainer's own loop (data loading, augmentation, AMP,
   channels_last, EMA), on the CPU and, when torch sees one, on the CUDA GPU.
2. Head mode: `python -m training fit` as the app runs it (a child process), wall time from start
   to exported, parity-checked ONNX, cold (no embedding cache) and warm (cache filled);
   `--head-backbone birdnet` measures the BirdNET-embedding head instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from birdlab.core.ml.jobs import make_job, read_job, write_job  # noqa: E402
from birdlab.core.store.project import Project  # noqa: E402
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project  # noqa: E402


def project_with_labels(work: Path, labels: int) -> Project:
    root = work / "project"
    if not (root / "project.sqlite").exists():
        make_synthetic_project(root, SyntheticProjectSpec(recordings=max(2, labels // 40), duration_s=60.0,
                                                          species=6, seed=3))
    return Project.open(root)


def full_throughput(project: Project, backbone: str, device: str, batch: int, steps: int) -> float:
    """Samples/s of the trainer's own loop (`Trainer.fit`): data loading and augmentation, the
    frontend, AMP and channels_last where the loop uses them, the optimiser, the EMA. Timed
    from the end of the second step to the end of the last (progress events, one per step)."""
    from training.config import config_from_dict
    from training.events import CancelFlag, Events
    from training.fit import fit
    from training.loop import Trainer

    stamps: list[float] = []
    cancel = CancelFlag()

    class StepClock(Events):
        def progress(self, min_interval_s: float = 0.5, force: bool = False, **fields) -> None:
            if fields.get("phase") == "train":
                stamps.append(time.perf_counter())
                if len(stamps) >= steps + 2:
                    cancel.set()  # the loop stops after this step (and writes a checkpoint, not timed)

    job = make_job(project, {"model": {"backbone": backbone}, "device": device, "batch_size": batch,
                             "epochs": 1, "min_epoch_samples": batch * (steps + 4), "val_fraction": 0.0,
                             "checkpoint_every_s": 1e9})
    run = Path(f"/tmp/bench-run-{device}")
    shutil.rmtree(run, ignore_errors=True)
    job.path = run / "job.json"
    trainer = Trainer(job, config_from_dict(job.config), run, StepClock(sys.stderr, enabled=False), cancel)
    fit(trainer)
    if len(stamps) < 3:
        raise SystemExit(f"only {len(stamps)} training steps ran")
    return (len(stamps) - 2) * batch / (stamps[-1] - stamps[1])


def head_retrain(project: Project, work: Path, backbone: str, labels: int) -> tuple[float, float, int]:
    """Cold (no embedding cache) and warm runs of a quick retrain; backbone "birdnet" trains the
    BirdNET-embedding head with the birdnet start's settings."""
    if backbone == "birdnet":
        from birdlab.core.ml.starts import STARTS
        config = dict(STARTS["birdnet"].config)
    else:
        config = {"mode": "head", "epochs": 10, "batch_size": 64, "model": {"backbone": backbone}}
    job = make_job(project, config)
    job.labels = job.labels[:labels]
    times = []
    for name in ("cold", "warm"):
        if name == "cold":
            shutil.rmtree(project.root / "cache", ignore_errors=True)
        run = work / f"head-{name}"
        shutil.rmtree(run, ignore_errors=True)
        path = write_job(job, run / "job.json")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "training", "fit", str(path)], capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        done = json.loads(out.stdout.strip().splitlines()[-1])
        if done.get("status") != "ok":
            raise SystemExit(f"head run failed: {done}\n{out.stderr[-2000:]}")
    return times[0], times[1], len(read_job(path).labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--head-backbone", default=None, help="backbone for the head-mode run (default: --backbone;"
                                                             " 'birdnet': the BirdNET-embedding head)")
    parser.add_argument("--head-only", action="store_true", help="skip the full fine-tune throughput")
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("bench-out/training"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    project = project_with_labels(args.work, args.labels)
    print(f"project: {len(project.labels())} labels, {len(project.recordings())} recordings, "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for device in () if args.head_only else ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",):
        name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
        batch = args.batch if device == "cpu" else 64
        rate = full_throughput(project, args.backbone, device, batch, args.steps if device == "cpu" else 20)
        print(f"full fine-tune, {args.backbone}, {name}, batch {batch}: {rate:8.1f} samples/s")
    head_backbone = args.head_backbone or args.backbone
    cold, warm, n = head_retrain(project, args.work, head_backbone, args.labels)
    print(f"head mode, {head_backbone}, {n} labels, to exported ONNX: {cold:6.1f} s cold, {warm:6.1f} s with "
          f"cached embeddings")


if __name__ == "__main__":
    main()
