"""Image-level classification metrics with seeded bootstrap confidence intervals.

All functions follow scikit-learn's ``f(y_true, y_pred, *, labels=None, ...)`` design and return
fractions in [0, 1] (the paper prints percentages; :mod:`marsutils.stats.compare` converts).

**IoU.** The dataset has one label per image, so the only intersection-over-union that can be
computed is the per-class Jaccard index of the image-level confusion matrix,
``IoU_c = TP_c / (TP_c + FP_c + FN_c)``; "mean IoU" is its unweighted mean over classes. There is
no pixel mask to compare, so no pixel-level IoU exists for this data.

**Zero division.** ``zero_division`` sets the value of any 0/0 ratio, as in scikit-learn: for a
class never predicted, precision is 0/0; for a class with no true images, recall is 0/0; for a class
absent from both, F1 and IoU are 0/0 too. ``0.0`` (the default) counts such a value as 0 in the
macro averages; ``1.0`` counts it as 1; ``np.nan`` leaves it undefined and the macro averages skip
it. A class that has true images but is never predicted always gets recall, F1 and IoU equal to 0
(those ratios are not 0/0).

**Confidence intervals.** Percentile bootstrap: ``n_boot`` resamples drawn with replacement from
``numpy.random.default_rng(random_state)``; every metric is computed on the same resamples, so one
seed gives one set of intervals. Given ``groups`` (the twin family of each test image; tiles in
the segmentation chapter) the resamples draw whole clusters, because rotated and flipped twins get
nearly the same prediction and are not independent evidence; the interval then records the
number of clusters, the effective sample size. Without ``groups`` each image is its own cluster.
A per-class interval that cannot vary (every image of the class right: 100 [100, 100]) is
replaced by the exact binomial (Clopper-Pearson) interval over the families involved. This is the
project's one bootstrap: every resample is drawn by one function (``_draws``, behind
:func:`bootstrap_weights` and :func:`bootstrap_indices`), and :mod:`marsutils.stats.significance`
builds its paired and two-level comparisons on :func:`bootstrap_weights` (twin families),
:func:`bootstrap_indices` (training seeds) and :func:`weighted_confusions`.

**One IoU.** :func:`jaccard_per_class` is the one per-class Jaccard of a confusion matrix; its
``zero_division`` names the two conventions (a class absent from truth and prediction counted as
0, or skipped), and the segmentation chapter's pixel IoU uses it too.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

__all__ = [
    "MetricsError",
    "ConfidenceInterval",
    "jaccard_per_class",
    "mean_over_classes",
    "scores_from_confusion",
    "per_class_iou",
    "mean_iou",
    "per_class_metrics",
    "overall_metrics",
    "confusion_matrices",
    "cluster_codes",
    "n_clusters",
    "bootstrap_weights",
    "bootstrap_indices",
    "exact_binomial_interval",
    "weighted_confusions",
    "bootstrap_ci",
    "bootstrap_confusion_cis",
    "evaluate_predictions",
    "load_predictions",
    "evaluate_predictions_csv",
]

MetricFn = Callable[[np.ndarray, np.ndarray], float]
OVERALL_BOOTSTRAP_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "mean_iou")
PER_CLASS_BOOTSTRAP_METRICS = ("precision", "recall", "f1", "iou")


class MetricsError(ValueError):
    """Raised for malformed labels, predictions or prediction files."""


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its interval.

    ``method`` says how the interval was made (percentile bootstrap, over clusters or images, or
    the exact binomial fallback); ``n_clusters`` is the effective sample size of a clustered
    bootstrap (None for the image bootstrap).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_boot: int
    method: str = "percentile bootstrap"
    n_clusters: int | None = None

    def contains(self, value: float) -> bool:
        """True when ``low <= value <= high``."""
        return bool(self.low <= value <= self.high)

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-ready dict (NaN becomes None)."""
        return {k: _json_float(v) if isinstance(v, float) else v for k, v in asdict(self).items()}


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _check_targets(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, labels: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return integer ``y_true``, ``y_pred`` and the label list; raise on malformed input."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise MetricsError(f"y_true and y_pred must be 1-D; got shapes {t.shape} and {p.shape}")
    if len(t) != len(p):
        raise MetricsError(f"y_true has {len(t)} entries but y_pred has {len(p)}")
    if len(t) == 0:
        raise MetricsError("y_true and y_pred are empty")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if not np.issubdtype(arr.dtype, np.integer):
            if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
                continue
            raise MetricsError(f"{name} must hold integer class ids; got dtype {arr.dtype}")
    t = t.astype(np.int64)
    p = p.astype(np.int64)
    if labels is None:
        lab = np.unique(np.concatenate([t, p]))
    else:
        lab = np.asarray(labels, dtype=np.int64)
        if lab.ndim != 1 or len(lab) == 0 or len(np.unique(lab)) != len(lab):
            raise MetricsError(f"labels must be a non-empty list of distinct ids; got {labels!r}")
        unknown = np.setdiff1d(np.concatenate([t, p]), lab)
        if len(unknown):
            raise MetricsError(f"class ids {unknown.tolist()} are not in labels {lab.tolist()}")
    return t, p, lab


def _resolve_labels(class_names: Sequence[str] | None, labels: Any) -> Any:
    if class_names is None or labels is not None:
        if class_names is not None and len(class_names) != len(labels):
            raise MetricsError(f"{len(class_names)} class names for {len(labels)} labels")
        return labels
    return list(range(len(class_names)))


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def _check_zero_division(zero_division: float) -> float:
    zd = float(zero_division)
    if not (math.isnan(zd) or zd in (0.0, 1.0)):
        raise MetricsError(f"zero_division must be 0.0, 1.0 or nan; got {zero_division!r}")
    return zd


def _json_float(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


# --------------------------------------------------------------------------------------------
# point metrics
# --------------------------------------------------------------------------------------------


def jaccard_per_class(cm: np.ndarray, *, zero_division: float = 0.0) -> np.ndarray:
    """Per-class Jaccard index (IoU) ``TP / (TP + FP + FN)`` of confusion matrices.

    The project's one definition of IoU from a confusion matrix: image-level in the
    classification chapters (:func:`per_class_iou`, :func:`scores_from_confusion`,
    :mod:`marsutils.evaluate`, :mod:`marsutils.stats.significance`), pixel-level in the
    segmentation chapter (:func:`marsutils.seg.metrics.iou_from_confusion`).

    Parameters
    ----------
    cm : array-like, shape (..., K, K)
        Counts (or bootstrap weights); rows are true classes, columns predicted ones; leading
        axes are batches, e.g. resamples.
    zero_division : {0.0, 1.0, nan}, default 0.0
        The value of a class absent from both truth and prediction (TP + FP + FN = 0, so 0/0),
        as in :func:`sklearn.metrics.jaccard_score` (``average=None``). Two conventions are
        used here:

        * ``0.0``, *absent counted as 0*: the classification chapters' "mean IoU"
          (scikit-learn's default; such a class lowers the macro mean);
        * ``nan``, *absent skipped*: undefined, so :func:`mean_over_classes` leaves it out of the
          mean (the segmentation chapter's mIoU and the paired tests). scikit-learn's
          ``jaccard_score`` does not accept ``nan``; its ``average="macro"`` over only the
          classes present in truth or prediction gives the same mean.

    Returns
    -------
    numpy.ndarray, shape (..., K)
        float64 IoU per class. A class that is present but never right scores 0 (not 0/0).

    References
    ----------
    scikit-learn, ``sklearn.metrics.jaccard_score``; the identity with the confusion matrix is
    ``|T ∩ P| / |T ∪ P| = TP / (TP + FP + FN)``.
    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    return _divide(tp, cm.sum(axis=-1) + cm.sum(axis=-2) - tp, zero_division)


def scores_from_confusion(cm: np.ndarray, *, zero_division: float = 0.0) -> dict[str, np.ndarray]:
    """Per-class and overall scores from confusion matrices of shape ``(..., K, K)``.

    Rows are true classes, columns predicted. Every ratio follows scikit-learn's definition and
    its ``zero_division`` for 0/0 (see the module docstring; tested against scikit-learn).

    Parameters
    ----------
    cm : array-like, shape (..., K, K)
        Counts or bootstrap weights; leading axes are batches.
    zero_division : {0.0, 1.0, nan}, default 0.0
        Value of every 0/0 ratio; ``nan`` leaves it out of the macro means.

    Returns
    -------
    dict of str to numpy.ndarray
        Per class (shape ``(..., K)``): ``precision``, ``recall``, ``f1``, ``iou``
        (:func:`jaccard_per_class`). Overall (shape ``(...)``): ``accuracy``,
        ``balanced_accuracy`` (mean recall over the classes present in the truth),
        ``macro_f1``, ``weighted_f1`` and ``mean_iou`` (:func:`mean_over_classes`).
    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    n_true = cm.sum(axis=-1)
    n_pred = cm.sum(axis=-2)
    total = n_true.sum(axis=-1)
    precision = _divide(tp, n_pred, zero_division)
    recall = _divide(tp, n_true, zero_division)
    f1 = _divide(2 * tp, n_true + n_pred, zero_division)
    iou = jaccard_per_class(cm, zero_division=zero_division)
    with np.errstate(invalid="ignore"):
        recall_present = np.where(n_true > 0, recall, np.nan)
        weighted_f1 = _divide(np.nansum(f1 * n_true, axis=-1), total, zero_division)
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "iou": iou,
            "accuracy": _divide(tp.sum(axis=-1), total, zero_division),
            "balanced_accuracy": np.nanmean(recall_present, axis=-1),
            "macro_f1": mean_over_classes(f1),
            "weighted_f1": weighted_f1,
            "mean_iou": mean_over_classes(iou),
        }


def mean_over_classes(values: np.ndarray) -> np.ndarray:
    """Unweighted (macro) mean over the last axis, skipping NaN (undefined) entries.

    Returns NaN, without a warning, where every entry is NaN.
    """
    values = np.asarray(values, dtype=float)
    count = np.sum(~np.isnan(values), axis=-1)
    total = np.nansum(values, axis=-1)
    return _divide(total, count, np.nan)


def per_class_iou(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    zero_division: float = 0.0,
) -> np.ndarray:
    """Image-level Jaccard index TP/(TP+FP+FN) per class, from the confusion matrix.

    With image-level labels this is the only IoU there is (see the module docstring).
    """
    t, p, lab = _check_targets(y_true, y_pred, labels)
    cm = confusion_matrix(t, p, labels=lab)
    return jaccard_per_class(cm, zero_division=_check_zero_division(zero_division))


def mean_iou(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    zero_division: float = 0.0,
) -> float:
    """Unweighted mean over classes of :func:`per_class_iou` (NaN entries skipped)."""
    iou = per_class_iou(y_true, y_pred, labels=labels, zero_division=zero_division)
    return float(mean_over_classes(iou))


def per_class_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    class_names: Sequence[str] | None = None,
    zero_division: float = 0.0,
) -> pd.DataFrame:
    """Precision, recall, F1, support and IoU per class.

    Indexed by ``class_names`` when given (then ``labels`` defaults to ``0..K-1``), else by label.
    A class absent from ``y_pred`` has precision ``zero_division`` and recall, F1, IoU 0.
    """
    labels = _resolve_labels(class_names, labels)
    t, p, lab = _check_targets(y_true, y_pred, labels)
    zd = _check_zero_division(zero_division)
    precision, recall, f1, support = precision_recall_fscore_support(
        t, p, labels=lab, average=None, zero_division=zd
    )
    cm = confusion_matrix(t, p, labels=lab)
    index = pd.Index(list(class_names) if class_names is not None else lab.tolist(), name="class")
    return pd.DataFrame(
        {
            "label": lab,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "iou": jaccard_per_class(cm, zero_division=zd),
            "support": support.astype(int),
            "predicted": cm.sum(axis=0).astype(int),
        },
        index=index,
    )


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn's balanced accuracy without its warning for predicted classes absent from
    ``y_true`` (expected on small test sets; the score already skips such classes)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def overall_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    zero_division: float = 0.0,
) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro/weighted F1, macro precision/recall and mean IoU.

    Balanced accuracy is scikit-learn's: mean recall over the classes present in ``y_true``.
    """
    t, p, lab = _check_targets(y_true, y_pred, labels)
    zd = _check_zero_division(zero_division)
    precision, recall, _, _ = precision_recall_fscore_support(
        t, p, labels=lab, average=None, zero_division=zd
    )
    return {
        "accuracy": float(accuracy_score(t, p)),
        "balanced_accuracy": _balanced_accuracy(t, p),
        "macro_f1": float(f1_score(t, p, labels=lab, average="macro", zero_division=zd)),
        "weighted_f1": float(f1_score(t, p, labels=lab, average="weighted", zero_division=zd)),
        "macro_precision": float(mean_over_classes(precision)),
        "macro_recall": float(mean_over_classes(recall)),
        "mean_iou": mean_iou(t, p, labels=lab, zero_division=zd),
    }


def confusion_matrices(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw counts and row-normalised (recall) confusion matrices; rows are true classes.

    A class with no true images gets an all-zero normalised row.
    """
    t, p, lab = _check_targets(y_true, y_pred, labels)
    raw = confusion_matrix(t, p, labels=lab)
    return raw, confusion_matrix(t, p, labels=lab, normalize="true")


