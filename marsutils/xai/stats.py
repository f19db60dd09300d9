"""Bootstrap intervals over images for the XAI measurements, so "more than chance" is a test.

Every interval is a seeded percentile bootstrap over the explained images (the same resampling
as :mod:`marsutils.metrics`). Images where a measure is undefined (NaN, e.g. a constant map) are
left out before resampling; ``n`` says how many remain.

* :func:`consistency_tests`: mean top-k IoU and Spearman of each pair of methods, with intervals,
  against two references: the analytic ``chance`` of unrelated maps (``k / (2 - k)`` for top-k
  IoU, 0 for Spearman) and ``mismatched``, the same measure between the maps of *different*
  images (see :func:`~marsutils.xai.consistency.mismatched_consistency_table`), which keeps
  whatever the methods highlight on every image (a centre bias, say). A pair agrees *more than
  chance* when the interval's lower end is above ``chance``.
* :func:`faithfulness_tests`: deletion and insertion AUCs with intervals, and each method's paired
  difference to the random map on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from marsutils.metrics import ConfidenceInterval, bootstrap_indices
from marsutils.xai.consistency import chance_top_k_iou, fraction_of_column

__all__ = ["bootstrap_mean", "consistency_tests", "faithfulness_tests", "metric_name"]


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> ConfidenceInterval:
    """Mean of the finite ``values`` with its percentile-bootstrap interval (NaN if none)."""
    data = np.asarray(values, dtype=float).reshape(-1)
    data = data[np.isfinite(data)]
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}")
    if len(data) == 0:
        nan = float("nan")
        return ConfidenceInterval(nan, nan, nan, float(confidence), n_boot)
    means = data[bootstrap_indices(len(data), n_boot=n_boot, random_state=random_state)].mean(1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return ConfidenceInterval(float(data.mean()), float(low), float(high), confidence, n_boot)


def metric_name(column: str) -> str:
    """The summary name of a consistency column: ``iou_top10`` -> ``topk_iou@0.1``."""
    if column == "spearman":
        return "spearman"
    if column.startswith("iou_top"):
        return f"topk_iou@{fraction_of_column(column):g}"
    raise ValueError(f"not a consistency metric column: {column!r}")


def _metric_columns(table: pd.DataFrame) -> list[str]:
    columns = [c for c in table.columns if c.startswith("iou_top")]
    return ["spearman", *sorted(columns, key=fraction_of_column)]


def consistency_tests(
    consistency: pd.DataFrame,
    mismatched: pd.DataFrame | None = None,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> pd.DataFrame:
    """One row per pair of methods and metric, over all images.

    ``consistency`` (and ``mismatched``) are per-image tables with a ``pair`` column, as in
    :attr:`~marsutils.xai.evaluation.XAIEvaluation.consistency`. Columns: ``pair``, ``metric``
    (``topk_iou@<k>`` or ``spearman``), ``mean``, ``ci_low``, ``ci_high``, ``n``, ``chance``,
    ``mismatched`` (mean over mismatched image pairs; NaN without that table) and
    ``above_chance`` (``ci_low > chance``).
    """
    if "pair" not in consistency.columns:
        raise ValueError("consistency table needs a 'pair' column (see evaluate_explanations)")
    rows = []
    for pair, part in consistency.groupby("pair", sort=True):
        other = mismatched[mismatched["pair"] == pair] if mismatched is not None else None
        for column in _metric_columns(part):
            ci = bootstrap_mean(
                part[column], n_boot=n_boot, confidence=confidence, random_state=random_state
            )
            chance = 0.0 if column == "spearman" else chance_top_k_iou(fraction_of_column(column))
            reference = (
                float(np.nanmean(other[column]))
                if other is not None and other[column].notna().any()
                else float("nan")
            )
            rows.append(
                {
                    "pair": str(pair),
                    "metric": metric_name(column),
                    "mean": ci.estimate,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "n": int(part[column].notna().sum()),
                    "chance": chance,
                    "mismatched": reference,
                    "above_chance": bool(ci.low > chance),
                }
            )
    return pd.DataFrame(rows)


def faithfulness_tests(
    table: pd.DataFrame,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> pd.DataFrame:
    """Per method: mean AUCs with intervals, and the paired difference to the random map.

    ``table`` is :attr:`~marsutils.xai.faithfulness.FaithfulnessResult.table` (one row per image
    and method). Columns: ``method``, ``n``, ``deletion_auc`` / ``insertion_auc`` with
    ``_ci_low`` / ``_ci_high``, and ``deletion_vs_random`` / ``insertion_vs_random`` (method
    minus ``"random"`` on the same image, averaged) with their intervals; NaN on the random
    map's own row. A faithful method has a deletion difference below 0 and an insertion
    difference above 0.
    """
    missing = {"image", "method", "deletion_auc", "insertion_auc"} - set(table.columns)
    if missing:
        raise ValueError(f"not a faithfulness table: missing column(s) {sorted(missing)}")
    if "random" not in set(table["method"]):
        raise ValueError("the faithfulness table has no 'random' reference rows")
    wide = table.pivot_table(
        index="image", columns="method", values=["deletion_auc", "insertion_auc"], sort=False
    )
    options = {"n_boot": n_boot, "confidence": confidence, "random_state": random_state}
    rows = []
    for method in pd.unique(table["method"]):
        row: dict[str, object] = {
            "method": str(method),
            "n": int(wide[("deletion_auc", method)].size),
        }
        for mode in ("deletion", "insertion"):
            values = wide[(f"{mode}_auc", method)].to_numpy()
            ci = bootstrap_mean(values, **options)
            row |= {f"{mode}_auc": ci.estimate, f"{mode}_auc_ci_low": ci.low}
            row[f"{mode}_auc_ci_high"] = ci.high
            if method == "random":
                diff = ConfidenceInterval(*(float("nan"),) * 3, confidence, n_boot)
            else:
                diff = bootstrap_mean(
                    values - wide[(f"{mode}_auc", "random")].to_numpy(), **options
                )
            row |= {f"{mode}_vs_random": diff.estimate, f"{mode}_vs_random_ci_low": diff.low}
            row[f"{mode}_vs_random_ci_high"] = diff.high
        rows.append(row)
    return pd.DataFrame(rows)
