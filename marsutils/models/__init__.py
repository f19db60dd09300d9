"""Models of the study: backbones, attention, segmentation head, ablations, baselines, cost.

Entry point: :func:`build_model` with a name of :data:`MODEL_NAMES`.
"""

from marsutils.models.attention import (
    AttentiveBackbone,
    ChannelAttention,
    ChannelSpatialAttention,
    SpatialAttention,
    default_attention_stages,
)
from marsutils.models.backbones import (
    BACKBONE_NAMES,
    Backbone,
    backbone_state_dict,
    build_backbone,
    efficientnet_lite0_backbone,
    resnet50_backbone,
)
from marsutils.models.baselines import BASELINE_NAMES, SmpSegClassifier, build_baseline
from marsutils.models.classifier import ABLATION_FLAGS, ABLATION_NAMES, AttentionSegClassifier
from marsutils.models.cost import count_flops, count_parameters, model_cost
from marsutils.models.factory import MODEL_NAMES, build_model
from marsutils.models.heads import (
    POOLING_NAMES,
    LinearScoreHead,
    ScorePooling,
    SegmentationHead,
    upsample_scores,
)
from marsutils.models.lite0_weights import (
    lite0_imagenet_state_dict,
    lite0_package_state_dict,
    map_state_dict_in_order,
)
from marsutils.models.protocol import CamLayerModel, DenseClassifier, DenseScorer
from marsutils.models.weights import (
    WEIGHT_SOURCES,
    WeightsMismatchError,
    WeightsUnavailableError,
    load_matching_state_dict,
    load_state_dict_file,
    resolve_weights,
)

__all__ = [
    "ABLATION_FLAGS",
    "ABLATION_NAMES",
    "BACKBONE_NAMES",
    "BASELINE_NAMES",
    "MODEL_NAMES",
    "POOLING_NAMES",
    "WEIGHT_SOURCES",
    "AttentionSegClassifier",
    "AttentiveBackbone",
    "Backbone",
    "CamLayerModel",
    "ChannelAttention",
    "ChannelSpatialAttention",
    "DenseClassifier",
    "DenseScorer",
    "LinearScoreHead",
    "ScorePooling",
    "SegmentationHead",
    "SmpSegClassifier",
    "SpatialAttention",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "backbone_state_dict",
    "build_backbone",
    "build_baseline",
    "build_model",
    "count_flops",
    "count_parameters",
    "default_attention_stages",
    "efficientnet_lite0_backbone",
    "lite0_imagenet_state_dict",
    "lite0_package_state_dict",
    "load_matching_state_dict",
    "load_state_dict_file",
    "map_state_dict_in_order",
    "model_cost",
    "resnet50_backbone",
    "resolve_weights",
    "upsample_scores",
]
