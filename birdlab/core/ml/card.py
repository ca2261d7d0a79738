"""The model card: what a trained version says about itself, one typed contract.

The trainer writes `card.json` beside `model.onnx` and `model.pt`; the project stores it with
the version; the CLI, the app (versions panel, Retrain dialog, report) and batch scoring read
it. All of them go through `ModelCard`, so a field is named once. Reading checks the shape
(`ModelCard.read`, `from_dict`: a `CardError` naming the file and the JSON path); keys this
birdlab does not know are kept in `extra` and written back unchanged.

`architecture` holds the model settings that fix its shape (backbone, frontend, head...; the
trainer decides which): a run that starts from this version takes them, so its weights fit.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from birdlab.core.atomic import atomic_write_text
from birdlab.core.validate import Node, SchemaError, load_json

# settings of a config's model block that start a run rather than shape the model (legacy
# cards without an `architecture` block: the rest of their model block is the architecture)
INITIALISATION_KEYS = ("pretrained", "init_weights", "init_model")


class CardError(ValueError):
    """A card that cannot be used; the message names the file (or version) and the problem."""


def _number_or_none(value: Any) -> float | None:
    """A metric: a finite number, or None for undefined (NaN as JSON writes it, or null)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass
class ModelCard:
    classes: list[str]
    backbone: str = ""
    mode: str = ""  # full or head
    family: str = "sed"  # sed, or embedding (a head on a frozen embedder)
    license: str = ""  # of pretrained weights it carries (e.g. BirdNET's)
    metrics: dict = field(default_factory=dict)  # the kept epoch: epoch, train_loss, ap{class}, cmap, lwlrap
    parent_metrics: dict | None = None  # the parent version on the same validation crops
    history: list[dict] = field(default_factory=list)
    training_run: str = ""
    parent: str = ""  # the version it started from
    label_counts: dict = field(default_factory=dict)  # {class: {positive: n, negative: n}}
    no_negatives: list[str] = field(default_factory=list)  # classes without negative evidence
    data_fingerprint: str = ""
    config: dict = field(default_factory=dict)  # the training config as run
    architecture: dict = field(default_factory=dict)
    parity_max_abs_diff: float | None = None
    created: str = ""
    extra: dict = field(default_factory=dict)  # keys of other writers, kept as they are

    # ---- reading and writing ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, where: str = "model card") -> "ModelCard":
        return cls._from_node(Node(data, where))

    @classmethod
    def read(cls, path: str | Path) -> "ModelCard":
        try:
            return cls._from_node(load_json(path, "model card"))
        except SchemaError as exc:
            raise CardError(str(exc)) from None

    @classmethod
    def _from_node(cls, node: Node) -> "ModelCard":
        try:
            doc = node.obj()
            classes = [item.str(empty=False) for item in doc["classes"].items()]
            if not classes:
                raise doc["classes"].fail("a model needs at least one class")
            known = {f.name for f in fields(cls)} - {"extra"}
            values: dict[str, Any] = {"classes": classes}
            for key in ("backbone", "mode", "family", "license", "training_run", "parent", "data_fingerprint",
                        "created"):
                if doc.get(key) is not None:
                    values[key] = doc[key].str()
            for key in ("metrics", "label_counts", "config", "architecture"):
                if doc.get(key) is not None:
                    values[key] = doc[key].obj().value
            if doc.get("parent_metrics") is not None:
                values["parent_metrics"] = doc["parent_metrics"].obj().value
            for key in ("metrics", "parent_metrics"):
                cmap = doc[key].get("cmap") if values.get(key) else None
                if cmap is not None and _number_or_none(cmap.value) is None and not (
                        isinstance(cmap.value, float) and cmap.value != cmap.value):
                    cmap.float()  # a text or a list where a number belongs: named with its path
            if doc.get("history") is not None:
                values["history"] = [item.obj().value for item in doc["history"].items()]
            if doc.get("no_negatives") is not None:
                values["no_negatives"] = doc["no_negatives"].strings()
            if doc.get("parity_max_abs_diff") is not None:
                values["parity_max_abs_diff"] = doc["parity_max_abs_diff"].float()
            extra = {k: v for k, v in doc.value.items() if k not in known}
        except SchemaError as exc:
            raise CardError(f"model card not usable: {exc}") from None
        return cls(**values, extra=extra)

    def to_dict(self) -> dict:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    def write(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, default=float))

    # ---- what readers ask ----------------------------------------------------------------------
    @property
    def cmap(self) -> float | None:
        """Validation cmAP of the kept epoch; None when undefined."""
        return _number_or_none((self.metrics or {}).get("cmap"))

    @property
    def parent_cmap(self) -> float | None:
        return _number_or_none((self.parent_metrics or {}).get("cmap"))

    def ap(self) -> dict[str, float | None]:
        """Validation AP per class (None: undefined, e.g. no negatives)."""
        return {c: _number_or_none(v) for c, v in ((self.metrics or {}).get("ap") or {}).items()}

    def cmap_text(self) -> str:
        return "validation cmAP n/a" if self.cmap is None else f"validation cmAP {self.cmap:.3f}"

    def start_settings(self) -> dict:
        """The model settings a run starting from this version must keep: its architecture (older
        cards: their config's model block without the initialisation settings)."""
        if self.architecture:
            return dict(self.architecture)
        model = dict((self.config or {}).get("model") or {})
        return {k: v for k, v in model.items() if k not in INITIALISATION_KEYS}