# --------------------------------------------------------------------------------------------
# bootstrap (the project's one implementation; significance.py and the findings use it too)
# --------------------------------------------------------------------------------------------


def cluster_codes(groups: Sequence[Any] | np.ndarray, n: int | None = None) -> np.ndarray:
    """Integer cluster code per observation, ``0 .. n_clusters-1`` in order of first appearance.

    Parameters
    ----------
    groups : array-like of shape (n,)
        Cluster label per observation (a twin-family id, a tile name).
    n : int, optional
        Expected length; a mismatch raises :class:`MetricsError`.
    """
    g = np.asarray(groups)
    if g.ndim != 1:
        raise MetricsError(f"groups must be 1-D; got shape {g.shape}")
    if n is not None and len(g) != n:
        raise MetricsError(f"groups has {len(g)} entries for {n} observations")
    if len(g) and pd.isna(pd.Series(g)).any():
        raise MetricsError("groups holds missing values")
    codes, _ = pd.factorize(pd.Series(g), sort=False)
    return codes.astype(np.int64)


def n_clusters(groups: Sequence[Any] | np.ndarray | None, n: int) -> int:
    """The effective sample size of a clustered bootstrap: the number of distinct clusters."""
    return n if groups is None else int(cluster_codes(groups, n).max(initial=-1) + 1)


