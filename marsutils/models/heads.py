"""Dense class-score heads and the pooling of dense scores to image logits.

* :class:`SegmentationHead` is the paper's head: 1x1 conv reducing channels (+BN+ReLU), 3x3 conv
  refining (+BN+ReLU), a final 1x1 conv to ``num_classes`` scores; bilinear upsampling to the
  input size is done by :func:`upsample_scores`. It outputs logits; the paper's softmax is applied
  only at inference (``predict_proba_dense``).
* :class:`LinearScoreHead` is a 1x1 conv classifier on the last features. Average-pooling its
  output equals "global average pooling + linear layer" exactly, so the plain classifier and its
  class activation map (CAM) are the same module.
* :class:`ScorePooling` turns dense scores ``(B, K, H, W)`` into image logits ``(B, K)``:
  ``"avg"`` (mean), ``"max"`` or ``"lse"`` (log-sum-exp, ``(1/r) log mean exp(r s)``, which goes
  from the mean at ``r -> 0`` to the max at ``r -> inf``; ``r`` = ``lse_temperature``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "POOLING_NAMES",
    "LinearScoreHead",
    "ScorePooling",
    "SegmentationHead",
    "upsample_scores",
]

#: Pooling modes of :class:`ScorePooling`.
POOLING_NAMES: tuple[str, ...] = ("avg", "max", "lse")


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SegmentationHead(nn.Module):
    """1x1 reduce + BN + ReLU, 3x3 refine + BN + ReLU, 1x1 classifier (per-position logits).

    Args:
        in_channels: channels of the backbone features.
        num_classes: number of classes K.
        mid_channels: width after the 1x1 reduction (256 by default).
    """

    def __init__(self, in_channels: int, num_classes: int, mid_channels: int = 256) -> None:
        super().__init__()
        self.reduce = _conv_bn_relu(in_channels, mid_channels, 1)
        self.refine = _conv_bn_relu(mid_channels, mid_channels, 3)
        self.classifier = nn.Conv2d(mid_channels, num_classes, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, K, h, w)`` at the feature resolution."""
        return self.classifier(self.refine(self.reduce(features)))


class LinearScoreHead(nn.Module):
    """A linear classifier applied at every position (1x1 conv): its output is the CAM."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, K, h, w)`` at the feature resolution."""
        return self.classifier(features)


def upsample_scores(scores: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling (``align_corners=False``) of ``(B, K, h, w)`` scores to ``size``."""
    if tuple(scores.shape[-2:]) == tuple(size):
        return scores
    return F.interpolate(scores, size=size, mode="bilinear", align_corners=False)


class ScorePooling(nn.Module):
    """Pool dense scores ``(B, K, H, W)`` to image logits ``(B, K)``.

    Args:
        mode: ``"avg"``, ``"max"`` or ``"lse"``.
        lse_temperature: ``r`` of log-sum-exp pooling (> 0); ignored by the other modes.
    """

    def __init__(self, mode: str = "avg", lse_temperature: float = 5.0) -> None:
        super().__init__()
        if mode not in POOLING_NAMES:
            raise ValueError(f"unknown pooling {mode!r}; valid choices: {POOLING_NAMES}")
        if not lse_temperature > 0:
            raise ValueError(f"lse_temperature must be > 0, got {lse_temperature}")
        self.mode = mode
        self.lse_temperature = float(lse_temperature)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        """Image logits ``(B, K)``."""
        flat = scores.flatten(2)
        if self.mode == "avg":
            return flat.mean(dim=2)
        if self.mode == "max":
            return flat.amax(dim=2)
        r = self.lse_temperature
        return (torch.logsumexp(r * flat, dim=2) - math.log(flat.shape[2])) / r

    def extra_repr(self) -> str:
        extra = f", lse_temperature={self.lse_temperature}" if self.mode == "lse" else ""
        return f"mode={self.mode!r}{extra}"
