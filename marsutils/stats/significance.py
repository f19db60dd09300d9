"""Is model A better than model B on the same test images? Paired (and two-level) bootstraps.

Both models are scored on the *same* resample of the test set each round, so the interval reflects
the difference between the models rather than the spread of either alone. Resamples come from
:func:`marsutils.stats.metrics.bootstrap_weights`, the project's one bootstrap: with ``groups`` (the
twin family of each test image) whole families are drawn, because twins get nearly the same
prediction (identical ones under 8-view test-time augmentation) and are not independent evidence.

With several training seeds, the two-level bootstraps resample seeds, then families (Davison and
Hinkley 1997, sec. 3.8, on multi-stage sampling), so the interval holds both the test-set and the
training-run variation: :func:`two_level_paired_bootstrap` when all seeds share one test set,
:func:`paired_bootstrap_over_seeds` and :func:`bootstrap_over_seeds` when each seed has its own
split (as when the seed fixes the split). :func:`seed_summary` and :func:`seed_table` give the
mean and standard deviation over seeds per model.

The one-sided p-value of "A is better" is ``(1 + #{rounds with difference <= 0}) / (n_boot + 1)``
(Davison and Hinkley 1997, eq. 4.11), never 0; :mod:`marsutils.stats.rules` corrects it for multiple
claims with Holm's method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

from marsutils.stats.metrics import (
    bootstrap_indices,
    bootstrap_weights,
    n_clusters,
    scores_from_confusion,
    weighted_confusions,
)

__all__ = [
    "METRICS",
    "bootstrap_over_seeds",
    "paired_bootstrap_difference",
    "paired_bootstrap_over_seeds",
    "seed_summary",
    "seed_table",
    "two_level_paired_bootstrap",
]


PER_CLASS_METRICS = ("precision", "recall", "f1", "iou")


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
    return float(scores_from_confusion(cm, zero_division=np.nan)[metric][0])


def _check(y_true: np.ndarray, preds: Sequence[np.ndarray], metric: str) -> None:
    if len(y_true) == 0 or any(len(p) != len(y_true) for p in preds):
        raise ValueError("y_true and every prediction array must be non-empty and of equal length")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")


def _boot_scores(
    t: np.ndarray, p: np.ndarray, labels: np.ndarray, weights: np.ndarray, metric: str
) -> np.ndarray:
    confusions = weighted_confusions(t, p, labels, weights)
    return scores_from_confusion(confusions, zero_division=np.nan)[metric]


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
    y_true: np.ndarray, y_pred_a: np.ndarray, y_pred_b: np.ndarray, **options: Any
) -> dict[str, Any]:
    """``metric(a) - metric(b)`` with a percentile interval from resampling the test set.

    The one-seed case of :func:`two_level_paired_bootstrap`.

    Parameters
    ----------
    y_true, y_pred_a, y_pred_b : array-like of shape (n,)
        Integer class ids of the same test images.
    **options
        The keywords of :func:`two_level_paired_bootstrap`: ``metric`` (``"accuracy"``,
        ``"macro_f1"`` or ``"mean_iou"``, the image-level Jaccard index), ``n_boot``,
        ``confidence``, ``random_state`` and ``groups`` (whole clusters, twin families, are
        resampled).

    Returns
    -------
    dict
        ``difference``, ``low``, ``high`` (fractions), ``p_not_better`` (one-sided bootstrap
        p-value of "A is better", see the module docstring), ``n_clusters`` (the effective
        sample size), ``metric``, ``n_boot``, ``confidence``.

    Raises
    ------
    ValueError
        As :func:`two_level_paired_bootstrap` does.
    """
    out = two_level_paired_bootstrap(
        y_true, np.asarray(y_pred_a)[None], np.asarray(y_pred_b)[None], **options
    )
    # one seed per model: the seed draws are all that seed, so the resamples are the families'
    for key in ("n_seeds_a", "n_seeds_b", "a", "b"):
        del out[key]
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
    metric : {"accuracy", "macro_f1", "mean_iou"}
        ``mean_iou`` is the image-level Jaccard index (see :mod:`marsutils.stats.metrics`).
    n_boot, confidence, random_state
        Number of resamples, interval level and seed.
    groups : array-like of shape (n,), optional
        Cluster (twin family) per image; whole clusters are resampled.

    Returns
    -------
    dict
        The keys of :func:`paired_bootstrap_difference` (``difference`` is the difference of
        the seed means), plus ``n_seeds_a``, ``n_seeds_b`` and ``a``/``b``: :func:`seed_summary`
        of each model's per-seed scores.

    Raises
    ------
    ValueError
        If ``y_true`` is empty or a prediction differs from it in length, or ``metric`` is
        unknown.
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
    seeds_a = bootstrap_indices(len(a), n_boot=n_boot, random_state=rng)
    seeds_b = bootstrap_indices(len(b), n_boot=n_boot, random_state=rng)
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


def _over_seeds(
    boot: list[np.ndarray], points: list[float], rng: np.random.Generator, n_boot: int
) -> tuple[np.ndarray, float]:
    """Second stage: draw seeds with replacement and average their first-stage resamples."""
    stacked = np.stack(boot)
    draws = bootstrap_indices(len(boot), n_boot=n_boot, random_state=rng)
    return stacked[draws, np.arange(n_boot)[:, None]].mean(axis=1), float(np.mean(points))


def bootstrap_over_seeds(
    runs: Sequence[tuple[np.ndarray, np.ndarray, Sequence[Any] | np.ndarray | None]],
    *,
    metric: str = "macro_f1",
    label: int | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> dict[str, Any]:
    """A model's score over several training seeds, each with its own test set: seeds, then
    families.

    Parameters
    ----------
    runs : sequence of (y_true, y_pred, groups)
        One entry per seed: that seed's test labels, predictions and twin families (``groups``
        may be None). Seeds may have different test sets (the seed fixes the split).
    metric : str
        An overall metric (accuracy, macro_f1, mean_iou), or with ``label`` a per-class one
        (precision, recall, f1, iou) of class ``label``.
    label : int, optional
        The class id of a per-class metric.
    n_boot, confidence, random_state
        As in :func:`paired_bootstrap_difference`.

    Returns
    -------
    dict
        ``estimate`` (mean over seeds), ``low``, ``high``, ``seeds`` (:func:`seed_summary` of
        the per-seed scores), ``n_clusters`` (per seed), ``metric``, ``n_boot``, ``confidence``.
        With one seed the resamples are those of the one-level cluster bootstrap
        (:func:`marsutils.stats.metrics.bootstrap_weights`) from the same seed.
    """
    if not runs:
        raise ValueError("need at least one seed's predictions")
    rng = np.random.default_rng(random_state)
    boot, points, clusters = [], [], []
    per_class = label is not None
    if per_class and metric not in PER_CLASS_METRICS:
        raise ValueError(f"a per-class metric is one of {PER_CLASS_METRICS}; got {metric!r}")
    for y_true, y_pred, groups in runs:
        t, p = np.asarray(y_true), np.asarray(y_pred)
        if not per_class:
            _check(t, [p], metric)
        elif len(t) == 0 or len(p) != len(t):
            raise ValueError("y_true and y_pred must be non-empty and of equal length")
        labels = np.unique(np.concatenate([t, p, [] if label is None else [label]]))
        labels = labels.astype(np.int64)
        weights = bootstrap_weights(len(t), n_boot=n_boot, random_state=rng, groups=groups)
        confusions = weighted_confusions(t, p, labels, np.vstack([np.ones(len(t)), weights]))
        scores = scores_from_confusion(confusions, zero_division=np.nan)[metric]
        if per_class:
            scores = scores[:, int(np.searchsorted(labels, label))]
        boot.append(scores[1:])
        points.append(float(scores[0]))
        clusters.append(n_clusters(groups, len(t)))
    samples, estimate = _over_seeds(boot, points, rng, n_boot)
    alpha = (1 - confidence) / 2
    return {
        "metric": metric,
        "estimate": estimate,
        "low": float(np.nanquantile(samples, alpha)),
        "high": float(np.nanquantile(samples, 1 - alpha)),
        "seeds": seed_summary(points),
        "n_clusters": clusters,
        "n_boot": n_boot,
        "confidence": confidence,
    }


def paired_bootstrap_over_seeds(
    runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, Sequence[Any] | np.ndarray | None]],
    *,
    metric: str = "macro_f1",
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> dict[str, Any]:
    """Paired difference A - B over several seeds, each seed with its own test set.

    Each entry of ``runs`` is ``(y_true, y_pred_a, y_pred_b, groups)`` of one seed (A and B
    trained under that seed, tested on its test set). Each round resamples every seed's families
    (paired within the seed), then draws seeds with replacement and averages their differences.
    Returns the keys of :func:`paired_bootstrap_difference` (``difference`` is the mean over
    seeds, ``n_clusters`` a list per seed) plus ``seeds``, the :func:`seed_summary` of the
    per-seed differences. With one seed it equals :func:`paired_bootstrap_difference`.
    """
    if not runs:
        raise ValueError("need at least one seed's predictions")
    rng = np.random.default_rng(random_state)
    boot, points, clusters = [], [], []
    for y_true, a, b, groups in runs:
        t, pa, pb = (np.asarray(v) for v in (y_true, a, b))
        _check(t, [pa, pb], metric)
        labels = np.unique(np.concatenate([t, pa, pb]))
        weights = bootstrap_weights(len(t), n_boot=n_boot, random_state=rng, groups=groups)
        boot.append(
            _boot_scores(t, pa, labels, weights, metric)
            - _boot_scores(t, pb, labels, weights, metric)
        )
        points.append(_score(t, pa, labels, metric) - _score(t, pb, labels, metric))
        clusters.append(n_clusters(groups, len(t)))
    diffs, difference = _over_seeds(boot, points, rng, n_boot)
    out = _summary(diffs, difference, confidence, metric, n_boot)
    out.update(n_clusters=clusters, seeds=seed_summary(points))
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