def _draws(k: int, n_boot: int, random_state: int | np.random.Generator | None) -> np.ndarray:
    """``(n_boot, k)`` draws of ``k`` units out of ``k`` with replacement: the one place the
    bootstrap resamples (cluster ids in :func:`bootstrap_weights`, observations in
    :func:`bootstrap_indices`)."""
    if n_boot < 2:
        raise MetricsError(f"n_boot must be >= 2; got {n_boot}")
    return np.random.default_rng(random_state).integers(0, k, size=(n_boot, k))


def bootstrap_weights(
    n: int,
    *,
    n_boot: int,
    random_state: int | np.random.Generator | None,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray:
    """``(n_boot, n)`` integer multiplicities of each observation in each bootstrap resample.

    Without ``groups`` the resample draws ``n`` observations with replacement (the image
    bootstrap). With ``groups`` it draws ``n_clusters`` whole clusters with replacement and every
    member of a drawn cluster comes along (the cluster bootstrap; Davison and Hinkley 1997,
    sec. 3.8): twins, which the model sees as nearly the same image, travel together. The clusters
    are numbered in order of first appearance, so when every cluster has one member the draws,
    and hence the resamples, equal the image bootstrap's from the same seed.
    """
    if n < 1:
        raise MetricsError(f"cannot bootstrap {n} observations")
    codes = np.arange(n) if groups is None else cluster_codes(groups, n)
    k = int(codes.max()) + 1
    draws = _draws(k, n_boot, random_state)
    offsets = (np.arange(n_boot) * k)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=n_boot * k).reshape(n_boot, k)
    return counts[:, codes]


