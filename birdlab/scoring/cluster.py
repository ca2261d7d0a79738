"""Batch work on a Ray cluster (issue 18): the same files scored by actors on many machines.

`birdlab score ... --cluster ADDRESS` runs `batch.run_batch` as usual; only the step that hands
files to workers changes. Instead of local worker processes, Ray actors (one model load each)
on every node of the cluster score whole files with the very `_score_file` of a local run and
write their per-file outputs; the driver (this process) keeps the journal, the project and the
combined tables exactly as a local run does, so `--resume` and the outputs are the same.

- Files go longest first and each actor takes the next one when it finishes one (at most two in
  flight per actor), so uneven lengths balance and the slowest file does not come last.
- A lost actor (its process or its node died) is replaced, and its files in flight are tried again
  on another; a file that loses its worker `MAX_ATTEMPTS` times is reported as failed with the
  reason, and the run goes on.
- ADDRESS: `local` starts a Ray instance on this machine for the run (all its cores), `auto`
  joins the cluster this machine belongs to (`ray start`), `ray://host:10001` connects a client.
- The audio, the models and the output folder must be at the same paths on every node (a shared
  file system), as docs/cluster.md explains.

Ray is optional (`pip install 'birdlab[cluster]'`); without it `--cluster` stops before anything
is written.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

CLUSTER_INSTALL = "pip install 'birdlab[cluster]'"
MAX_ATTEMPTS = 3  # tries of a file whose worker was lost before it is reported as failed


class ClusterError(RuntimeError):
    """The cluster cannot be used (Ray missing, or no cluster at the address); nothing was written."""


def ray_module():
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--cluster needs Ray, which is not installed: {CLUSTER_INSTALL}") from None
    return ray


@dataclass(frozen=True)
class ClusterInfo:
    address: str
    nodes: int
    cpus: int
    gpus: int


def connect(address: str, local_cpus: int | None = None) -> ClusterInfo:
    """Join (or for `local` start) the cluster; ClusterError with the reason when it cannot."""
    ray = ray_module()
    quiet = dict(log_to_driver=False, configure_logging=True, logging_level="ERROR")
    try:
        if ray.is_initialized():
            pass
        elif address == "local":
            # Ray runs its workers at nice 15 by default; these are this run's own workers, the
            # ones a local run would start at the user's priority (under other load a nice-15
            # worker got a thirtieth of a core here, not a third)
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=local_cpus or os.cpu_count() or 1, include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"--cluster {address}: no Ray cluster could be joined ({exc}); start one with "
                           "`ray start --head` (see docs/cluster.md) or use --cluster local") from None
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return ClusterInfo(address, len(nodes), int(resources.get("CPU", 0)), int(resources.get("GPU", 0)))


def disconnect() -> None:
    ray = ray_module()
    if ray.is_initialized():
        ray.shutdown()


@dataclass(frozen=True)
class WorkerJob:
    """What each actor runs: `module.init(*init_args)` once, then `module.task(*task_args)` per item."""

    module: str
    init: str
    init_args: tuple
    task: str


SCORE_JOB = ("birdlab.scoring.batch", "_init_worker", "_score_file")


def actor_plan(cpus: int, gpus: int, threads: int, workers: int | None = None) -> tuple[int, int]:
    """(GPU actors, CPU actors): one per GPU (with one CPU to feed it), then one per `threads` of the
    CPUs left; `workers` caps the total, GPU actors kept first."""
    gpu_actors = max(0, min(gpus, cpus))
    cpu_actors = max(0, (cpus - gpu_actors) // max(1, threads))
    if gpu_actors + cpu_actors == 0:
        cpu_actors = 1
    if workers is not None:
        gpu_actors = min(gpu_actors, workers)
        cpu_actors = min(cpu_actors, max(0, workers - gpu_actors))
    return gpu_actors, cpu_actors


class _Worker:
    """The actor: a worker's state, set up once, and its task per item (a file)."""

    def __init__(self, job: WorkerJob, device: str = "cpu"):
        import importlib

        from birdlab.scoring.bundle import DEVICE_ENV
        os.environ[DEVICE_ENV] = device  # before any model loads: a GPU actor's ONNX Runtime takes CUDA
        module = importlib.import_module(job.module)
        getattr(module, job.init)(*job.init_args)
        self.task = getattr(module, job.task)

    def run(self, *args):
        return self.task(*args)

    def providers(self) -> list[str]:
        """What ONNX Runtime offers here (a GPU actor without onnxruntime-gpu runs on the CPU)."""
        import onnxruntime
        return list(onnxruntime.get_available_providers())


