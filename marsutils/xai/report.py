"""The explainability chapter's glue: the trained model, its inputs, the tests and the summary.

:func:`load_explained_model` finds the proposed model trained on a split by the training chapter;
:func:`model_inputs` turns cached images into its inputs; :func:`test_explanations` puts bootstrap
intervals on an :class:`~marsutils.xai.evaluation.XAIEvaluation`; :func:`build_summary` flattens
everything into the JSON record that later chapters read; :func:`verdicts` turns that record into
sentences, so no number in the prose is typed by hand.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from marsutils.data.batches import to_model_input
from marsutils.experiments import ClassifierSpec, load_trained, plan
from marsutils.profiles import Profile
from marsutils.xai.attribution import resolve_layer
from marsutils.xai.cache import AttributionSet
from marsutils.xai.evaluation import XAIEvaluation
from marsutils.xai.methods import METHOD_LABELS, AttributionSettings
from marsutils.xai.stats import bootstrap_mean, consistency_tests, faithfulness_tests

__all__ = [
    "COMPLETENESS_TOLERANCE",
    "RANDOMIZATION_THRESHOLD",
    "SUMMARY_SCHEMA",
    "ExplainedModel",
    "XAITests",
    "attribution_settings",
    "build_summary",
    "cam_grid_size",
    "consistency_breakdown",
    "describe_attributions",
    "load_explained_model",
    "model_inputs",
    "sample_overview",
    "test_explanations",
    "verdicts",
]

SUMMARY_SCHEMA = "xai_summary/1"
#: IG's sum of attributions should match ``f(x) - f(baseline)`` to within 5% (Sundararajan 2017).
COMPLETENESS_TOLERANCE = 0.05
#: A randomised-model map "keeps" the original when its mean Spearman exceeds this (a convention).
RANDOMIZATION_THRESHOLD = 0.5
#: The pairs and metrics the verdicts speak about.
HEADLINE_PAIRS = ("gradcam~ig_blur", "gradcam~ig_black")
HEADLINE_METRICS = ("topk_iou@0.1", "spearman")


@dataclass
class ExplainedModel:
    """A trained classifier with its test predictions and the identity of its weights."""

    spec: ClassifierSpec
    model: nn.Module
    predictions: pd.DataFrame
    checkpoint: Path
    checkpoint_sha256: str

    @property
    def model_key(self) -> str:
        """The cache key of the weights: the experiment key and the checkpoint's hash."""
        return f"{self.spec.key}@{self.checkpoint_sha256[:16]}"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_explained_model(
    profile: Profile,
    run_dir: str | os.PathLike,
    *,
    split: str = "family",
    num_classes: int = 8,
    channels_last: bool = True,
) -> ExplainedModel:
    """The proposed model trained on ``split`` by the training chapter, in eval mode.

    Raises :class:`FileNotFoundError` (naming the notebook to run) when it has not been trained.
    ``channels_last`` stores the weights in that memory format, which is faster on CPUs.
    """
    specs = [s for s in plan(profile, "training") if s.split == split]
    if not specs:
        raise ValueError(f"profile {profile.name!r} trains no model on the {split!r} split")
    spec = specs[0]
    folder = Path(run_dir) / "experiments" / spec.key
    model = load_trained(spec, run_dir, profile, num_classes=num_classes)
    predictions_path = folder / "predictions_test.csv"
    if not predictions_path.is_file():
        raise FileNotFoundError(f"{predictions_path} does not exist: run 02_training first")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    checkpoint = folder / "best_model.pt"
    return ExplainedModel(
        spec=spec,
        model=model.eval(),
        predictions=pd.read_csv(predictions_path),
        checkpoint=checkpoint,
        checkpoint_sha256=file_sha256(checkpoint),
    )


def model_inputs(images: np.ndarray, rows: Sequence[int] | np.ndarray, image_size: int) -> Tensor:
    """The model's inputs ``(N, 3, size, size)`` for cached uint8 images ``images[rows]``."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.ndim != 1 or len(rows) == 0:
        raise ValueError("rows must be a non-empty 1-D list of image rows")
    batch = torch.from_numpy(np.ascontiguousarray(images[rows]))
    return to_model_input(batch, image_size).contiguous(memory_format=torch.channels_last)


def attribution_settings(profile: Profile, *, blur_sigma: float = 10.0) -> AttributionSettings:
    """The maps' settings under ``profile``: IG with ``profile.ig_steps`` path points."""
    return AttributionSettings(
        n_steps=profile.ig_steps, blur_sigma=blur_sigma, internal_batch_size=32
    )


