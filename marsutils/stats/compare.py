"""Side-by-side tables: the paper's numbers next to ours, with our 95% bootstrap intervals.

Input: evaluation dicts from :func:`marsutils.stats.metrics.evaluate_predictions` (fractions) and
the paper's values from :mod:`marsutils.core.paper` (percentages). Output rows are in percent:

``section`` (headline / per_class), ``run``, ``model`` (paper model key), ``class``, ``metric``
(our metric), ``paper_metric`` (what the paper calls it), ``paper``, ``paper_source``,
``paper_kind`` ("printed"; "derived" = recomputed from the paper's own numbers; "not reported" =
the paper gives no value, ``paper`` is NaN), ``ours``,
``difference`` (ours - paper), ``ci_low``, ``ci_high`` and ``paper_in_ci`` (whether the paper's
value lies inside our interval; missing when there is no interval).

Which of our metrics each paper number is compared with:

* accuracy -> accuracy; mean IoU -> mean image-level IoU;
* the headline "F1" (88.48, averaging unstated) and the text's "weighted macro-average" (87.51,
  which is the unweighted mean of Table 1) -> our macro F1; the support-weighted mean of Table 1
  -> our weighted F1;
* Table 3 rows (``plain``, ``head``, ``attention``, ``full``) -> accuracy, mean IoU, macro F1;
* baselines (``unet``, ``deeplabv3plus``) -> mean IoU (printed) and macro F1 (implied by the
  Abstract's F1 gains); their accuracy is not reported (a row with ``paper`` NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from marsutils.core import paper

__all__ = ["COLUMNS", "PAPER_MODELS", "compare_with_paper", "compare_many"]

COLUMNS: tuple[str, ...] = (
    "section",
    "run",
    "model",
    "class",
    "metric",
    "paper_metric",
    "paper",
    "paper_source",
    "paper_kind",
    "ours",
    "difference",
    "ci_low",
    "ci_high",
    "paper_in_ci",
)
PAPER_MODELS: tuple[str, ...] = (*paper.ABLATION_KEYS, *paper.BASELINE_IOU)
PER_CLASS_METRICS: tuple[str, ...] = ("precision", "recall", "f1", "iou", "support")


def _pct(value: Any) -> float:
    return float("nan") if value is None else 100.0 * float(value)


def _row(
    *,
    section: str,
    metric: str,
    paper_metric: str,
    paper_value: float,
    source: str,
    kind: str,
    ours: float,
    ci: Mapping[str, Any] | None,
    cls: str | None = None,
) -> dict[str, Any]:
    low = high = float("nan")
    if ci is not None and ci.get("low") is not None and ci.get("high") is not None:
        low, high = _pct(ci["low"]), _pct(ci["high"])
    inside: bool | None = None
    if not (math.isnan(low) or math.isnan(high) or math.isnan(paper_value)):
        inside = bool(low <= paper_value <= high)
    return {
        "section": section,
        "class": cls,
        "metric": metric,
        "paper_metric": paper_metric,
        "paper": float(paper_value),
        "paper_source": source,
        "paper_kind": kind,
        "ours": ours,
        "difference": ours - float(paper_value),
        "ci_low": low,
        "ci_high": high,
        "paper_in_ci": inside,
    }


def _headline_targets(model: str) -> list[tuple[str, str, float, str, str]]:
    """(our metric, paper metric, paper value, source, kind) for one paper model."""
    if model == "full":
        h = paper.HEADLINE
        return [
            ("accuracy", "accuracy", h["accuracy"].value, h["accuracy"].source, "printed"),
            ("mean_iou", "mean IoU", h["mean_iou"].value, h["mean_iou"].source, "printed"),
            ("macro_f1", "F1 (headline)", h["f1"].value, h["f1"].source, "printed"),
            (
                "macro_f1",
                "'weighted macro-average' F1",
                h["weighted_macro_f1"].value,
                h["weighted_macro_f1"].source,
                "printed",
            ),
            (
                "weighted_f1",
                "support-weighted F1 of Table 1",
                paper.table1_weighted_f1(),
                "Table 1",
                "derived",
            ),
            (
                "mean_iou",
                "image-level mean IoU of Table 1",
                paper.table1_mean_iou(),
                "Table 1",
                "derived",
            ),
        ]
    if model in paper.ABLATION_KEYS:
        row = paper.table3().loc[model]
        source = f"Table 3 ({row['configuration']})"
        return [
            ("accuracy", "accuracy", row["accuracy"], source, "printed"),
            ("mean_iou", "IoU", row["iou"], source, "printed"),
            ("macro_f1", "F1", row["f1"], source, "printed"),
        ]
    if model in paper.BASELINE_IOU:
        row = paper.baseline_values().loc[model]
        return [
            (
                "accuracy",
                "accuracy",
                float("nan"),
                "not reported (the text says Table 3 gives it; Table 3 has no baselines)",
                "not reported",
            ),
            ("mean_iou", "IoU", row["iou"], row["iou_source"], "printed"),
            ("macro_f1", "F1", row["f1"], row["f1_source"], "derived"),
        ]
    raise ValueError(f"unknown paper model {model!r}; valid choices: {PAPER_MODELS}")


def _per_class_rows(evaluation: Mapping[str, Any]) -> list[dict[str, Any]]:
    table, iou = paper.table1(), paper.table1_iou()
    ours = {entry["class"]: entry for entry in evaluation["per_class"]}
    missing = sorted(set(table.index) - set(ours))
    if missing:
        raise ValueError(f"evaluation lacks the paper's class(es) {missing}; it has {sorted(ours)}")
    rows = []
    for cls, ref in table.iterrows():
        entry = ours[cls]
        for metric in PER_CLASS_METRICS:
            if metric == "support":  # a count: no percent, no interval
                value, ours_value, ci = float(ref[metric]), float(entry[metric]), None
            else:
                value = float(iou[cls]) if metric == "iou" else float(ref[metric])
                ours_value, ci = _pct(entry[metric]), entry.get(f"{metric}_ci")
            rows.append(
                _row(
                    section="per_class",
                    metric=metric,
                    paper_metric=metric,
                    paper_value=value,
                    source="Table 1",
                    kind="derived" if metric == "iou" else "printed",
                    ours=ours_value,
                    ci=ci,
                    cls=cls,
                )
            )
    return rows


def compare_with_paper(
    evaluation: Mapping[str, Any],
    *,
    model: str = "full",
    per_class: bool | None = None,
    run: str | None = None,
) -> pd.DataFrame:
    """The paper's values for ``model`` next to ``evaluation``'s, one row per comparison.

    Args:
        evaluation: a dict from :func:`marsutils.stats.metrics.evaluate_predictions`.
        model: which paper model this evaluation corresponds to (:data:`PAPER_MODELS`).
        per_class: add Table 1 rows (only the proposed model has them); default: ``model ==
            "full"``.
        run: a label for this evaluation (default: ``model``).

    Raises:
        ValueError: unknown ``model``, per-class rows requested for a model without them, or an
            evaluation that lacks the paper's classes.
    """
    per_class = (model == "full") if per_class is None else per_class
    if per_class and model != "full":
        raise ValueError(f"the paper reports per-class values only for 'full', not {model!r}")
    overall, ci = evaluation["overall"], evaluation.get("ci", {})
    rows = [
        _row(
            section="headline", metric=metric, paper_metric=paper_metric,
            paper_value=float(value), source=source, kind=kind,
            ours=_pct(overall[metric]), ci=ci.get(metric),
        )
        for metric, paper_metric, value, source, kind in _headline_targets(model)
    ]  # fmt: skip
    if per_class:
        rows += _per_class_rows(evaluation)
    out = pd.DataFrame(rows)
    out["run"] = run if run is not None else model
    out["model"] = model
    out["paper_in_ci"] = out["paper_in_ci"].astype("boolean")
    return out[list(COLUMNS)]


def compare_many(
    evaluations: Mapping[str, Mapping[str, Any]],
    *,
    models: Mapping[str, str] | None = None,
    per_class: bool = False,
) -> pd.DataFrame:
    """:func:`compare_with_paper` for several runs, stacked (e.g. the ablation and baselines).

    ``evaluations`` maps a run label to its evaluation; ``models`` maps a run label to its paper
    model key (default: the label itself). Per-class rows are added only for ``full`` runs.
    """
    models = models or {}
    frames = [
        compare_with_paper(
            evaluation,
            model=models.get(run, run),
            per_class=per_class and models.get(run, run) == "full",
            run=run,
        )
        for run, evaluation in evaluations.items()
    ]
    if not frames:
        raise ValueError("no evaluations given")
    return pd.concat(frames, ignore_index=True)
