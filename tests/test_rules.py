"""The verdict rules: one vocabulary, each rule on constructed intervals."""

from __future__ import annotations

import numpy as np
import pytest

from marsutils.stats import rules
from marsutils.stats.rules import (
    CONFIRMED,
    CONSISTENT,
    CONTRADICTED,
    DIRECTION_ONLY,
    INCONCLUSIVE,
    OURS_HIGHER,
    OURS_LOWER,
    SMALLER_THAN_CLAIMED,
    VERDICTS,
)

T = rules.TestResult


@pytest.mark.parametrize(
    ("estimate", "p_zero", "p_effect", "expected"),
    [
        (3.0, 0.001, 0.80, CONFIRMED),  # above 0, the paper's +3 not excluded
        (1.0, 0.001, 0.001, DIRECTION_ONLY),  # above 0, smaller than claimed
        (6.0, 0.001, 0.01, DIRECTION_ONLY),  # above 0, larger than claimed
        (1.0, 0.40, 0.30, INCONCLUSIVE),  # neither excluded
        (0.8, 1.00, 0.009, SMALLER_THAN_CLAIMED),  # effect excluded, sign not shown
        (-3.0, 0.001, 0.001, CONTRADICTED),  # shown below 0
    ],
)
def test_the_comparative_verdicts(estimate, p_zero, p_effect, expected):
    verdict, why = rules.comparative_verdict(3.0, T(estimate, p_zero, p_effect))
    assert verdict == expected and verdict in VERDICTS
    assert "Holm p" in why


def test_a_gain_smaller_than_claimed_is_not_a_contradiction():
    """Issue point 4: +0.8 [-2.4, +4.8] against the paper's +6.41 excludes the effect but leaves
    the sign open: *smaller than claimed*; *contradicted* needs the opposite shown."""
    verdict, why = rules.comparative_verdict(6.41, T(0.8, 1.0, 0.0088))
    assert verdict == SMALLER_THAN_CLAIMED and "sign is not shown" in why
    assert rules.comparative_verdict(6.41, T(-2.5, 0.01, 0.0001))[0] == CONTRADICTED
    assert SMALLER_THAN_CLAIMED in VERDICTS and SMALLER_THAN_CLAIMED in rules.__doc__


def test_both_tests_use_the_holm_adjusted_p():
    """Issue point 3: "excludes the paper's effect" is judged on the Holm-adjusted p, as "above
    0" is: an unadjusted 0.025 that Holm raises to 0.0255 * k no longer excludes it."""
    _, adjusted = rules.holm([1.0, 0.0255, 0.30, 0.004])
    assert adjusted[1] > rules.ALPHA  # 0.0255 x 3 remaining tests
    verdict, _ = rules.comparative_verdict(6.41, T(0.8, adjusted[0], adjusted[1]))
    assert verdict == INCONCLUSIVE  # the unadjusted p would have said "smaller than claimed"
    # a symmetric rule: the same adjusted p rejects 0 and rejects the effect alike
    assert rules.comparative_verdict(3.0, T(5.0, 0.04, 0.8))[0] == CONFIRMED
    assert rules.comparative_verdict(3.0, T(0.5, 0.8, 0.04))[0] == SMALLER_THAN_CLAIMED


def test_a_rejection_needs_both_tests_under_cross_validation():
    boot, ttest = T(3.0, 0.001, 0.9), T(3.1, 0.2, 0.9, "corrected t-test")
    verdict, why = rules.comparative_verdict(3.0, boot, ttest)
    assert verdict == INCONCLUSIVE
    assert "above 0 by the bootstrap only, not by the corrected t-test" in why
    assert rules.comparative_verdict(3.0, boot, T(3.1, 0.01, 0.9, "t"))[0] == CONFIRMED


def test_resamples_are_raised_near_the_threshold():
    # p = 0.05 +- 0.002 with 2,000 resamples: error 0.0049 is not below a tenth of 0.002
    assert rules.needs_more_resamples(0.052, 0.0049)
    assert not rules.needs_more_resamples(0.30, 0.0049)
    # Holm multiplies the error with the p-value
    assert rules.needs_more_resamples(0.2, 0.004, multiplier=7)


