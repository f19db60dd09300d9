"""The verdict rules: one vocabulary and one rule per kind of claim, used by every chapter.

Every verdict in the book is one of nine words, and each comes from one rule below. Intervals are
95% percentile bootstraps over twin families (tiles in the segmentation chapter), so rotated and
flipped copies of one image count once; the number of families is the effective sample size.

**Comparative claims** (A beats B, a component helps), judged on the paired interval of the
claim's primary metric (macro F1 for the paper's F1, image-level Jaccard for its IoU) against 0
and against the paper's claimed effect:

* *confirmed*: the difference lies above 0 and the interval contains the paper's effect;
* *direction only*: the difference lies above 0 but the interval excludes the paper's effect
  (ours is smaller, or larger, than claimed);
* *inconclusive*: the difference is not shown above 0 and the interval contains the paper's
  effect, or lies wholly above it;
* *contradicted*: the difference is not shown above 0 and the interval lies wholly below the
  paper's effect (an interval that contains 0 but not the effect is evidence against the claim).

"Lies above 0" means a Holm-adjusted one-sided bootstrap p-value below 0.025 (half of 0.05,
so that with a single claim it agrees with the 95% interval's lower end being above 0); Holm's
method runs over the family of all comparative claims of the run. Whether the paper's effect is
contained is read from the unadjusted 95% interval.

**Value claims** (accuracy, F1, a class's F1 or recall), judged two-sided on the leak-free
family split only:

* *consistent*: our 95% interval contains the paper's value;
* *ours higher*: the interval lies wholly above it;
* *ours lower*: the interval lies wholly below it.

Scores on the paper's random split are shown as "the paper's protocol (leaks)" and judged by no
rule: twins of most of its test images are in its training set.

**Sizes** (parameters, GFLOPs) *match* when within 10% of the paper's figure (*consistent*), else
*ours higher* or *ours lower*.

**Multiple tests** (the pointing game's methods and tolerances, its comparisons with the edge
detector, the comparative claims) are corrected with Holm's method at 0.05 family-wise.

**Explanations** are judged against the book's controls, not only against chance: *confirmed*
when the measure beats its control (Grad-CAM and IG agree on one image more than maps of
different images agree; a method's peak hits craters more often than the edge detector's, and
more often than random points; deleting its top pixels lowers the score more than deleting random
pixels), *inconclusive* when the interval cannot separate the two, *contradicted* when the
control does better. The paper's "always" is *consistent* only when the exact binomial
(Clopper-Pearson) interval of the observed hit rate reaches 100%, else *contradicted*.

**Rankings** (which classes score lowest) are *consistent* when our point estimates rank the
classes the same way, else *contradicted*. **Distributions** (the class mix) are *consistent*
when a chi-square goodness-of-fit test does not reject the paper's shares at 0.05, else
*contradicted*. **Our own claims**, which have no paper effect (a random split overstates
accuracy), are *confirmed* when the interval lies above 0, *inconclusive* when it contains 0 and
*contradicted* when it lies below.

**The paper's own numbers**: a claim that its own tables rule out is *contradicted*, one they
support is *consistent*. A claim this data cannot test is *cannot be tested here*, with the
nearest measurable counterpart; a claim whose chapter did not run is *not run*.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import exact_binomial_interval

__all__ = [
    "ALPHA",
    "CONFIRMED",
    "CONSISTENT",
    "CONTRADICTED",
    "DIRECTION_ONLY",
    "INCONCLUSIVE",
    "MATCH_TOLERANCE",
    "NOT_RUN",
    "OURS_HIGHER",
    "OURS_LOWER",
    "UNTESTABLE",
    "VERDICTS",
    "always_verdict",
    "comparative_verdict",
    "control_verdict",
    "holm",
    "match_verdict",
    "matches",
    "value_verdict",
]

CONFIRMED = "confirmed"
DIRECTION_ONLY = "direction only"
INCONCLUSIVE = "inconclusive"
CONTRADICTED = "contradicted"
CONSISTENT = "consistent"
OURS_HIGHER = "ours higher"
OURS_LOWER = "ours lower"
UNTESTABLE = "cannot be tested here"
NOT_RUN = "not run"

#: Every verdict the book can print, in the order tallies list them.
VERDICTS = (
    CONFIRMED,
    DIRECTION_ONLY,
    INCONCLUSIVE,
    CONTRADICTED,
    CONSISTENT,
    OURS_HIGHER,
    OURS_LOWER,
    UNTESTABLE,
    NOT_RUN,
)

#: Family-wise error rate of every multiple-testing correction (two-sided; one-sided tests of a
#: direction use half of it).
ALPHA = 0.05
#: Relative tolerance within which a size (parameters, GFLOPs) matches the paper's.
MATCH_TOLERANCE = 0.10


def holm(
    p_values: Sequence[float] | np.ndarray, alpha: float = ALPHA
) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down correction (statsmodels ``multipletests(method="holm")``).

    Parameters
    ----------
    p_values : array-like of shape (m,)
        The family's p-values, each in [0, 1].
    alpha : float
        Family-wise error rate.

    Returns
    -------
    reject : ndarray of bool, shape (m,)
        True where the adjusted p-value is below ``alpha``.
    adjusted : ndarray of float, shape (m,)
        Holm-adjusted p-values (Holm 1979), capped at 1.
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D; got shape {p.shape}")
    if len(p) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"p-values must lie in [0, 1]; got {p.tolist()}")
    reject, adjusted, _, _ = multipletests(p, alpha=alpha, method="holm")
    return reject.astype(bool), adjusted


def comparative_verdict(
    low: float, high: float, paper_effect: float, p_adjusted: float, *, alpha: float = ALPHA
) -> tuple[str, str]:
    """Verdict and reason for a comparative claim (see the module docstring).

    Parameters
    ----------
    low, high : float
        Our 95% paired interval of the difference A - B, in the paper's unit (points).
    paper_effect : float
        The paper's claimed difference, same unit.
    p_adjusted : float
        Holm-adjusted one-sided p-value of "A - B <= 0".
    alpha : float
        Two-sided family-wise level; "above 0" means ``p_adjusted < alpha / 2``.
    """
    if not low <= high:
        raise ValueError(f"interval low {low} is above high {high}")
    above = p_adjusted < alpha / 2
    contains = low <= paper_effect <= high
    effect = f"the paper's {paper_effect:+.2f}"
    shown = f"above 0 (Holm-adjusted p = {p_adjusted:.3g})"
    not_shown = f"not shown above 0 (Holm-adjusted p = {p_adjusted:.3g})"
    if above and contains:
        return CONFIRMED, f"{shown}, and the interval contains {effect}"
    if above:
        side = "smaller" if high < paper_effect else "larger"
        return DIRECTION_ONLY, f"{shown}, but {side} than {effect} (outside the interval)"
    if contains:
        return INCONCLUSIVE, f"{not_shown}; the interval contains both 0 and {effect}"
    if low > paper_effect:
        return INCONCLUSIVE, f"{not_shown}; the interval lies above {effect}"
    return CONTRADICTED, f"{not_shown}, and the interval excludes {effect}"


def value_verdict(low: float, high: float, paper_value: float) -> tuple[str, str]:
    """Two-sided verdict of a value claim against our interval ``[low, high]`` (same unit)."""
    if not low <= high:
        raise ValueError(f"interval low {low} is above high {high}")
    if low <= paper_value <= high:
        return CONSISTENT, "our 95% interval contains the paper's value"
    if paper_value < low:
        return OURS_HIGHER, "our whole 95% interval lies above the paper's value"
    return OURS_LOWER, "our whole 95% interval lies below the paper's value"


def match_verdict(ours: float, paper: float, tolerance: float = MATCH_TOLERANCE) -> str:
    """*consistent* within ``tolerance`` (relative) of ``paper``, else *ours higher*/*lower*."""
    if paper == 0:
        raise ValueError("the paper's figure must be non-zero for a relative tolerance")
    ratio = ours / paper - 1
    if abs(ratio) <= tolerance:
        return CONSISTENT
    return OURS_HIGHER if ratio > 0 else OURS_LOWER


def matches(ours: float, paper: float, tolerance: float = MATCH_TOLERANCE) -> bool:
    """True when ``ours`` is within ``tolerance`` (relative) of ``paper`` (the size rule)."""
    return match_verdict(ours, paper, tolerance) == CONSISTENT


def control_verdict(
    low: float | None, high: float | None, control: float, *, higher_is_better: bool = True
) -> str:
    """An explanation's measure (interval ``[low, high]``) against its control's value.

    *confirmed* when the interval lies beyond the control on the better side, *contradicted* when
    it lies beyond it on the worse side, *inconclusive* when it contains it (or is undefined).
    """
    if low is None or high is None or np.isnan(low) or np.isnan(high):
        return INCONCLUSIVE
    better, worse = (low > control, high < control)
    if not higher_is_better:
        better, worse = high < control, low > control
    return CONFIRMED if better else CONTRADICTED if worse else INCONCLUSIVE


def always_verdict(hits: int, n: int, *, confidence: float = 0.95) -> tuple[str, str]:
    """The paper's "always" against ``hits`` of ``n``, with the exact binomial interval."""
    low, high = exact_binomial_interval(hits, n, confidence=confidence)
    interval = (
        f"{hits} of {n} ({100 * hits / n:.0f}%, "
        f"exact 95% interval {100 * low:.0f}-{100 * high:.0f}%)"
    )
    if high >= 1.0:
        return CONSISTENT, f"{interval}: 100% lies inside the interval"
    return CONTRADICTED, f"{interval}: the interval excludes 100%"
