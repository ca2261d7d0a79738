"""Two promises of the trainer that whole runs cannot show: a previous version's class rows are
matched by class name, and the loss gets the real frame mask (unlabelled frames take no part)."""

from __future__ import annotations

import io

import torch

from birdlab.core.ml.jobs import make_job, read_job, write_job
from birdlab.core.synthetic.synth_project import SyntheticProjectSpec, make_synthetic_project
from training.config import ModelConfig, config_from_dict
from training.events import CancelFlag, Events
from training.fit import fit
from training.loop import CLASS_TENSORS, Trainer, load_init_model
from training.models.registry import create_model

TINY = {"backbone": "mobilenetv3_small_050", "pretrained": False, "n_mels": 32, "hidden": 32}


def tiny_model(n_classes: int):
    return create_model("sed", cfg=ModelConfig(**TINY), n_classes=n_classes)


def test_a_previous_versions_class_rows_are_matched_by_name(tmp_path):
    old = tiny_model(3)
    with torch.no_grad():
        for key in ("head.cla.weight", "head.cla.bias", "head.att.weight", "head.att.bias"):
            tensor = old.state_dict()[key]
            for row in range(3):
                tensor[row] = float(row + 1)  # row i holds i + 1 everywhere
    path = tmp_path / "model.pt"
    torch.save({"state_dict": old.state_dict(), "classes": ["A", "B", "C"]}, path)
    new = tiny_model(3)
    fresh = {k: v.clone() for k, v in new.state_dict().items()}
    load_init_model(new, str(path), ["C", "X", "A"])
    state = new.state_dict()
    for key in ("head.cla.weight", "head.cla.bias", "head.att.weight", "head.att.bias"):
        assert torch.all(state[key][0] == 3.0) and torch.all(state[key][2] == 1.0), key  # C and A, by name
        assert torch.equal(state[key][1], fresh[key][1]), key  # X is new: its fresh rows stay
    shared = [k for k in state if not k.startswith("head.") and k not in CLASS_TENSORS and state[k].is_floating_point()]
    assert shared and all(torch.equal(state[k], old.state_dict()[k]) for k in shared)  # the rest copied whole


def test_the_loss_gets_the_real_frame_mask(tmp_path, monkeypatch):
    """Labels cover a second of a 5 s crop and nothing is marked complete: most frames are
    unknown, so the mask the loss sees must hold zeros (an all-ones mask would train them as
    negatives) and ones (the labelled frames)."""
    project = make_synthetic_project(tmp_path / "p", SyntheticProjectSpec(recordings=2, duration_s=12.0, species=2,
                                                                         complete=False, negatives=False))
    job = read_job(write_job(make_job(project, {}), tmp_path / "run" / "job.json"))
    cfg = config_from_dict({"epochs": 1, "batch_size": 2, "min_epoch_samples": 0, "model": TINY,
                            "background_crops": 0.0, "val_fraction": 0.0})
    seen = []
    import training.loop as loop

    real = loop.sed_loss

    def spy(frame_logits, clipwise, targets, mask, *args, **kwargs):
        seen.append((targets.detach().clone(), mask.detach().clone()))
        if len(seen) >= 2:
            trainer.cancel.set()
        return real(frame_logits, clipwise, targets, mask, *args, **kwargs)
    monkeypatch.setattr(loop, "sed_loss", spy)
    trainer = Trainer(job, cfg, tmp_path / "run", Events(io.StringIO(), tmp_path / "run"), CancelFlag())
    fit(trainer)
    assert seen
    for targets, mask in seen:
        assert mask.shape == targets.shape
        assert (mask == 0).any() and (mask == 1).any()  # unknown frames masked, labelled ones counted
        assert (targets * mask).sum() > 0  # positives inside the mask
