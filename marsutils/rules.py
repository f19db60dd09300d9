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

**Training length** (every comparison's models train under one shared budget, long enough for
the validation metric to level off): each compared model's ``history.json`` is judged by
``marsutils.train.plateau.plateau_status`` on validation macro F1 and on validation loss,
last epoch against the best earlier one (``window=1``, ``min_delta=0.01``); a run that gained more
than 0.01 on either at its last epoch is *still improving*, a run of fewer than 3 epochs is *too
short to show a plateau*, and a run without a learning curve cannot be judged. Such a model is
flagged in the comparison's "trained to plateau" column and its reason. The verdict stays the
interval rule's, with one exception: a *contradicted* verdict whose claimed-better model (A) was
flagged becomes *inconclusive*, because more training of A could close the gap. A flagged
baseline (B) keeps the verdict and adds the warning that the comparison may overstate A's gain;
it cannot weaken a contradiction, since B trained longer would only do better.

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
*contradicted* when it lies below. The **seed margin** (the proposed model beats the plain
fine-tune by more than its own seed-to-seed SD) is *confirmed* when the mean difference over seeds
exceeds the proposed model's seed SD *and* its two-level interval (seeds, then twin families) lies
above 0, *contradicted* when that interval lies below 0, and otherwise *inconclusive*: a gain
within one seed's spread is not shown, which is not the same as shown absent.

**The paper's own numbers**: a claim that its own tables rule out is *contradicted*, one they
support is *consistent*. A claim this data cannot test is *cannot be tested here*, with the
nearest measurable counterpart; a claim whose chapter did not run is *not run*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import exact_binomial_interval

