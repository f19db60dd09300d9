"""Scores on an external folder, the drop from the in-release scores, and the comparisons again.

The models of one configuration are its K fold models (or its seeds, for a hold-out run); each
predicts every external image, so their predictions enter
:func:`marsutils.stats.crossval.cv_interval` as K *repeats* of the same test set: the estimate is
the mean score of the K models, and the interval resamples the external folder's twin families
(class-stratified) with the K models held fixed. Every macro average runs over the classes with
an external image (``labels``), never over classes the folder lacks; a prediction of another
class still counts as an error.

**The drop** of a class is its external F1 minus its in-release F1 (the pooled out-of-fold
predictions of the same K models). The two come from different images, so the interval of the
drop is the percentile interval of the difference of two independent family bootstraps (B draws
of each, differenced in order; Efron and Tibshirani 1993, sec. 8.3, two-sample problems). The
macro F1 over the shared classes is the mean of those classes' F1, on both sides.

**The comparisons** (claims C12-C18, :data:`marsutils.study.findings.COMPARISONS`) are tested as
in the findings: a paired class-stratified family bootstrap of A - B on the same external images,
both two-sided tests of every claim in one Holm family, resamples raised near the threshold
(:func:`marsutils.study.findings.holm_bootstrap_p`) and the verdict of
:func:`marsutils.stats.rules.comparative_verdict`. The in-release verdict adds the corrected
t-test over the folds; that test needs disjoint test sets, which K models on one external folder
do not have, so here the bootstrap alone decides, and the sign of each fold's difference is shown.

References
----------
Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, sec. 8.3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from marsutils.stats import crossval, rules

__all__ = [
    "METRICS",
    "class_drops",
    "external_comparisons",
    "model_scores",
    "present_labels",
]

#: The overall scores of the chapter (fractions).
METRICS = ("accuracy", "macro_f1", "mean_iou")


def model_scores(
    y_true: np.ndarray,
    preds: np.ndarray,
    groups: np.ndarray,
    labels: Sequence[int],
    subsets: Mapping[str, np.ndarray],
    *,
    n_boot: int,
    random_state: int,
) -> dict[str, Any]:
    """A configuration's external scores over each subset of the images.

    Parameters
    ----------
    y_true, groups : numpy.ndarray, shape (n,)
        True class (model ids) and twin family of each external image.
    preds : numpy.ndarray of int, shape (K, n)
        The predictions of each of the K models.
    labels : sequence of int
        The class set of every macro average; over a subset, those of its classes with an image
        in it (so that every model of a comparison averages over the same classes).
    subsets : mapping
        Name -> boolean mask of shape (n,) (``all``, ``no_overlap``); an empty mask gives None.
    n_boot, random_state :
        The bootstrap's resamples and seed.

    Returns
    -------
    dict
        ``metrics``: subset -> metric -> :func:`~marsutils.stats.crossval.cv_interval` result
        (fractions); ``per_model_macro_f1``: each model's macro F1 over all images.
    """
    out: dict[str, Any] = {}
    for name, mask in subsets.items():
        if not mask.any():
            out[name] = None
            continue
        present = present_labels(labels, y_true[mask])
        out[name] = {
            m: crossval.cv_interval(
                y_true[mask],
                preds[:, mask],
                groups[mask],
                metric=m,
                labels=present,
                n_boot=n_boot,
                random_state=random_state,
            )
            for m in METRICS
        }
    sampler = crossval.FamilyResampler(y_true, groups, list(labels))
    per_model = [float(sampler.scores(p[None], None, "macro_f1")[0]) for p in preds]
    return {"metrics": out, "per_model_macro_f1": per_model}


def present_labels(labels: Sequence[int], y_true: np.ndarray) -> list[int]:
    """The classes of ``labels`` with at least one image in ``y_true``: a macro average's class
    set over a subset (a class with no image would count as F1 0 for a model that predicts it
    and not at all for one that does not, so two models would average over different sets)."""
    have = set(np.unique(y_true).tolist())
    return [int(label) for label in labels if label in have]


def _f1_samples(
    sampler: crossval.FamilyResampler, preds: np.ndarray, label: int, n_boot: int, seed: int
) -> tuple[float, np.ndarray]:
    estimate = float(sampler.scores(preds, None, "f1", label)[0])
    return estimate, sampler.scores(preds, sampler.seeded_weights(n_boot, seed), "f1", label)


def _interval(estimate: float, samples: np.ndarray) -> dict[str, float]:
    """``estimate`` with the 95% percentile interval of ``samples`` (the cv_interval rule)."""
    low, high = crossval.Resampling().percentile(samples)
    return {"estimate": float(estimate), "low": low, "high": high}


def class_drops(
    internal: tuple[np.ndarray, np.ndarray, np.ndarray],
    external: tuple[np.ndarray, np.ndarray, np.ndarray],
    labels: Sequence[int],
    class_names: Sequence[str],
    *,
    n_boot: int,
    random_state: int,
) -> dict[str, Any]:
    """Per class, the external F1, the in-release F1 and their difference (module docstring).

    Parameters
    ----------
    internal, external : tuple
        ``(y_true (n,), preds (R, n), groups (n,))`` in-release (pooled out-of-fold) and on the
        external folder.
    labels : sequence of int
        The classes to compare: those with an external image.
    class_names : sequence of str
        Names of the model's classes, by id.
    n_boot, random_state :
        Resamples of each bootstrap; the in-release one is seeded ``random_state``, the external
        one ``random_state + 1``.

    Returns
    -------
    dict
        ``per_class``: one dict per class of ``labels`` with ``class``, ``external``,
        ``in_release`` and ``drop`` (each ``estimate``, ``low``, ``high``, fractions) and the
        ``n_families`` of each side; ``shared_macro_f1``: the same three for the mean over
        ``labels``.
    """
    y_in, p_in, g_in = internal
    y_ex, p_ex, g_ex = external
    s_in = crossval.FamilyResampler(y_in, g_in)
    s_ex = crossval.FamilyResampler(y_ex, g_ex, list(labels))
    rows, sums = [], {"in": [0.0, 0.0], "ex": [0.0, 0.0]}
    for label in labels:
        e_in, b_in = _f1_samples(s_in, np.atleast_2d(p_in), label, n_boot, random_state)
        e_ex, b_ex = _f1_samples(s_ex, np.atleast_2d(p_ex), label, n_boot, random_state + 1)
        rows.append(
            {
                "class": class_names[label],
                "external": _interval(e_ex, b_ex),
                "in_release": _interval(e_in, b_in),
                "drop": _interval(e_ex - e_in, b_ex - b_in),
                "n_families_external": s_ex.families_of(label),
                "n_families_in_release": s_in.families_of(label),
            }
        )
        sums["in"] = [sums["in"][0] + e_in, sums["in"][1] + b_in]
        sums["ex"] = [sums["ex"][0] + e_ex, sums["ex"][1] + b_ex]
    k = len(labels)
    (e_in, b_in), (e_ex, b_ex) = ((v / k for v in sums[side]) for side in ("in", "ex"))
    return {
        "per_class": rows,
        "shared_macro_f1": {
            "external": _interval(e_ex, b_ex),
            "in_release": _interval(e_in, b_in),
            "drop": _interval(e_ex - e_in, b_ex - b_in),
        },
    }


def _fold_signs(
    y: np.ndarray, pa: np.ndarray, pb: np.ndarray, g: np.ndarray, labels: Sequence[int], metric: str
) -> list[float]:
    """Each model pair's difference A - B over all the images (fractions)."""
    sampler = crossval.FamilyResampler(y, g, list(labels))
    diffs = [
        float(sampler.scores(a[None], None, metric)[0] - sampler.scores(b[None], None, metric)[0])
        for a, b in zip(pa, pb, strict=True)
    ]
    return diffs


