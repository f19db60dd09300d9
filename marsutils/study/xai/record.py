"""The chapter's tested numbers and their JSON record (``xai_summary.json``).

:func:`test_explanations` puts seeded bootstrap intervals over images on an
:class:`~marsutils.xai.evaluation.XAIEvaluation`; :func:`build_summary` flattens everything into
the flat JSON record that the findings chapter reads (its schema is in the function's docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from marsutils.xai.cache import AttributionSet, cached_attribution_set
from marsutils.xai.evaluation import XAIEvaluation, evaluate_explanations
from marsutils.xai.selection import select_images
from marsutils.xai.stats import (
    bootstrap_mean,
    consistency_tests,
    faithfulness_tests,
    image_families,
)

if TYPE_CHECKING:
    from torch import Tensor

    from marsutils.study.xai.report import ExplainedModel

__all__ = [
    "COMPLETENESS_TOLERANCE",
    "RANDOMIZATION_THRESHOLD",
    "SUMMARY_SCHEMA",
    "XAITests",
    "build_summary",
    "fold_replication",
    "test_explanations",
]

SUMMARY_SCHEMA = "xai_summary/1"
#: IG's sum of attributions should match ``f(x) - f(baseline)`` to within 5% (Sundararajan 2017).
COMPLETENESS_TOLERANCE = 0.05
#: A randomised-model map "keeps" the original when its mean Spearman exceeds this (a convention).
RANDOMIZATION_THRESHOLD = 0.5


@dataclass(frozen=True)
class XAITests:
    """Bootstrap intervals over images on the measurements of an evaluation.

    ``consistency`` and ``faithfulness`` are the tables of
    :func:`~marsutils.xai.stats.consistency_tests` and
    :func:`~marsutils.xai.stats.faithfulness_tests`; ``randomization`` has one row per method
    with the mean Spearman between original and fully randomised maps (``spearman``, ``ci_low``,
    ``ci_high``, over images whose randomised map is not constant), ``n_defined``, ``n_images``
    and ``constant_share``.
    """

    consistency: pd.DataFrame
    faithfulness: pd.DataFrame
    randomization: pd.DataFrame
    n_boot: int
    confidence: float
    seed: int


def test_explanations(
    evaluation: XAIEvaluation,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: pd.Series | dict | None = None,
) -> XAITests:
    """Bootstrap intervals (seeded) for consistency, faithfulness, randomisation.

    Intervals resample the explained images or, with ``groups`` (image id -> twin family, e.g.
    ``marsutils.study.comparisons.family_lookup(split, by="image")``), whole twin families.
    """
    options = {"n_boot": n_boot, "confidence": confidence, "random_state": seed}
    rows = []
    table = evaluation.randomization
    if not table.empty:
        last = table[table["step"] == table["step"].max()]
        for method, part in last.groupby("method", sort=False):
            families = None
            if groups is not None and "image" in part.columns:
                families = image_families(part["image"], groups)
            ci = bootstrap_mean(part["spearman"], **options, groups=families)
            rows.append(
                {
                    "method": str(method),
                    "spearman": ci.estimate,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "n_defined": int(part["spearman"].notna().sum()),
                    "n_images": len(part),
                    "constant_share": float(part["constant_map"].mean()),
                }
            )
    return XAITests(
        consistency=consistency_tests(
            evaluation.consistency, evaluation.consistency_mismatched, **options, groups=groups
        ),
        faithfulness=faithfulness_tests(evaluation.faithfulness.table, **options, groups=groups),
        randomization=pd.DataFrame(
            rows,
            columns=[
                "method",
                "spearman",
                "ci_low",
                "ci_high",
                "n_defined",
                "n_images",
                "constant_share",
            ],
        ),
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
    )


def _num(value: Any) -> float | None:
    """A JSON-ready float: NaN and missing become None."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def _baseline_name(method: str) -> str:
    return method.removeprefix("ig_")


