"""``build_model``: every model of the study by name."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from torch import nn

from marsutils.models.backbones import BACKBONE_NAMES, build_backbone
from marsutils.models.baselines import BASELINE_NAMES, build_baseline
from marsutils.models.classifier import ABLATION_FLAGS, ABLATION_NAMES, AttentionSegClassifier
from marsutils.models.heads import ScorePooling
from marsutils.models.weights import resolve_weights

__all__ = ["MODEL_NAMES", "build_model"]

#: The ablation configurations (paper Table 3) then the two baselines.
MODEL_NAMES: tuple[str, ...] = (*ABLATION_NAMES, *BASELINE_NAMES)


def build_model(
    name: str,
    *,
    num_classes: int = 8,
    backbone: str = "efficientnet_lite0",
    weights: str | Path = "imagenet",
    pooling: str = "avg",
    lse_temperature: float = 5.0,
    attention_stages: Iterable[int] | None = None,
) -> nn.Module:
    """Build a model of :data:`MODEL_NAMES`.

    ``"plain"``, ``"head"``, ``"attention"`` and ``"full"`` are
    :class:`~marsutils.models.classifier.AttentionSegClassifier` configurations; ``"unet"`` and
    ``"deeplabv3plus"`` are smp baselines with the same encoder, weights and pooling. Every model
    maps ``(B, 3, H, W)`` ImageNet-normalised images to image logits ``(B, num_classes)`` and is a
    :class:`~marsutils.models.protocol.DenseClassifier` (``forward_features``, ``forward_head``,
    ``score_map``, ``forward_dense``, ``predict_proba_dense``, ``cam_layer`` and ``config``).

    Args:
        name: one of :data:`MODEL_NAMES`.
        num_classes: number of classes.
        backbone: ``"efficientnet_lite0"`` or ``"resnet50"``.
        weights: ``"imagenet"``, ``"none"`` or a local state-dict file path.
        pooling: ``"avg"``, ``"max"`` or ``"lse"`` (dense scores -> image logits).
        lse_temperature: ``r`` of ``"lse"`` pooling.
        attention_stages: stages followed by attention (``"attention"``/``"full"`` only).

    Raises:
        ValueError: an unknown name, backbone, weights or pooling (listing the valid choices).
        WeightsUnavailableError: ``weights="imagenet"`` cannot be obtained here.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; valid choices: {MODEL_NAMES}")
    if backbone not in BACKBONE_NAMES:
        raise ValueError(f"unknown backbone {backbone!r}; valid choices: {BACKBONE_NAMES}")
    resolve_weights(weights)
    ScorePooling(pooling, lse_temperature)  # validate before building anything
    if name in BASELINE_NAMES:
        if attention_stages is not None:
            raise ValueError(f"attention_stages does not apply to the {name!r} baseline")
        return build_baseline(
            name,
            num_classes=num_classes,
            backbone=backbone,
            weights=weights,
            pooling=pooling,
            lse_temperature=lse_temperature,
        )
    attention, head = ABLATION_FLAGS[name]
    return AttentionSegClassifier(
        build_backbone(backbone, weights),
        num_classes,
        attention=attention,
        head=head,
        pooling=pooling,
        attention_stages=attention_stages,
        lse_temperature=lse_temperature,
    )
