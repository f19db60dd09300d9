"""Image-level classification metrics with seeded bootstrap confidence intervals.

All functions follow scikit-learn's ``f(y_true, y_pred, *, labels=None, ...)`` design and return
fractions in [0, 1] (the paper prints percentages; :mod:`marsutils.compare` converts).

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

**Confidence intervals.** Percentile bootstrap over test images: ``n_boot`` resamples of the test
images drawn with replacement from ``numpy.random.default_rng(random_state)``; every metric is
computed on the same resamples, so one seed gives one set of intervals.
"""

from __future__ import annotations

import math
import os
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
    "per_class_iou",
    "mean_iou",
    "per_class_metrics",
    "overall_metrics",
    "confusion_matrices",
    "bootstrap_indices",
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
    """A point estimate with its percentile-bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_boot: int

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


def _scores_from_confusion(cm: np.ndarray, zero_division: float) -> dict[str, np.ndarray]:
    """Per-class and overall scores from confusion matrices of shape (..., K, K).

    Rows are true classes, columns predicted. Matches scikit-learn's definitions (tested).
    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    n_true = cm.sum(axis=-1)
    n_pred = cm.sum(axis=-2)
    total = n_true.sum(axis=-1)
    precision = _divide(tp, n_pred, zero_division)
    recall = _divide(tp, n_true, zero_division)
    f1 = _divide(2 * tp, n_true + n_pred, zero_division)
    iou = _divide(tp, n_true + n_pred - tp, zero_division)
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
            "macro_f1": _nanmean_or_nan(f1),
            "weighted_f1": weighted_f1,
            "mean_iou": _nanmean_or_nan(iou),
        }


