"""Every XAI measurement of a computed attribution set in one call, for the notebooks.

:func:`evaluate_explanations` takes an :class:`~marsutils.xai.cache.AttributionSet` (the maps are
not recomputed) and runs: IG completeness (convergence deltas), the agreement of every pair of
methods (:mod:`~marsutils.xai.consistency`), deletion/insertion against a random map
(:mod:`~marsutils.xai.faithfulness`), the cascading randomisation test on a subset of images
(:mod:`~marsutils.xai.sanity`) and, unless ``robustness=False``, captum's infidelity and
max-sensitivity (:mod:`~marsutils.xai.robustness`). :meth:`XAIEvaluation.headline` flattens the
key numbers into a JSON-ready dict.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import Tensor, nn

from marsutils.xai.attribution import BaselineKind, check_inputs
from marsutils.xai.cache import AttributionSet
from marsutils.xai.consistency import (
    consistency_table,
    mismatched_consistency_table,
    summarize_consistency,
)
from marsutils.xai.faithfulness import FaithfulnessResult, deletion_insertion
from marsutils.xai.robustness import infidelity_scores, sensitivity_scores
from marsutils.xai.sanity import randomization_check, summarize_randomization

__all__ = ["XAIEvaluation", "completeness_table", "evaluate_explanations"]


@dataclass(frozen=True)
class XAIEvaluation:
    """The tables of :func:`evaluate_explanations` (``None`` where a part was skipped).

    ``consistency`` has one row per image and pair of methods; ``consistency_mismatched`` the
    same measures between the maps of different images (a data-driven chance level, empty for
    fewer than two images); ``consistency_summary`` the means overall, by class and by outcome.
    ``resolution``, ``deletion_steps`` and ``deletion_baseline`` record the settings used.
    """

    completeness: pd.DataFrame
    consistency: pd.DataFrame
    consistency_mismatched: pd.DataFrame
    consistency_summary: pd.DataFrame
    faithfulness: FaithfulnessResult
    randomization: pd.DataFrame
    randomization_summary: pd.DataFrame
    infidelity: pd.DataFrame | None
    sensitivity: pd.DataFrame | None
    resolution: int | None = None
    deletion_steps: int = 0
    deletion_baseline: str = ""

    def headline(self) -> dict[str, float | int | None]:
        """Key numbers, flat: completeness, agreement, AUCs, randomisation, robustness."""
        out: dict[str, float | int | None] = {}
        for method, part in self.completeness.groupby("method"):
            out[f"{method}.relative_delta_median"] = float(part["relative_delta"].median())
            out[f"{method}.relative_delta_max"] = float(part["relative_delta"].max())
        overall = self.consistency_summary[self.consistency_summary["group_by"] == "all"]
        for row in overall.itertuples():
            out[f"{row.pair}.{row.metric}"] = _num(row.mean)
            if row.metric.startswith("iou_top"):
                out[f"{row.pair}.{row.metric}.chance"] = float(row.chance)
        for row in self.faithfulness.summary().itertuples():
            out[f"{row.method}.deletion_auc"] = float(row.deletion_auc_mean)
            out[f"{row.method}.insertion_auc"] = float(row.insertion_auc_mean)
        last = self.randomization_summary.groupby("method").tail(1)
        for row in last.itertuples():
            out[f"{row.method}.randomized_spearman"] = _num(row.spearman_mean)
            out[f"{row.method}.randomized_constant_share"] = float(row.constant_share)
        for table, column in ((self.infidelity, "infidelity"), (self.sensitivity, "sensitivity")):
            if table is not None:
                for method, value in table.groupby("method")[column].mean().items():
                    out[f"{method}.{column}"] = float(value)
        return out


def _num(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def completeness_table(attributions: AttributionSet) -> pd.DataFrame:
    """Per image and IG method: convergence ``delta``, ``output_gap`` and ``relative_delta``."""
    rows = [
        pd.DataFrame(
            {
                "image": attributions.image_ids,
                "method": method,
                "delta": attributions.deltas[method],
                "output_gap": attributions.output_gaps[method],
                "relative_delta": attributions.relative_delta(method),
            }
        )
        for method in attributions.deltas
    ]
    columns = ["image", "method", "delta", "output_gap", "relative_delta"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)


def evaluate_explanations(
    model: nn.Module,
    inputs: Tensor,
    attributions: AttributionSet,
    *,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    fractions: Sequence[float] = (0.05, 0.1, 0.2),
    resolution: int | None = 32,
    deletion_steps: int = 16,
    deletion_baseline: BaselineKind = "blur",
    randomization_methods: Sequence[str] = ("gradcam",),
    randomization_stages: int | Sequence[str] = 4,
    randomization_images: int = 8,
    robustness: bool = True,
    sensitivity_methods: Sequence[str] = ("gradcam",),
    n_perturb_samples: int = 4,
    batch_size: int = 32,
    seed: int = 0,
) -> XAIEvaluation:
    """Run every measurement on ``attributions`` (computed for ``inputs`` with ``model``).

    ``y_pred`` (default: the predictions stored in ``attributions``) only sorts the images into
    correct and wrong for the consistency summary. The deletion baseline defaults to the blurred
    image (a black square is itself a strong, out-of-distribution feature on HiRISE crops). The
    randomisation test uses the first ``randomization_images`` images. ``robustness=False``
    skips infidelity and max-sensitivity, the latter re-running each method in
    ``sensitivity_methods`` ``n_perturb_samples`` times.
    """
    predicted = _checked_predictions(inputs, attributions, y_pred)
    return XAIEvaluation(
        **_consistency_fields(
            attributions, y_true, predicted, class_names, fractions, resolution, seed
        ),
        faithfulness=_faithfulness(
            model, inputs, attributions, deletion_baseline, deletion_steps, batch_size, seed
        ),
        **_randomization_fields(
            model,
            inputs,
            attributions,
            methods=randomization_methods,
            stages=randomization_stages,
            images=randomization_images,
            resolution=resolution,
            seed=seed,
        ),
        **_robustness_fields(
            model,
            inputs,
            attributions,
            enabled=robustness,
            methods=sensitivity_methods,
            n_perturb_samples=n_perturb_samples,
            seed=seed,
        ),
        completeness=completeness_table(attributions),
        resolution=resolution,
        deletion_steps=deletion_steps,
        deletion_baseline=deletion_baseline,
    )


def _checked_predictions(
    inputs: Tensor, attributions: AttributionSet, y_pred: Sequence[int] | np.ndarray | None
) -> np.ndarray:
    """``y_pred`` (default: the stored predictions) once inputs and predictions match the set."""
    check_inputs(inputs)
    n = len(attributions)
    if inputs.shape[0] != n:
        raise ValueError(f"inputs has {inputs.shape[0]} images but attributions has {n}")
    predicted = attributions.y_pred if y_pred is None else np.asarray(y_pred).reshape(-1)
    if len(predicted) != n:
        raise ValueError(f"y_pred has {len(predicted)} entries for {n} images")
    return predicted


def _consistency_fields(
    attributions: AttributionSet,
    y_true: Sequence[int] | np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str] | None,
    fractions: Sequence[float],
    resolution: int | None,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """The ``consistency*`` fields: per image, mismatched images and summary, every pair."""
    tables = []
    mismatched = []
    summaries = []
    for first, second in itertools.combinations(attributions.methods, 2):
        pair = f"{first}~{second}"
        table = consistency_table(
            attributions.saliency(first),
            attributions.saliency(second),
            y_true=y_true,
            y_pred=y_pred,
            image_ids=attributions.image_ids,
            class_names=class_names,
            fractions=fractions,
            resolution=resolution,
        )
        tables.append(table.assign(pair=pair))
        if len(attributions) >= 2:
            shuffled = mismatched_consistency_table(
                attributions.saliency(first),
                attributions.saliency(second),
                image_ids=attributions.image_ids,
                fractions=fractions,
                resolution=resolution,
                seed=seed,
            )
            mismatched.append(shuffled.assign(pair=pair))
        summaries.append(summarize_consistency(table).assign(pair=pair))
    empty_columns = ["pair", "group_by", "group", "metric", "mean", "sem", "n", "chance"]
    consistency = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    consistency_mismatched = (
        pd.concat(mismatched, ignore_index=True) if mismatched else pd.DataFrame(columns=["pair"])
    )
    summary = (
        pd.concat(summaries, ignore_index=True)
        if summaries
        else pd.DataFrame(columns=empty_columns)
    )
    return {
        "consistency": consistency,
        "consistency_mismatched": consistency_mismatched,
        "consistency_summary": summary,
    }


def _faithfulness(
    model: nn.Module,
    inputs: Tensor,
    attributions: AttributionSet,
    baseline: BaselineKind,
    steps: int,
    batch_size: int,
    seed: int,
) -> FaithfulnessResult:
    """Deletion and insertion of every method's saliency against a random map."""
    settings = attributions.settings
    return deletion_insertion(
        model,
        inputs,
        {m: attributions.saliency(m) for m in attributions.methods},
        attributions.targets,
        baseline=baseline,
        steps=steps,
        blur_sigma=settings.blur_sigma,
        image_ids=attributions.image_ids,
        batch_size=batch_size,
        seed=seed,
        mean=settings.mean,
        std=settings.std,
    )


