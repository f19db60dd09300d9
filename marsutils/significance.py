"""Is model A better than model B on the same test images? Paired (and two-level) bootstraps.

Both models are scored on the *same* resample of the test set each round, so the interval reflects
the difference between the models rather than the spread of either alone. Resamples come from
:func:`marsutils.metrics.bootstrap_weights`, the project's one bootstrap: with ``groups`` (the twin
family of each test image) whole families are drawn, because twins get nearly the same prediction
(identical ones under 8-view test-time augmentation) and are not independent evidence.

With several training seeds per model, :func:`two_level_paired_bootstrap` resamples seeds, then
families (Davison and Hinkley 1997, sec. 3.8, on multi-stage sampling), so the interval holds both
the test-set and the training-run variation. :func:`seed_summary` gives the mean and standard
deviation over seeds per model.

The one-sided p-value of "A is better" is ``(1 + #{rounds with difference <= 0}) / (n_boot + 1)``
(Davison and Hinkley 1997, eq. 4.11), never 0; :mod:`marsutils.rules` corrects it for multiple
claims with Holm's method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from .metrics import (
    _scores_from_confusion,
    bootstrap_weights,
    n_clusters,
    weighted_confusions,
)

__all__ = [
    "METRICS",
    "paired_bootstrap_difference",
    "seed_summary",
    "seed_table",
    "two_level_paired_bootstrap",
]


def _jaccard(t: np.ndarray, p: np.ndarray) -> float:
    labels = np.unique(np.concatenate([t, p]))
    return float(_score(np.asarray(t), np.asarray(p), labels, "mean_iou"))


#: Metrics a comparison can use, as ``metric(y_true, y_pred)`` callables for reference; the
#: bootstrap computes them from confusion matrices over the labels present in either array
#: (a class absent from a resample is skipped, as scikit-learn does).
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy_score,
    "macro_f1": lambda t, p: f1_score(t, p, average="macro", zero_division=0),
    "mean_iou": _jaccard,
}


def _score(t: np.ndarray, p: np.ndarray, labels: np.ndarray, metric: str) -> float:
    cm = weighted_confusions(t, p, labels, np.ones((1, len(t))))
    return float(_scores_from_confusion(cm, np.nan)[metric][0])


def _check(y_true: np.ndarray, preds: Sequence[np.ndarray], metric: str) -> None:
    if len(y_true) == 0 or any(len(p) != len(y_true) for p in preds):
        raise ValueError("y_true and every prediction array must be non-empty and of equal length")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")


def _boot_scores(
    t: np.ndarray, p: np.ndarray, labels: np.ndarray, weights: np.ndarray, metric: str
) -> np.ndarray:
    return _scores_from_confusion(weighted_confusions(t, p, labels, weights), np.nan)[metric]


def _summary(
    diffs: np.ndarray, difference: float, confidence: float, metric: str, n_boot: int
) -> dict[str, Any]:
    alpha = (1 - confidence) / 2
    return {
        "metric": metric,
        "difference": float(difference),
        "low": float(np.quantile(diffs, alpha)),
        "high": float(np.quantile(diffs, 1 - alpha)),
        "p_not_better": float((1 + np.sum(diffs <= 0)) / (n_boot + 1)),
        "n_boot": n_boot,
        "confidence": confidence,
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
    groups: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, Any]:
    """``metric(a) - metric(b)`` with a percentile interval from resampling the test set.

    Parameters
    ----------
    y_true, y_pred_a, y_pred_b : array-like of shape (n,)
        Integer class ids of the same test images.
    metric : {"accuracy", "macro_f1", "mean_iou"}
        ``mean_iou`` is the image-level Jaccard index (see :mod:`marsutils.metrics`).
    n_boot, confidence, random_state
        Number of resamples, interval level and seed.
    groups : array-like of shape (n,), optional
        Cluster (twin family) per image; whole clusters are resampled.

    Returns
    -------
    dict
        ``difference``, ``low``, ``high`` (fractions), ``p_not_better`` (one-sided bootstrap
        p-value of "A is better", see the module docstring), ``n_clusters`` (the effective
        sample size), ``metric``, ``n_boot``, ``confidence``.
    """
    y_true, a, b = (np.asarray(v) for v in (y_true, y_pred_a, y_pred_b))
    _check(y_true, [a, b], metric)
    labels = np.unique(np.concatenate([y_true, a, b]))
    weights = bootstrap_weights(
        len(y_true), n_boot=n_boot, random_state=random_state, groups=groups
    )
    diffs = _boot_scores(y_true, a, labels, weights, metric) - _boot_scores(
        y_true, b, labels, weights, metric
    )
    difference = _score(y_true, a, labels, metric) - _score(y_true, b, labels, metric)
    out = _summary(diffs, difference, confidence, metric, n_boot)
    out["n_clusters"] = n_clusters(groups, len(y_true))
    return out


def two_level_paired_bootstrap(
    y_true: np.ndarray,
    preds_a: Sequence[np.ndarray] | np.ndarray,
    preds_b: Sequence[np.ndarray] | np.ndarray,
    *,
    metric: str = "macro_f1",
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Paired difference of two models trained with several seeds: resample seeds, then families.

    Each round draws the test families once (shared by both models, as in
    :func:`paired_bootstrap_difference`, from the same random stream), then draws each model's
    seeds with replacement and scores ``mean over drawn seeds of metric(A) - mean of metric(B)``
    on that resample. With one seed per model, or seeds whose predictions are identical, the
    result equals :func:`paired_bootstrap_difference`'s.

    Parameters
    ----------
    y_true : array-like of shape (n,)
    preds_a, preds_b : array-like of shape (n_seeds, n)
        Per-seed predictions of model A and model B on the same test images (the seed counts
        may differ).
    metric, n_boot, confidence, random_state, groups
        As in :func:`paired_bootstrap_difference`.

    Returns
    -------
    dict
        The keys of :func:`paired_bootstrap_difference` (``difference`` is the difference of
        the seed means), plus ``n_seeds_a``, ``n_seeds_b`` and ``a``/``b``: :func:`seed_summary`
        of each model's per-seed scores.
    """
    y_true = np.asarray(y_true)
    a = np.atleast_2d(np.asarray(preds_a))
    b = np.atleast_2d(np.asarray(preds_b))
    _check(y_true, [*a, *b], metric)
    labels = np.unique(np.concatenate([y_true, a.ravel(), b.ravel()]))
    rng = np.random.default_rng(random_state)
    weights = bootstrap_weights(len(y_true), n_boot=n_boot, random_state=rng, groups=groups)
    boot_a = np.stack([_boot_scores(y_true, p, labels, weights, metric) for p in a])
    boot_b = np.stack([_boot_scores(y_true, p, labels, weights, metric) for p in b])
    rounds = np.arange(n_boot)
    seeds_a = rng.integers(0, len(a), size=(n_boot, len(a)))
    seeds_b = rng.integers(0, len(b), size=(n_boot, len(b)))
    diffs = boot_a[seeds_a, rounds[:, None]].mean(axis=1) - boot_b[seeds_b, rounds[:, None]].mean(
        axis=1
    )
    scores_a = [_score(y_true, p, labels, metric) for p in a]
    scores_b = [_score(y_true, p, labels, metric) for p in b]
    out = _summary(diffs, np.mean(scores_a) - np.mean(scores_b), confidence, metric, n_boot)
    out.update(
        n_clusters=n_clusters(groups, len(y_true)),
        n_seeds_a=len(a),
        n_seeds_b=len(b),
        a=seed_summary(scores_a),
        b=seed_summary(scores_b),
    )
    return out


