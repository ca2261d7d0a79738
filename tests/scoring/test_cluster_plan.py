"""How a cluster's CPUs and GPUs become actors, and which ONNX Runtime provider an actor takes
(no Ray needed)."""

from __future__ import annotations

from birdlab.scoring.bundle import DEVICE_ENV, execution_providers
from birdlab.scoring.cluster import actor_plan


def test_one_actor_per_gpu_then_one_per_threads_of_the_cpus_left():
    assert actor_plan(cpus=2, gpus=0, threads=1) == (0, 2)
    assert actor_plan(cpus=64, gpus=4, threads=1) == (4, 60)  # each GPU actor keeps a CPU to feed it
    assert actor_plan(cpus=64, gpus=4, threads=4) == (4, 15)
    assert actor_plan(cpus=0, gpus=0, threads=1) == (0, 1)  # always one, to say what is wrong
    assert actor_plan(cpus=64, gpus=4, threads=1, workers=6) == (4, 2)  # --workers caps, GPUs first
    assert actor_plan(cpus=64, gpus=4, threads=1, workers=2) == (2, 0)


def test_a_gpu_actor_takes_cuda_only_when_onnxruntime_offers_it(monkeypatch):
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    assert execution_providers(with_cuda) == ["CPUExecutionProvider"]  # not asked for
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    assert execution_providers(with_cuda) == with_cuda
    assert execution_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]  # onnxruntime without CUDA
