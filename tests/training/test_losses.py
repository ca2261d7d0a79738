"""The RFCX frame-masked loss: masked frames and classes get exactly zero gradient."""

import torch

from training.losses import distillation_loss, masked_clip_bce, masked_frame_bce, sed_loss


def _example():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 3, requires_grad=True)  # [B, T, C]
    targets = torch.zeros(2, 3, 6)
    mask = torch.zeros(2, 3, 6)
    targets[0, 0, 1:3] = 1
    mask[0, 0, 1:3] = 1  # positive frames of class 0
    mask[0, 1, 4:6] = 1  # negative frames of class 1
    mask[1, 0, :] = 1  # a complete extent for class 0 in crop 1
    return logits, targets, mask


def test_frame_loss_gradient_is_zero_exactly_on_masked_frames():
    logits, targets, mask = _example()
    masked_frame_bce(logits, targets, mask).backward()
    grad = logits.grad.transpose(1, 2)  # [B, C, T]
    assert torch.all(grad[mask == 0] == 0)
    assert torch.all(grad[mask == 1] != 0)


def test_full_sed_loss_leaves_masked_frames_and_classes_untouched():
    logits, targets, mask = _example()
    clipwise = torch.rand(2, 3, requires_grad=True)
    sed_loss(logits, clipwise, targets, mask, clip_weight=1.0, label_smoothing=0.1).backward()
    grad = logits.grad.transpose(1, 2)
    assert torch.all(grad[mask == 0] == 0)
    assert torch.all(clipwise.grad[:, 2] == 0)  # class 2 is never labelled
    assert clipwise.grad[1, 1] == 0  # class 1 unlabelled in crop 1
    assert clipwise.grad[0, 0] != 0 and clipwise.grad[0, 1] != 0


def test_a_negative_box_pushes_its_class_down_and_leaves_others():
    logits = torch.zeros(1, 4, 3, requires_grad=True)
    targets = torch.zeros(1, 3, 4)
    mask = torch.zeros(1, 3, 4)
    mask[0, 1, :2] = 1  # negative box of class 1 over frames 0-1
    masked_frame_bce(logits, targets, mask).backward()
    g = logits.grad[0]  # [T, C]
    assert torch.all(g[:2, 1] > 0)  # gradient descent lowers class 1's logits there
    assert torch.all(g[:, [0, 2]] == 0) and torch.all(g[2:, 1] == 0)


def test_loss_normalises_by_labelled_count_and_handles_no_labels():
    logits = torch.zeros(1, 4, 2)
    targets, mask = torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)
    assert masked_frame_bce(logits, targets, mask) == 0
    mask[0, 0, 0] = 1
    assert torch.isclose(masked_frame_bce(logits, targets, mask), torch.log(torch.tensor(2.0)))
    assert torch.isclose(masked_clip_bce(torch.full((1, 2), 0.5), torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])),
                         torch.log(torch.tensor(2.0)))


def test_distillation_weights_and_zero_kl_for_equal_models():
    p = torch.rand(2, 5, 3)
    c = torch.rand(2, 3)
    task = torch.tensor(1.0)
    assert torch.isclose(distillation_loss(task, p, p, c, c), torch.tensor(0.33))
    assert distillation_loss(task, p, 1 - p, c, c) > 0.33