def cam_grid_size(model: nn.Module, image_size: int, layer: nn.Module | str | None = None) -> tuple:
    """``(h, w)`` of the Grad-CAM layer's output for ``image_size`` inputs (its native grid)."""
    module = resolve_layer(model, layer)
    found: list[tuple[int, ...]] = []
    handle = module.register_forward_hook(lambda _m, _i, out: found.append(tuple(out.shape[-2:])))
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        handle.remove()
    return found[-1]


def sample_overview(
    predictions: pd.DataFrame, chosen: pd.DataFrame, class_names: Sequence[str]
) -> pd.DataFrame:
    """Per class: test images, how many the model got right, and the chosen correct/wrong."""
    names = dict(enumerate(class_names))

    def count(table: pd.DataFrame, mask: pd.Series | None = None) -> pd.Series:
        part = table if mask is None else table[mask]
        return part["y_true"].map(names).value_counts()

    right = predictions["y_true"] == predictions["y_pred"]
    overview = pd.DataFrame(
        {
            "test images": count(predictions),
            "correct in test": count(predictions, right),
            "chosen correct": count(chosen, chosen["correct"]),
            "chosen wrong": count(chosen, ~chosen["correct"]),
        }
    )
    present = [c for c in class_names if c in overview.index]
    return overview.reindex(present).fillna(0).astype(int)


def describe_attributions(attributions: AttributionSet, recorded_pred: Sequence[int]) -> str:
    """One line: how the maps were obtained and whether the model still predicts as recorded."""
    recorded = np.asarray(recorded_pred)
    same = int((np.asarray(attributions.y_pred) == recorded).sum())
    origin = "loaded from the cache" if attributions.loaded_from_cache else "computed"
    return (
        f"{len(attributions)} images, methods {', '.join(attributions.methods)}: {origin} "
        f"(computation took {attributions.seconds:.1f} s). The reloaded model predicts the "
        f"recorded class for {same} of {len(recorded)} images; the maps explain the recorded one."
    )


