"""Intervals and paired tests on pooled out-of-fold predictions of K-fold cross-validation.

Under family-grouped K-fold cross-validation (:func:`marsutils.data.splits.make_split`, fold
names ``family-cv<K>-f<k>``) every image is tested once per repeat (a *repeat* is a seed: a new
draw of the folds), so every model is scored on all images and two models are paired on the same
ones. This module computes, from those pooled predictions:

* :func:`cv_interval`: a model's overall or per-class score with a percentile interval;
* :func:`cv_paired_difference`: the paired difference of two models, with two-sided bootstrap
  p-values of "the difference is 0" and of "the difference is the paper's effect";
* :func:`corrected_resampled_ttest`: the second, independent check of a comparison, over the
  per-fold differences (it accounts for the overlap of the K training sets);
* :func:`rank_distribution`: the bootstrap distribution of the classes' ranks (for "these
  classes score lowest");
* :func:`monte_carlo_error`: the Monte Carlo standard error of a bootstrap p-value.

The hold-out design with several seeds, each its own test set, has the same resampling inside
each seed and draws the seeds with replacement on top (:func:`seeds_interval`,
:func:`seeds_paired_difference`; Davison and Hinkley 1997, sec. 3.8, multi-stage sampling).

**The resampling unit.** Whole twin families are resampled (rotated and flipped copies of an
image travel together), *stratified by class*: each class keeps its number of families in every
resample (a family's class is that of its first image; twins share a label). So every class of
the data is in every resample, and every resample averages macro F1 and mean Jaccard over the
same, fixed class set: the classes of the data (``labels``), never the classes that a resample or
a model happens to contain. A prediction of a class outside that set still counts as an error.
With several repeats, the same family draw applies to every repeat (they test the same images)
and the score is the mean over repeats.

**p-values.** The two-sided bootstrap p-value of ``H0: difference = d0`` is
``min(1, 2 min((1 + #{d* <= d0}) / (B + 1), (1 + #{d* >= d0}) / (B + 1)))`` over the B
resampled differences d* (Davison and Hinkley 1997, eq. 4.11, two-sided), never 0. Its Monte
Carlo standard error is ``sqrt(p (1 - p) / B)``.

**Exact intervals.** A per-class proportion (recall, precision) whose bootstrap cannot vary (every
image of the class recalled) gets the Clopper-Pearson interval over the class's families
(statsmodels ``proportion_confint(method="beta")``), F1 and Jaccard through F1 = 2J / (1 + J).

References
----------
Davison, A. C. and Hinkley, D. V. (1997). *Bootstrap Methods and their Application*, sec. 3.8
(cluster and stratified resampling) and eq. 4.11 (bootstrap p-values).
Nadeau, C. and Bengio, Y. (2003). Inference for the generalization error. *Machine Learning*
52, 239-281 (the corrected resampled t-test).
Bouckaert, R. R. and Frank, E. (2004). Evaluating the replicability of significance tests for
comparing learning algorithms. *PAKDD*, LNCS 3056, 3-12 (its use over repeated K-fold CV).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from marsutils.stats.metrics import (
    MetricsError,
    bootstrap_indices,
    cluster_codes,
    exact_binomial_interval,
    jaccard_per_class,
)

__all__ = [
    "OVERALL",
    "PER_CLASS",
    "FamilyResampler",
    "Resampling",
    "corrected_resampled_ttest",
    "cv_interval",
    "cv_paired_difference",
    "monte_carlo_error",
    "rank_distribution",
    "seeds_interval",
    "seeds_rank_distribution",
    "seeds_paired_difference",
    "two_sided_p",
]

#: Overall metrics of this module (fractions).
OVERALL = ("accuracy", "macro_f1", "weighted_f1", "mean_iou")
#: Per-class metrics of this module (fractions).
PER_CLASS = ("precision", "recall", "f1", "iou")
_CHUNK = 2000
_WEIGHTS: dict[tuple, np.ndarray] = {}


@dataclass(frozen=True)
class Resampling:
    """What a score is and how it is resampled: the keyword settings of this module's intervals
    and paired tests (:func:`cv_interval`, :func:`cv_paired_difference`, :func:`seeds_interval`,
    :func:`seeds_paired_difference`), declared once.

    Parameters
    ----------
    metric : str
        One of :data:`OVERALL`, or with ``label`` one of :data:`PER_CLASS`.
    label : int, optional
        The class of a per-class metric.
    labels : sequence of int, optional
        The fixed class set (default: the classes of ``y_true``).
    n_boot : int
        Bootstrap resamples.
    confidence : float
        Level of the percentile interval.
    random_state : int
        Seed of the resamples.

    Raises
    ------
    TypeError
        For a setting that is not one of these (as a function would for an unknown keyword).
    """

    metric: str = "macro_f1"
    label: int | None = None
    labels: Sequence[int] | None = None
    n_boot: int = 10000
    confidence: float = 0.95
    random_state: int = 0

    def percentile(self, samples: np.ndarray) -> tuple[float, float]:
        """The ``confidence`` percentile interval of ``samples`` (NaN resamples ignored)."""
        alpha = (1 - self.confidence) / 2
        low, high = (float(q) for q in np.nanquantile(samples, [alpha, 1 - alpha]))
        return low, high

    def degenerate(self, estimate: float, low: float, high: float) -> bool:
        """Whether a per-class proportion's bootstrap could not vary (every outcome the same)."""
        return (
            self.label is not None
            and low == high
            and self.metric in PER_CLASS
            and estimate in (0.0, 1.0)
        )

    def exact(self, estimate: float, trials: int) -> tuple[float, float]:
        """The Clopper-Pearson interval of a degenerate proportion over ``trials`` families
        (F1 through F1 = 2J / (1 + J))."""
        lo, hi = exact_binomial_interval(trials if estimate == 1.0 else 0, trials)
        if self.metric == "f1":
            lo, hi = 2 * lo / (1 + lo), 2 * hi / (1 + hi)
        return lo, hi

    def settings(self) -> dict[str, Any]:
        """``n_boot`` and ``confidence`` of a result dict."""
        return {"n_boot": int(self.n_boot), "confidence": float(self.confidence)}