def test_the_ranking_rule_reads_rank_intervals():
    ok = {"a": {"rank_low": 1, "rank_high": 3, "p_lowest": 0.6}}
    assert rules.ranking_verdict(ok, claimed=2)[0] == CONSISTENT
    far = {"a": {"rank_low": 1, "rank_high": 2, "p_lowest": 1.0}}
    far["b"] = {"rank_low": 3, "rank_high": 6, "p_lowest": 0.01}
    verdict, why = rules.ranking_verdict(far, claimed=2)
    assert verdict == CONTRADICTED and "b ranks above" in why


def test_holm_textbook_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    reject, adjusted = rules.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert reject.tolist() == [True, False, False, True]
    assert rules.holm([])[1].size == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rules.holm([0.5, 1.5])


def test_value_and_size_verdicts():
    assert rules.value_verdict(90.0, 95.0, 92.61)[0] == CONSISTENT
    assert rules.value_verdict(93.0, 95.0, 92.61)[0] == OURS_HIGHER
    assert rules.value_verdict(80.0, 90.0, 92.61)[0] == OURS_LOWER
    assert rules.match_verdict(25.33, 25.0) == CONSISTENT
    assert rules.match_verdict(28.0, 25.0) == OURS_HIGHER  # +12% is outside 10%
    assert rules.match_verdict(3.5, 4.0) == OURS_LOWER
    assert rules.matches(4.14, 4.0) and not rules.matches(4.5, 4.0)


def test_control_and_always_verdicts():
    assert rules.control_verdict(0.20, 0.30, 0.116) == CONFIRMED
    assert rules.control_verdict(0.106, 0.144, 0.116) == INCONCLUSIVE
    assert rules.control_verdict(0.01, 0.05, 0.116) == CONTRADICTED
    assert rules.control_verdict(-0.2, -0.1, 0.0, higher_is_better=False) == CONFIRMED
    assert rules.control_verdict(None, None, 0.0) == INCONCLUSIVE
    verdict, why = rules.always_verdict(20, 33)
    assert verdict == CONTRADICTED and "excludes 100%" in why
    assert rules.always_verdict(8, 8)[0] == CONSISTENT


def test_the_docstring_renders_without_sphinx_roles():
    assert ":data:" not in rules.__doc__ and ":func:" not in rules.__doc__
    for word in ("confirmed", "direction only", "inconclusive", "contradicted", "Holm"):
        assert word in rules.__doc__


# --- training length ---------------------------------------------------------------------
def curve(
    f1: list[float], loss: list[float] | None = None, lr: list[float] | None = None
) -> list[dict]:
    """A ``history.json``-like learning curve (``lr`` after each epoch, flat by default)."""
    loss = loss if loss is not None else [1.0 - v for v in f1]
    lr = lr if lr is not None else [1e-3] * len(f1)
    return [
        {"epoch": e, "val_macro_f1": v, "val_loss": loss_, "lr": r}
        for e, (v, loss_, r) in enumerate(zip(f1, loss, lr, strict=True), 1)
    ]


def test_training_check_states():
    rising = rules.training_check(curve([0.5, 0.6, 0.7, 0.8]))
    assert rising.status == rules.STILL_IMPROVING and rising.flagged and rising.epochs == 4
    assert "val macro F1 +0.200" in rising.detail and "val loss -0.200" in rising.detail
    flat = rules.training_check(curve([0.5, 0.8, 0.81, 0.805, 0.81]))
    assert flat.status == rules.LEVELLED_OFF and not flat.flagged
    # the loss alone still falling by more than 0.01 flags the run
    loss_only = rules.training_check(curve([0.5, 0.8, 0.8, 0.8], [1.0, 0.6, 0.5, 0.4]))
    assert loss_only.status == rules.STILL_IMPROVING
    short = rules.training_check(curve([0.5, 0.8]))
    assert short.status == rules.TOO_SHORT and short.flagged and "+0.300" in short.detail
    assert rules.training_check(curve([0.5])).status == rules.TOO_SHORT
    assert rules.training_check(None).status == rules.NO_CURVE
    assert rules.TrainingRule().min_epochs == 3
    with pytest.raises(ValueError, match="none of"):
        rules.training_check([{"epoch": 1, "train_loss": 1.0}])
    with pytest.raises(ValueError, match="empty"):
        rules.training_check([])


