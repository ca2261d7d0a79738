"""Typed records shared by the GUI, the scorer and the trainer.

Everything is in seconds and Hz (as in soundevent). These are plain dataclasses: the
project store (`birdlab.core.store.project`) maps them to SQLite rows, the formats map them
to and from external tables.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from birdlab.core.ml.card import ModelCard


class Polarity(str, Enum):
    """What a label says about its class inside its box (DESIGN.md section 3)."""

    POSITIVE = "positive"  # the class calls here
    NEGATIVE = "negative"  # the class does not call here (false positive, confusing sound)
    UNCERTAIN = "uncertain"  # kept and shown, never trained on

    @classmethod
    def parse(cls, text: str) -> "Polarity":
        """Accept the names and the usual short forms (tp/fp, +/-, ?)."""
        found = _POLARITY_ALIASES.get(text.strip().lower())
        if found is None:
            raise ValueError(f"unknown polarity {text!r} (use positive, negative or uncertain)")
        return cls._value2member_map_[found]  # the member without Enum's call (a million-row import)


_POLARITY_ALIASES = {
    **dict.fromkeys(("positive", "pos", "p", "+", "tp", "1", "true", "yes"), "positive"),
    **dict.fromkeys(("negative", "neg", "n", "-", "fp", "0", "false", "no"), "negative"),
    **dict.fromkeys(("uncertain", "u", "?", "maybe"), "uncertain"),
}


class Source(str, Enum):
    """Where a label came from."""

    MANUAL = "manual"
    REVIEW = "review"
    IMPORT = "import"


@dataclass(frozen=True)
class Box:
    """A time/frequency box: t in seconds, f in Hz."""

    t_min: float
    t_max: float
    f_min: float
    f_max: float

    def problems(self, duration: float | None = None, nyquist: float | None = None) -> list[str]:
        """Why this box is not valid (empty when it is), against a recording's extent."""
        out: list[str] = []
        values = (self.t_min, self.t_max, self.f_min, self.f_max)
        if not all(math.isfinite(v) for v in values):
            return ["box has a value that is not a finite number"]
        if self.t_min < 0:
            out.append(f"t_min {self.t_min:g} s is negative")
        if not self.t_min < self.t_max:
            out.append(f"t_max {self.t_max:g} s is not after t_min {self.t_min:g} s")
        if self.f_min < 0:
            out.append(f"f_min {self.f_min:g} Hz is negative")
        if not self.f_min < self.f_max:
            out.append(f"f_max {self.f_max:g} Hz is not above f_min {self.f_min:g} Hz")
        # A little slack absorbs rounding in exported tables (ms and 0.1 Hz precision).
        if duration is not None and self.t_max > duration + 1e-3:
            out.append(f"t_max {self.t_max:g} s is past the end of the recording ({duration:g} s)")
        if nyquist is not None and self.f_max > nyquist + 0.5:
            out.append(f"f_max {self.f_max:g} Hz is above the Nyquist frequency ({nyquist:g} Hz)")
        return out


class HasBox:
    """A record that composes one `Box` (field `box`) and reads its edges through it."""

    box: Box

    @property
    def t_min(self) -> float:
        return self.box.t_min

    @property
    def t_max(self) -> float:
        return self.box.t_max

    @property
    def f_min(self) -> float:
        return self.box.f_min

    @property
    def f_max(self) -> float:
        return self.box.f_max


@dataclass
class Recording:
    """An audio file known to a project."""

    id: int
    path: str  # as stored: relative to the project folder where possible
    size: int
    fingerprint: str
    duration: float
    sample_rate: int
    channels: int
    format: str = ""
    subtype: str = ""
    added: str = ""
    abs_path: Path | None = None  # resolved by the project

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def nyquist(self) -> float:
        return self.sample_rate / 2.0


@dataclass
class ClassInfo:
    """A class (species, call type) of a project. f_min/f_max: its usual band, if known."""

    id: int
    name: str
    common_name: str = ""
    f_min: float | None = None
    f_max: float | None = None


@dataclass
class Label(HasBox):
    """A human statement about one class inside one box of one recording."""

    id: int
    recording_id: int
    class_id: int
    box: Box
    polarity: Polarity = Polarity.POSITIVE
    source: Source = Source.MANUAL
    author: str = ""
    created: str = ""
    modified: str = ""
    note: str = ""
    detection_id: int | None = None
    tags: tuple[str, ...] = ()  # free words or `key:value` pairs (Whombat's tags), in order


TAG_SEPARATOR = ";"


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags as kept: trimmed, no empty ones, each once, in the order given."""
    return tuple(dict.fromkeys(t.strip() for t in tags if t and t.strip()))


def parse_tags(text: str) -> tuple[str, ...]:
    """Tags typed or read as one text ("flight call; calltype:song")."""
    return clean_tags(text.split(TAG_SEPARATOR))


def tags_text(tags: Iterable[str]) -> str:
    """Tags as one text, the form `parse_tags` reads back."""
    return f"{TAG_SEPARATOR} ".join(tags)


@dataclass
class ReviewedExtent:
    """A time range someone listened to completely for the given classes.

    Unlabelled audio of those classes inside it counts as negative (DESIGN.md section 3).
    """

    id: int
    recording_id: int
    t_min: float
    t_max: float
    class_ids: tuple[int, ...] = ()
    author: str = ""
    created: str = ""


@dataclass
class ModelVersion:
    """A model known to the project: an ONNX file of ours, or an external source of detections."""

    id: int
    name: str
    kind: str = "onnx"  # "onnx" or "external" (e.g. imported BirdNET-Analyzer results)
    path: str = ""
    parent_id: int | None = None
    training_run_id: int | None = None
    card: dict = field(default_factory=dict)  # as stored; read it through `model_card`
    created: str = ""
    active: bool = False

    @property
    def model_card(self) -> ModelCard | None:
        """The card, typed (None for a version without one, e.g. imported detections)."""
        from birdlab.core.ml.card import ModelCard
        return ModelCard.from_dict(self.card, f"model version {self.name!r}") if self.card.get("classes") else None


@dataclass
class Detection(HasBox):
    """A box a model put on a recording, with its score."""

    id: int
    model_version_id: int
    recording_id: int
    class_id: int
    box: Box
    score: float

    @classmethod
    def from_values(cls, id: int, model_version_id: int, recording_id: int, class_id: int, t_min: float,
                    t_max: float, f_min: float, f_max: float, score: float) -> Detection:
        """From a row in `DETECTION_COLUMNS` order (the box's four values flat)."""
        return cls(id, model_version_id, recording_id, class_id, Box(t_min, t_max, f_min, f_max), score)


@dataclass
class TrainingRun:
    """A training job folder under runs/."""

    id: int
    folder: str
    status: str = "created"  # created, running, ok, failed, cancelled
    created: str = ""
    finished: str = ""
    config: dict = field(default_factory=dict)
    model_version_id: int | None = None