def _randomization_fields(
    model: nn.Module,
    inputs: Tensor,
    attributions: AttributionSet,
    *,
    methods: Sequence[str],
    stages: int | Sequence[str],
    images: int,
    resolution: int | None,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """The ``randomization*`` fields: cascading randomisation on the first ``images`` images."""
    subset = slice(0, min(images, len(attributions)))
    targets = attributions.targets
    randomized = [
        randomization_check(
            model,
            inputs[subset],
            method,
            targets[subset],
            settings=attributions.settings,
            stages=stages,
            resolution=resolution,
            image_ids=attributions.image_ids[subset],
            seed=seed,
        ).assign(method=method)
        for method in methods
    ]
    randomization = pd.concat(randomized, ignore_index=True) if randomized else pd.DataFrame()
    randomization_summary = (
        pd.concat(
            [summarize_randomization(t).assign(method=t["method"].iat[0]) for t in randomized],
            ignore_index=True,
        )
        if randomized
        else pd.DataFrame(columns=["method", "step", "spearman_mean", "constant_share"])
    )
    return {"randomization": randomization, "randomization_summary": randomization_summary}


def _robustness_fields(
    model: nn.Module,
    inputs: Tensor,
    attributions: AttributionSet,
    *,
    enabled: bool,
    methods: Sequence[str],
    n_perturb_samples: int,
    seed: int,
) -> dict[str, pd.DataFrame | None]:
    """Infidelity of every stored map and max-sensitivity of the set's ``methods`` (or None)."""
    if not enabled:
        return {"infidelity": None, "sensitivity": None}
    infidelity = infidelity_scores(
        model,
        inputs,
        dict(attributions.maps),  # IG signed, as infidelity requires
        attributions.targets,
        n_perturb_samples=n_perturb_samples,
        image_ids=attributions.image_ids,
        seed=seed,
    )
    sensitivity = sensitivity_scores(
        model,
        inputs,
        [m for m in methods if m in attributions.methods],
        attributions.targets,
        settings=attributions.settings,
        n_perturb_samples=n_perturb_samples,
        image_ids=attributions.image_ids,
        seed=seed,
    )
    return {"infidelity": infidelity, "sensitivity": sensitivity}