def _gradcam_first(randomization: pd.DataFrame) -> dict[str, Any] | None:
    """The Grad-CAM row of the randomisation tests (else the first row; None if empty)."""
    if randomization.empty:
        return None
    rows = randomization[randomization["method"] == "gradcam"]
    return (rows if len(rows) else randomization).iloc[0].to_dict()


def _outcome_counts(evaluation: XAIEvaluation) -> tuple[int | None, int | None]:
    table = evaluation.consistency
    if table.empty:
        return None, None
    first = table[table["pair"] == table["pair"].iat[0]]
    return int(first["correct"].sum()), int((~first["correct"]).sum())


def _json_row(row: dict[str, Any], *, keep: Sequence[str] = (), ints: Sequence[str] = ()) -> dict:
    """Floats made JSON-ready; ``keep`` fields copied as they are, ``ints`` cast to int."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in keep:
            out[key] = value.item() if isinstance(value, np.generic) else value
        elif key in ints:
            out[key] = int(value)
        else:
            out[key] = _num(value)
    return out


def build_summary(
    evaluation: XAIEvaluation,
    tests: XAITests,
    attributions: AttributionSet,
    *,
    image_size: int,
    model_key: str | None = None,
    profile: str | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The JSON record of the chapter (``xai_summary.json``); every share is a fraction.

    Schema ``xai_summary/1`` (``None`` where a value is undefined):

    * ``schema``, ``model_key``, ``profile``, ``seed``: identification;
    * ``n_images``, ``n_correct``, ``n_wrong``: the explained images and how many of them the
      model classified correctly;
    * ``ig_steps``, ``blur_sigma``, ``image_size``, ``deletion_steps``, ``deletion_baseline``,
      ``consistency_resolution``: the settings (IG path points, blurred baseline sigma in pixels,
      model input size, deletion/insertion steps and the replacement of deleted pixels, the grid
      on which two maps are compared);
    * ``completeness_median_relative_delta``, ``completeness_max_relative_delta``: per IG
      baseline, ``{"black": x, "blur": y}``, the median and largest
      ``|delta| / |f(x) - f(baseline)|`` over images; ``completeness_share_within_tolerance``:
      per baseline, the share of images within ``completeness_tolerance``;
    * ``consistency``: list of rows ``{"pair": "gradcam~ig_blur", "metric": "topk_iou@0.1" |
      "spearman", "mean", "ci_low", "ci_high", "chance", "mismatched", "n", "above_chance"}``
      for every pair of methods and metric: ``chance`` is ``k / (2 - k)`` for top-k IoU and 0
      for Spearman, ``mismatched`` the mean between maps of different images (the control) with
      its own interval ``mismatched_ci_low``/``_high``, ``vs_mismatched`` the paired per-image
      difference with ``vs_mismatched_ci_low``/``_high`` and its two-sided bootstrap p-value
      ``p_vs_mismatched``, ``n`` the images with a defined value, ``above_chance`` is
      ``ci_low > chance`` (records written before these fields lack them);
    * ``faithfulness``: list of rows ``{"method": "gradcam" | "ig_black" | "ig_blur" |
      "random", "deletion_auc", "insertion_auc", "deletion_vs_random",
      "deletion_vs_random_ci_low", "deletion_vs_random_ci_high", "insertion_vs_random", ...,
      "n"}``: means over images of the AUC of the target-class probability, with intervals
      (``*_auc_ci_low``/``_high``), and the paired mean difference to the random map with its
      interval and two-sided bootstrap p-value ``deletion_vs_random_p`` /
      ``insertion_vs_random_p`` (None on the random map's own row);
    * ``randomization``: ``{"method": "gradcam", "spearman_after_full_randomisation", "ci_low",
      "ci_high", "constant_share", "n_images", "threshold"}``: the mean Spearman between the
      maps of the trained and of the fully re-initialised model, over the images whose
      randomised map is not constant, and the share that became constant (None if not run);
    * ``robustness``: list of rows ``{"method", "infidelity", "sensitivity"}`` (means; None when
      not measured);
    * ``bootstrap``: ``{"n_boot", "confidence", "seed"}`` of every interval.
    """
    n_correct, n_wrong = _outcome_counts(evaluation)
    return {
        "schema": SUMMARY_SCHEMA,
        "model_key": model_key,
        "profile": profile,
        "seed": seed,
        "n_images": len(attributions),
        "n_correct": n_correct,
        "n_wrong": n_wrong,
        "ig_steps": attributions.settings.n_steps,
        "blur_sigma": attributions.settings.blur_sigma,
        "image_size": int(image_size),
        "deletion_steps": evaluation.deletion_steps,
        "deletion_baseline": evaluation.deletion_baseline,
        "consistency_resolution": evaluation.resolution,
        **_completeness_fields(evaluation.completeness),
        "consistency": _consistency_rows(tests.consistency),
        "faithfulness": _faithfulness_rows(tests.faithfulness),
        "randomization": _randomization_field(tests.randomization),
        "robustness": _robustness_rows(evaluation, attributions.methods),
        "bootstrap": {"n_boot": tests.n_boot, "confidence": tests.confidence, "seed": tests.seed},
    }


