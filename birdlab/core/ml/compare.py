"""What changed between two model versions: detections gained, lost and flipped, AP per class."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from birdlab.core.model import Detection, ModelVersion
from birdlab.core.store.project import Project


@dataclass(frozen=True)
class DetectionDiff:
    new: int  # the new version detects something where the old one had nothing
    lost: int  # the old version's detection has no counterpart
    flipped: int  # both detect something there, but of another class
    kept: int  # same place, same class

    def __str__(self) -> str:
        return f"{self.new} new, {self.lost} lost, {self.flipped} flipped, {self.kept} kept"

    def __add__(self, other: "DetectionDiff") -> "DetectionDiff":
        return DetectionDiff(self.new + other.new, self.lost + other.lost, self.flipped + other.flipped,
                             self.kept + other.kept)


NO_CHANGE = DetectionDiff(0, 0, 0, 0)


def recordings_diff(project: Project, model_id: int, parent_id: int, recording_ids) -> DetectionDiff:
    """The diff of two versions on some recordings, read one recording at a time."""
    total = NO_CHANGE
    for rid in recording_ids:
        total = total + diff_detections(project.detections(parent_id, rid), project.detections(model_id, rid))
    return total


def _overlap(a: Detection, b: Detection) -> float:
    inter = min(a.t_max, b.t_max) - max(a.t_min, b.t_min)
    return inter / max(1e-9, min(a.t_max - a.t_min, b.t_max - b.t_min))


def diff_detections(old: list[Detection], new: list[Detection], min_overlap: float = 0.5) -> DetectionDiff:
    """Compare detections on the same recordings: two overlap when they share at least
    `min_overlap` of the shorter one's duration."""
    by_rec: dict[int, list[Detection]] = defaultdict(list)
    for d in old:
        by_rec[d.recording_id].append(d)
    matched_old: set[int] = set()
    counts = {"new": 0, "flipped": 0, "kept": 0}
    for d in new:
        hits = [o for o in by_rec.get(d.recording_id, []) if _overlap(d, o) >= min_overlap]
        matched_old.update(o.id for o in hits)
        if any(o.class_id == d.class_id for o in hits):
            counts["kept"] += 1
        elif hits:
            counts["flipped"] += 1
        else:
            counts["new"] += 1
    lost = sum(1 for o in old if o.id not in matched_old)
    return DetectionDiff(counts["new"], lost, counts["flipped"], counts["kept"])


def ap_table(old: dict | None, new: dict) -> list[tuple[str, float | None, float | None]]:
    """(class, old AP, new AP) from two cards' validation metrics."""
    old_ap = (old or {}).get("ap", {}) or {}
    new_ap = new.get("ap", {}) or {}
    return [(c, old_ap.get(c), new_ap.get(c)) for c in sorted(set(old_ap) | set(new_ap))]


def change_summary(project: Project, model: ModelVersion, parent_id: int, recording_ids: set[int],
                   diff: DetectionDiff | None = None) -> list[str]:
    """What a new version changed against its parent on the recordings rescored so far: new /
    lost / flipped detections (`diff`, summed as recordings were rescored, else read), then
    validation AP per class, old -> new (when the card has both)."""
    if diff is None:
        diff = recordings_diff(project, model.id, parent_id, sorted(recording_ids))
    lines = [f"On {len(recording_ids)} rescored recording(s): {diff} "
             f"(vs {project.model_version(parent_id).name})."]
    card = model.model_card
    rows = ap_table(card.parent_metrics, card.metrics) if card else []
    if rows:
        shown = (lambda v: "–" if v is None else f"{v:.3f}")
        lines.append("Validation AP, old → new: " + ", ".join(f"{c} {shown(a)} → {shown(b)}" for c, a, b in rows))
    return lines
