"""A project of synthetic soundscapes with labels: for the demo, the training tests and benchmarks.

Each recording is a `birdlab.core.synthetic.synth` soundscape whose ground-truth calls become positive
labels. Distractor sounds become negative labels of the class whose band they overlap most
(the confusing sounds an expert would reject), and each recording can be marked reviewed
and complete for every class, so that its unlabelled audio counts as negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from birdlab.core.model import Box, Polarity, Source
from birdlab.core.store.project import Project, new_label
from birdlab.core.synthetic.synth import SoundscapeConfig, default_species, write_soundscape


@dataclass(frozen=True)
class SyntheticProjectSpec:
    recordings: int = 6
    duration_s: float = 30.0
    species: int | tuple[str, ...] = 3  # the first N of `default_species`, or their names
    sample_rate: int = 32000
    seed: int = 0
    snr_db: tuple[float, float] = (5.0, 20.0)
    label_fraction: float = 1.0  # share of the true calls given as positive labels
    negatives: bool = True  # distractors as negative labels
    complete: bool = True  # mark every recording reviewed and complete for every class


def make_synthetic_project(folder: str | Path, spec: SyntheticProjectSpec = SyntheticProjectSpec()) -> Project:
    """Create (or fill) the project in `folder` with audio under `folder/audio`; returns it open."""
    import numpy as np

    folder = Path(folder)
    project = Project.create(folder) if not (folder / "project.sqlite").exists() else Project.open(folder)
    every = default_species(spec.sample_rate)
    species = (every[:spec.species] if isinstance(spec.species, int)
               else [s for s in every if s.name in spec.species])
    class_ids = {s.name: project.add_class(s.name, f_min=s.f_low, f_max=s.f_high).id for s in species}
    rng = np.random.default_rng(spec.seed)
    audio_dir = folder / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    for i in range(spec.recordings):
        cfg = SoundscapeConfig(duration_s=spec.duration_s, sample_rate=spec.sample_rate, species=species,
                               seed=spec.seed * 1000 + i, snr_db=spec.snr_db)
        path = audio_dir / f"site{i + 1:02d}.wav"
        scape = write_soundscape(path, cfg)
        rec = project.add_recording(path)
        new = [new_label(rec.id, class_ids[e.label], e.box, Polarity.POSITIVE, Source.IMPORT, "synthetic")
               for e in scape.events if rng.random() < spec.label_fraction]
        if spec.negatives:
            for d in scape.distractors:
                best = max(species, key=lambda s: min(s.f_high, d.f_max) - max(s.f_low, d.f_min))
                box = Box(d.t_min, min(d.t_max, rec.duration), d.f_min, min(d.f_max, rec.nyquist))
                if not box.problems(rec.duration, rec.nyquist):
                    new.append(new_label(rec.id, class_ids[best.name], box, Polarity.NEGATIVE, Source.IMPORT,
                                        "synthetic"))
        project.add_labels(new)
        if spec.complete:
            project.add_extent(rec.id, 0.0, rec.duration, list(class_ids.values()))
    return project


__all__ = ["SyntheticProjectSpec", "make_synthetic_project"]
