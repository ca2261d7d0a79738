"""The one interface of every model family (timm's forward_features / forward_head split).

The trainer, head-only training on cached embeddings and export call only these members, so a
new family (the SED CNN, the head on BirdNET embeddings, the next embedding model) implements
them and reuses the rest. `tests/training/test_model_contract.py` runs the same contract
against every family.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class FrameModel(Protocol):
    n_classes: int
    out_frames: int  # framewise outputs per window
    head: nn.Module  # what head-only training trains (and keeps at its best epoch)

    def forward_features(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The model's inputs (STFT power, audio; or an embedding) -> the embedding its head reads."""
        ...

    def forward_head(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedding -> (framewise logits [B, out_frames, C], clipwise probabilities [B, C])."""
        ...

    def frozen_parts(self) -> list[nn.Module]:
        """What head-only training freezes: everything that shapes the embedding."""
        ...
