"""`python -m training fit JOB.json [--audio-root DIR] [--resume]` (DESIGN.md section 5).

Prints one JSON object per line on stdout (progress, metric, artifact, done); anything else
the libraries print goes to stderr so the protocol stays clean. Exit code 0 for ok or
cancelled, 1 for failed. Under `torchrun --nproc_per_node N` it runs DistributedDataParallel
(NCCL on GPUs, gloo on CPUs); rank 0 reports.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path


def fit(args: argparse.Namespace, out) -> int:
    from training.events import CancelFlag, Events

    job_path = Path(args.job).resolve()
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    events = Events(out, job_path.parent, enabled=rank == 0)
    cancel = CancelFlag()
    cancel.listen()
    try:
        import torch
        import torch.distributed as dist

        from birdlab.core.ml.jobs import JobError, read_job
        from training.config import config_from_dict
        from training.export import ExportError
        from training.fit import fit
        from training.loop import Trainer, validate_job
        from training.models.sed import BackboneError

        try:
            job = read_job(job_path, args.audio_root)
            validate_job(job)
            try:
                cfg = config_from_dict(job.config)
            except (ValueError, TypeError) as exc:
                raise JobError(f"{job_path}: {exc}") from None
            if world > 1 and not dist.is_initialized():
                dist.init_process_group("nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo")
            result = fit(Trainer(job, cfg, job_path.parent, events, cancel), resume=args.resume)
        except (JobError, BackboneError, ExportError) as exc:
            events.emit("done", status="failed", error=str(exc))
            return 1
        events.emit("done", status=result.status, model_dir=str(result.model_dir) if result.model_dir else None,
                    metrics=result.metrics, epochs_done=result.epochs_done)
        return 0
    except OSError as exc:  # a full disk, a permission: the words, not a traceback, reach the user
        from birdlab.core.failures import os_reason
        traceback.print_exc()
        events.emit("done", status="failed", error=f"{os_reason(exc)} (the run's folder keeps its last checkpoint)")
        return 1
    except Exception as exc:  # report every failure through the protocol, with the traceback on stderr
        traceback.print_exc()
        events.emit("done", status="failed", error=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        cancel.restore()
        try:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()
        except Exception:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description="birdlab's training backend")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fit", help="train on a job file (runs/<id>/job.json)")
    p.add_argument("job", help="the job file; the run's outputs go beside it")
    p.add_argument("--audio-root", help="find the recordings under this folder (job made on another machine)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    args = parser.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the JSON-lines protocol
    try:
        return fit(args, out)
    finally:
        sys.stdout = out


if __name__ == "__main__":
    sys.exit(main())
