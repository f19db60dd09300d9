"""Tiny models that satisfy the classifier contract, for tests and examples.

The contract: ``model(x)`` maps ``(B, 3, H, W)`` inputs to logits ``(B, K)``, and
``model.cam_layer`` is the module whose output Grad-CAM uses (the last convolutional stage).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["LinearPixelModel", "TinyCNN"]


class TinyCNN(nn.Module):
    """Two convolutional stages, global average pooling and a linear classifier."""

    def __init__(self, num_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=False),
            nn.MaxPool2d(2),
        )
        self.stage = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=False),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        """The last convolutional stage."""
        return self.stage

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.stage(self.stem(x))), 1))


class LinearPixelModel(nn.Module):
    """Two-class logits ``(w . x, 0)``: class 0's evidence is a fixed linear map of the pixels.

    ``weight`` is ``(H, W)`` and applies to every channel, so the exact attribution of class 0 is
    known: its gradient is ``weight`` (times the channel count) and ``weight * x`` its
    input-times-gradient. ``cam_layer`` is an identity on the input, for API completeness.
    """

    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", weight.float())
        self.cam_layer = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        evidence = (self.cam_layer(x) * self.weight).sum(dim=(1, 2, 3))
        return torch.stack([evidence, torch.zeros_like(evidence)], dim=1)
