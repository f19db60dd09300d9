"""Intervals and paired tests on pooled out-of-fold predictions (marsutils.stats.crossval)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, jaccard_score

from marsutils.stats import crossval
from marsutils.stats.metrics import MetricsError, bootstrap_weights


def _data(n_families=400, copies=2, seed=0, p=(0.6, 0.2, 0.1, 0.07, 0.03)):
    rng = np.random.default_rng(seed)
    label = np.repeat(rng.choice(len(p), n_families, p=p), copies)
    groups = np.repeat(np.arange(n_families), copies)
    return rng, label, groups


def _model(rng, label, accuracy, n_classes=5):
    right = rng.random(len(label)) < accuracy
    return np.where(right, label, (label + rng.integers(1, n_classes, len(label))) % n_classes)


def test_the_point_scores_are_scikit_learns():
    rng, y, g = _data()
    p = _model(rng, y, 0.8)
    sampler = crossval.FamilyResampler(y, g)
    expected = {
        "accuracy": accuracy_score(y, p),
        "macro_f1": f1_score(y, p, average="macro"),
        "weighted_f1": f1_score(y, p, average="weighted"),
        "mean_iou": jaccard_score(y, p, average="macro"),
    }
    for metric, value in expected.items():
        assert sampler.scores(p, None, metric)[0] == pytest.approx(value)
    f1 = f1_score(y, p, average=None)
    assert sampler.scores(p, None, "f1", 3)[0] == pytest.approx(f1[3])


def test_every_resample_keeps_every_class_and_its_family_count():
    """Issue point 7: with a class-stratified family bootstrap every resample holds each class's
    families, so two models' macro F1 always average over the same class set."""
    rng, y, g = _data(p=(0.9, 0.07, 0.02, 0.005, 0.005))
    sampler = crossval.FamilyResampler(y, g)
    w = sampler.weights(500, rng)
    for c in np.unique(y):
        members = sampler.family_class == c
        assert (w[:, members].sum(axis=1) == members.sum()).all()
    # a class that a plain family bootstrap drops in some resamples: 2 families of 400
    assert sampler.families_of(4) <= 3
    a, b = _model(rng, y, 0.9), _model(rng, y, 0.9)
    a[y == 4] = 4  # model A gets the rare class right, B never predicts it
    res = crossval.cv_paired_difference(y, a, b, g, n_boot=2000)
    assert np.isfinite([res["low"], res["high"]]).all()
    # the plain family bootstrap drops the rare class from some resamples, where A's macro F1
    # (predicting it: F1 0) and B's (never: skipped) average over different class sets
    plain = bootstrap_weights(len(y), n_boot=2000, random_state=0, groups=g)
    assert (plain[:, y == 4].sum(axis=1) == 0).mean() > 0.01


def test_a_prediction_outside_the_class_set_counts_as_an_error():
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 7, 1, 1])  # class 7 is not in the data
    sampler = crossval.FamilyResampler(y, np.arange(4))
    assert sampler.scores(p, None, "accuracy")[0] == pytest.approx(0.75)
    assert sampler.scores(p, None, "recall", 0)[0] == pytest.approx(0.5)
    # macro F1 over the data's classes 0 and 1 only
    assert sampler.scores(p, None, "macro_f1")[0] == pytest.approx(
        f1_score(y, p, labels=[0, 1], average="macro")
    )


def test_a_degenerate_class_interval_is_clopper_pearson_on_every_path():
    """Issue point 5: all 13 spider families recalled over three seeds is 100 [75.3, 100],
    not 100 [100, 100], on the multi-seed path as on the pooled one."""
    runs = []
    for seed, n in enumerate((4, 4, 5)):
        _, y, g = _data(n_families=100, seed=seed, p=(0.7, 0.2, 0.1, 0.0, 0.0))
        y[: 2 * n] = 3  # n families of the rare class 3, two images each
        p = y.copy()
        runs.append((y, p, g))
    res = crossval.seeds_interval(runs, metric="recall", label=3, n_boot=1000)
    assert res["estimate"] == 1.0 and sum(res["n_families"]) == 13
    assert res["low"] == pytest.approx(0.7529, abs=1e-3) and res["high"] == 1.0
    assert "Clopper-Pearson" in res["method"]
    y, p, g = runs[0]
    pooled = crossval.cv_interval(y, p, g, metric="recall", label=3, n_boot=1000)
    assert pooled["n_families"] == 4 and pooled["low"] < 1.0 and "n=4" in pooled["method"]


