"""U-Net and DeepLabV3+ baselines (segmentation-models-pytorch) as image classifiers.

Fairness with the proposed model: the same encoder with the same weights and the same pooling of
dense scores to image logits.

* ``resnet50``: smp's ``"resnet50"`` encoder (a torchvision ResNet without ``fc``) loaded with the
  torchvision-format weights the proposed model uses.
* ``efficientnet_lite0``: smp's timm universal encoder ``"tu-tf_efficientnet_lite0"`` loaded with
  the mapped ImageNet weights of :mod:`marsutils.models.lite0_weights`. timm's ``features_only``
  encoder stops at block 6 (320 channels), so ``conv_head``/``bn2`` are not part of it.

smp is always built with ``encoder_weights=None`` (its own weight downloads are never used).
Defaults: U-Net encoder depth 5, DeepLabV3+ output stride 16. Both ran for both encoders at
input sizes 64, 96, 128, 160, 192 and 224 (U-Net depths 3/4/5, DeepLabV3+ strides 8/16); the
input side must be a multiple of 32 (smp raises otherwise). The dense output is at the input size
and is pooled there (the proposed model pools at stride 32; for ``"avg"`` the two agree up to the
bilinear-upsampling border effect).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from marsutils.models.backbones import backbone_state_dict
from marsutils.models.heads import ScorePooling
from marsutils.models.weights import load_matching_state_dict, resolve_weights

__all__ = ["BASELINE_NAMES", "SMP_ENCODERS", "SmpSegClassifier", "build_baseline"]

#: Baseline architectures :func:`build_baseline` knows.
BASELINE_NAMES: tuple[str, ...] = ("unet", "deeplabv3plus")

#: smp encoder name of each backbone.
SMP_ENCODERS: dict[str, str] = {
    "resnet50": "resnet50",
    "efficientnet_lite0": "tu-tf_efficientnet_lite0",
}

#: Keys of the full library model that the smp encoder does not contain.
_NOT_IN_ENCODER: dict[str, tuple[str, ...]] = {
    "resnet50": ("fc.",),
    "efficientnet_lite0": ("conv_head.", "bn2.", "classifier."),
}


class SmpSegClassifier(nn.Module):
    """An smp segmentation model whose dense scores are pooled to image logits.

    Args:
        model: an smp model with ``encoder`` and an output of ``(B, K, H, W)`` logits.
        pooling: ``"avg"``, ``"max"`` or ``"lse"``.
        lse_temperature: ``r`` of ``"lse"`` pooling.
        config: description stored as ``self.config``.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        pooling: str = "avg",
        lse_temperature: float = 5.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.pool = ScorePooling(pooling, lse_temperature)
        self.model = model
        self.config: dict[str, Any] = dict(config or {})

    @property
    def cam_layer(self) -> nn.Module:
        """Last encoder stage (Grad-CAM target)."""
        from segmentation_models_pytorch.encoders.resnet import ResNetEncoder

        encoder = self.model.encoder
        if isinstance(encoder, ResNetEncoder):  # a torchvision ResNet
            return encoder.layer4
        return encoder.model.blocks[-1]  # timm universal encoder

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's output ``(B, C, h, w)``, which the segmentation head reads.

        ``h, w`` is the input size for U-Net and a quarter of it for DeepLabV3+.

        Raises
        ------
        RuntimeError
            When the input side is not a multiple of the encoder's output stride (smp's check).
        """
        self.model.check_input_shape(x)
        return self.model.decoder(self.model.encoder(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Image logits ``(B, K)``: the segmentation head's scores of ``features``, pooled."""
        return self.pool(self.model.segmentation_head(features))

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(B, K, H, W)`` before pooling (at the input size)."""
        return self.model(x)

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores (logits) ``(B, K, H, W)`` at the input size."""
        return self.model(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image logits ``(B, K)``: the pooled dense scores."""
        return self.pool(self.forward_dense(x))

    @torch.no_grad()
    def predict_proba_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class probabilities (softmax over classes)."""
        return self.forward_dense(x).softmax(dim=1)


def _encoder_weight_target(model: nn.Module, backbone: str) -> nn.Module:
    """The module whose state dict uses the library's key format."""
    return model.encoder if backbone == "resnet50" else model.encoder.model


def build_baseline(
    name: str,
    *,
    num_classes: int,
    backbone: str,
    weights: str | Path,
    pooling: str,
    lse_temperature: float,
) -> SmpSegClassifier:
    """``"unet"`` or ``"deeplabv3plus"`` with the proposed model's encoder, weights and pooling.

    Every option is required: :func:`~marsutils.models.factory.build_model` (the way to build any
    model of the study) holds their defaults and documents them.

    Raises:
        ValueError: unknown name, backbone, weights or pooling.
        WeightsUnavailableError: ``"imagenet"`` weights cannot be obtained.
    """
    import segmentation_models_pytorch as smp

    if name not in BASELINE_NAMES:
        raise ValueError(f"unknown baseline {name!r}; valid choices: {BASELINE_NAMES}")
    if backbone not in SMP_ENCODERS:
        raise ValueError(f"unknown backbone {backbone!r}; valid choices: {tuple(SMP_ENCODERS)}")
    resolve_weights(weights)
    ScorePooling(pooling, lse_temperature)  # validate before the (slow) build
    architecture = smp.Unet if name == "unet" else smp.DeepLabV3Plus
    model = architecture(SMP_ENCODERS[backbone], encoder_weights=None, classes=num_classes)
    state = backbone_state_dict(backbone, weights)
    if state is not None:
        load_matching_state_dict(
            _encoder_weight_target(model, backbone),
            state,
            source=f"{backbone} weights={str(weights)!r}",
            ignored_prefixes=_NOT_IN_ENCODER[backbone],
        )
    config = {
        "name": name,
        "backbone": backbone,
        "weights": str(weights),
        "num_classes": num_classes,
        "attention": False,
        "head": False,
        "pooling": pooling,
        "lse_temperature": lse_temperature if pooling == "lse" else None,
        "dense_output": f"smp.{architecture.__name__}",
        "smp_encoder": SMP_ENCODERS[backbone],
    }
    return SmpSegClassifier(model, pooling=pooling, lse_temperature=lse_temperature, config=config)