def _p_values(diffs: np.ndarray, effect: float | None, n_boot: int) -> dict[str, Any]:
    """The two-sided p-values of ``H0: difference = 0`` and ``= effect`` (None without
    ``effect``) with their Monte Carlo errors, keyed ``p_zero``, ``p_effect``, ``mc_error_*``."""
    p_zero = two_sided_p(diffs, 0.0)
    p_effect = None if effect is None else two_sided_p(diffs, float(effect))
    return {
        "p_zero": p_zero,
        "p_effect": p_effect,
        "mc_error_zero": monte_carlo_error(p_zero, n_boot),
        "mc_error_effect": None if p_effect is None else monte_carlo_error(p_effect, n_boot),
    }


@dataclass
class FamilyResampler:
    """Class-stratified bootstrap of twin families over a fixed set of test images.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        Class of each image.
    groups : array-like, shape (n,)
        Twin family of each image (any hashable ids).
    labels : array-like of int, optional
        The fixed class set every score averages over (default: the classes of ``y_true``).

    Raises
    ------
    MetricsError
        If the arrays differ in length, are empty, or ``labels`` misses a class of ``y_true``.
    """

    y_true: np.ndarray
    groups: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.y_true = np.asarray(self.y_true, dtype=np.int64)
        if self.y_true.ndim != 1 or len(self.y_true) == 0:
            raise MetricsError(f"y_true must be a non-empty 1-D array; got {self.y_true.shape}")
        self.codes = cluster_codes(self.groups, len(self.y_true))
        self.n_families = int(self.codes.max()) + 1
        data_classes = np.unique(self.y_true)
        labels = data_classes if self.labels is None else np.asarray(self.labels, dtype=np.int64)
        missing = sorted(set(data_classes.tolist()) - set(labels.tolist()))
        if missing:
            raise MetricsError(f"labels {labels.tolist()} lack classes {missing} of y_true")
        self.labels = np.sort(labels)
        first = np.full(self.n_families, -1, dtype=np.int64)
        order = np.arange(len(self.codes))[::-1]
        first[self.codes[order]] = self.y_true[order]  # the first image's class wins
        self.family_class = first
        self.strata = [np.flatnonzero(first == c) for c in np.unique(first)]

    def families_of(self, label: int) -> int:
        """Number of twin families whose class is ``label`` (the effective n of that class)."""
        return int(np.sum(self.family_class == label))

    def weights(self, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """``(n_boot, n_families)`` multiplicities: each class's families drawn with replacement,
        as many as the class has."""
        offsets = (np.arange(n_boot, dtype=np.int64) * self.n_families)[:, None]
        flat = np.concatenate(
            [
                (
                    members[rng.integers(0, len(members), size=(n_boot, len(members)))] + offsets
                ).ravel()
                for members in self.strata
            ]
        )
        counts = np.bincount(flat, minlength=n_boot * self.n_families)
        return counts.reshape(n_boot, self.n_families).astype(np.int32)

    def seeded_weights(self, n_boot: int, random_state: int) -> np.ndarray:
        """:meth:`weights` from a fresh generator seeded with ``random_state``; the last few
        are kept, so intervals and tests of one seed share (and draw once) their resamples."""
        key = (hash(self.codes.tobytes()), hash(self.family_class.tobytes()), n_boot, random_state)
        if key not in _WEIGHTS:
            if len(_WEIGHTS) >= 2:
                _WEIGHTS.pop(next(iter(_WEIGHTS)))
            _WEIGHTS[key] = self.weights(n_boot, np.random.default_rng(random_state))
        return _WEIGHTS[key]

    def family_confusions(self, y_pred: np.ndarray) -> np.ndarray:
        """``(n_families, K * K)`` counts of (true, predicted) pairs per family, over the class
        set ``labels`` plus one column for any other predicted class (an error)."""
        y_pred = np.asarray(y_pred, dtype=np.int64)
        if y_pred.shape != self.y_true.shape:
            raise MetricsError(
                f"predictions of shape {y_pred.shape} for {self.y_true.shape} test images"
            )
        k = len(self.labels) + 1  # the last index: a predicted class outside the fixed set
        position = np.full(int(max(y_pred.max(), self.labels.max())) + 1, k - 1, dtype=np.int64)
        position[self.labels] = np.arange(k - 1)
        cells = position[self.y_true] * k + position[y_pred]
        counts = np.zeros((self.n_families, k * k))
        np.add.at(counts, (self.codes, cells), 1.0)
        return counts

    def scores(
        self, preds: np.ndarray, weights: np.ndarray | None, metric: str, label: int | None = None
    ) -> np.ndarray:
        """The metric of each repeat's predictions, averaged over repeats, per resample.

        ``preds`` has shape ``(R, n)``; ``weights`` ``(B, n_families)`` or None (the data
        itself, B = 1). Returns shape ``(B,)``.
        """
        preds = np.atleast_2d(np.asarray(preds))
        w = np.ones((1, self.n_families)) if weights is None else weights
        total = np.zeros(len(w))
        for p in preds:
            counts = self.family_confusions(p)
            for start in range(0, len(w), _CHUNK):
                cm = w[start : start + _CHUNK].astype(float) @ counts
                total[start : start + _CHUNK] += _score(cm, len(self.labels), metric, self, label)
        return total / len(preds)


def _score(
    flat: np.ndarray, n_labels: int, metric: str, resampler: FamilyResampler, label: int | None
) -> np.ndarray:
    k = n_labels + 1
    cm = flat.reshape(-1, k, k)
    iou = jaccard_per_class(cm, zero_division=np.nan)[:, :n_labels]
    if label is not None:
        j = int(np.searchsorted(resampler.labels, label))
        if j >= n_labels or resampler.labels[j] != label:
            raise MetricsError(f"class {label} is not in the class set {resampler.labels.tolist()}")
        tp = cm[:, j, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = {
                "precision": tp / cm[:, :, j].sum(axis=1),
                "recall": tp / cm[:, j, :].sum(axis=1),
                "f1": 2 * iou[:, j] / (1 + iou[:, j]),
                "iou": iou[:, j],
            }
        if metric not in values:
            raise MetricsError(f"a per-class metric is one of {PER_CLASS}; got {metric!r}")
        return values[metric]
    n = cm.sum(axis=(1, 2))
    if metric == "accuracy":
        return np.trace(cm[:, :n_labels, :n_labels], axis1=1, axis2=2) / n
    if metric == "mean_iou":
        return np.nanmean(iou, axis=1)
    f1 = 2 * iou / (1 + iou)
    if metric == "macro_f1":
        return np.nanmean(f1, axis=1)
    if metric == "weighted_f1":
        support = cm[:, :n_labels, :].sum(axis=2)
        return np.nansum(f1 * support, axis=1) / n
    raise MetricsError(f"unknown metric {metric!r}; choose one of {OVERALL}")


def two_sided_p(samples: np.ndarray, null: float) -> float:
    """Two-sided bootstrap p-value of ``H0: value = null`` (module docstring), in (0, 1]."""
    samples = np.asarray(samples, dtype=float)
    b = len(samples)
    low = (1 + np.sum(samples <= null)) / (b + 1)
    high = (1 + np.sum(samples >= null)) / (b + 1)
    return float(min(1.0, 2 * min(low, high)))


def monte_carlo_error(p: float, n_boot: int) -> float:
    """Monte Carlo standard error ``sqrt(p (1 - p) / B)`` of a bootstrap p-value."""
    return float(np.sqrt(max(p * (1 - p), 0.0) / n_boot))


def _prepared(
    y_true: np.ndarray, groups: np.ndarray, settings: dict[str, Any]
) -> tuple[Resampling, FamilyResampler, np.ndarray]:
    """The :class:`Resampling` of ``settings``, the test set's resampler and its resamples."""
    s = Resampling(**settings)
    sampler = FamilyResampler(y_true, groups, s.labels)
    return s, sampler, sampler.seeded_weights(s.n_boot, s.random_state)


def cv_interval(
    y_true: np.ndarray, preds: np.ndarray, groups: np.ndarray, **settings: Any
) -> dict[str, Any]:
    """A model's pooled out-of-fold score with a class-stratified family-bootstrap interval.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
    preds : array-like of int, shape (R, n) or (n,)
        Out-of-fold predictions, one row per repeat.
    groups : array-like, shape (n,)
        Twin family per image.
    **settings
        The fields of :class:`Resampling` (``metric``, ``label``, ``labels``, ``n_boot``,
        ``confidence``, ``random_state``), by keyword.

    Returns
    -------
    dict
        ``estimate``, ``low``, ``high`` (fractions), ``method``, ``n_boot``, ``confidence``,
        ``n_families`` (all families, or the class's families for a per-class metric: the
        effective n), ``n_repeats``.

    Raises
    ------
    TypeError
        For a keyword that is not a field of :class:`Resampling`.
    MetricsError
        For inputs :class:`FamilyResampler` refuses, or an unknown metric.
    """
    s, sampler, weights = _prepared(y_true, groups, settings)
    preds = np.atleast_2d(np.asarray(preds))
    estimate = float(sampler.scores(preds, None, s.metric, s.label)[0])
    low, high = s.percentile(sampler.scores(preds, weights, s.metric, s.label))
    n_fam = sampler.n_families if s.label is None else sampler.families_of(s.label)
    method = "percentile bootstrap over twin families, stratified by class"
    if s.degenerate(estimate, low, high):
        # every outcome the same: the bootstrap cannot vary; count the class's families
        trials = max(1, n_fam)
        low, high = s.exact(estimate, trials)
        method = f"exact binomial (Clopper-Pearson), n={trials} families"
    return {
        "estimate": estimate,
        "low": low,
        "high": high,
        "method": method,
        **s.settings(),
        "n_families": int(n_fam),
        "n_repeats": len(preds),
    }


def cv_paired_difference(
    y_true: np.ndarray,
    preds_a: np.ndarray,
    preds_b: np.ndarray,
    groups: np.ndarray,
    *,
    effect: float | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Paired difference ``metric(A) - metric(B)`` on the same images, with two-sided p-values.

    Parameters
    ----------
    y_true, groups : array-like, shape (n,)
    preds_a, preds_b : array-like of int, shape (R, n) or (n,)
        Out-of-fold predictions of each model on the same images, one row per repeat.
    effect : float, optional
        The paper's claimed difference (a fraction): ``p_effect`` tests ``H0: difference =
        effect``.
    **settings
        The fields of :class:`Resampling`, as in :func:`cv_interval`.

    Returns
    -------
    dict
        ``difference``, ``low``, ``high`` (fractions); ``p_zero`` and ``p_effect`` (None
        without ``effect``): two-sided bootstrap p-values, with ``mc_error_zero`` and
        ``mc_error_effect`` (:func:`monte_carlo_error`); ``p_not_better``, the one-sided
        ``(1 + #{d* <= 0}) / (B + 1)``; ``n_boot``, ``confidence``,
        ``n_families``, ``n_repeats``, ``method``.

    Raises
    ------
    TypeError, MetricsError
        As :func:`cv_interval`.
    """
    s, sampler, weights = _prepared(y_true, groups, settings)
    a, b = np.atleast_2d(np.asarray(preds_a)), np.atleast_2d(np.asarray(preds_b))

    def difference(w: np.ndarray | None) -> np.ndarray:
        """A's score minus B's under the resample weights ``w`` (None: the data)."""
        return sampler.scores(a, w, s.metric, s.label) - sampler.scores(b, w, s.metric, s.label)

    diffs = difference(weights)
    low, high = s.percentile(diffs)
    return {
        "difference": float(difference(None)[0]),
        "low": low,
        "high": high,
        "p_not_better": float((1 + np.sum(diffs <= 0)) / (s.n_boot + 1)),
        **_p_values(diffs, effect, s.n_boot),
        **s.settings(),
        "n_families": sampler.n_families,
        "n_repeats": len(a),
        "method": "paired percentile bootstrap over twin families, stratified by class",
    }


def corrected_resampled_ttest(
    differences: Sequence[float] | np.ndarray,
    n_train: Sequence[float] | np.ndarray | float,
    n_test: Sequence[float] | np.ndarray | float,
    *,
    null: float = 0.0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The corrected resampled t-test of Nadeau and Bengio (2003) over J fold differences.

    The J = K x R per-fold differences of two models (K folds, R repeats) are not independent:
    their training sets overlap. The test inflates the variance of their mean by the ratio of
    test to training size: ``var = (1 / J + n_test / n_train) s^2`` (s^2 the sample variance of
    the differences), ``t = (mean - null) / sqrt(var)`` with J - 1 degrees of freedom
    (Nadeau and Bengio 2003, eq. for the "corrected resampled t"; Bouckaert and Frank 2004 for
    repeated K-fold CV).

    Parameters
    ----------
    differences : array-like of float, shape (J,)
        Score of A minus score of B on each fold of each repeat (any unit).
    n_train, n_test : float or array-like of shape (J,)
        Training and test sizes of the folds (their means are used).
    null : float
        The difference under H0 (0, or the paper's effect in the same unit).
    confidence : float
        Level of the t interval.

    Returns
    -------
    dict
        ``mean``, ``low``, ``high`` (the t interval of the mean difference), ``t``, ``df``,
        ``p`` (two-sided), ``n_folds`` (J), ``null``.

    Raises
    ------
    ValueError
        With fewer than 2 differences, or a non-positive size.
    """
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"need at least 2 fold differences; got {d.shape}")
    ratio = float(np.mean(n_test)) / float(np.mean(n_train))
    if not ratio > 0:
        raise ValueError(f"n_train and n_test must be positive; got {n_train}, {n_test}")
    j = len(d)
    variance = (1 / j + ratio) * d.var(ddof=1)
    se = float(np.sqrt(variance))
    mean = float(d.mean())
    df = j - 1
    if se == 0:
        t = 0.0 if mean == null else float(np.sign(mean - null) * np.inf)
        p = 1.0 if mean == null else 0.0
    else:
        t = (mean - null) / se
        p = float(2 * stats.t.sf(abs(t), df))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return {
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "t": float(t),
        "df": df,
        "p": p,
        "n_folds": j,
        "null": float(null),
        "method": "corrected resampled t-test (Nadeau and Bengio 2003)",
    }


def rank_distribution(
    y_true: np.ndarray,
    preds: np.ndarray,
    groups: np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    n_boot: int = 10000,
    random_state: int = 0,
    lowest: int = 2,
) -> dict[int, dict[str, float]]:
    """Bootstrap distribution of each class's rank by F1 (rank 1 = the lowest F1).

    Returns, per class: ``f1`` (the estimate), ``rank`` (its rank in the data), ``rank_low``
    and ``rank_high`` (the 2.5% and 97.5% quantiles of its rank over the resamples), and
    ``p_lowest``: the share of resamples in which it is among the ``lowest`` classes.
    """
    sampler = FamilyResampler(y_true, groups, labels)
    preds = np.atleast_2d(np.asarray(preds))
    weights = sampler.seeded_weights(n_boot, random_state)
    classes = sampler.labels
    boot = np.stack([sampler.scores(preds, weights, "f1", int(c)) for c in classes], axis=1)
    point = np.array([sampler.scores(preds, None, "f1", int(c))[0] for c in classes])
    return _ranks(classes, boot, point, lowest)


def _ranks(classes: np.ndarray, boot: np.ndarray, point: np.ndarray, lowest: int) -> dict:
    ranks = boot.argsort(axis=1, kind="stable").argsort(axis=1, kind="stable") + 1
    point_rank = point.argsort(kind="stable").argsort(kind="stable") + 1
    out = {}
    for j, c in enumerate(classes):
        low, high = np.quantile(ranks[:, j], [0.025, 0.975])
        out[int(c)] = {
            "f1": float(point[j]),
            "rank": int(point_rank[j]),
            "rank_low": float(low),
            "rank_high": float(high),
            "p_lowest": float(np.mean(ranks[:, j] <= lowest)),
        }
    return out


def _seed_samples(
    runs: Sequence[tuple], s: Resampling
) -> tuple[float, np.ndarray, list[FamilyResampler]]:
    """Per seed: the class-stratified family bootstrap; then seeds drawn with replacement.

    ``runs`` holds ``(y_true, pred_a, pred_b or None, groups)`` per seed. Returns the mean over
    seeds of the point values, the ``(n_boot,)`` resamples and each seed's resampler.
    """
    if not runs:
        raise MetricsError("need at least one seed's predictions")
    rng = np.random.default_rng(s.random_state)
    boot, points, samplers = [], [], []
    for y, a, b, groups in runs:
        sampler = FamilyResampler(y, groups, s.labels)
        w = sampler.weights(s.n_boot, rng)
        value = sampler.scores(a, w, s.metric, s.label)
        point = sampler.scores(a, None, s.metric, s.label)[0]
        if b is not None:
            value = value - sampler.scores(b, w, s.metric, s.label)
            point -= sampler.scores(b, None, s.metric, s.label)[0]
        boot.append(value)
        points.append(float(point))
        samplers.append(sampler)
    draws = bootstrap_indices(len(runs), n_boot=s.n_boot, random_state=rng)
    samples = np.stack(boot)[draws, np.arange(s.n_boot)[:, None]].mean(axis=1)
    return float(np.mean(points)), samples, samplers


def seeds_interval(
    runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], **settings: Any
) -> dict[str, Any]:
    """A model's score over seeds, each with its own test set ``(y_true, y_pred, groups)``.

    ``settings`` are the fields of :class:`Resampling`, by keyword. Returns the keys of
    :func:`cv_interval` (``estimate`` the mean over seeds; ``n_families`` a list per seed) plus
    ``per_seed`` (each seed's point value). A degenerate per-class proportion gets the
    Clopper-Pearson interval over the class's families of all seeds. An unknown keyword raises
    ``TypeError``.
    """
    s = Resampling(**settings)
    estimate, samples, samplers = _seed_samples([(y, p, None, g) for y, p, g in runs], s)
    low, high = s.percentile(samples)
    if s.label is None:
        n_fam = [sampler.n_families for sampler in samplers]
    else:
        n_fam = [sampler.families_of(s.label) for sampler in samplers]
    method = "seeds, then twin families stratified by class (percentile bootstrap)"
    if s.degenerate(estimate, low, high):
        trials = max(1, sum(n_fam))
        low, high = s.exact(estimate, trials)
        method = f"exact binomial (Clopper-Pearson), n={trials} families over the seeds"
    per_seed = [
        float(sampler.scores(np.asarray(p), None, s.metric, s.label)[0])
        for sampler, (_, p, _) in zip(samplers, runs, strict=True)
    ]
    return {
        "estimate": estimate,
        "low": low,
        "high": high,
        "method": method,
        **s.settings(),
        "n_families": n_fam,
        "n_repeats": len(runs),
        "per_seed": per_seed,
    }


def seeds_paired_difference(
    runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    *,
    effect: float | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Paired difference A - B over seeds, each seed with its own test set.

    ``runs`` holds ``(y_true, pred_a, pred_b, groups)`` per seed; ``effect`` and ``settings``
    are as in :func:`cv_paired_difference`. Returns the keys of :func:`cv_paired_difference`
    (``difference`` the mean over seeds, ``n_families`` a list per seed; no ``p_not_better``)
    plus ``per_seed`` (each seed's difference). An unknown keyword raises ``TypeError``.
    """
    s = Resampling(**settings)
    difference, diffs, samplers = _seed_samples(runs, s)
    low, high = s.percentile(diffs)
    per_seed = [
        float(sampler.scores(np.asarray(a), None, s.metric, s.label)[0])
        - float(sampler.scores(np.asarray(b), None, s.metric, s.label)[0])
        for sampler, (_, a, b, _) in zip(samplers, runs, strict=True)
    ]
    return {
        "difference": difference,
        "low": low,
        "high": high,
        **_p_values(diffs, effect, s.n_boot),
        **s.settings(),
        "n_families": [sampler.n_families for sampler in samplers],
        "n_repeats": len(runs),
        "per_seed": per_seed,
        "method": "seeds, then twin families stratified by class (paired percentile bootstrap)",
    }


def seeds_rank_distribution(
    runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    labels: Sequence[int] | None = None,
    n_boot: int = 10000,
    random_state: int = 0,
    lowest: int = 2,
) -> dict[int, dict[str, float]]:
    """:func:`rank_distribution` over seeds with their own test sets ``(y_true, y_pred,
    groups)``: the F1 of every class from the same two-level resamples (one seed stream, so
    every class sees the same draws), ranked per resample."""
    classes = np.unique(np.concatenate([np.asarray(y) for y, _, _ in runs]))
    classes = classes if labels is None else np.asarray(labels)
    boot, point = [], []
    for c in classes:
        settings = Resampling("f1", int(c), classes, n_boot, random_state=random_state)
        estimate, samples, _ = _seed_samples([(y, p, None, g) for y, p, g in runs], settings)
        boot.append(samples)
        point.append(estimate)
    return _ranks(classes, np.stack(boot, axis=1), np.asarray(point), lowest)
