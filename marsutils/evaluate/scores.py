"""The scores of a classifier's predictions, with intervals over twin families.

Accuracy, balanced accuracy, macro F1 and mean IoU from confusion matrices
(:func:`confusion_scores`), and their percentile bootstrap intervals that resample whole twin
families (:func:`clustered_bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from marsutils.stats.metrics import (
    bootstrap_weights,
    n_clusters,
    scores_from_confusion,
    weighted_confusions,
)

__all__ = ["SCORES", "clustered_bootstrap_ci", "confusion_scores"]

SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou")


def confusion_scores(cm: np.ndarray, scored: Sequence[int]) -> dict[str, np.ndarray]:
    """Scores of one or many confusion matrices (rows true, columns predicted).

    Parameters
    ----------
    cm : numpy.ndarray, shape (..., K, K)
        Counts; leading axes are resamples.
    scored : sequence of int
        Classes the macro averages run over (in
        :func:`~marsutils.evaluate.folder.evaluate_folder`, the classes with a true image);
        columns of the others still count as wrong predictions.

    Returns
    -------
    dict of str to numpy.ndarray
        ``accuracy`` = trace / total; per class ``recall`` TP/(TP+FN), ``precision`` TP/(TP+FP),
        ``f1`` and ``iou`` TP/(TP+FP+FN) (the image-level Jaccard index), all from
        :func:`marsutils.stats.metrics.scores_from_confusion` with 0/0 taken as 0 (a class absent
        from truth and prediction counted as 0, as scikit-learn's ``zero_division=0``);
        ``balanced_accuracy``, ``macro_f1`` and ``mean_iou`` are their unweighted means over
        ``scored`` (a scored class absent from a resample counts as 0).
    """
    per = scores_from_confusion(cm, zero_division=0.0)
    idx = np.asarray(scored)
    recall, precision, f1, iou = (per[m][..., idx] for m in ("recall", "precision", "f1", "iou"))
    return {
        "accuracy": per["accuracy"],
        "balanced_accuracy": recall.mean(axis=-1),
        "macro_f1": f1.mean(axis=-1),
        "mean_iou": iou.mean(axis=-1),
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "iou": iou,
    }


def clustered_bootstrap_ci(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    groups: Sequence[int] | np.ndarray,
    *,
    n_classes: int,
    scored: Sequence[int] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals that resample whole groups (twin families), not images.

    The resamples are those of :func:`marsutils.stats.metrics.bootstrap_weights` (the project's one
    cluster bootstrap; Davison & Hinkley 1997, *Bootstrap Methods and their Application*,
    section 3.8): each draws as many groups as there are, with replacement, and keeps every image
    of each drawn group. Twins share content, so an image-level bootstrap would treat them as
    independent evidence and give too narrow intervals.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        Class ids in ``0..n_classes-1``.
    groups : array-like, shape (N,)
        Group (twin family) of each image.
    n_classes : int
    scored : sequence of int, optional
        Classes averaged by the macro scores (default: the classes present in ``y_true``, as
        scikit-learn's ``labels=`` of the macro averages).
    n_boot : int
    confidence : float
        Central coverage of the interval, in (0, 1).
    random_state : int or None

    Returns
    -------
    dict
        For each name of :data:`SCORES`: ``{"estimate", "low", "high", "confidence",
        "n_boot", "n_groups"}``.

    Raises
    ------
    ValueError
        Mismatched lengths, no images, ``n_boot < 2`` or ``confidence`` outside (0, 1).
    """
    t, p, g = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not (t.shape == p.shape == g.shape) or t.ndim != 1 or len(t) == 0:
        raise ValueError(
            f"y_true, y_pred, groups must be 1-D, equal, non-empty: {t.shape}, {p.shape}, {g.shape}"
        )
    if n_boot < 2 or not 0 < confidence < 1:
        raise ValueError(f"need n_boot >= 2 and 0 < confidence < 1; got {n_boot}, {confidence}")
    scored = np.unique(t).tolist() if scored is None else list(scored)
    labels = np.arange(n_classes)
    weights = bootstrap_weights(len(t), n_boot=n_boot, random_state=random_state, groups=g)
    n_groups = n_clusters(g, len(t))
    boot = confusion_scores(weighted_confusions(t, p, labels, weights), scored)
    full = confusion_scores(weighted_confusions(t, p, labels, np.ones((1, len(t))))[0], scored)
    alpha = (1 - confidence) / 2
    out = {}
    for name in SCORES:
        low, high = np.quantile(boot[name], [alpha, 1 - alpha])
        out[name] = {
            "estimate": float(full[name]),
            "low": float(low),
            "high": float(high),
            "confidence": float(confidence),
            "n_boot": int(n_boot),
            "n_groups": n_groups,
        }
    return out
