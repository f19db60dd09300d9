"""Tables for the chapters: headline metrics with intervals, and paired model comparisons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .significance import paired_bootstrap_difference

__all__ = ["HEADLINE_METRICS", "format_ci", "headline_table", "paired_comparisons"]

HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "mean_iou")


def format_ci(value: float | None, ci: Mapping[str, Any] | None) -> str:
    """``"93.1 [92.0, 94.2]"`` in percent; ``"n/a"`` for a missing value."""
    if value is None:
        return "n/a"
    if not ci or ci.get("low") is None:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]"


def headline_table(
    evaluations: Mapping[str, Mapping[str, Any]], metrics: Sequence[str] = HEADLINE_METRICS
) -> pd.DataFrame:
    """One row per run: each metric in percent with its 95% bootstrap interval."""
    rows = {}
    for run, ev in evaluations.items():
        rows[run] = {m: format_ci(ev["overall"].get(m), ev.get("ci", {}).get(m)) for m in metrics}
        rows[run]["test images"] = ev["n_images"]
    return pd.DataFrame.from_dict(rows, orient="index")


def paired_comparisons(
    predictions: Mapping[str, pd.DataFrame],
    pairs: Sequence[tuple[str, str]],
    *,
    metrics: Sequence[str] = ("accuracy", "macro_f1"),
    n_boot: int = 1000,
    random_state: int = 0,
) -> pd.DataFrame:
    """For each ``(a, b)``: metric(a) - metric(b) on the same test images, with a paired interval.

    ``predictions`` maps a run name to its test predictions (columns ``row, y_true, y_pred``);
    the two runs of a pair must cover the same test images.
    """
    rows = []
    for a, b in pairs:
        pa = predictions[a].sort_values("row").reset_index(drop=True)
        pb = predictions[b].sort_values("row").reset_index(drop=True)
        if not pa["row"].equals(pb["row"]):
            raise ValueError(f"{a!r} and {b!r} were not tested on the same images")
        for metric in metrics:
            res = paired_bootstrap_difference(
                pa["y_true"].to_numpy(),
                pa["y_pred"].to_numpy(),
                pb["y_pred"].to_numpy(),
                metric=metric,
                n_boot=n_boot,
                random_state=random_state,
            )
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "metric": metric,
                    "a minus b (points)": round(100 * res["difference"], 2),
                    "95% CI low": round(100 * res["low"], 2),
                    "95% CI high": round(100 * res["high"], 2),
                    "a better (CI above 0)": res["low"] > 0,
                    "b better (CI below 0)": res["high"] < 0,
                    "p(a not better)": res["p_not_better"],
                }
            )
    return pd.DataFrame(rows)