def _completeness_fields(table: pd.DataFrame) -> dict[str, Any]:
    """The record's ``completeness_*`` fields: the tolerance and, per IG baseline, three numbers."""
    completeness = table.assign(baseline=table["method"].map(_baseline_name))
    completeness["within"] = completeness["relative_delta"] <= COMPLETENESS_TOLERANCE
    by_baseline = completeness.groupby("baseline")
    return {
        "completeness_tolerance": COMPLETENESS_TOLERANCE,
        "completeness_median_relative_delta": {
            k: _num(v) for k, v in by_baseline["relative_delta"].median().items()
        },
        "completeness_max_relative_delta": {
            k: _num(v) for k, v in by_baseline["relative_delta"].max().items()
        },
        "completeness_share_within_tolerance": {
            k: _num(v) for k, v in by_baseline["within"].mean().items()
        },
    }


def _consistency_rows(table: pd.DataFrame) -> list[dict]:
    """The record's ``consistency`` rows of a :func:`consistency_tests` table."""
    return [
        _json_row(r, keep=("pair", "metric", "above_chance"), ints=("n",))
        for r in table.to_dict("records")
    ]


def _faithfulness_rows(table: pd.DataFrame) -> list[dict]:
    """The record's ``faithfulness`` rows of a :func:`faithfulness_tests` table."""
    return [_json_row(r, keep=("method",), ints=("n",)) for r in table.to_dict("records")]


def _randomization_field(table: pd.DataFrame) -> dict[str, Any] | None:
    """The record's ``randomization`` entry (Grad-CAM's row; None if the test was not run)."""
    randomization = _gradcam_first(table)
    if randomization is None:
        return None
    return {
        "method": randomization["method"],
        "spearman_after_full_randomisation": _num(randomization["spearman"]),
        "ci_low": _num(randomization["ci_low"]),
        "ci_high": _num(randomization["ci_high"]),
        "constant_share": _num(randomization["constant_share"]),
        "n_images": int(randomization["n_images"]),
        "threshold": RANDOMIZATION_THRESHOLD,
    }


def _robustness_rows(evaluation: XAIEvaluation, methods: Sequence[str]) -> list[dict[str, Any]]:
    """The record's ``robustness`` rows: each method's mean infidelity and sensitivity (or None)."""
    robustness = []
    for method in methods:
        row: dict[str, Any] = {"method": method, "infidelity": None, "sensitivity": None}
        for table, column in (
            (evaluation.infidelity, "infidelity"),
            (evaluation.sensitivity, "sensitivity"),
        ):
            if table is not None and method in set(table["method"]):
                row[column] = _num(table.loc[table["method"] == method, column].mean())
        robustness.append(row)
    return robustness


#: The tests a fold replication repeats (the explainability claims' controls).
REPLICATED_PAIR = "gradcam~ig_black"
REPLICATED_METRIC = "topk_iou@0.1"


