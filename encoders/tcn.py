"""The IMU network: one temporal convolutional branch per body placement and a fused embedding.

Each placement gets its own branch (a wrist moves nothing like a thigh), each branch projects into the
text-embedding space, and the fused embedding is the normalised mean of the normalised placement
embeddings over the placements *present*. Averaging (rather than concatenating) is what lets a recording
with fewer placements still embed into the same space; training with placement dropout keeps that
average meaningful for every subset.

The branches are independent networks, but they are computed together as grouped convolutions (group =
placement): on a shared 2-core CPU that is 1.5–3x faster than looping over five small networks, and the
weights of group `p` are exactly branch `p`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from encoders.config import TCNConfig


class GroupedResidualBlock(nn.Module):
    """Two dilated convolutions per branch with batch norm and a residual path (non-causal: windows are offline)."""

    def __init__(self, groups: int, width: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        channels, padding = groups * width, dilation * (kernel_size - 1) // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel_size, padding=padding, dilation=dilation, groups=groups, bias=False)
        self.norm1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size, padding=padding, dilation=dilation, groups=groups, bias=False)
        self.norm2 = nn.BatchNorm1d(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(self.dropout(y)))
        return F.gelu(x + y)


class MultiPlacementEncoder(nn.Module):
    """Per-placement TCN branches -> per-placement projections into the text space -> fused embedding.

    Input `(B, P*C, T)` in SI units, placement-major (`C` channels per placement, in `placements` order).
    Normalisation statistics are buffers, so they travel inside the `state_dict` with the weights.
    """

    def __init__(
        self,
        placements: tuple[str, ...],
        channels_per_placement: int,
        embed_dim: int,
        config: TCNConfig,
        mean: torch.Tensor,
        std: torch.Tensor,
    ) -> None:
        super().__init__()
        self.placements = tuple(placements)
        self.embed_dim = embed_dim
        p, w, k = len(self.placements), config.width, config.kernel_size
        self.width = w
        self.register_buffer("mean", mean.reshape(1, p * channels_per_placement, 1).clone())
        self.register_buffer("std", std.reshape(1, p * channels_per_placement, 1).clone())
        self.stem = nn.Sequential(
            nn.Conv1d(p * channels_per_placement, p * w, k, stride=config.stem_stride, padding=k // 2, groups=p, bias=False),
            nn.BatchNorm1d(p * w),
            nn.GELU(),
        )
        self.blocks = nn.Sequential(
            *(GroupedResidualBlock(p, w, k, d, config.dropout) for d in config.dilations)
        )
        # per-branch MLP head as grouped 1x1 convolutions on the pooled features
        self.project = nn.Sequential(
            nn.Conv1d(p * 2 * w, p * 2 * w, 1, groups=p),
            nn.GELU(),
            nn.Conv1d(p * 2 * w, p * embed_dim, 1, groups=p),
        )

    def placement_embeddings(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P*C, T) raw -> (B, P, D) L2-normalised embedding of every placement branch."""
        z = (x - self.mean) / self.std
        h = self.blocks(self.stem(z))
        b, p = h.shape[0], len(self.placements)
        h = h.view(b, p, self.width, -1)
        pooled = torch.cat([h.mean(dim=3), h.std(dim=3)], dim=2)  # mean: posture/level; std: movement energy
        out = self.project(pooled.reshape(b, p * 2 * self.width, 1))
        return F.normalize(out.view(b, p, self.embed_dim), dim=2)

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused (B, D) and per-placement (B, P, D) embeddings, both unit length; absent placements are zero rows."""
        per_placement = self.placement_embeddings(x) * present.unsqueeze(2).to(x.dtype)
        fused = F.normalize(per_placement.sum(dim=1), dim=1)
        return fused, per_placement


class TextProjection(nn.Module):
    """Learnable residual projection of text embeddings (contrastive pipeline), starting at the identity.

    A free projection trained on only the seen activities' texts could bend the unseen activities'
    embeddings arbitrarily; starting at identity and pulling the residual toward zero keeps unseen
    prototypes where the language model put them unless the data argue otherwise.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.residual = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.residual.weight)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return F.normalize(t + self.residual(t), dim=-1)
