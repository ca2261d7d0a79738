"""The model file's self-description (DESIGN.md section 4), checked key by key.

Kept apart from the ONNX Runtime session so it can be read and tested without one: the
bundle hands this module the `metadata_props` map, and gets back a typed `ModelMetadata` or
a `ModelFileError` naming the file and exactly what is missing or wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from birdlab.core.sound.features import StftSpec
from birdlab.core.validate import SchemaError, parse_json
from birdlab.scoring.embedders import EMBEDDING_KIND, EmbeddingSpec

FORMAT_VERSION = "1"
# Keys every model file must carry (values are strings; some hold JSON).
REQUIRED_KEYS = ("birdlab.format", "classes", "sample_rate", "window_s", "frame_hop_s", "input",
                 "frontend", "backbone", "parent", "created", "training_run")


class ModelFileError(Exception):
    """A model file that cannot be used; the message names the file and why."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class ModelMetadata:
    """What a model file says about itself, parsed and checked."""

    classes: tuple[str, ...]
    sample_rate: int
    window_s: float
    frame_hop_s: float
    spec: StftSpec | None  # the STFT of the `power` input; None for an embedding-family head
    frontend: dict
    backbone: str
    parent: str
    created: str
    training_run: str
    class_bands: dict[str, tuple[float, float]] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # every metadata_props entry, as stored
    raw_audio: bool = False  # the graph also takes the window's audio (input `audio` [batch, samples])
    embedding: EmbeddingSpec | None = None  # an embedding-family head: the frozen embedder it runs on
    default_hop_s: float | None = None  # the window hop to score with when none is asked for (None: window_s)
    license: str = ""  # the licence of the model's weights, when it is not the project's own
    overlap: str = "mean"  # how overlapping windows combine on a frame: "mean", or "geometric" (one score per window)
    head: str = ""  # the model's head (attention, class_query, linear); informative

    def to_props(self) -> dict[str, str]:
        """The ONNX `metadata_props` that describe this model: what exports write and
        `parse_metadata` reads back (`parse_metadata(path, m.to_props())` gives `m` again)."""
        if self.embedding is not None:
            input_json = self.embedding.to_json()
        else:
            assert self.spec is not None, "a model needs an STFT input or an embedder"
            input_json = {**self.spec.to_json(), **({"raw_audio": True} if self.raw_audio else {})}
        props = {"birdlab.format": FORMAT_VERSION, "classes": json.dumps(list(self.classes)),
                 "sample_rate": str(self.sample_rate), "window_s": repr(float(self.window_s)),
                 "frame_hop_s": repr(float(self.frame_hop_s)), "input": json.dumps(input_json),
                 "frontend": json.dumps(self.frontend), "backbone": self.backbone, "head": self.head,
                 "parent": self.parent, "created": self.created, "training_run": self.training_run}
        if self.class_bands:
            props["class_bands"] = json.dumps({name: list(band) for name, band in self.class_bands.items()})
        if self.default_hop_s is not None:
            props["default_hop_s"] = repr(float(self.default_hop_s))
        if self.overlap != "mean":
            props["overlap"] = self.overlap
        if self.license:
            props["license"] = self.license
        return props

    @property
    def is_embedding_head(self) -> bool:
        return self.embedding is not None

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate))

    @property
    def out_frames(self) -> int:
        """Framewise output frames per window: round(window_s / frame_hop_s)."""
        return int(round(self.window_s / self.frame_hop_s))

    @property
    def in_frames(self) -> int:
        """STFT frames of one window (the `power` input's second axis)."""
        assert self.spec is not None, "an embedding-family head has no STFT input"
        return self.spec.n_frames(self.window_samples)


def _json(path: str | Path, props: dict[str, str], key: str, kind: type) -> object:
    """A JSON metadata value, parsed by the one validator (nesting and syntax limits)."""
    try:
        value = parse_json(props[key], path).value
    except SchemaError as exc:
        raise ModelFileError(path, f"metadata {key!r} is {exc.reason}") from None
    if not isinstance(value, kind):
        raise ModelFileError(path, f"metadata {key!r} must be a JSON {kind.__name__}, "
                                   f"got {type(value).__name__}")
    return value


def _number(path: str | Path, props: dict[str, str], key: str, cast: type) -> float:
    text = props[key].strip()
    try:
        value = cast(text) if cast is float else int(text)
    except ValueError:
        raise ModelFileError(path, f"metadata {key!r} = {text!r} is not a{'n integer' if cast is int else ' number'}") \
            from None
    if not (math.isfinite(value) and value > 0):
        raise ModelFileError(path, f"metadata {key!r} = {text!r} must be positive")
    return value