def fold_replication(
    profile: Any,
    run_dir: Any,
    images: np.ndarray,
    *,
    fold: int,
    seed: int,
    class_names: Sequence[str],
    groups: pd.Series | dict | None = None,
) -> dict[str, Any]:
    """The explainability claims' tests on another cross-validation fold's model.

    The chapter explains the fold-0 model on fold 0's test images. This repeats, for the model
    of ``fold`` on its own test images (chosen by the same rule), the tests behind the findings'
    explainability claims: Grad-CAM against IG (black baseline) top-10% IoU, same image against
    different images, and deletion and insertion against random pixels for every method, with
    the same intervals and p-values (:func:`test_explanations`). The randomisation and robustness
    measures are not repeated.

    Parameters
    ----------
    profile : Profile
        A cross-validation profile (``cv_folds`` >= 2).
    run_dir : path
        The run folder; the attributions are cached under ``xai/<experiment key>``.
    images : ndarray
        The cached uint8 images of the data set (``ctx.data.images``).
    fold : int
        The fold whose model and test images are used.
    seed : int
        Image selection, bootstrap and cache seed.
    class_names : sequence of str
        The classes, in label order.
    groups : Series or dict, optional
        Image id -> twin family, so that the intervals resample families.

    Returns
    -------
    dict
        ``{"fold", "model_key", "n_images", "consistency", "faithfulness"}``: the rows of the
        ``xai_summary`` record's ``consistency`` (the replicated pair and metric) and
        ``faithfulness`` lists.

    Raises
    ------
    ValueError
        If the profile has no such fold.
    FileNotFoundError
        If that fold's model has not been trained.
    """
    from marsutils.study.xai.report import load_explained_model, model_inputs

    explained = load_explained_model(
        profile, run_dir, seed=seed, num_classes=len(class_names), fold=fold
    )
    chosen = select_images(explained.predictions, profile.xai_images, seed=seed)
    inputs = model_inputs(images, chosen["row"], explained.spec.image_size)
    attributions = _cached_fold_attributions(explained, chosen, inputs, profile, run_dir)
    evaluation = _claims_evaluation(
        explained, chosen, inputs, attributions, class_names, profile.deletion_steps, seed
    )
    tests = test_explanations(evaluation, seed=seed, groups=groups)
    consistency = tests.consistency
    keep = (consistency["pair"] == REPLICATED_PAIR) & (consistency["metric"] == REPLICATED_METRIC)
    return {
        "fold": int(fold),
        "model_key": explained.model_key,
        "n_images": len(attributions),
        "consistency": _consistency_rows(consistency[keep]),
        "faithfulness": _faithfulness_rows(tests.faithfulness),
    }


def _cached_fold_attributions(
    explained: ExplainedModel,
    chosen: pd.DataFrame,
    inputs: Tensor,
    profile: Any,
    run_dir: Any,
) -> AttributionSet:
    """The explained model's attributions of the ``chosen`` images, cached in the run folder."""
    from marsutils.study.xai.report import attribution_settings

    return cached_attribution_set(
        Path(run_dir) / "xai" / explained.spec.key,
        model_key=explained.model_key,
        model=explained.model,
        inputs=inputs,
        image_ids=chosen["image"].astype(str).tolist(),
        targets=chosen["y_pred"].to_numpy(),
        settings=attribution_settings(profile),
    )


def _claims_evaluation(
    explained: ExplainedModel,
    chosen: pd.DataFrame,
    inputs: Tensor,
    attributions: AttributionSet,
    class_names: Sequence[str],
    deletion_steps: int,
    seed: int,
) -> XAIEvaluation:
    """The measurements behind the explainability claims (no randomisation, no robustness)."""
    return evaluate_explanations(
        explained.model,
        inputs,
        attributions,
        y_true=chosen["y_true"].to_numpy(),
        y_pred=chosen["y_pred"].to_numpy(),
        class_names=list(class_names),
        deletion_steps=deletion_steps,
        randomization_methods=(),
        robustness=False,
        seed=seed,
    )