def external_comparisons(
    comparisons: Sequence[tuple],
    preds: Mapping[str, np.ndarray],
    y_true: np.ndarray,
    groups: np.ndarray,
    labels: Sequence[int],
    *,
    effects: Mapping[str, float],
    n_boot: int,
    random_state: int,
) -> list[dict[str, Any]]:
    """Claims C12-C18 judged on the external images (module docstring).

    Parameters
    ----------
    comparisons : sequence of tuple
        :data:`marsutils.study.findings.COMPARISONS`.
    preds : mapping
        Model -> ``(K, n)`` predictions on the judged images (a model absent: not run).
    y_true, groups : numpy.ndarray, shape (n,)
    labels : sequence of int
        The class set of every macro average.
    effects : mapping
        Claim -> the paper's effect in points.
    n_boot, random_state :
        The bootstrap's resamples (raised near the threshold) and seed.

    Returns
    -------
    list of dict
        One per claim: ``claim``, ``a``, ``b``, ``metric``, ``effect`` (points); when run,
        ``difference``, ``low``, ``high`` (points), ``p_zero``, ``p_effect`` (Holm-adjusted),
        ``n_boot`` (of the p-values), ``fold_differences`` (points, one per model pair),
        ``verdict`` and ``why``; else ``verdict`` "not run" and the ``why``.
    """
    from marsutils.study.findings import holm_bootstrap_p

    labels = present_labels(labels, y_true)  # one class set for both models of every claim

    def paired(t: dict, n: int) -> dict:
        return crossval.cv_paired_difference(
            y_true,
            t["pa"],
            t["pb"],
            groups,
            metric=t["metric"],
            labels=list(labels),
            effect=t["effect"] / 100,
            n_boot=n,
            random_state=random_state,
        )

    rows, tests = [], []
    for claim, _source, _notebook, a, b, metric, _effect in comparisons:
        row = {"claim": claim, "a": a, "b": b, "metric": metric, "effect": effects[claim]}
        rows.append(row)
        if a not in preds or b not in preds:
            missing = [m for m in (a, b) if m not in preds]
            row.update(verdict=rules.NOT_RUN, why=f"no external predictions of {missing}")
            continue
        test = {**row, "row": row, "pa": preds[a], "pb": preds[b]}
        test["res"] = paired(test, n_boot)
        tests.append(test)
    if not tests:
        return rows
    adjusted = holm_bootstrap_p(tests, n_boot, paired)
    for j, t in enumerate(tests):
        _judge(t, (adjusted[2 * j], adjusted[2 * j + 1]), len(tests), (y_true, groups, labels))
    return rows


def _judge(t: dict, p: tuple[float, float], n: int, data: tuple) -> None:
    """Fill the row of test ``t`` from its Holm-adjusted p-values ``p`` (zero, effect), in a
    family of ``n`` comparisons on ``data`` = (y_true, groups, labels)."""
    res, row = t["res"], t["row"]
    boot = rules.TestResult(100 * res["difference"], p[0], p[1], "bootstrap")
    verdict, why = rules.comparative_verdict(row["effect"], boot)
    y_true, groups, labels = data
    folds = _fold_signs(y_true, t["pa"], t["pb"], groups, labels, t["metric"])
    row.update(
        difference=100 * res["difference"],
        low=100 * res["low"],
        high=100 * res["high"],
        p_zero=p[0],
        p_effect=p[1],
        n_boot=int(res["n_boot"]),
        n_families=int(res["n_families"]),
        fold_differences=[100 * d for d in folds],
        verdict=verdict,
        why=f"{why} (Holm over the {2 * n} tests of {n} comparisons)",
    )