def consistency_breakdown(summary: pd.DataFrame, metric: str = "iou_top10") -> pd.DataFrame:
    """Mean ``metric`` per pair of methods (columns) overall, by class and by outcome (rows).

    ``summary`` is :attr:`~marsutils.xai.evaluation.XAIEvaluation.consistency_summary`; the
    column ``images`` is the largest number of images with a defined value over the pairs.
    """
    part = summary[summary["metric"] == metric]
    if part.empty:
        raise ValueError(f"no {metric!r} rows in the consistency summary")
    keys = ["group_by", "group"]
    groups = part.drop_duplicates(keys)[keys]
    index = pd.MultiIndex.from_frame(groups)
    table = part.set_index([*keys, "pair"])["mean"].unstack("pair").reindex(index)
    images = part.groupby(keys, sort=False)["n"].max().reindex(index)
    return table.assign(images=images).rename_axis(columns=None)


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
    evaluation: XAIEvaluation, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> XAITests:
    """Bootstrap intervals (seeded, over images) for consistency, faithfulness, randomisation."""
    options = {"n_boot": n_boot, "confidence": confidence, "random_state": seed}
    rows = []
    table = evaluation.randomization
    if not table.empty:
        last = table[table["step"] == table["step"].max()]
        for method, part in last.groupby("method", sort=False):
            ci = bootstrap_mean(part["spearman"], **options)
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
            evaluation.consistency, evaluation.consistency_mismatched, **options
        ),
        faithfulness=faithfulness_tests(evaluation.faithfulness.table, **options),
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
      for Spearman, ``mismatched`` the mean between maps of different images, ``n`` the images
      with a defined value, ``above_chance`` is ``ci_low > chance``;
    * ``faithfulness``: list of rows ``{"method": "gradcam" | "ig_black" | "ig_blur" |
      "random", "deletion_auc", "insertion_auc", "deletion_vs_random",
      "deletion_vs_random_ci_low", "deletion_vs_random_ci_high", "insertion_vs_random", ...,
      "n"}``: means over images of the AUC of the target-class probability, with intervals
      (``*_auc_ci_low``/``_high``), and the paired mean difference to the random map (None on
      the random map's own row);
    * ``randomization``: ``{"method": "gradcam", "spearman_after_full_randomisation", "ci_low",
      "ci_high", "constant_share", "n_images", "threshold"}``: the mean Spearman between the
      maps of the trained and of the fully re-initialised model, over the images whose
      randomised map is not constant, and the share that became constant (None if not run);
    * ``robustness``: list of rows ``{"method", "infidelity", "sensitivity"}`` (means; None when
      not measured);
    * ``bootstrap``: ``{"n_boot", "confidence", "seed"}`` of every interval.
    """
    completeness = evaluation.completeness.assign(
        baseline=evaluation.completeness["method"].map(_baseline_name)
    )
    completeness["within"] = completeness["relative_delta"] <= COMPLETENESS_TOLERANCE
    by_baseline = completeness.groupby("baseline")
    randomization = _gradcam_first(tests.randomization)
    robustness = []
    for method in attributions.methods:
        row: dict[str, Any] = {"method": method, "infidelity": None, "sensitivity": None}
        for table, column in (
            (evaluation.infidelity, "infidelity"),
            (evaluation.sensitivity, "sensitivity"),
        ):
            if table is not None and method in set(table["method"]):
                row[column] = _num(table.loc[table["method"] == method, column].mean())
        robustness.append(row)
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
        "consistency": [
            _json_row(r, keep=("pair", "metric", "above_chance"), ints=("n",))
            for r in tests.consistency.to_dict("records")
        ],
        "faithfulness": [
            _json_row(r, keep=("method",), ints=("n",))
            for r in tests.faithfulness.to_dict("records")
        ],
        "randomization": None
        if randomization is None
        else {
            "method": randomization["method"],
            "spearman_after_full_randomisation": _num(randomization["spearman"]),
            "ci_low": _num(randomization["ci_low"]),
            "ci_high": _num(randomization["ci_high"]),
            "constant_share": _num(randomization["constant_share"]),
            "n_images": int(randomization["n_images"]),
            "threshold": RANDOMIZATION_THRESHOLD,
        },
        "robustness": robustness,
        "bootstrap": {"n_boot": tests.n_boot, "confidence": tests.confidence, "seed": tests.seed},
    }


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _pair_label(pair: str) -> str:
    first, _, second = pair.partition("~")
    return f"{_label(first)} and {_label(second)}"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None, digits: int = 0) -> str:
    return "undefined" if value is None else f"{value:.{digits}%}"


def _interval(row: dict[str, Any], low: str = "ci_low", high: str = "ci_high") -> str:
    return f"[{_fmt(row.get(low))}, {_fmt(row.get(high))}]"


def completeness_verdict(summary: dict[str, Any]) -> str:
    """How well IG's attributions add up to the change of the logit, per baseline."""
    tolerance = summary["completeness_tolerance"]
    parts = []
    for baseline, median in summary["completeness_median_relative_delta"].items():
        share = summary["completeness_share_within_tolerance"].get(baseline)
        worst = summary["completeness_max_relative_delta"].get(baseline)
        parts.append(
            f"with the {baseline} baseline the median relative error is {_percent(median, 1)} "
            f"(largest {_percent(worst, 1)}), and {_percent(share)} of the images are within "
            f"{tolerance:.0%}"
        )
    return (
        f"Completeness at {summary['ig_steps']} path points: " + "; ".join(parts) + "."
        if parts
        else "No Integrated Gradients maps were computed."
    )


def consistency_verdict(row: dict[str, Any]) -> str:
    """One sentence on one pair and metric of the consistency rows of a summary."""
    metric = row["metric"]
    name = (
        "Spearman correlation"
        if metric == "spearman"
        else (f"IoU of the top {float(metric.partition('@')[2]):.0%} pixels")
    )
    if row["mean"] is None:
        return f"{_pair_label(row['pair'])}: the {name} is undefined on every image."
    agree = "agree more than chance" if row["above_chance"] else "do not agree more than chance"
    sentence = (
        f"{_pair_label(row['pair'])} {agree} by the {name}: mean {_fmt(row['mean'])} "
        f"{_interval(row)} against chance {_fmt(row['chance'])}"
    )
    mismatched = row.get("mismatched")
    if mismatched is not None and row["above_chance"]:
        relation = "above" if row["ci_low"] > mismatched else "not above"
        sentence += (
            f"; maps of different images reach {_fmt(mismatched)}, so the agreement is "
            f"{relation} what the two methods share on every image"
        )
    elif mismatched is not None:
        sentence += f" (maps of different images: {_fmt(mismatched)})"
    return sentence + "."


def _versus_random(row: dict[str, Any], mode: str, better_sign: int) -> str:
    """``better``/``worse``/``not distinguishable`` from the interval of the paired difference."""
    low, high = row[f"{mode}_vs_random_ci_low"], row[f"{mode}_vs_random_ci_high"]
    if low is None or high is None:
        return "not comparable with random"
    if (better_sign < 0 and high < 0) or (better_sign > 0 and low > 0):
        return "better than random"
    if (better_sign < 0 and low > 0) or (better_sign > 0 and high < 0):
        return "worse than random"
    return "not distinguishable from random"


def faithfulness_verdict(row: dict[str, Any]) -> str:
    """One sentence on one method's deletion and insertion AUCs against the random map.

    Better than random means a *lower* deletion AUC and a *higher* insertion AUC, with the
    interval of the paired difference excluding 0.
    """
    deletion = _interval(row, "deletion_vs_random_ci_low", "deletion_vs_random_ci_high")
    insertion = _interval(row, "insertion_vs_random_ci_low", "insertion_vs_random_ci_high")
    return (
        f"{_label(row['method'])}: deletion AUC {_fmt(row['deletion_auc'])}, "
        f"{_versus_random(row, 'deletion', -1)} (difference {_fmt(row['deletion_vs_random'])} "
        f"{deletion}); insertion AUC {_fmt(row['insertion_auc'])}, "
        f"{_versus_random(row, 'insertion', +1)} (difference "
        f"{_fmt(row['insertion_vs_random'])} {insertion})."
    )


def randomization_verdict(summary: dict[str, Any]) -> str:
    """Does the method's map depend on the learned weights (Adebayo et al. 2018)?

    Passed when the randomised maps keep a mean Spearman whose interval lies below
    :data:`RANDOMIZATION_THRESHOLD` (or every randomised map is constant), failed when the
    interval lies above it, inconclusive otherwise. The threshold is a convention of this book.
    """
    result = summary.get("randomization")
    if not result:
        return "The randomisation check was not run."
    method = _label(result["method"])
    constant = result["constant_share"]
    spearman = result["spearman_after_full_randomisation"]
    start = (
        f"After re-initialising every weight, {constant:.0%} of the {result['n_images']} "
        f"{method} maps became constant"
    )
    if spearman is None:
        return f"{start}: the maps depend on the learned weights, so {method} passes the check."
    threshold = result["threshold"]
    if result["ci_high"] < threshold:
        verdict = f"below {threshold:g}: {method} passes the check"
    elif result["ci_low"] > threshold:
        verdict = f"above {threshold:g}: much of the map survives, {method} fails the check"
    else:
        verdict = f"around {threshold:g}: the check is inconclusive on these images"
    return (
        f"{start}, and the others keep a mean Spearman correlation of {_fmt(spearman)} "
        f"{_interval(result)} with the originals (1 = unchanged, 0 = unrelated), {verdict}."
    )


def verdicts(summary: dict[str, Any]) -> dict[str, list[str]]:
    """Sentences for the chapter from a :func:`build_summary` record, by section.

    ``completeness``, ``consistency`` (the headline pairs, Grad-CAM against each IG, at the top
    10% IoU and Spearman), ``faithfulness`` (one per method) and ``randomization``.
    """
    headline = [
        row
        for pair in HEADLINE_PAIRS
        for metric in HEADLINE_METRICS
        for row in summary["consistency"]
        if row["pair"] == pair and row["metric"] == metric
    ]
    return {
        "completeness": [completeness_verdict(summary)],
        "consistency": [consistency_verdict(row) for row in headline],
        "faithfulness": [
            faithfulness_verdict(row)
            for row in summary["faithfulness"]
            if row["method"] != "random"
        ],
        "randomization": [randomization_verdict(summary)],
    }
