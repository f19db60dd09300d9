"""The paired bootstrap of a metric difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marsutils.stats.significance import (
    bootstrap_over_seeds,
    paired_bootstrap_difference,
    paired_bootstrap_over_seeds,
    seed_summary,
    seed_table,
    two_level_paired_bootstrap,
)


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


def _pair(n_families=200, copies=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n_families)
    a = np.where(rng.random(n_families) < 0.8, y, (y + 1) % 4)
    b = np.where(rng.random(n_families) < 0.7, y, (y + 2) % 4)
    groups = np.repeat(np.arange(n_families), copies)
    return np.repeat(y, copies), np.repeat(a, copies), np.repeat(b, copies), groups


def test_families_widen_the_paired_interval_and_singletons_do_not():
    y, a, b, groups = _pair()
    iid = paired_bootstrap_difference(y, a, b, n_boot=400)
    clustered = paired_bootstrap_difference(y, a, b, n_boot=400, groups=groups)
    singles = paired_bootstrap_difference(y, a, b, n_boot=400, groups=np.arange(len(y)))
    assert clustered["high"] - clustered["low"] > 1.4 * (iid["high"] - iid["low"])
    assert clustered["n_clusters"] == 200 and iid["n_clusters"] == len(y)
    assert {k: v for k, v in singles.items()} == iid
    iou = paired_bootstrap_difference(y, a, b, metric="mean_iou", n_boot=100)
    assert iou["difference"] > 0


def test_two_level_reduces_to_one_level_without_seed_variance():
    y, a, b, groups = _pair()
    one = paired_bootstrap_difference(y, a, b, n_boot=300, groups=groups, random_state=4)
    single = two_level_paired_bootstrap(y, [a], [b], n_boot=300, groups=groups, random_state=4)
    same = two_level_paired_bootstrap(
        y, [a, a, a], [b, b], n_boot=300, groups=groups, random_state=4
    )
    for res in (single, same):
        assert (res["difference"], res["low"], res["high"]) == pytest.approx(
            (one["difference"], one["low"], one["high"])
        )
    assert (
        same["n_seeds_a"] == 3
        and same["a"]["sd"] == pytest.approx(0, abs=1e-12)
        and single["a"]["sd"] is None
    )


def test_two_level_grows_with_seed_spread():
    y, a, b, groups = _pair()
    rng = np.random.default_rng(1)

    def noisy(pred, share):
        flip = rng.random(len(pred)) < share
        return np.where(flip, (pred + 1) % 4, pred)

    widths, sds = [], []
    for share in (0.0, 0.05, 0.25):
        seeds_a = [noisy(a, share * k / 2) for k in range(3)]
        res = two_level_paired_bootstrap(y, seeds_a, [b], n_boot=300, groups=groups)
        widths.append(res["high"] - res["low"])
        sds.append(res["a"]["sd"])
    assert sds[0] == pytest.approx(0, abs=1e-12) and 1e-6 < sds[1] < sds[2]
    assert widths[0] < widths[2]


def test_seed_summary_and_table():
    assert seed_summary([0.9, 0.8, 0.7]) == pytest.approx({"mean": 0.8, "sd": 0.1, "n_seeds": 3})
    frame = pd.DataFrame({"model": ["a", "a", "b"], "seed": [0, 1, 0], "macro_f1": [0.8, 0.9, 0.7]})
    table = seed_table(frame, by="model", metrics=["macro_f1"]).set_index("model")
    assert table.loc["a", "macro_f1_mean"] == pytest.approx(0.85)
    assert table.loc["a", "n_seeds"] == 2 and pd.isna(table.loc["b", "macro_f1_sd"])
    with pytest.raises(ValueError, match="columns"):
        seed_table(frame, by="model", metrics=["accuracy"])
    with pytest.raises(ValueError, match="non-empty"):
        seed_summary([])


def test_seed_bootstraps_with_a_test_set_per_seed():
    from marsutils.stats.metrics import bootstrap_confusion_cis

    y, a, b, groups = _pair()
    one = paired_bootstrap_difference(y, a, b, n_boot=300, groups=groups, random_state=2)
    single = paired_bootstrap_over_seeds([(y, a, b, groups)], n_boot=300, random_state=2)
    assert (single["low"], single["high"], single["p_not_better"]) == (
        one["low"],
        one["high"],
        one["p_not_better"],
    )
    assert single["seeds"]["n_seeds"] == 1 and single["n_clusters"] == [200]
    accuracy = bootstrap_over_seeds([(y, a, groups)], metric="accuracy", n_boot=300, random_state=2)
    reference, _ = bootstrap_confusion_cis(y, a, n_boot=300, random_state=2, groups=groups)
    assert (accuracy["low"], accuracy["high"]) == pytest.approx(
        (reference["accuracy"].low, reference["accuracy"].high)
    )
    # three seeds, each with its own test set; the spread between seeds widens the interval
    rng = np.random.default_rng(5)
    close, far = [], []
    for k in range(3):
        y_k, a_k, b_k, g_k = _pair(seed=10 + k)
        close.append((y_k, a_k, b_k, g_k))
        worse = np.where(rng.random(len(a_k)) < 0.3 * k, (a_k + 1) % 4, a_k)
        far.append((y_k, worse, b_k, g_k))
    res_close = paired_bootstrap_over_seeds(close, n_boot=300)
    res_far = paired_bootstrap_over_seeds(far, n_boot=300)
    assert res_far["seeds"]["sd"] > 3 * res_close["seeds"]["sd"]
    assert res_far["high"] - res_far["low"] > res_close["high"] - res_close["low"]
    recall = bootstrap_over_seeds([(y, a, groups)], metric="recall", label=2, n_boot=50)
    assert recall["estimate"] == pytest.approx((a[y == 2] == 2).mean())
    with pytest.raises(ValueError, match="per-class metric"):
        bootstrap_over_seeds([(y, a, groups)], metric="accuracy", label=2)