__all__ = [
    "ALPHA",
    "PLATEAU_METRICS",
    "PLATEAU_MIN_DELTA",
    "PLATEAU_MIN_EPOCHS",
    "PLATEAU_WINDOW",
    "STILL_IMPROVING",
    "TOO_SHORT",
    "TrainingCheck",
    "CONFIRMED",
    "CONSISTENT",
    "CONTRADICTED",
    "DIRECTION_ONLY",
    "INCONCLUSIVE",
    "LEVELLED_OFF",
    "MATCH_TOLERANCE",
    "NOT_RUN",
    "NO_CURVE",
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
    "plateau_qualified_verdict",
    "seed_margin_verdict",
    "training_check",
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

#: The learning-curve keys the training-length rule judges, with their better direction.
PLATEAU_METRICS = (("val_macro_f1", "max"), ("val_loss", "min"))
#: Final epochs compared with all earlier ones (:func:`marsutils.train.plateau.plateau_status`).
PLATEAU_WINDOW = 1
#: Smallest last-epoch gain that counts as still improving: one point of macro F1, and 0.01 nats
#: of validation cross-entropy (a working choice; see :mod:`marsutils.train.plateau`).
PLATEAU_MIN_DELTA = 0.01
#: Fewer epochs than this cannot show a plateau: with ``window=1`` the last epoch needs at least
#: two earlier ones to be compared with more than a single, noisy, first epoch.
PLATEAU_MIN_EPOCHS = 3


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


def _plural(text: str) -> str:
    """The verb phrase of :func:`plateau_qualified_verdict` for two models ("was" -> "were")."""
    for singular, plural in (("was ", "were "), ("has ", "have ")):
        if text.startswith(singular):
            text = plural + text[len(singular) :]
    return text.replace(" its ", " their ")


def seed_margin_verdict(
    difference: float, sd: float | None, low: float, high: float
) -> tuple[str, str]:
    """Does model A beat model B by more than A's seed-to-seed SD?

    Parameters
    ----------
    difference : float
        Mean over seeds of the score of A minus that of B (any unit, the same for all four).
    sd : float or None
        Sample SD (``ddof=1``) of A's score over the same seeds; None with a single seed.
    low, high : float
        The two-level percentile-bootstrap interval of ``difference`` (seeds, then twin families;
        :func:`marsutils.significance.paired_bootstrap_over_seeds`).

    Returns
    -------
    verdict : str
        *confirmed* when ``difference > sd`` and ``low > 0``; *contradicted* when ``high < 0``;
        else *inconclusive* (also with one seed, where no SD exists).
    why : str
        The reason, in words.
    """
    if high < 0:
        return CONTRADICTED, "the interval of the difference lies below 0"
    if sd is None or np.isnan(sd):
        return INCONCLUSIVE, "one seed: no seed SD to compare the difference with"
    exceeds, above = difference > sd, low > 0
    if exceeds and above:
        return CONFIRMED, "the mean gain exceeds the seed SD and its interval lies above 0"
    if exceeds:
        return INCONCLUSIVE, "the mean gain exceeds the seed SD but its interval contains 0"
    return INCONCLUSIVE, "the mean gain is not larger than the seed SD: not shown"


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


# --------------------------------------------------------------------------------------------
# training length
# --------------------------------------------------------------------------------------------

LEVELLED_OFF = "levelled off"
STILL_IMPROVING = "still improving"
TOO_SHORT = "too short to show a plateau"
NO_CURVE = "no learning curve"


@dataclass(frozen=True)
class TrainingCheck:
    """The training-length rule on one run's learning curve (see the module docstring).

    Attributes
    ----------
    status : str
        ``"levelled off"``, ``"still improving"``, ``"too short to show a plateau"`` or ``"no
        learning curve"``.
    epochs : int or None
        Epochs in the history (None without one).
    detail : str
        What was measured, e.g. ``"2 epochs; val macro F1 +0.139 at the last"``.
    """

    status: str
    epochs: int | None
    detail: str

    @property
    def flagged(self) -> bool:
        """True unless the run levelled off."""
        return self.status != LEVELLED_OFF


def _metric_label(metric: str) -> str:
    return metric.replace("val_", "val ").replace("macro_f1", "macro F1").replace("_", " ")


def training_check(history: Sequence[Mapping[str, Any]] | None) -> TrainingCheck:
    """Apply the training-length rule to one run's per-epoch history.

    Parameters
    ----------
    history : sequence of mapping, or None
        The records of ``history.json`` in training order (each with ``epoch`` and the keys of
        :data:`PLATEAU_METRICS` it has); None when the run has no learning curve.

    Returns
    -------
    TrainingCheck
        *still improving* when :func:`~marsutils.train.plateau.plateau_status` (``window`` =
        :data:`PLATEAU_WINDOW`, ``min_delta`` = :data:`PLATEAU_MIN_DELTA`) says so for any of
        :data:`PLATEAU_METRICS`; *too short* below :data:`PLATEAU_MIN_EPOCHS` epochs (the detail
        still reports the last epoch's gain when there are two); else *levelled off*.

    Raises
    ------
    ValueError
        If the history has none of :data:`PLATEAU_METRICS`, or a malformed entry (from
        ``plateau_status``).
    """
    from .train.plateau import plateau_status

    if history is None:
        return TrainingCheck(NO_CURVE, None, "no history.json beside its predictions")
    if not history:
        raise ValueError("history is empty: no epoch was recorded")
    present = [(m, mode) for m, mode in PLATEAU_METRICS if all(m in e for e in history)]
    if not present:
        raise ValueError(
            f"history records none of {[m for m, _ in PLATEAU_METRICS]}: {sorted(history[0])}"
        )
    statuses = [
        plateau_status(
            history, metric=m, mode=mode, window=PLATEAU_WINDOW, min_delta=PLATEAU_MIN_DELTA
        )
        for m, mode in present
    ]
    epochs = statuses[0].epochs
    # the last epoch's change of each metric against the best earlier value, in its own sign
    gains = [
        f"{_metric_label(st.metric)} {(1 if st.mode == 'max' else -1) * st.recent_gain:+.3f}"
        for st in statuses
        if st.recent_gain is not None
    ]
    detail = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    if gains:
        detail += "; last epoch against the best earlier one: " + ", ".join(gains)
    if epochs < PLATEAU_MIN_EPOCHS:
        return TrainingCheck(TOO_SHORT, epochs, detail)
    improving = any(s.still_improving for s in statuses)
    return TrainingCheck(STILL_IMPROVING if improving else LEVELLED_OFF, epochs, detail)


def plateau_qualified_verdict(
    verdict: str,
    why: str,
    a: str,
    b: str,
    checks_a: Sequence[TrainingCheck],
    checks_b: Sequence[TrainingCheck],
) -> tuple[str, str, str]:
    """Qualify a comparative verdict of ``a`` over ``b`` by the training-length rule.

    Parameters
    ----------
    verdict, why : str
        The interval rule's verdict and reason (:func:`comparative_verdict`).
    a, b : str
        Display names of the claimed-better model and the baseline.
    checks_a, checks_b : sequence of TrainingCheck
        :func:`training_check` of each seed's run of ``a`` and of ``b`` (at least one each).

    Returns
    -------
    verdict : str
        ``verdict``, except *contradicted* becomes *inconclusive* when ``a`` was flagged.
    why : str
        ``why`` plus a sentence naming each flagged model and what it may do to the comparison.
    column : str
        The "trained to plateau" cell: ``"yes"`` or, per model, its status and detail.

    Raises
    ------
    ValueError
        If either sequence of checks is empty.
    """
    if not checks_a or not checks_b:
        raise ValueError("each compared model needs the training check of at least one seed")

    def describe(name: str, checks: Sequence[TrainingCheck]) -> tuple[bool, str, str]:
        flagged = [c for c in checks if c.flagged]
        statuses = sorted({c.status for c in flagged})
        seeds = "" if len(checks) == 1 else f" in {len(flagged)} of {len(checks)} seeds"
        if not flagged:
            return False, f"{name}: yes ({checks[0].detail})", ""
        cell = f"{name}: no, {' / '.join(statuses)}{seeds} ({flagged[0].detail})"
        verb = {
            STILL_IMPROVING: "was still improving at its last epoch",
            TOO_SHORT: "ran too few epochs to show a plateau",
            NO_CURVE: "has no learning curve to show it levelled off",
        }
        return True, cell, " and ".join(verb[s] for s in statuses) + seeds

    flag_a, cell_a, text_a = describe(a, checks_a)
    flag_b, cell_b, text_b = describe(b, checks_b)
    column = "yes" if not (flag_a or flag_b) else f"{cell_a}; {cell_b}"
    notes = []
    if flag_a and flag_b:
        both = (
            f"{a} and {b} both {_plural(text_a)}"
            if text_a == text_b
            else f"{a} {text_a}, and {b} {text_b}"
        )
        notes.append(
            f"{both}: the difference is that of models cut short, and may be smaller or larger "
            "after longer training"
        )
    elif flag_a:
        notes.append(f"{a} {text_a}: the comparison may understate it")
    elif flag_b:
        notes.append(f"{b} {text_b}: the comparison may understate it, and overstate {a}'s gain")
    if verdict == CONTRADICTED and flag_a:
        verdict = INCONCLUSIVE
        notes.append(
            f"the interval rule gives *contradicted*, but as {a} was cut short the verdict is "
            "inconclusive (training-length rule)"
        )
    if notes:
        text = "; ".join(notes)
        why = f"{why}. {text[0].upper()}{text[1:]}"
    return verdict, why, column
