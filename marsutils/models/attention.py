"""Channel-spatial attention placed between backbone stages.

The paper: "the attention blocks were placed between the residual stages"; channel attention is
"global average pooling followed by fully connected layers and a sigmoid", spatial attention is
"another convolutional layer with sigmoid activation". Choices made here:

* Channel attention: GAP -> FC (C -> C/r) -> ReLU -> FC (C/r -> C) -> gate, r = 16 by default
  (hidden width at least 8). Only average pooling, as the paper says (CBAM adds max pooling).
* Spatial attention: as in CBAM, a k x k conv (k = 7) over the channel-mean and channel-max maps
  (2 -> 1 channel), then the gate.
* Order: channel first, then spatial (CBAM's sequential order).
* Placement: one block after each chosen stage, i.e. *between* stages, which is BAM-like
  (Park et al. 2018, attention at the bottlenecks between stages); CBAM (Woo et al. 2018)
  instead puts a block inside every residual block. ``attention_stages`` chooses the stage
  boundaries; the default is after stages 1..4 (every stage but the stem).
* Initialisation (``identity_init=True``, the default): the gate is ``2 * sigmoid(z)`` and the
  last FC and the spatial conv start with zero weights and bias, so a fresh block multiplies the
  features by exactly 1 and leaves pretrained features untouched; training moves the gates
  within (0, 2), so a block can both damp and boost. ``identity_init=False`` gives the literal
  ``sigmoid(z)`` gate with PyTorch's default initialisation (a fresh block then roughly halves
  each feature map twice).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from marsutils.models.backbones import Backbone

__all__ = [
    "AttentiveBackbone",
    "ChannelAttention",
    "ChannelSpatialAttention",
    "SpatialAttention",
    "default_attention_stages",
]


class _Gate(nn.Module):
    """``scale * sigmoid(z)``: scale 2 for identity-at-zero, 1 for the plain sigmoid."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(z)
        return gate * self.scale if self.scale != 1.0 else gate


class ChannelAttention(nn.Module):
    """Per-channel gate from globally average-pooled features (squeeze-and-excitation style).

    Args:
        channels: feature channels C.
        reduction: hidden width is ``max(C // reduction, min_hidden)``.
        min_hidden: smallest hidden width.
        identity_init: zero-init the last FC and use a ``2*sigmoid`` gate (identity at start).
    """

    def __init__(
        self, channels: int, reduction: int = 16, *, min_hidden: int = 8, identity_init: bool = True
    ) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"reduction must be >= 1, got {reduction}")
        hidden = max(channels // reduction, min_hidden)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = _Gate(2.0 if identity_init else 1.0)
        if identity_init:
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` times the channel gate (shape kept)."""
        weights = self.gate(self.fc2(self.relu(self.fc1(self.pool(x).flatten(1)))))
        return x * weights[:, :, None, None]


class SpatialAttention(nn.Module):
    """Per-position gate from a conv over the channel-mean and channel-max maps (CBAM).

    Args:
        kernel_size: odd conv kernel size (7 in CBAM).
        identity_init: zero-init the conv and use a ``2*sigmoid`` gate (identity at start).
    """

    def __init__(self, kernel_size: int = 7, *, identity_init: bool = True) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
        self.gate = _Gate(2.0 if identity_init else 1.0)
        if identity_init:
            nn.init.zeros_(self.conv.weight)
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` times the spatial gate (shape kept)."""
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.gate(self.conv(pooled))


class ChannelSpatialAttention(nn.Module):
    """Channel attention, then spatial attention."""

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        *,
        identity_init: bool = True,
    ) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction, identity_init=identity_init)
        self.spatial = SpatialAttention(kernel_size, identity_init=identity_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Refined features, same shape as ``x``."""
        return self.spatial(self.channel(x))


def default_attention_stages(num_stages: int) -> tuple[int, ...]:
    """After every stage except the stem: ``(1, ..., num_stages - 1)``."""
    return tuple(range(1, num_stages))


def _check_stages(stages: Iterable[int], num_stages: int) -> tuple[int, ...]:
    chosen = tuple(sorted(set(stages)))
    valid = tuple(range(num_stages))
    bad = [s for s in chosen if s not in valid]
    if bad or not chosen:
        raise ValueError(
            f"attention_stages {tuple(stages)} invalid: give a non-empty set of stage indices "
            f"from {valid} (0 = stem)"
        )
    return chosen


class AttentiveBackbone(nn.Module):
    """A :class:`Backbone` with a :class:`ChannelSpatialAttention` block after chosen stages.

    The output of stage ``i`` in ``attention_stages`` is refined before it goes to stage
    ``i + 1`` (and before it is returned), so the interface is the backbone's: ``stages``,
    ``stage_channels``, ``stage_strides`` and a forward returning all stage outputs.

    Args:
        backbone: the plain backbone.
        attention_stages: stage indices followed by a block (0 = stem); default after stages
            1..N-1 (:func:`default_attention_stages`).
        reduction: channel-attention reduction ratio.
        kernel_size: spatial-attention kernel size.
        identity_init: see :mod:`marsutils.models.attention`.
    """

    def __init__(
        self,
        backbone: Backbone,
        attention_stages: Iterable[int] | None = None,
        *,
        reduction: int = 16,
        kernel_size: int = 7,
        identity_init: bool = True,
    ) -> None:
        super().__init__()
        num_stages = len(backbone.stages)
        if attention_stages is None:
            attention_stages = default_attention_stages(num_stages)
        self.attention_stages = _check_stages(attention_stages, num_stages)
        self.backbone = backbone
        self.attention = nn.ModuleDict(
            {
                str(i): ChannelSpatialAttention(
                    backbone.stage_channels[i], reduction, kernel_size, identity_init=identity_init
                )
                for i in self.attention_stages
            }
        )

    @property
    def stages(self) -> nn.ModuleList:
        """The wrapped backbone's stages."""
        return self.backbone.stages

    @property
    def stage_channels(self) -> list[int]:
        """Channels of each stage output."""
        return self.backbone.stage_channels

    @property
    def stage_strides(self) -> list[int]:
        """Output stride of each stage."""
        return self.backbone.stage_strides

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every stage, attention-refined where a block follows the stage."""
        outputs = []
        for index, stage in enumerate(self.backbone.stages):
            x = stage(x)
            key = str(index)
            if key in self.attention:
                x = self.attention[key](x)
            outputs.append(x)
        return outputs
