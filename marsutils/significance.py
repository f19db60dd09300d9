"""Is model A better than model B on the same test images? A paired bootstrap answers it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

__all__ = ["METRICS", "paired_bootstrap_difference"]

METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy_score,
    "macro_f1": lambda t, p: f1_score(t, p, average="macro", zero_division=0),
}


def paired_bootstrap_difference(
    y_true: np.ndarray,
    y_pred_a: np.ndarray,
    y_pred_b: np.ndarray,
    *,
    metric: str = "macro_f1",
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> dict[str, float]:
    """``metric(a) - metric(b)`` with a percentile interval from resampling test images.

    Both models are scored on the *same* resampled images each round, so the interval reflects
    the difference between the models rather than the spread of either alone. ``p_not_better`` is
    the share of rounds in which A does not beat B (a one-sided bootstrap p-value).
    """
    y_true, a, b = (np.asarray(v) for v in (y_true, y_pred_a, y_pred_b))
    if not (len(y_true) == len(a) == len(b)) or len(y_true) == 0:
        raise ValueError("y_true, y_pred_a and y_pred_b must be non-empty and of equal length")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")
    score = METRICS[metric]
    rng = np.random.default_rng(random_state)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, len(y_true), len(y_true))
        diffs[i] = score(y_true[idx], a[idx]) - score(y_true[idx], b[idx])
    alpha = (1 - confidence) / 2
    return {
        "metric": metric,
        "difference": float(score(y_true, a) - score(y_true, b)),
        "low": float(np.quantile(diffs, alpha)),
        "high": float(np.quantile(diffs, 1 - alpha)),
        "p_not_better": float(np.mean(diffs <= 0)),
        "n_boot": n_boot,
        "confidence": confidence,
    }
