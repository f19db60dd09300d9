"""The methods every dense classifier of the study declares: one contract, as in timm.

Every model of :func:`~marsutils.models.build_model` (the four ablation configurations of
:class:`~marsutils.models.classifier.AttentionSegClassifier` on either backbone and the smp
baselines :class:`~marsutils.models.baselines.SmpSegClassifier`) is a :class:`DenseClassifier`;
code that needs one of these methods checks ``isinstance(model, DenseClassifier)`` (or the
narrower :class:`DenseScorer` / :class:`CamLayerModel`) instead of ``hasattr``.

The computation is the same in every model::

    features = model.forward_features(x)     # (N, C, h, w): the last feature map
    logits = model.forward_head(features)    # (N, K): pooled class scores (= model(x))
    scores = model.score_map(x)              # (N, K, h, w): class scores before pooling
    dense = model.forward_dense(x)           # (N, K, H, W): scores at the input size

The split into ``forward_features`` and ``forward_head`` follows timm's models
(https://huggingface.co/docs/timm/feature_extraction); the class scores before pooling are the
class activation map of a linear head (Zhou et al. 2016, doi:10.1109/CVPR.2016.319) or the
segmentation head's output.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["CamLayerModel", "DenseClassifier", "DenseScorer"]


@runtime_checkable
class DenseScorer(Protocol):
    """A model with per-pixel class scores at its input size (what dense training needs)."""

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class scores (logits).

        Parameters
        ----------
        x : Tensor of shape (N, 3, H, W)
            ImageNet-normalised images.

        Returns
        -------
        scores : Tensor of shape (N, K, H, W)
        """
        ...


@runtime_checkable
class CamLayerModel(Protocol):
    """A model that names its Grad-CAM layer (what :mod:`marsutils.xai` needs by default)."""

    @property
    def cam_layer(self) -> nn.Module:
        """The module whose output Grad-CAM weighs: the last convolutional stage."""
        ...


@runtime_checkable
class DenseClassifier(DenseScorer, CamLayerModel, Protocol):
    """An image classifier whose logits pool a dense class-score map (see the module docstring).

    ``isinstance`` checks that every method and attribute exists (not the signatures).

    Attributes
    ----------
    config : dict
        The model's description (name, backbone, weights, pooling, ...), as stored with its
        checkpoints.
    """

    config: dict[str, Any]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Image logits ``(N, K)`` of images ``(N, 3, H, W)``.

        Equal to ``forward_head(forward_features(x))``.
        """
        ...

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map ``(N, C, h, w)`` that the class-score layer reads.

        ``x`` holds ImageNet-normalised images ``(N, 3, H, W)``; the features are the last
        backbone stage (stride 32) for the ablation models, the decoder output for the smp
        baselines.
        """
        ...

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Image logits from :meth:`forward_features`' output.

        Parameters
        ----------
        features : Tensor of shape (N, C, h, w)

        Returns
        -------
        logits : Tensor of shape (N, K)
            The pooled class-score map.
        """
        ...

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``(N, K, h, w)`` before pooling, at the resolution of the head."""
        ...

    def predict_proba_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel class probabilities ``(N, K, H, W)`` (softmax over the classes)."""
        ...
