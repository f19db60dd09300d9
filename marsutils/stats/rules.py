"""The verdict rules: one vocabulary and one rule per kind of claim, used by every chapter.

Every verdict in the book is one of nine words, and each comes from one rule below. Intervals are
95% percentile bootstraps over twin families (tiles in the segmentation chapter), so rotated and
flipped copies of one image count once; the number of families is the effective sample size.

**Comparative claims** (A beats B, a component helps), judged on the paired difference of the
claim's primary metric (macro F1 for the paper's F1, image-level Jaccard for its IoU) by two
two-sided tests: "the difference is 0" and "the difference is the paper's effect". Both tests of
every comparative claim form one Holm family (no test is judged on an unadjusted interval while
the other is corrected), and a test *rejects* when its Holm-adjusted p-value is below 0.05:

* *confirmed*: 0 is rejected with the difference above it, and the paper's effect is not;
* *direction only*: 0 is rejected with the difference above it, and so is the paper's effect
  (ours is smaller, or larger, than claimed);
* *smaller than claimed*: the paper's effect is rejected with our difference below it, and 0 is
  not: the gain is smaller than claimed, and its sign is not shown;
* *contradicted*: 0 is rejected with the difference *below* it: the opposite of the claim;
* *inconclusive*: neither is rejected (or only an effect smaller than ours).

Under cross-validation each comparison is tested twice, independently: by the class-stratified
bootstrap over twin families of the pooled out-of-fold predictions
(``marsutils.stats.crossval.cv_paired_difference``) and by the corrected resampled t-test over the
folds (``marsutils.stats.crossval.corrected_resampled_ttest``), each with its own Holm family. A
rejection counts only when both tests make it (``comparative_verdict`` with both); where they
differ, the reason names the test that held the verdict back. The hold-out runs (one split per
seed) have the bootstrap only.

**Training length** (every comparison's models train under one shared budget, long enough for
the validation metric to level off): each compared model's ``history.json`` is judged by
``training_check``, the one rule every chapter and the findings use
(``marsutils.stats.plateau.plateau_status`` on validation macro F1 and on validation loss, the
profile's ``plateau_window`` last epochs against the best earlier one, ``plateau_min_delta``,
and epochs that started below ``plateau_lr_fraction`` of the peak learning rate not counted:
their gains are the annealing of the schedule, not a sign that more training would help). A run
that gained more than the threshold in a counted epoch is *still improving*, a run of fewer than
``plateau_window + 1`` epochs is *too short to show a plateau*, and a run without a learning
curve cannot be judged. Such a model is flagged in the comparison's "trained to plateau" column.
The verdict stays the tests', with one exception: a *contradicted* or *smaller than claimed*
verdict whose claimed-better model (A) was flagged becomes *inconclusive*, because more training
of A could close the gap. A flagged baseline (B) keeps the verdict and adds the warning that the
comparison may overstate A's gain.

**Monte Carlo error.** Every bootstrap p-value is reported with its Monte Carlo standard error;
where it is not below a tenth of the distance between the Holm-adjusted p-value and 0.05, the
comparison is resampled again with more resamples (``needs_more_resamples``).

**Value claims** (accuracy, F1, a class's F1 or recall), judged two-sided on the leak-free
family split only, on single-view scores (the paper used no test-time augmentation; the TTA score
is shown beside them):

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

**Rankings** (which classes score lowest) are judged on the bootstrap distribution of the
classes' ranks by F1 (``marsutils.stats.crossval.rank_distribution``), not on point estimates:
*consistent* when the 95% interval of every named class's rank reaches the claimed places,
*contradicted* when some named class's interval lies wholly above them. **Distributions** (the
class mix) are *consistent* when a chi-square goodness-of-fit test does not reject the paper's
shares at 0.05, else *contradicted*. **Our own claims**, which have no paper effect (a random
split overstates the score), are *confirmed* when the interval lies above 0, *inconclusive* when
it contains 0 and *contradicted* when it lies below.

**The paper's own numbers**: a claim that its own tables rule out is *contradicted*, one they
support is *consistent*. A claim this data cannot test is *cannot be tested here*, with the
nearest measurable counterpart; a claim whose chapter did not run is *not run*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from marsutils.core.profiles import Profile
from marsutils.stats.metrics import exact_binomial_interval

_PROFILE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Profile)}

__all__ = [
    "ALPHA",
    "PLATEAU_METRICS",
    "STILL_IMPROVING",
    "TOO_SHORT",
    "TrainingCheck",
    "CONFIRMED",
    "CONSISTENT",
    "CONTRADICTED",
    "DIRECTION_ONLY",
    "SMALLER_THAN_CLAIMED",
    "TestResult",
    "TrainingRule",
    "needs_more_resamples",
    "ranking_verdict",
    "INCONCLUSIVE",
    "LEVELLED_OFF",
    "MATCH_TOLERANCE",
    "NOT_RUN",
    "NO_CURVE",
    "OURS_HIGHER",
    "OURS_LOWER",
    "UNTESTABLE",
    "VERDICTS",
    "VERDICT_MEANINGS",
    "always_verdict",
    "comparative_verdict",
    "control_verdict",
    "holm",
    "match_verdict",
    "matches",
    "plateau_qualified_verdict",
    "training_check",
    "value_verdict",
]

CONFIRMED = "confirmed"
DIRECTION_ONLY = "direction only"
SMALLER_THAN_CLAIMED = "smaller than claimed"
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
    SMALLER_THAN_CLAIMED,
    INCONCLUSIVE,
    CONTRADICTED,
    CONSISTENT,
    OURS_HIGHER,
    OURS_LOWER,
    UNTESTABLE,
    NOT_RUN,
)

#: One sentence per verdict, for the summary page and the glossary (the rules above decide).
VERDICT_MEANINGS: dict[str, str] = {
    CONFIRMED: "the claimed effect is shown above 0, and the paper's size is not excluded",
    DIRECTION_ONLY: "shown above 0, but the paper's size is excluded (ours is smaller or larger)",
    SMALLER_THAN_CLAIMED: "the paper's size is excluded, below it; the sign is not shown",
    INCONCLUSIVE: "the evidence cannot tell: neither 0 nor the paper's effect is excluded",
    CONTRADICTED: "shown on the other side of 0, or a value or arithmetic the evidence excludes",
    CONSISTENT: "the paper's value lies inside our interval (for a value claim)",
    OURS_HIGHER: "our interval lies wholly above the paper's value",
    OURS_LOWER: "our interval lies wholly below the paper's value",
    UNTESTABLE: "this data cannot test it; the nearest measurable counterpart is shown",
    NOT_RUN: "the chapter that holds its evidence did not run, or the profile does not measure it",
}

#: Family-wise error rate of every multiple-testing correction (two-sided; one-sided tests of a
#: direction use half of it).
ALPHA = 0.05
#: Relative tolerance within which a size (parameters, GFLOPs) matches the paper's.
MATCH_TOLERANCE = 0.10

#: The learning-curve keys the training-length rule judges, with their better direction.
PLATEAU_METRICS = (("val_macro_f1", "max"), ("val_loss", "min"))


@dataclass(frozen=True)
class TrainingRule:
    """The one training-length rule's parameters (the profile's ``plateau_*`` fields).

    Attributes
    ----------
    window : int
        Final epochs compared with all earlier ones.
    min_delta : float
        Smallest gain that counts as still improving: one point of macro F1 and 0.01 nats of
        validation cross-entropy at 0.01 (a working choice; see :mod:`marsutils.stats.plateau`).
    lr_fraction : float
        Epochs that started below this fraction of the peak learning rate do not count.
    """

    # the defaults are the Profile's: the plateau rule's numbers are declared once, there
    window: int = _PROFILE_DEFAULTS["plateau_window"]
    min_delta: float = _PROFILE_DEFAULTS["plateau_min_delta"]
    lr_fraction: float = _PROFILE_DEFAULTS["plateau_lr_fraction"]

    @classmethod
    def from_profile(cls, profile: Any) -> TrainingRule:
        """The rule of ``profile`` (a :class:`marsutils.core.profiles.Profile`)."""
        return cls(profile.plateau_window, profile.plateau_min_delta, profile.plateau_lr_fraction)

    @property
    def min_epochs(self) -> int:
        """Fewer epochs cannot show a plateau: the window needs an earlier epoch beside it."""
        return self.window + 1

    @property
    def text(self) -> str:
        """The rule in one sentence, for a chapter."""
        metrics = " and ".join(_metric_label(m) for m, _ in PLATEAU_METRICS)
        return (
            f"{metrics}: the last {self.window} epoch(s) against the best earlier one, a gain "
            f"above {self.min_delta:g} counts as still improving unless its epoch started below "
            f"{self.lr_fraction:g} of the peak learning rate; fewer than {self.min_epochs} "
            "epochs are too short to show a plateau"
        )


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


@dataclass(frozen=True)
class TestResult:
    """The two Holm-adjusted two-sided tests of one comparison by one method.

    Attributes
    ----------
    estimate : float
        The difference A - B (any unit, the same as the paper's effect).
    p_zero, p_effect : float
        Holm-adjusted p-values of "the difference is 0" and "it is the paper's effect".
    method : str
        The test's name, for the reason ("bootstrap", "corrected t-test").
    """

    estimate: float
    p_zero: float
    p_effect: float
    method: str = "bootstrap"

    def rejections(self, alpha: float = ALPHA) -> tuple[bool, bool, bool]:
        """``(above 0 shown, below 0 shown, paper's effect excluded)``."""
        zero = self.p_zero < alpha
        return zero and self.estimate > 0, zero and self.estimate < 0, self.p_effect < alpha


def comparative_verdict(
    paper_effect: float,
    bootstrap: TestResult,
    ttest: TestResult | None = None,
    *,
    alpha: float = ALPHA,
) -> tuple[str, str]:
    """Verdict and reason for a comparative claim (the rule in the module docstring).

    Each test is two-sided and Holm-adjusted; with ``ttest`` as well, a rejection counts only
    when both tests make it, and the reason names the test that held a verdict back.

    Parameters
    ----------
    paper_effect : float
        The paper's claimed difference, in the unit of the tests' estimates.
    bootstrap : TestResult
        The bootstrap's estimate and Holm-adjusted p-values.
    ttest : TestResult, optional
        The corrected resampled t-test's (cross-validation only): a rejection then counts only
        when both tests make it.
    alpha : float
        Family-wise level of the Holm correction.

    Returns
    -------
    verdict, why : str
    """
    tests = [bootstrap] if ttest is None else [bootstrap, ttest]
    each = [t.rejections(alpha) for t in tests]
    above, below, excluded = (all(r[i] for r in each) for i in range(3))
    estimate = bootstrap.estimate
    effect = f"the paper's {paper_effect:+.2f}"
    ps = "; ".join(
        f"{t.method}: Holm p = {t.p_zero:.3g} for 0, {t.p_effect:.3g} for {effect}" for t in tests
    )
    held = ""
    if ttest is not None and each[0] != each[1]:
        names = ("above 0", "below 0", f"{effect} excluded")
        parts = []
        for i, name in enumerate(names):
            if each[0][i] != each[1][i]:
                who = bootstrap.method if each[0][i] else ttest.method
                other = ttest.method if each[0][i] else bootstrap.method
                parts.append(f"{name} by the {who} only, not by the {other}")
        held = "; the tests differ (" + ", ".join(parts) + "): a rejection needs both"
    side = "smaller" if estimate < paper_effect else "larger"
    if below:
        verdict, why = CONTRADICTED, "shown below 0: the opposite of the claim"
    elif above and excluded:
        verdict, why = DIRECTION_ONLY, f"shown above 0, but {side} than {effect}"
    elif above:
        verdict, why = CONFIRMED, f"shown above 0, and {effect} is not excluded"
    elif excluded and estimate < paper_effect:
        verdict, why = SMALLER_THAN_CLAIMED, f"{effect} is excluded; the sign is not shown"
    elif excluded:
        verdict, why = INCONCLUSIVE, "not shown above 0; only an effect below ours is excluded"
    else:
        verdict, why = INCONCLUSIVE, f"neither 0 nor {effect} is excluded"
    return verdict, f"{why} ({ps}){held}"


def needs_more_resamples(
    p_adjusted: float, mc_error: float, multiplier: float = 1.0, *, alpha: float = ALPHA
) -> bool:
    """True when a bootstrap p-value's Monte Carlo error is not below a tenth of its distance
    to the threshold.

    ``mc_error`` is the raw p-value's standard error and ``multiplier`` the factor Holm applied
    to it (adjusted / raw), so the adjusted p-value's error is ``multiplier * mc_error``.
    """
    return multiplier * mc_error >= abs(p_adjusted - alpha) / 10


def ranking_verdict(ranks: Mapping[str, Mapping[str, float]], claimed: int) -> tuple[str, str]:
    """The ranking rule: each named class's 95% rank interval against the claimed places.

    Parameters
    ----------
    ranks : mapping of class name to mapping
        :func:`marsutils.stats.crossval.rank_distribution`'s entry (``rank_low``, ``rank_high``,
        ``p_lowest``) for each class the claim names.
    claimed : int
        The claim's places: 2 for "the two lowest".
    """
    outside = [c for c, r in ranks.items() if r["rank_low"] > claimed]
    text = ", ".join(
        f"{c}: rank {r['rank_low']:.0f}-{r['rank_high']:.0f}, among the {claimed} lowest in "
        f"{100 * r['p_lowest']:.0f}% of resamples"
        for c, r in ranks.items()
    )
    if outside:
        return CONTRADICTED, f"{' and '.join(outside)} ranks above the {claimed} lowest ({text})"
    return CONSISTENT, f"every named class can rank among the {claimed} lowest ({text})"


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


def training_check(
    history: Sequence[Mapping[str, Any]] | None, rule: TrainingRule | None = None
) -> TrainingCheck:
    """Apply the training-length rule to one run's per-epoch history.

    Parameters
    ----------
    history : sequence of mapping, or None
        The records of ``history.json`` in training order (each with ``epoch``, ``lr`` and the
        keys of :data:`PLATEAU_METRICS` it has); None when the run has no learning curve.
    rule : TrainingRule, optional
        The rule's parameters (default :class:`TrainingRule`'s; a chapter passes
        ``TrainingRule.from_profile(profile)``). A history without ``lr`` is judged without the
        learning-rate part.

    Returns
    -------
    TrainingCheck
        *still improving* when :func:`~marsutils.stats.plateau.plateau_status` says so for any of
        :data:`PLATEAU_METRICS`; *too short* below ``rule.min_epochs`` epochs (the detail still
        reports the last epochs' gain when there is one); else *levelled off*.

    Raises
    ------
    ValueError
        If the history has none of :data:`PLATEAU_METRICS`, or a malformed entry (from
        ``plateau_status``).
    """
    from marsutils.stats.plateau import plateau_status

    rule = rule or TrainingRule()
    if history is None:
        return TrainingCheck(NO_CURVE, None, "no history.json beside its predictions")
    if not history:
        raise ValueError("history is empty: no epoch was recorded")
    present = [(m, mode) for m, mode in PLATEAU_METRICS if all(m in e for e in history)]
    if not present:
        raise ValueError(
            f"history records none of {[m for m, _ in PLATEAU_METRICS]}: {sorted(history[0])}"
        )
    with_lr = all(isinstance(e.get("lr"), int | float) for e in history)
    statuses = [
        plateau_status(
            history,
            metric=m,
            mode=mode,
            window=min(rule.window, max(1, len(history) - 1)),
            min_delta=rule.min_delta,
            lr_fraction=rule.lr_fraction if with_lr else None,
        )
        for m, mode in present
    ]
    epochs = statuses[0].epochs
    # the window's change of each metric against the best earlier value, in its own sign
    gains = [
        f"{_metric_label(st.metric)} {(1 if st.mode == 'max' else -1) * st.recent_gain:+.3f}"
        for st in statuses
        if st.recent_gain is not None
    ]
    detail = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    if gains:
        detail += f"; last {statuses[0].window} against the best earlier: " + ", ".join(gains)
    if statuses[0].annealing_epochs:
        detail += f" ({statuses[0].annealing_epochs} annealing epoch(s) not counted)"
    if epochs < rule.min_epochs:
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
    *,
    unit: str = "seeds",
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
    unit : str
        What one check is a run of, for the sentence: ``"seeds"``, or ``"runs"`` when the runs
        are CV folds (of one or more seeds).

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
    flag_a, cell_a, text_a = _describe_checks(a, checks_a, unit)
    flag_b, cell_b, text_b = _describe_checks(b, checks_b, unit)
    column = "yes" if not (flag_a or flag_b) else f"{cell_a}; {cell_b}"
    notes = _training_notes(a, b, text_a if flag_a else None, text_b if flag_b else None)
    if verdict in (CONTRADICTED, SMALLER_THAN_CLAIMED) and flag_a:
        notes.append(
            f"the tests give *{verdict}*, but as {a} was cut short the verdict is "
            "inconclusive (training-length rule)"
        )
        verdict = INCONCLUSIVE
    if notes:
        text = "; ".join(notes)
        why = f"{why}. {text[0].upper()}{text[1:]}"
    return verdict, why, column


#: What a flagged model did, by training-length status, for :func:`plateau_qualified_verdict`.
_FLAGGED_VERBS = {
    STILL_IMPROVING: "was still improving at its last epoch",
    TOO_SHORT: "ran too few epochs to show a plateau",
    NO_CURVE: "has no learning curve to show it levelled off",
}


def _describe_checks(
    name: str, checks: Sequence[TrainingCheck], unit: str
) -> tuple[bool, str, str]:
    """Whether ``name`` was flagged, its "trained to plateau" cell and what it did (a verb
    phrase, "" when not flagged)."""
    flagged = [c for c in checks if c.flagged]
    statuses = sorted({c.status for c in flagged})
    seeds = "" if len(checks) == 1 else f" in {len(flagged)} of {len(checks)} {unit}"
    if not flagged:
        return False, f"{name}: yes ({checks[0].detail})", ""
    cell = f"{name}: no, {' / '.join(statuses)}{seeds} ({flagged[0].detail})"
    return True, cell, " and ".join(_FLAGGED_VERBS[s] for s in statuses) + seeds


def _training_notes(a: str, b: str, text_a: str | None, text_b: str | None) -> list[str]:
    """The sentence on the flagged models (``text_*`` is what each did, None when it levelled
    off), as a list of at most one note."""
    if text_a is not None and text_b is not None:
        both = (
            f"{a} and {b} both {_plural(text_a)}"
            if text_a == text_b
            else f"{a} {text_a}, and {b} {text_b}"
        )
        return [
            f"{both}: the difference is that of models cut short, and may be smaller or larger "
            "after longer training"
        ]
    if text_a is not None:
        return [f"{a} {text_a}: the comparison may understate it"]
    if text_b is not None:
        return [f"{b} {text_b}: the comparison may understate it, and overstate {a}'s gain"]
    return []