def score_job(init: tuple) -> WorkerJob:
    """A batch run's worker init for actors: the local one, less the run's pid (an actor on
    another node outlives nothing of ours)."""
    module, init_name, task = SCORE_JOB
    return WorkerJob(module, init_name, tuple(init[:-1]) + (None,), task)


def run_on_cluster(tasks: list[tuple], job: WorkerJob, handle: Callable, failed: Callable, workers: int,
                   threads: int, sizes: dict | None = None, note: Callable[[str], None] = lambda text: None,
                   gpu_workers: int = 0) -> None:
    """Run `job` for every task (argument tuples whose first item names it, e.g. a file's path) on
    `workers` actors of `threads` CPUs each and `gpu_workers` actors of one GPU each, largest first;
    each result goes to `handle`, and an item whose worker was lost `MAX_ATTEMPTS` times to
    `failed(item, reason)`; `note` is told of each lost worker."""
    if not tasks:
        return
    ray = ray_module()
    sizes = sizes or {}
    queue = deque(sorted(tasks, key=lambda t: -sizes.get(t[0], 0.0)))
    attempts: dict = {}
    cpu_class = ray.remote(num_cpus=threads, max_restarts=0)(_Worker)
    gpu_class = ray.remote(num_cpus=1, num_gpus=1, max_restarts=0)(_Worker)
    devices: dict[int, str] = {}  # id(actor) -> "cpu" or "cuda"

    def new_actor(device: str = "cpu"):
        actor = (gpu_class if device == "cuda" else cpu_class).remote(job, device)
        devices[id(actor)] = device
        return actor

    actors = [new_actor("cuda") for _ in range(gpu_workers)] + [new_actor() for _ in range(max(0, workers))]
    if not actors:
        actors = [new_actor()]
    if gpu_workers:
        try:
            if "CUDAExecutionProvider" not in ray.get(actors[0].providers.remote()):
                note("the GPU workers have no CUDA provider (install onnxruntime-gpu on the GPU nodes): they use the CPU")
        except ray.exceptions.RayActorError:
            pass  # it failed to start: its files say why below
    in_flight: dict = {}  # object ref -> (actor, task)

    def fill(actor) -> None:
        """Up to two items in flight on an actor."""
        while queue and sum(1 for a, _ in in_flight.values() if a is actor) < 2:
            task = queue.popleft()
            in_flight[actor.run.remote(*task)] = (actor, task)

    try:
        for actor in actors:
            fill(actor)
        while in_flight:
            done, _ = ray.wait(list(in_flight), num_returns=1)
            actor, task = in_flight.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.NodeDiedError) as exc:
                key = task[0]
                attempts[key] = attempts.get(key, 0) + 1
                if attempts[key] >= MAX_ATTEMPTS:
                    detail = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else ""
                    failed(key, f"its worker was lost {attempts[key]} times ({type(exc).__name__}"
                                + (f": {detail})" if detail else ")"))
                else:
                    queue.appendleft(task)
                slot = next((k for k, a in enumerate(actors) if a is actor), None)
                if slot is not None:  # the first of its files to come back: replace the actor
                    actors[slot] = new_actor(devices.get(id(actor), "cpu"))
                    ray.kill(actor, no_restart=True)
                    note(f"a worker was lost ({type(exc).__name__}); its files go to another")
                for live in actors:
                    fill(live)
                continue
            handle(outcome)
            if any(a is actor for a in actors):
                fill(actor)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