def parse_metadata(path: str | Path, props: dict[str, str]) -> ModelMetadata:
    """Check and parse a model file's metadata_props; ModelFileError naming the file and the problem."""
    if "birdlab.format" not in props:
        raise ModelFileError(path, "not a birdlab model (no 'birdlab.format' metadata); "
                                   "export models with `python -m training export`")
    if props["birdlab.format"].strip() != FORMAT_VERSION:
        raise ModelFileError(path, f"unsupported model format version {props['birdlab.format']!r} "
                                   f"(this birdlab reads version {FORMAT_VERSION})")
    missing = [k for k in REQUIRED_KEYS if k not in props]
    if missing:
        raise ModelFileError(path, "metadata lacks " + ", ".join(repr(k) for k in missing))

    classes = _json(path, props, "classes", list)
    if not classes:
        raise ModelFileError(path, "metadata 'classes' is an empty list")
    if not all(isinstance(c, str) and c.strip() for c in classes):
        raise ModelFileError(path, "metadata 'classes' must hold non-empty strings")
    dupes = sorted({c for c in classes if classes.count(c) > 1})
    if dupes:
        raise ModelFileError(path, f"metadata 'classes' repeats {', '.join(repr(d) for d in dupes)}")

    sample_rate = int(_number(path, props, "sample_rate", int))
    window_s = float(_number(path, props, "window_s", float))
    frame_hop_s = float(_number(path, props, "frame_hop_s", float))
    if frame_hop_s > window_s:
        raise ModelFileError(path, f"frame_hop_s {frame_hop_s:g} is longer than window_s {window_s:g}")

    spec_json = _json(path, props, "input", dict)
    spec: StftSpec | None = None
    embedding: EmbeddingSpec | None = None
    try:
        if spec_json.get("kind") == EMBEDDING_KIND:  # type: ignore[union-attr]
            embedding = EmbeddingSpec.from_json(spec_json)  # type: ignore[arg-type]
        else:
            spec = StftSpec.from_json(spec_json)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise ModelFileError(path, f"metadata 'input': {exc}") from None
    default_hop_s = None
    if props.get("default_hop_s", "").strip():
        default_hop_s = float(_number(path, props, "default_hop_s", float))
        if default_hop_s > window_s:
            raise ModelFileError(path, f"default_hop_s {default_hop_s:g} is longer than window_s {window_s:g}")
    overlap = props.get("overlap", "mean").strip() or "mean"
    if overlap not in ("mean", "geometric"):
        raise ModelFileError(path, f"metadata 'overlap' {overlap!r}: use 'mean' or 'geometric'")
    if spec is not None and spec.n_frames(int(round(window_s * sample_rate))) < 1:
        raise ModelFileError(path, f"a {window_s:g} s window at {sample_rate} Hz is shorter than one "
                                   f"STFT frame (n_fft {spec.n_fft})")
    frontend = _json(path, props, "frontend", dict)

    bands: dict[str, tuple[float, float]] = {}
    if props.get("class_bands", "").strip():
        raw_bands = _json(path, props, "class_bands", dict)
        for name, band in raw_bands.items():  # type: ignore[union-attr]
            if name not in classes:
                raise ModelFileError(path, f"metadata 'class_bands' names {name!r}, which is not a class")
            ok = (isinstance(band, list) and len(band) == 2
                  and all(isinstance(v, (int, float)) and math.isfinite(v) for v in band)
                  and 0 <= band[0] < band[1])
            if not ok:
                raise ModelFileError(path, f"metadata 'class_bands' for {name!r} must be [f_min, f_max] "
                                           f"with 0 <= f_min < f_max, got {band!r}")
            bands[name] = (float(band[0]), float(band[1]))

    return ModelMetadata(classes=tuple(classes), sample_rate=sample_rate, window_s=window_s,
                         frame_hop_s=frame_hop_s, spec=spec, frontend=frontend,  # type: ignore[arg-type]
                         backbone=props["backbone"], parent=props["parent"], created=props["created"],
                         training_run=props["training_run"], class_bands=bands, raw=dict(props),
                         raw_audio=bool(spec_json.get("raw_audio", False)),  # type: ignore[union-attr]
                         embedding=embedding, default_hop_s=default_hop_s, license=props.get("license", ""),
                         overlap=overlap, head=props.get("head", ""))