def bootstrap_indices(
    n: int,
    *,
    n_boot: int,
    random_state: int | np.random.Generator | None,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> list[np.ndarray] | np.ndarray:
    """Resampled observation indices; the same seed gives the same resamples.

    Without ``groups``: an ``(n_boot, n)`` array of indices drawn with replacement. With
    ``groups``: a list of ``n_boot`` index arrays, each the members of the drawn clusters (their
    lengths vary with the cluster sizes). Both come from the draws of :func:`bootstrap_weights`
    (the same seed gives the same draws), the second through its multiplicities.
    """
    if groups is None:
        if n < 1:
            raise MetricsError(f"cannot bootstrap {n} observations")
        return _draws(n, n_boot, random_state)
    weights = bootstrap_weights(n, n_boot=n_boot, random_state=random_state, groups=groups)
    return [np.repeat(np.arange(n), w) for w in weights]


def _percentile_interval(
    samples: np.ndarray, estimate: float, confidence: float, n_clusters: int | None = None
) -> ConfidenceInterval:
    if not 0 < confidence < 1:
        raise MetricsError(f"confidence must lie in (0, 1); got {confidence}")
    alpha = (1 - confidence) / 2
    finite = samples[~np.isnan(samples)]
    if len(finite) == 0:
        low = high = float("nan")
    else:
        low, high = (float(q) for q in np.quantile(finite, [alpha, 1 - alpha]))
    method = "percentile bootstrap" + (" over clusters" if n_clusters is not None else "")
    return ConfidenceInterval(
        float(estimate), low, high, float(confidence), len(samples), method, n_clusters
    )


def exact_binomial_interval(
    successes: int, trials: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Clopper-Pearson interval of a proportion (``statsmodels`` ``proportion_confint``, beta).

    Used where the bootstrap cannot vary: 8 of 8 images right gives the bootstrap interval
    [1, 1], but the exact interval [0.63, 1].
    """
    from statsmodels.stats.proportion import proportion_confint

    if trials < 1 or not 0 <= successes <= trials:
        raise MetricsError(f"need 0 <= successes <= trials >= 1; got {successes} of {trials}")
    low, high = proportion_confint(successes, trials, alpha=1 - confidence, method="beta")
    return float(low), float(high)


def _exact_fallback(
    interval: ConfidenceInterval, successes: float, trials: float, clusters: int, dice: bool
) -> ConfidenceInterval:
    """Replace a degenerate bootstrap interval of a proportion at 0 or 1 by Clopper-Pearson.

    A degenerate interval means every trial had the same outcome; the twins of a family share
    it, so the exact interval counts ``clusters`` independent trials (the families involved).
    ``dice`` maps a Jaccard-type proportion J to F1 = 2J / (1 + J).
    """
    if not (interval.low == interval.high and trials > 0 and successes in (0, trials)):
        return interval
    n = max(1, clusters)
    low, high = exact_binomial_interval(n if successes == trials else 0, n)
    if dice:
        low, high = 2 * low / (1 + low), 2 * high / (1 + high)
    return dataclasses.replace(
        interval, low=low, high=high, method=f"exact binomial (Clopper-Pearson), n={n}"
    )


def bootstrap_ci(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    metric: MetricFn,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> ConfidenceInterval:
    """Percentile bootstrap interval of any ``metric(y_true, y_pred) -> float``.

    ``groups`` (one cluster label per image, e.g. the twin family) resamples whole clusters. Uses
    the same resamples as :func:`bootstrap_confusion_cis` for the same seed and groups.
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise MetricsError(
            f"y_true and y_pred must be 1-D of equal length; got {t.shape}, {p.shape}"
        )
    weights = bootstrap_weights(len(t), n_boot=n_boot, random_state=random_state, groups=groups)
    idx = [np.repeat(np.arange(len(t)), w) for w in weights]
    samples = np.array([metric(t[i], p[i]) for i in idx], dtype=float)
    clusters = None if groups is None else n_clusters(groups, len(t))
    return _percentile_interval(samples, float(metric(t, p)), confidence, clusters)


def weighted_confusions(
    y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Confusion matrices ``(n_boot, K, K)`` of every resample given its ``(n_boot, n)`` weights.

    Rows are true classes, columns predicted (as :func:`sklearn.metrics.confusion_matrix`).
    """
    k = len(labels)
    position = np.full(int(max(y_true.max(), y_pred.max(), labels.max())) + 1, -1, dtype=np.int64)
    position[labels] = np.arange(k)
    codes = position[y_true] * k + position[y_pred]
    onehot = np.zeros((len(codes), k * k))
    onehot[np.arange(len(codes)), codes] = 1.0
    return np.rint(np.asarray(weights, dtype=float) @ onehot).astype(np.int64).reshape(-1, k, k)


def bootstrap_confusion_cis(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
    zero_division: float = 0.0,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> tuple[dict[str, ConfidenceInterval], dict[str, list[ConfidenceInterval]]]:
    """Bootstrap intervals of every confusion-matrix metric, computed fast on shared resamples.

    Returns ``(overall, per_class)``: ``overall`` maps accuracy, balanced_accuracy, macro_f1,
    weighted_f1 and mean_iou to intervals; ``per_class`` maps precision, recall, f1 and iou to one
    interval per label. ``groups`` resamples whole clusters (twin families; see
    :func:`bootstrap_weights`) and each interval records the number of clusters. A per-class
    interval that cannot vary because every image had the same outcome (recall 100 [100, 100])
    is replaced by the exact binomial interval over the families involved
    (:func:`exact_binomial_interval`).
    """
    t, p, lab = _check_targets(y_true, y_pred, labels)
    zd = _check_zero_division(zero_division)
    cm = confusion_matrix(t, p, labels=lab)
    full = scores_from_confusion(cm, zero_division=zd)
    weights = bootstrap_weights(len(t), n_boot=n_boot, random_state=random_state, groups=groups)
    boot = scores_from_confusion(weighted_confusions(t, p, lab, weights), zero_division=zd)
    clusters = None if groups is None else n_clusters(groups, len(t))
    codes = np.arange(len(t)) if groups is None else cluster_codes(groups, len(t))
    overall = {
        name: _percentile_interval(boot[name], float(full[name]), confidence, clusters)
        for name in OVERALL_BOOTSTRAP_METRICS
    }
    correct = int(np.trace(cm))
    overall["accuracy"] = _exact_fallback(
        overall["accuracy"], correct, len(t), len(np.unique(codes)), False
    )
    tp = np.diag(cm)
    n_true, n_pred = cm.sum(axis=1), cm.sum(axis=0)
    per_class: dict[str, list[ConfidenceInterval]] = {}
    for name in PER_CLASS_BOOTSTRAP_METRICS:
        per_class[name] = []
        for j, label in enumerate(lab):
            in_true, in_pred = t == label, p == label
            trials, involved = {
                "precision": (n_pred[j], in_pred),
                "recall": (n_true[j], in_true),
            }.get(name, (n_true[j] + n_pred[j] - tp[j], in_true | in_pred))
            interval = _percentile_interval(
                boot[name][:, j], float(full[name][j]), confidence, clusters
            )
            per_class[name].append(
                _exact_fallback(
                    interval, tp[j], trials, len(np.unique(codes[involved])), name == "f1"
                )
            )
    return overall, per_class


# --------------------------------------------------------------------------------------------
# one-call evaluation
# --------------------------------------------------------------------------------------------


def evaluate_predictions(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    class_names: Sequence[str],
    n_boot: int = 1000,
    random_state: int | None = 0,
    confidence: float = 0.95,
    zero_division: float = 0.0,
    extra_metrics: Mapping[str, MetricFn] | None = None,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Every metric of this module for one set of predictions, as a JSON-serialisable dict.

    Keys: ``n_images``, ``class_names``, ``overall`` (point values), ``per_class`` (one dict per
    class with precision, recall, f1, iou, support, predicted and their ``*_ci`` intervals),
    ``confusion_matrix``, ``confusion_matrix_normalized``, ``ci`` (interval per overall metric and
    per ``extra_metrics`` entry) and ``settings``. Values are fractions; NaN is written as None.
    ``groups`` (one twin-family id per image) makes every interval a cluster bootstrap;
    ``settings["n_clusters"]`` then holds the effective sample size.
    """
    labels = list(range(len(class_names)))
    t, p, lab = _check_targets(y_true, y_pred, labels)
    zd = _check_zero_division(zero_division)
    table = per_class_metrics(t, p, class_names=class_names, zero_division=zd)
    overall = overall_metrics(t, p, labels=lab, zero_division=zd)
    raw, normalized = confusion_matrices(t, p, labels=lab)
    ci_overall, ci_class = bootstrap_confusion_cis(
        t,
        p,
        labels=lab,
        n_boot=n_boot,
        confidence=confidence,
        random_state=random_state,
        zero_division=zd,
        groups=groups,
    )
    ci = {name: interval.as_dict() for name, interval in ci_overall.items()}
    for name, fn in (extra_metrics or {}).items():
        if name in ci:
            raise MetricsError(f"extra metric {name!r} clashes with a built-in metric")
        ci[name] = bootstrap_ci(
            t, p, fn, n_boot=n_boot, confidence=confidence, random_state=random_state, groups=groups
        ).as_dict()
    per_class = []
    for j, name in enumerate(class_names):
        row = table.loc[name]
        entry: dict[str, Any] = {"class": name, "label": j}
        for metric in PER_CLASS_BOOTSTRAP_METRICS:
            entry[metric] = _json_float(row[metric])
            entry[f"{metric}_ci"] = ci_class[metric][j].as_dict()
        entry["support"] = int(row["support"])
        entry["predicted"] = int(row["predicted"])
        per_class.append(entry)
    return {
        "n_images": len(t),
        "class_names": list(class_names),
        "overall": {k: _json_float(v) for k, v in overall.items()},
        "per_class": per_class,
        "confusion_matrix": raw.astype(int).tolist(),
        "confusion_matrix_normalized": normalized.astype(float).tolist(),
        "ci": ci,
        "settings": {
            "n_boot": int(n_boot),
            "confidence": float(confidence),
            "random_state": random_state,
            "zero_division": _json_float(zd),
            "interval": "percentile bootstrap over "
            + ("twin families" if groups is not None else "test images"),
            "n_clusters": n_clusters(groups, len(t)),
            "iou": "image-level Jaccard index TP/(TP+FP+FN)",
        },
    }


# --------------------------------------------------------------------------------------------
# predictions file
# --------------------------------------------------------------------------------------------


def load_predictions(path: str | os.PathLike, *, n_classes: int | None = None) -> pd.DataFrame:
    """Read and check a predictions CSV: ``image, y_true, y_pred, prob_0 .. prob_{K-1}``.

    Raises :class:`MetricsError` naming the problem: missing file or column, gaps in the
    probability columns, labels outside ``0..K-1``, duplicate images, or probabilities that are not
    a distribution (outside [0, 1] or rows not summing to 1 within 1e-3).
    """
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"predictions file {path} does not exist")
    df = pd.read_csv(path)
    missing = [c for c in ("image", "y_true", "y_pred") if c not in df.columns]
    if missing:
        raise MetricsError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    prob_cols = [c for c in df.columns if c.startswith("prob_")]
    k = len(prob_cols)
    if k == 0:
        raise MetricsError(f"{path}: no prob_<k> columns")
    expected = [f"prob_{j}" for j in range(k)]
    if sorted(prob_cols, key=_prob_index) != expected:
        raise MetricsError(f"{path}: probability columns must be {expected}; found {prob_cols}")
    if n_classes is not None and k != n_classes:
        raise MetricsError(f"{path}: {k} probability columns but {n_classes} classes expected")
    if df.empty:
        raise MetricsError(f"{path}: no rows")
    if df[["image", "y_true", "y_pred", *expected]].isna().any().any():
        raise MetricsError(f"{path}: empty cells")
    if df["image"].duplicated().any():
        dup = df.loc[df["image"].duplicated(), "image"].iloc[0]
        raise MetricsError(f"{path}: image {dup!r} appears more than once")
    for col in ("y_true", "y_pred"):
        if not pd.api.types.is_integer_dtype(df[col]):
            raise MetricsError(f"{path}: column {col} must hold integer class ids")
        bad = df[(df[col] < 0) | (df[col] >= k)]
        if len(bad):
            raise MetricsError(f"{path}: {col}={bad[col].iloc[0]} outside 0..{k - 1}")
    probs = df[expected].to_numpy(dtype=float)
    if (probs < 0).any() or (probs > 1).any():
        raise MetricsError(f"{path}: probabilities outside [0, 1]")
    worst = float(np.abs(probs.sum(axis=1) - 1).max())
    if worst > 1e-3:
        raise MetricsError(f"{path}: probability rows must sum to 1; worst deviation {worst:.3g}")
    return df[["image", "y_true", "y_pred", *expected]].reset_index(drop=True)


def _prob_index(column: str) -> int:
    suffix = column.removeprefix("prob_")
    return int(suffix) if suffix.isdigit() else -1


def evaluate_predictions_csv(
    path: str | os.PathLike,
    *,
    class_names: Sequence[str],
    n_boot: int = 1000,
    random_state: int | None = 0,
    confidence: float = 0.95,
    zero_division: float = 0.0,
) -> dict[str, Any]:
    """:func:`load_predictions` then :func:`evaluate_predictions`; records the source file."""
    df = load_predictions(path, n_classes=len(class_names))
    result = evaluate_predictions(
        df["y_true"].to_numpy(),
        df["y_pred"].to_numpy(),
        class_names=class_names,
        n_boot=n_boot,
        random_state=random_state,
        confidence=confidence,
        zero_division=zero_division,
    )
    result["source"] = str(path)
    return result
