"""The verdict rules: one vocabulary, each rule on constructed intervals."""

from __future__ import annotations

import numpy as np
import pytest

from marsutils import rules
from marsutils.rules import (
    CONFIRMED,
    CONSISTENT,
    CONTRADICTED,
    DIRECTION_ONLY,
    INCONCLUSIVE,
    OURS_HIGHER,
    OURS_LOWER,
    VERDICTS,
)


@pytest.mark.parametrize(
    ("low", "high", "p_adjusted", "expected"),
    [
        (1.0, 5.0, 0.001, CONFIRMED),  # above 0, contains the paper's +3
        (0.5, 2.0, 0.001, DIRECTION_ONLY),  # above 0, smaller than claimed
        (4.0, 9.0, 0.001, DIRECTION_ONLY),  # above 0, larger than claimed
        (-1.5, 4.6, 0.30, INCONCLUSIVE),  # contains 0 and the effect
        (-2.9, 2.7, 0.50, CONTRADICTED),  # contains 0, excludes the effect
        (-5.0, -1.0, 0.99, CONTRADICTED),  # below 0
    ],
)
def test_the_four_comparative_verdicts(low, high, p_adjusted, expected):
    verdict, why = rules.comparative_verdict(low, high, 3.0, p_adjusted)
    assert verdict == expected and verdict in VERDICTS
    assert "Holm-adjusted p" in why


def test_comparative_corner_cases():
    # Holm leaves the difference unshown although the interval lies above the effect
    assert rules.comparative_verdict(3.5, 6.0, 3.0, 0.04)[0] == INCONCLUSIVE
    # "above 0" is a Holm-adjusted one-sided p below alpha / 2
    assert rules.comparative_verdict(1.0, 5.0, 3.0, 0.03)[0] == INCONCLUSIVE
    assert rules.comparative_verdict(1.0, 5.0, 3.0, 0.02)[0] == CONFIRMED
    with pytest.raises(ValueError, match="above high"):
        rules.comparative_verdict(2.0, 1.0, 3.0, 0.01)


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


def test_seed_margin_verdict():
    assert rules.seed_margin_verdict(3.0, 1.0, 1.0, 5.0)[0] == CONFIRMED
    verdict, why = rules.seed_margin_verdict(0.5, 1.0, 0.1, 1.0)
    assert verdict == INCONCLUSIVE and "not shown" in why  # a gain within a seed's spread
    assert rules.seed_margin_verdict(3.0, 1.0, -1.0, 6.0)[0] == INCONCLUSIVE
    assert rules.seed_margin_verdict(-3.0, 1.0, -5.0, -1.0)[0] == CONTRADICTED
    verdict, why = rules.seed_margin_verdict(3.0, None, 1.0, 5.0)
    assert verdict == INCONCLUSIVE and "one seed" in why


def test_the_docstring_renders_without_sphinx_roles():
    assert ":data:" not in rules.__doc__ and ":func:" not in rules.__doc__
    for word in ("confirmed", "direction only", "inconclusive", "contradicted", "Holm"):
        assert word in rules.__doc__


# --- training length ---------------------------------------------------------------------
def curve(f1: list[float], loss: list[float] | None = None) -> list[dict]:
    """A ``history.json``-like learning curve."""
    loss = loss if loss is not None else [1.0 - v for v in f1]
    return [
        {"epoch": e, "val_macro_f1": v, "val_loss": loss_}
        for e, (v, loss_) in enumerate(zip(f1, loss, strict=True), 1)
    ]


def test_training_check_states():
    rising = rules.training_check(curve([0.5, 0.6, 0.7, 0.8]))
    assert rising.status == rules.STILL_IMPROVING and rising.flagged and rising.epochs == 4
    assert "val macro F1 +0.100" in rising.detail and "val loss -0.100" in rising.detail
    flat = rules.training_check(curve([0.5, 0.8, 0.81, 0.805]))
    assert flat.status == rules.LEVELLED_OFF and not flat.flagged
    # the loss alone still falling by more than 0.01 flags the run
    loss_only = rules.training_check(curve([0.5, 0.8, 0.8, 0.8], [1.0, 0.6, 0.5, 0.4]))
    assert loss_only.status == rules.STILL_IMPROVING
    short = rules.training_check(curve([0.5, 0.8]))
    assert short.status == rules.TOO_SHORT and short.flagged and "+0.300" in short.detail
    assert rules.training_check(curve([0.5])).status == rules.TOO_SHORT
    assert rules.training_check(None).status == rules.NO_CURVE
    assert len(curve([0.1] * rules.PLATEAU_MIN_EPOCHS)) == 3
    with pytest.raises(ValueError, match="none of"):
        rules.training_check([{"epoch": 1, "train_loss": 1.0}])
    with pytest.raises(ValueError, match="empty"):
        rules.training_check([])


def test_plateau_qualified_verdict():
    flat = rules.training_check(curve([0.5, 0.8, 0.8]))
    rising = rules.training_check(curve([0.5, 0.6, 0.7]))
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
    assert "Training length" in rules.__doc__ and "marsutils.train.plateau" in rules.__doc__
    assert "becomes *inconclusive*" in rules.__doc__
