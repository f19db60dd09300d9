"""Explainability: Grad-CAM and Integrated Gradients maps, and measurements of them.

* :mod:`~marsutils.xai.attribution`: the maps (captum);
* :mod:`~marsutils.xai.methods`: named methods and their settings;
* :mod:`~marsutils.xai.consistency`: agreement of two methods (top-k IoU, Spearman);
* :mod:`~marsutils.xai.faithfulness`: deletion / insertion curves;
* :mod:`~marsutils.xai.sanity`: model-parameter randomisation test;
* :mod:`~marsutils.xai.robustness`: captum's infidelity and max-sensitivity;
* :mod:`~marsutils.xai.cache`: compute once, save, reload;
* :mod:`~marsutils.xai.evaluation`: all the measurements of a computed set in one call;
* :mod:`~marsutils.xai.selection`: which test images to explain;
* :mod:`~marsutils.xai.stats`: bootstrap intervals over images for the measurements;

Imported with this package (the library layer of :mod:`marsutils.core.layers`) are only the modules
above. The chapter's study modules and its figures are imported on their own:

* :mod:`~marsutils.study.xai.report`: the explainability chapter's glue (model, inputs, tables);
* :mod:`~marsutils.study.xai.record`: its tested numbers and JSON record;
* :mod:`~marsutils.study.xai.verdicts`: sentences generated from that record;
* :mod:`~marsutils.figures.xai`: the figures (figures layer).
"""

from marsutils.xai.attribution import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    IGResult,
    black_baseline,
    blur_baseline,
    denormalize,
    grad_cam,
    integrated_gradients,
    normalize_per_image,
    reduce_attributions,
)
from marsutils.xai.cache import AttributionSet, cached_attribution_set, compute_attribution_set
from marsutils.xai.consistency import (
    chance_top_k_iou,
    consistency_table,
    mismatched_consistency_table,
    random_top_k_iou,
    spearman_maps,
    summarize_consistency,
    top_k_iou,
)
from marsutils.xai.evaluation import XAIEvaluation, completeness_table, evaluate_explanations
from marsutils.xai.faithfulness import (
    FaithfulnessResult,
    curve_auc,
    deletion_insertion,
    perturbation_curves,
)
from marsutils.xai.methods import METHOD_LABELS, METHODS, AttributionSettings, explain
from marsutils.xai.robustness import infidelity_scores, sensitivity_scores
from marsutils.xai.sanity import randomization_check, summarize_randomization
from marsutils.xai.selection import select_images
from marsutils.xai.stats import bootstrap_mean, consistency_tests, faithfulness_tests

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "METHODS",
    "METHOD_LABELS",
    "AttributionSet",
    "AttributionSettings",
    "FaithfulnessResult",
    "IGResult",
    "XAIEvaluation",
    "black_baseline",
    "blur_baseline",
    "bootstrap_mean",
    "cached_attribution_set",
    "chance_top_k_iou",
    "completeness_table",
    "compute_attribution_set",
    "consistency_table",
    "consistency_tests",
    "curve_auc",
    "deletion_insertion",
    "denormalize",
    "evaluate_explanations",
    "explain",
    "faithfulness_tests",
    "grad_cam",
    "infidelity_scores",
    "integrated_gradients",
    "mismatched_consistency_table",
    "normalize_per_image",
    "perturbation_curves",
    "random_top_k_iou",
    "randomization_check",
    "reduce_attributions",
    "select_images",
    "sensitivity_scores",
    "spearman_maps",
    "summarize_consistency",
    "summarize_randomization",
    "top_k_iou",
]