def _nanmean_or_nan(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN (no warning) when all entries are NaN."""
    count = np.sum(~np.isnan(x), axis=-1)
    total = np.nansum(x, axis=-1)
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
    return _scores_from_confusion(cm, _check_zero_division(zero_division))["iou"]


def mean_iou(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    zero_division: float = 0.0,
) -> float:
    """Unweighted mean over classes of :func:`per_class_iou` (NaN entries skipped)."""
    iou = per_class_iou(y_true, y_pred, labels=labels, zero_division=zero_division)
    return float(_nanmean_or_nan(iou))


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
            "iou": _scores_from_confusion(cm, zd)["iou"],
            "support": support.astype(int),
            "predicted": cm.sum(axis=0).astype(int),
        },
        index=index,
    )


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
        "balanced_accuracy": float(balanced_accuracy_score(t, p)),
        "macro_f1": float(f1_score(t, p, labels=lab, average="macro", zero_division=zd)),
        "weighted_f1": float(f1_score(t, p, labels=lab, average="weighted", zero_division=zd)),
        "macro_precision": float(_nanmean_or_nan(precision)),
        "macro_recall": float(_nanmean_or_nan(recall)),
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
# bootstrap
# --------------------------------------------------------------------------------------------


def bootstrap_indices(
    n: int, *, n_boot: int, random_state: int | np.random.Generator | None
) -> np.ndarray:
    """``(n_boot, n)`` image indices drawn with replacement; the same seed gives the same array."""
    if n < 1:
        raise MetricsError(f"cannot bootstrap {n} images")
    if n_boot < 2:
        raise MetricsError(f"n_boot must be >= 2; got {n_boot}")
    rng = np.random.default_rng(random_state)
    return rng.integers(0, n, size=(n_boot, n))


def _percentile_interval(
    samples: np.ndarray, estimate: float, confidence: float
) -> ConfidenceInterval:
    if not 0 < confidence < 1:
        raise MetricsError(f"confidence must lie in (0, 1); got {confidence}")
    alpha = (1 - confidence) / 2
    finite = samples[~np.isnan(samples)]
    if len(finite) == 0:
        low = high = float("nan")
    else:
        low, high = (float(q) for q in np.quantile(finite, [alpha, 1 - alpha]))
    return ConfidenceInterval(float(estimate), low, high, float(confidence), len(samples))


def bootstrap_ci(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    metric: MetricFn,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
) -> ConfidenceInterval:
    """Percentile bootstrap interval of any ``metric(y_true, y_pred) -> float``.

    Uses the same resamples as :func:`bootstrap_confusion_cis` for the same seed.
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise MetricsError(
            f"y_true and y_pred must be 1-D of equal length; got {t.shape}, {p.shape}"
        )
    idx = bootstrap_indices(len(t), n_boot=n_boot, random_state=random_state)
    samples = np.array([metric(t[i], p[i]) for i in idx], dtype=float)
    return _percentile_interval(samples, float(metric(t, p)), confidence)


def _bootstrap_confusions(
    t: np.ndarray, p: np.ndarray, lab: np.ndarray, idx: np.ndarray, chunk: int = 256
) -> np.ndarray:
    """Confusion matrices (n_boot, K, K) of every resample, by one bincount per chunk."""
    k = len(lab)
    position = np.full(int(max(t.max(), p.max(), lab.max())) + 1, -1, dtype=np.int64)
    position[lab] = np.arange(k)
    codes = position[t] * k + position[p]
    out = np.empty((len(idx), k, k), dtype=np.int64)
    for start in range(0, len(idx), chunk):
        block = codes[idx[start : start + chunk]]
        offsets = (np.arange(len(block)) * k * k)[:, None]
        counts = np.bincount((block + offsets).ravel(), minlength=len(block) * k * k)
        out[start : start + len(block)] = counts.reshape(len(block), k, k)
    return out


def bootstrap_confusion_cis(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
    zero_division: float = 0.0,
) -> tuple[dict[str, ConfidenceInterval], dict[str, list[ConfidenceInterval]]]:
    """Bootstrap intervals of every confusion-matrix metric, computed fast on shared resamples.

    Returns ``(overall, per_class)``: ``overall`` maps accuracy, balanced_accuracy, macro_f1,
    weighted_f1 and mean_iou to intervals; ``per_class`` maps precision, recall, f1 and iou to one
    interval per label.
    """
    t, p, lab = _check_targets(y_true, y_pred, labels)
    zd = _check_zero_division(zero_division)
    full = _scores_from_confusion(confusion_matrix(t, p, labels=lab), zd)
    idx = bootstrap_indices(len(t), n_boot=n_boot, random_state=random_state)
    boot = _scores_from_confusion(_bootstrap_confusions(t, p, lab, idx), zd)
    overall = {
        name: _percentile_interval(boot[name], float(full[name]), confidence)
        for name in OVERALL_BOOTSTRAP_METRICS
    }
    per_class = {
        name: [
            _percentile_interval(boot[name][:, j], float(full[name][j]), confidence)
            for j in range(len(lab))
        ]
        for name in PER_CLASS_BOOTSTRAP_METRICS
    }
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
) -> dict[str, Any]:
    """Every metric of this module for one set of predictions, as a JSON-serialisable dict.

    Keys: ``n_images``, ``class_names``, ``overall`` (point values), ``per_class`` (one dict per
    class with precision, recall, f1, iou, support, predicted and their ``*_ci`` intervals),
    ``confusion_matrix``, ``confusion_matrix_normalized``, ``ci`` (interval per overall metric and
    per ``extra_metrics`` entry) and ``settings``. Values are fractions; NaN is written as None.
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
    )
    ci = {name: interval.as_dict() for name, interval in ci_overall.items()}
    for name, fn in (extra_metrics or {}).items():
        if name in ci:
            raise MetricsError(f"extra metric {name!r} clashes with a built-in metric")
        ci[name] = bootstrap_ci(
            t, p, fn, n_boot=n_boot, confidence=confidence, random_state=random_state
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
            "interval": "percentile bootstrap over test images",
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
