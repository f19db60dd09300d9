"""The paired bootstrap of a metric difference."""

from __future__ import annotations

import numpy as np
import pytest

from marsutils.significance import paired_bootstrap_difference


def test_clearly_better_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    good = np.where(rng.random(400) < 0.9, y, (y + 1) % 3)
    bad = np.where(rng.random(400) < 0.5, y, (y + 1) % 3)
    res = paired_bootstrap_difference(y, good, bad, metric="accuracy", n_boot=300)
    assert res["difference"] == pytest.approx((good == y).mean() - (bad == y).mean())
    assert 0 < res["low"] < res["difference"] < res["high"]
    assert res["p_not_better"] < 0.01


def test_identical_models_no_difference():
    y = np.arange(50) % 5
    res = paired_bootstrap_difference(y, y, y, n_boot=50)
    assert res["difference"] == res["low"] == res["high"] == 0
    assert res["p_not_better"] == 1.0


def test_seeded_and_checked():
    y = np.arange(60) % 3
    a = np.roll(y, 1)
    r1 = paired_bootstrap_difference(y, y, a, n_boot=100, random_state=5)
    r2 = paired_bootstrap_difference(y, y, a, n_boot=100, random_state=5)
    assert r1 == r2
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap_difference(y, y[:-1], a)
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap_difference(y, y, a, metric="auc")