def seed_summary(values: Sequence[float] | np.ndarray | pd.Series) -> dict[str, Any]:
    """Mean and sample standard deviation (``ddof=1``; None for one seed) over training seeds."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"need a non-empty 1-D array of per-seed values; got shape {v.shape}")
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if len(v) > 1 else None,
        "n_seeds": len(v),
    }


def seed_table(
    frame: pd.DataFrame, *, by: str | Sequence[str], metrics: Sequence[str]
) -> pd.DataFrame:
    """Mean ± SD over seeds of each metric per model: one row per ``by`` value.

    ``frame`` holds one row per (model, seed) with the metric columns; the result has
    ``<metric>_mean``, ``<metric>_sd`` and ``n_seeds`` columns.
    """
    missing = [c for c in [*np.atleast_1d(by), *metrics] if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the table; it has {list(frame.columns)}")
    rows = []
    for key, part in frame.groupby(by, sort=False):
        row: dict[str, Any] = dict(zip(np.atleast_1d(by), np.atleast_1d(key), strict=True))
        for m in metrics:
            s = seed_summary(part[m].to_numpy())
            row[f"{m}_mean"], row[f"{m}_sd"], row["n_seeds"] = s["mean"], s["sd"], s["n_seeds"]
        rows.append(row)
    return pd.DataFrame(rows)