def test_two_sided_p_values_and_their_monte_carlo_error():
    samples = np.linspace(-1, 3, 1001)
    assert crossval.two_sided_p(samples, 0.0) == pytest.approx(2 * 252 / 1002, abs=1e-9)
    assert crossval.two_sided_p(samples, 10.0) == pytest.approx(2 / 1002)
    assert crossval.two_sided_p(samples, 1.0) == 1.0
    assert crossval.monte_carlo_error(0.05, 10000) == pytest.approx(0.00218, abs=1e-5)


def test_the_corrected_resampled_t_test():
    d = [0.02, 0.03, 0.01, 0.04, 0.02]
    res = crossval.corrected_resampled_ttest(d, 4000, 1000)
    j, s2 = 5, np.var(d, ddof=1)
    expected_t = np.mean(d) / np.sqrt((1 / j + 1000 / 4000) * s2)
    assert res["t"] == pytest.approx(expected_t) and res["df"] == 4
    # the correction widens the naive paired t-test's interval
    from scipy import stats

    naive = stats.ttest_1samp(d, 0.0)
    assert res["p"] > naive.pvalue
    assert crossval.corrected_resampled_ttest(d, 4000, 1000, null=0.024)["p"] == pytest.approx(1)
    with pytest.raises(ValueError, match="at least 2"):
        crossval.corrected_resampled_ttest([0.1], 10, 2)


def test_the_rank_distribution_reads_the_lowest_classes():
    rng, y, g = _data(n_families=600)
    p = _model(rng, y, 0.9)
    p[(y == 4) & (rng.random(len(y)) < 0.6)] = 0  # class 4 scores clearly lowest
    ranks = crossval.rank_distribution(y, p, g, n_boot=1000)
    assert ranks[4]["rank"] == 1 and ranks[4]["rank_high"] <= 2 and ranks[4]["p_lowest"] > 0.95
    runs = [(y, p, g), (y, p, g)]
    assert crossval.seeds_rank_distribution(runs, n_boot=500)[4]["rank"] == 1


def test_bad_input_is_named():
    with pytest.raises(MetricsError, match="lack classes"):
        crossval.FamilyResampler(np.array([0, 1, 2]), np.arange(3), labels=[0, 1])
    sampler = crossval.FamilyResampler(np.array([0, 1]), np.arange(2))
    with pytest.raises(MetricsError, match="predictions of shape"):
        sampler.scores(np.array([0, 1, 1]), None, "accuracy")
    with pytest.raises(MetricsError, match="unknown metric"):
        sampler.scores(np.array([0, 1]), None, "auc")


def test_resampling_declares_the_settings_once_and_refuses_unknown_ones():
    """The keyword settings of the intervals and paired tests are the fields of one dataclass:
    an unknown keyword raises ``TypeError``; a degenerate proportion gets Clopper-Pearson."""
    s = crossval.Resampling(metric="recall", label=3, n_boot=1000, confidence=0.9)
    assert s.percentile(np.arange(101.0)) == pytest.approx((5.0, 95.0))
    assert s.degenerate(1.0, 1.0, 1.0) and not s.degenerate(0.5, 0.4, 0.6)
    low, high = s.exact(1.0, 10)
    assert 0.6 < low < 1.0 and high == 1.0
    assert crossval.Resampling(metric="f1").exact(0.0, 10)[0] == 0.0
    y = np.repeat(np.arange(4), 10)
    with pytest.raises(TypeError, match="nboot"):
        crossval.cv_interval(y, y, np.arange(len(y)), nboot=10)
    with pytest.raises(TypeError, match="nboot"):
        crossval.seeds_paired_difference([(y, y, y, np.arange(len(y)))], nboot=10)
