"""The proposed model and its ablations: backbone (+ attention) (+ segmentation head).

The four configurations of the paper's ablation (Table 3) are one class with two flags:

=============  =========  ======  ===================================================
name           attention  head    image logits
=============  =========  ======  ===================================================
``plain``      no         no      GAP + linear (= mean of the class activation map)
``head``       no         yes     pooled scores of the segmentation head
``attention``  yes        no      GAP + linear on attention-refined features
``full``       yes        yes     pooled scores of the head on attention-refined features
=============  =========  ======  ===================================================

Every configuration computes dense class scores at the resolution of the last backbone stage
(stride 32), pools them to image logits there (``forward``) and upsamples them bilinearly to the
input size for the dense output (``forward_dense``). For ``plain``/``attention`` the dense output
is the class activation map (CAM) of the linear classifier, whose average pool is exactly the
image logits; with ``head`` it is the segmentation head's output. Inputs are 3-channel,
ImageNet-normalised images (the data pipeline repeats grayscale to 3 channels). Every
configuration is a :class:`~marsutils.models.protocol.DenseClassifier`: ``forward`` is
``forward_head(forward_features(x))``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from marsutils.models.attention import AttentiveBackbone
from marsutils.models.backbones import Backbone
from marsutils.models.heads import LinearScoreHead, ScorePooling, SegmentationHead, upsample_scores

__all__ = ["ABLATION_FLAGS", "ABLATION_NAMES", "AttentionSegClassifier"]

#: (attention, head) of each ablation configuration.
ABLATION_FLAGS: dict[str, tuple[bool, bool]] = {
    "plain": (False, False),
    "head": (False, True),
    "attention": (True, False),
    "full": (True, True),
}
#: The ablation configurations (paper Table 3), in the order of the study: the one list of
#: their names (:data:`marsutils.study.experiments.ABLATION_MODELS` is this tuple).
ABLATION_NAMES: tuple[str, ...] = tuple(ABLATION_FLAGS)


class AttentionSegClassifier(nn.Module):
    """Backbone, optional between-stage attention, optional segmentation head, score pooling.

    Args:
        backbone: a :class:`~marsutils.models.backbones.Backbone`.
        num_classes: number of classes K.
        attention: insert channel-spatial attention blocks between stages.
        head: use the segmentation head (else a linear classifier on the last features).
        pooling: ``"avg"``, ``"max"`` or ``"lse"``, pooling dense scores to image logits.
        attention_stages: stage indices followed by an attention block (default 1..N-1).
        head_channels: width of the segmentation head.
        lse_temperature: ``r`` of ``"lse"`` pooling.
        attention_reduction: channel-attention reduction ratio.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        *,
        attention: bool,
        head: bool,
        pooling: str = "avg",
        attention_stages: Iterable[int] | None = None,
        head_channels: int = 256,
        lse_temperature: float = 5.0,
        attention_reduction: int = 16,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if attention_stages is not None and not attention:
            raise ValueError("attention_stages given but attention=False")
        self.pool = ScorePooling(pooling, lse_temperature)
        self.backbone: Backbone | AttentiveBackbone = (
            AttentiveBackbone(backbone, attention_stages, reduction=attention_reduction)
            if attention
            else backbone
        )
        last_channels = backbone.stage_channels[-1]
        self.head: nn.Module = (
            SegmentationHead(last_channels, num_classes, head_channels)
            if head
            else LinearScoreHead(last_channels, num_classes)
        )
        name = next(k for k, flags in ABLATION_FLAGS.items() if flags == (attention, head))
        self.config: dict[str, Any] = {
            "name": name,
            "backbone": backbone.name,
            "weights": backbone.weights,
            "num_classes": num_classes,
            "attention": attention,
            "attention_stages": (
                list(self.backbone.attention_stages) if attention else []  # type: ignore[union-attr]
            ),
            "head": head,
            "head_channels": head_channels if head else None,
            "pooling": pooling,
            "lse_temperature": lse_temperature if pooling == "lse" else None,
            "dense_output": "segmentation_head" if head else "class_activation_map",
        }

    @property
    def cam_layer(self) -> nn.Module:
        """Module whose output Grad-CAM uses: the last backbone stage."""
        return self.backbone.stages[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last backbone stage's features ``(B, C, h, w)`` (stride 32), after attention."""
        return self.backbone(x)[-1]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Image logits ``(B, K)``: the head's class scores of ``features``, pooled."""
        return self.pool(self.head(features))

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(B, K, h, w)`` at the last stage's resolution (stride 32)."""
        return self.head(self.forward_features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image logits ``(B, K)``: the pooled score map."""
        return self.forward_head(self.forward_features(x))

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores (logits) ``(B, K, H, W)`` at the input size."""
        return upsample_scores(self.score_map(x), tuple(x.shape[-2:]))

    @torch.no_grad()
    def predict_proba_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class probabilities (softmax over classes), ``(B, K, H, W)``."""
        return self.forward_dense(x).softmax(dim=1)
