"""The optimizer's parameter groups: a pretrained backbone can learn at a fraction of the head's rate."""

from training.config import ModelConfig, config_from_dict
from training.loop import lr_factor, param_groups
from training.models import create_model

TINY = dict(backbone="mobilenetv3_small_050", pretrained=False, n_mels=32, hidden=32, window_s=1.0, sample_rate=16000)


def test_the_backbone_and_the_rest_are_two_groups_at_their_own_rates():
    model = create_model("sed", cfg=ModelConfig(**TINY), n_classes=2)
    groups = param_groups(model, 0.1)
    backbone = {id(p) for p in model.backbone.parameters() if p.requires_grad}
    assert [g["lr_scale"] for g in groups] == [0.1, 1.0]
    assert {id(p) for p in groups[0]["params"]} == backbone
    assert not backbone & {id(p) for p in groups[1]["params"]} and groups[1]["params"]  # the head, at lr
    assert config_from_dict({"backbone_lr": 0.1}).backbone_lr == 0.1
    assert config_from_dict({}).backbone_lr == 1.0
    assert lr_factor(0, 100, 10) < lr_factor(9, 100, 10) == 1.0 > lr_factor(99, 100, 10)
