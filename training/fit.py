"""Which loop trains a job: the full fine-tune (`Trainer.fit_full`), the quick head mode on
cached backbone embeddings (`head_mode`), or a head on a frozen embedder (`embedding_head`).

The modes build on `training.loop` (the Trainer's data, checkpoints, evaluation and export)
and `loop` knows none of them, so the modules import in one direction only.
"""

from __future__ import annotations

from birdlab.core.ml.jobs import JobError
from training.config import EMBEDDING_FAMILY
from training.embedding_head import fit_embedding_head
from training.head_mode import fit_head
from training.loop import FitResult, Trainer


def fit(trainer: Trainer, resume: bool = False) -> FitResult:
    if trainer.job.teacher is not None and (trainer.cfg.model.name == EMBEDDING_FAMILY or trainer.cfg.mode == "head"):
        raise JobError(f"{trainer.job.path}: distillation from {trainer.job.teacher.version!r} trains a full SED "
                       f"model (mode 'full'); this job asks for {trainer.cfg.model.name!r} in mode {trainer.cfg.mode!r}")
    if trainer.cfg.model.name == EMBEDDING_FAMILY:
        return fit_embedding_head(trainer, resume)
    if trainer.cfg.mode == "head":
        return fit_head(trainer, resume)
    return trainer.fit_full(resume)
