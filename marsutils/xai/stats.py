"""Bootstrap intervals over images for the XAI measurements, so "more than chance" is a test.

Every interval is a seeded percentile bootstrap drawn by the project's one resampler,
:func:`marsutils.stats.metrics.bootstrap_weights`: over the explained images, or, when ``groups``
gives each image's twin family (the explained images come from the landmark test set, whose rotated
and flipped copies are near-duplicates), over whole families, so twins count once. Images where a
measure is undefined (NaN, e.g. a constant map) are left out before resampling; ``n`` says how
many remain and ``n_families`` how many families they span (NaN without ``groups``).

* :func:`consistency_tests`: mean top-k IoU and Spearman of each pair of methods, with intervals,
  against two references: the analytic ``chance`` of unrelated maps (``k / (2 - k)`` for top-k
  IoU, 0 for Spearman) and ``mismatched``, the same measure between the maps of *different*
  images (see :func:`~marsutils.xai.consistency.mismatched_consistency_table`), which keeps
  whatever the methods highlight on every image (a centre bias, say). A pair agrees *more than
  chance* when the interval's lower end is above ``chance``.
* :func:`faithfulness_tests`: deletion and insertion AUCs with intervals, and each method's paired
  difference to the random map on the same images.

Every control has its own interval, and every comparison with a control a two-sided bootstrap
p-value (:func:`bootstrap_p_value`), which the findings correct with Holm's method over all the
explainability claims together.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from marsutils.stats.metrics import ConfidenceInterval, bootstrap_weights
from marsutils.xai.consistency import chance_top_k_iou, fraction_of_column

__all__ = [
    "bootstrap_mean",
    "bootstrap_p_value",
    "consistency_tests",
    "faithfulness_tests",
    "image_families",
    "metric_name",
]


ImageFamilies = pd.Series | Mapping[Any, Any]


def _finite(
    values: Sequence[float] | np.ndarray,
    groups: Sequence[Any] | np.ndarray | None,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray | None]:
    data = np.asarray(values, dtype=float).reshape(-1)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}")
    families = None
    if groups is not None:
        families = np.asarray(groups).reshape(-1)
        if len(families) != len(data):
            raise ValueError(f"groups has {len(families)} entries for {len(data)} values")
    keep = np.isfinite(data)
    return data[keep], (None if families is None else families[keep])


def _resampled_means(
    data: np.ndarray, families: np.ndarray | None, n_boot: int, random_state: int
) -> np.ndarray:
    weights = bootstrap_weights(
        len(data), n_boot=n_boot, random_state=random_state, groups=families
    )
    return (weights @ data) / weights.sum(axis=1)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
    groups: Sequence[Any] | np.ndarray | None = None,
) -> ConfidenceInterval:
    """Mean of the finite ``values`` with its percentile-bootstrap interval (NaN if none).

    Parameters
    ----------
    values : array-like of shape (n,)
        One measurement per image; NaN and infinite values are left out (with their group).
    n_boot : int, default=2000
        Bootstrap resamples.
    confidence : float, default=0.95
        Interval coverage, in (0, 1).
    random_state : int, default=0
        Seed of :func:`marsutils.stats.metrics.bootstrap_weights`.
    groups : array-like of shape (n,), optional
        Twin family of each image: resample whole families (cluster bootstrap) instead of images.

    Returns
    -------
    ConfidenceInterval
        ``estimate`` is the plain mean of the finite values; ``n_clusters`` the number of
        families resampled (None without ``groups``).

    Raises
    ------
    ValueError
        If ``confidence`` is outside (0, 1) or ``groups`` has another length than ``values``.
    """
    data, families = _finite(values, groups, confidence)
    if len(data) == 0:
        nan = float("nan")
        return ConfidenceInterval(nan, nan, nan, float(confidence), n_boot)
    means = _resampled_means(data, families, n_boot, random_state)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    if families is None:
        return ConfidenceInterval(float(data.mean()), float(low), float(high), confidence, n_boot)
    return ConfidenceInterval(
        float(data.mean()),
        float(low),
        float(high),
        confidence,
        n_boot,
        "percentile bootstrap over clusters",
        int(pd.unique(families).size),
    )


def bootstrap_p_value(
    values: Sequence[float] | np.ndarray, *, null: float = 0.0, **resampling: Any
) -> float:
    """Two-sided bootstrap p-value of "the mean of ``values`` is ``null``" (NaN if no value).

    ``resampling`` takes the keywords of :func:`bootstrap_mean` (``n_boot``, ``confidence``,
    ``random_state``, ``groups``, with its defaults), and the p-value is drawn from the very
    resamples of that interval, so one set of options serves both calls and the two agree:
    p < 0.05 exactly when the 95% interval excludes ``null``, up to ties (``confidence`` itself
    does not change the p-value). It is :func:`marsutils.stats.crossval.two_sided_p` (Davison
    and Hinkley 1997, eq. 4.11; never 0). ``values`` is typically a paired per-image difference
    (a method minus its control on the same image), so ``null = 0`` is "no better than the
    control".

    Raises
    ------
    TypeError
        For a keyword that :func:`bootstrap_mean` does not take.
    ValueError
        If ``confidence`` is outside (0, 1) or ``groups`` has another length than ``values``.
    """
    from marsutils.stats.crossval import two_sided_p

    call = inspect.signature(bootstrap_mean).bind(values, **resampling)
    call.apply_defaults()
    options = call.arguments
    data, families = _finite(values, options["groups"], options["confidence"])
    if len(data) == 0:
        return float("nan")
    means = _resampled_means(data, families, options["n_boot"], options["random_state"])
    return two_sided_p(means, null)


def image_families(images: Sequence[Any] | pd.Series, groups: ImageFamilies) -> np.ndarray:
    """The twin family of each image id under ``groups`` (a Series or mapping: id -> family).

    Raises ValueError naming the images ``groups`` lacks.
    """
    lookup = groups if isinstance(groups, pd.Series) else pd.Series(dict(groups))
    ids = pd.Series(np.asarray(images))
    missing = ~ids.isin(lookup.index)
    if missing.any():
        raise ValueError(
            f"no twin family for image(s) {ids[missing].head(3).tolist()} in groups "
            f"({missing.sum()} of {len(ids)} missing)"
        )
    return lookup.loc[ids].to_numpy()


def _n_families(families: np.ndarray | None, defined: np.ndarray) -> float:
    return float("nan") if families is None else float(pd.unique(families[defined]).size)


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
    groups: ImageFamilies | None = None,
) -> pd.DataFrame:
    """One row per pair of methods and metric, over all images.

    ``consistency`` (and ``mismatched``) are per-image tables with a ``pair`` column, as in
    :attr:`~marsutils.xai.evaluation.XAIEvaluation.consistency`. ``groups`` (a Series or
    mapping from the ``image`` column's ids to twin families, e.g.
    ``marsutils.study.comparisons.family_lookup(split, by="image")``) makes every interval resample
    families. Columns: ``pair``, ``metric`` (``topk_iou@<k>`` or ``spearman``), ``mean``,
    ``ci_low``, ``ci_high``, ``n``, ``n_families`` (NaN without ``groups``), ``chance``,
    ``mismatched`` (the control: the mean agreement of each image's map with another image's,
    NaN without that table) with its own interval ``mismatched_ci_low``/``_ci_high``, the paired
    difference ``vs_mismatched`` (same image minus mismatched, per image) with
    ``vs_mismatched_ci_low``/``_ci_high`` and its two-sided bootstrap p-value
    ``p_vs_mismatched`` (:func:`bootstrap_p_value`), and ``above_chance`` (``ci_low > chance``).
    The paired difference resamples image ``i``'s family only, though its control also uses its
    partner's map; with one partner per image that dependence is weak, and it is stated here.
    """
    if "pair" not in consistency.columns:
        raise ValueError("consistency table needs a 'pair' column (see evaluate_explanations)")
    if groups is not None and "image" not in consistency.columns:
        raise ValueError("consistency table needs an 'image' column to look up twin families")
    rows = []
    for pair, part in consistency.groupby("pair", sort=True):
        other = mismatched[mismatched["pair"] == pair] if mismatched is not None else None
        families = None if groups is None else image_families(part["image"], groups)
        boot = {"n_boot": n_boot, "confidence": confidence, "random_state": random_state}
        for column in _metric_columns(part):
            ci = bootstrap_mean(part[column], **boot, groups=families)
            chance = 0.0 if column == "spearman" else chance_top_k_iou(fraction_of_column(column))
            control = _control_columns(part, other, column, families, boot)
            rows.append(
                {
                    "pair": str(pair),
                    "metric": metric_name(column),
                    "mean": ci.estimate,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "n": int(part[column].notna().sum()),
                    "n_families": _n_families(families, part[column].notna().to_numpy()),
                    "chance": chance,
                    **control,
                    "above_chance": bool(ci.low > chance),
                }
            )
    return pd.DataFrame(rows)


def _control_columns(
    part: pd.DataFrame,
    other: pd.DataFrame | None,
    column: str,
    families: np.ndarray | None,
    boot: dict[str, Any],
) -> dict[str, float]:
    """The mismatched control of one pair and metric: its mean with its own interval and, paired
    by image (image ``i``'s agreement with itself minus its agreement with its partner's map),
    the difference with its interval and two-sided p-value. NaN without the table."""
    nan = float("nan")
    empty = dict.fromkeys(
        ("mismatched", "mismatched_ci_low", "mismatched_ci_high", "vs_mismatched"), nan
    )
    empty |= {"vs_mismatched_ci_low": nan, "vs_mismatched_ci_high": nan, "p_vs_mismatched": nan}
    if other is None or not other[column].notna().any():
        return empty
    same = part[column].to_numpy(dtype=float)
    if "image" in part.columns and "image" in other.columns:
        control = part[["image"]].merge(other[["image", column]], on="image", how="left")[column]
        control = control.to_numpy(dtype=float)
    elif len(other) == len(part):  # no image ids: row i of both tables is image i
        control = other[column].to_numpy(dtype=float)
    else:
        raise ValueError(
            f"the mismatched table has {len(other)} rows for {len(part)} images and no 'image' "
            "column to pair them by"
        )
    own = bootstrap_mean(control, **boot, groups=families)
    diff = bootstrap_mean(same - control, **boot, groups=families)
    p = bootstrap_p_value(same - control, **boot, groups=families)
    return {
        "mismatched": own.estimate,
        "mismatched_ci_low": own.low,
        "mismatched_ci_high": own.high,
        "vs_mismatched": diff.estimate,
        "vs_mismatched_ci_low": diff.low,
        "vs_mismatched_ci_high": diff.high,
        "p_vs_mismatched": p,
    }


def faithfulness_tests(
    table: pd.DataFrame,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
    groups: ImageFamilies | None = None,
) -> pd.DataFrame:
    """Per method: mean AUCs with intervals, and the paired difference to the random map.

    ``table`` is :attr:`~marsutils.xai.faithfulness.FaithfulnessResult.table` (one row per image
    and method). Columns: ``method``, ``n``, ``deletion_auc`` / ``insertion_auc`` with
    ``_ci_low`` / ``_ci_high``, and ``deletion_vs_random`` / ``insertion_vs_random`` (method
    minus ``"random"`` on the same image, averaged) with their intervals; NaN on the random
    map's own row. A faithful method has a deletion difference below 0 and an insertion
    difference above 0. ``groups`` (image id -> twin family) makes every interval resample
    families; ``n_families`` counts them (NaN without ``groups``). Each difference has its
    two-sided bootstrap p-value of "no different from the random map", ``deletion_vs_random_p``
    and ``insertion_vs_random_p`` (:func:`bootstrap_p_value`, same resamples as the interval).
    """
    missing = {"image", "method", "deletion_auc", "insertion_auc"} - set(table.columns)
    if missing:
        raise ValueError(f"not a faithfulness table: missing column(s) {sorted(missing)}")
    if "random" not in set(table["method"]):
        raise ValueError("the faithfulness table has no 'random' reference rows")
    wide = table.pivot_table(
        index="image", columns="method", values=["deletion_auc", "insertion_auc"], sort=False
    )
    families = None if groups is None else image_families(wide.index, groups)
    options = {
        "n_boot": n_boot,
        "confidence": confidence,
        "random_state": random_state,
        "groups": families,
    }
    rows = []
    for method in pd.unique(table["method"]):
        row: dict[str, object] = {
            "method": str(method),
            "n": int(wide[("deletion_auc", method)].size),
            "n_families": _n_families(families, np.ones(len(wide), dtype=bool)),
        }
        for mode in ("deletion", "insertion"):
            values = wide[(f"{mode}_auc", method)].to_numpy()
            ci = bootstrap_mean(values, **options)
            row |= {f"{mode}_auc": ci.estimate, f"{mode}_auc_ci_low": ci.low}
            row[f"{mode}_auc_ci_high"] = ci.high
            if method == "random":
                diff = ConfidenceInterval(*(float("nan"),) * 3, confidence, n_boot)
                p = float("nan")
            else:
                paired = values - wide[(f"{mode}_auc", "random")].to_numpy()
                diff = bootstrap_mean(paired, **options)
                p = bootstrap_p_value(paired, **options)
            row |= {f"{mode}_vs_random": diff.estimate, f"{mode}_vs_random_ci_low": diff.low}
            row[f"{mode}_vs_random_ci_high"] = diff.high
            row[f"{mode}_vs_random_p"] = p
        rows.append(row)
    return pd.DataFrame(rows)