def test_a_gain_while_the_learning_rate_anneals_does_not_count():
    """Issue point 6: C16 was downgraded by a 0.011-nat loss gain in an epoch whose learning rate
    ran from 3e-5 to 0; the one rule does not count an epoch that started below a tenth of the
    peak rate."""
    f1 = [0.5, 0.80, 0.85, 0.86, 0.86, 0.855]
    loss = [0.9, 0.40, 0.30, 0.25, 0.24, 0.229]  # 0.011 nats at the last epoch
    lr = [1e-3, 9e-4, 6e-4, 3e-4, 3e-5, 0.0]  # the last epoch starts at 3e-5 = 0.03 of the peak
    rule = rules.TrainingRule(window=1, min_delta=0.01, lr_fraction=0.1)
    check = rules.training_check(curve(f1, loss, lr), rule)
    assert check.status == rules.LEVELLED_OFF and "annealing" in check.detail
    # without the learning-rate part the same curve counts as still improving
    no_lr = rules.TrainingRule(window=1, min_delta=0.01, lr_fraction=0.0)
    assert rules.training_check(curve(f1, loss, lr), no_lr).status == rules.STILL_IMPROVING


def test_one_training_rule_from_the_profile():
    from marsutils.core.profiles import get_profile

    rule = rules.TrainingRule.from_profile(get_profile("quick", plateau_window=3))
    assert rule.window == 3 and rule.lr_fraction == get_profile("quick").plateau_lr_fraction
    assert "3 epoch(s)" in rule.text


def test_plateau_qualified_verdict():
    flat = rules.training_check(curve([0.5, 0.8, 0.8, 0.8]))
    rising = rules.training_check(curve([0.5, 0.6, 0.7, 0.8]))
    short = rules.training_check(curve([0.5, 0.6]))
    # both levelled off: nothing changes
    verdict, why, cell = rules.plateau_qualified_verdict(
        CONTRADICTED, "r", "A", "B", [flat], [flat]
    )
    assert (verdict, why, cell) == (CONTRADICTED, "r", "yes")
    # the claimed-better model cut short: a contradiction becomes inconclusive
    verdict, why, cell = rules.plateau_qualified_verdict(
        CONTRADICTED, "r", "A", "B", [rising], [flat]
    )
    assert verdict == INCONCLUSIVE and "A was still improving" in why and "understate it" in why
    assert cell.startswith("A: no, still improving") and "B: yes" in cell
    # only the baseline cut short: the contradiction stands, the gain may be overstated
    verdict, why, _ = rules.plateau_qualified_verdict(CONTRADICTED, "r", "A", "B", [flat], [short])
    assert verdict == CONTRADICTED and "B ran too few epochs" in why and "overstate A" in why
    verdict, why, _ = rules.plateau_qualified_verdict(CONFIRMED, "r", "A", "B", [flat], [rising])
    assert verdict == CONFIRMED and "overstate" in why
    # several seeds: one flagged seed flags the model, and the cell says how many
    verdict, _, cell = rules.plateau_qualified_verdict(
        DIRECTION_ONLY, "r", "A", "B", [flat, rising, flat], [short, short, short]
    )
    assert verdict == DIRECTION_ONLY and "in 1 of 3 seeds" in cell and "in 3 of 3 seeds" in cell
    with pytest.raises(ValueError, match="at least one seed"):
        rules.plateau_qualified_verdict(CONFIRMED, "r", "A", "B", [], [flat])


def test_the_docstring_states_the_training_length_rule():
    assert "Training length" in rules.__doc__ and "marsutils.stats.plateau" in rules.__doc__
    assert "becomes *inconclusive*" in rules.__doc__
