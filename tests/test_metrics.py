"""Metrics against hand-computed cases, scikit-learn cross-checks and bootstrap behaviour."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    jaccard_score,
)

from marsutils.stats import metrics as M

# Hand-worked example, K = 4. Class 3 has true images but is never predicted.
#   confusion (rows true, columns predicted):
#     [[2, 1, 0, 0],
#      [0, 2, 0, 0],
#      [1, 0, 2, 0],
#      [1, 1, 0, 0]]
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
Y_PRED = np.array([0, 0, 1, 1, 1, 2, 0, 2, 1, 0])
NAMES = ["a", "b", "c", "d"]
F1 = np.array([4 / 7, 2 / 3, 4 / 5, 0.0])
IOU = np.array([2 / 5, 2 / 4, 2 / 3, 0.0])


def test_per_class_by_hand() -> None:
    table = M.per_class_metrics(Y_TRUE, Y_PRED, class_names=NAMES)
    assert list(table.index) == NAMES
    np.testing.assert_allclose(table["precision"], [0.5, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(table["recall"], [2 / 3, 1.0, 2 / 3, 0.0])
    np.testing.assert_allclose(table["f1"], F1)
    np.testing.assert_allclose(table["iou"], IOU)
    assert table["support"].tolist() == [3, 2, 3, 2]
    assert table["predicted"].tolist() == [4, 4, 2, 0]


def test_class_never_predicted_follows_zero_division() -> None:
    ones = M.per_class_metrics(Y_TRUE, Y_PRED, class_names=NAMES, zero_division=1.0).loc["d"]
    assert ones["precision"] == 1.0  # 0/0 -> zero_division
    assert ones["recall"] == 0.0 and ones["f1"] == 0.0 and ones["iou"] == 0.0  # not 0/0
    nans = M.per_class_metrics(Y_TRUE, Y_PRED, class_names=NAMES, zero_division=np.nan).loc["d"]
    assert np.isnan(nans["precision"]) and nans["iou"] == 0.0


def test_class_absent_from_both_and_macro_averages() -> None:
    labels = [0, 1, 2, 3, 4]  # label 4: no true images, never predicted
    zero = M.overall_metrics(Y_TRUE, Y_PRED, labels=labels, zero_division=0.0)
    assert zero["mean_iou"] == pytest.approx(IOU.sum() / 5)
    assert zero["macro_f1"] == pytest.approx(F1.sum() / 5)
    skip = M.overall_metrics(Y_TRUE, Y_PRED, labels=labels, zero_division=np.nan)
    assert skip["mean_iou"] == pytest.approx(IOU.mean())
    assert skip["macro_f1"] == pytest.approx(F1.mean())
    assert np.isnan(M.per_class_iou(Y_TRUE, Y_PRED, labels=labels, zero_division=np.nan)[4])


def test_overall_by_hand() -> None:
    got = M.overall_metrics(Y_TRUE, Y_PRED)
    assert got["accuracy"] == pytest.approx(0.6)
    assert got["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 2 / 3 + 0) / 4)
    assert got["macro_f1"] == pytest.approx(F1.mean())
    assert got["weighted_f1"] == pytest.approx((3 * F1[0] + 2 * F1[1] + 3 * F1[2]) / 10)
    assert got["mean_iou"] == pytest.approx(IOU.mean())
    assert got["macro_precision"] == pytest.approx(0.5)


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_iou_is_sklearn_jaccard(zero_division: float) -> None:
    rng = np.random.default_rng(3)
    t, p = rng.integers(0, 5, 60), rng.integers(0, 4, 60)
    ours = M.per_class_iou(t, p, labels=range(6), zero_division=zero_division)
    ref = jaccard_score(t, p, labels=list(range(6)), average=None, zero_division=zero_division)
    np.testing.assert_allclose(ours, ref)


def test_jaccard_per_class_conventions_for_a_class_absent_from_truth_and_prediction() -> None:
    # class 4 is neither true nor predicted anywhere; class 3 is true but never predicted
    labels = [0, 1, 2, 3, 4]
    cm = M.confusion_matrices(Y_TRUE, Y_PRED, labels=labels)[0]
    as_zero = M.jaccard_per_class(cm, zero_division=0.0)
    skipped = M.jaccard_per_class(cm, zero_division=np.nan)
    ref = jaccard_score(Y_TRUE, Y_PRED, labels=labels, average=None, zero_division=0)
    np.testing.assert_allclose(as_zero, ref)
    np.testing.assert_allclose(as_zero, [*IOU, 0.0])
    np.testing.assert_allclose(skipped[:4], IOU)  # present classes: the same value
    assert np.isnan(skipped[4])  # only the absent class differs
    # absent counted as 0 lowers the macro mean; skipped equals sklearn's macro over the classes
    # present in truth or prediction (its jaccard_score does not accept zero_division=nan)
    assert M.mean_over_classes(as_zero) == pytest.approx(
        jaccard_score(Y_TRUE, Y_PRED, labels=labels, average="macro", zero_division=0)
    )
    assert M.mean_over_classes(skipped) == pytest.approx(
        jaccard_score(Y_TRUE, Y_PRED, labels=[0, 1, 2, 3], average="macro")
    )
    assert M.mean_over_classes(as_zero) == pytest.approx(IOU.sum() / 5)
    assert M.mean_over_classes(skipped) == pytest.approx(IOU.mean())
    assert np.isnan(M.mean_over_classes(np.full(3, np.nan)))


def test_one_iou_definition_behind_every_caller() -> None:
    from marsutils.evaluate import confusion_scores
    from marsutils.seg.metrics import iou_from_confusion

    cm = M.confusion_matrices(Y_TRUE, Y_PRED, labels=[0, 1, 2, 3, 4])[0]
    # batched: leading axes are resamples
    batch = np.stack([cm, cm.T])
    np.testing.assert_allclose(M.jaccard_per_class(batch)[1], M.jaccard_per_class(cm.T))
    # the classification chapters: absent counted as 0
    np.testing.assert_allclose(confusion_scores(cm, range(5))["iou"], M.jaccard_per_class(cm))
    assert confusion_scores(cm, range(5))["mean_iou"] == pytest.approx(IOU.sum() / 5)
    assert M.scores_from_confusion(cm)["mean_iou"] == pytest.approx(IOU.sum() / 5)
    # the segmentation chapter: absent skipped
    seg = iou_from_confusion(cm)
    np.testing.assert_array_equal(seg.per_class, M.jaccard_per_class(cm, zero_division=np.nan))
    assert seg.miou == pytest.approx(IOU.mean())


def test_confusion_matrices() -> None:
    raw, norm = M.confusion_matrices(Y_TRUE, Y_PRED, labels=[0, 1, 2, 3, 4])
    assert raw.tolist()[:4] == [[2, 1, 0, 0, 0], [0, 2, 0, 0, 0], [1, 0, 2, 0, 0], [1, 1, 0, 0, 0]]
    np.testing.assert_allclose(norm[0], [2 / 3, 1 / 3, 0, 0, 0])
    np.testing.assert_allclose(norm[4], 0.0)  # no true images -> zero row


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("accuracy", accuracy_score),
        ("balanced_accuracy", balanced_accuracy_score),
        (
            "macro_f1",
            lambda t, p: f1_score(t, p, labels=range(5), average="macro", zero_division=0),
        ),
        ("weighted_f1", lambda t, p: f1_score(t, p, labels=range(5), average="weighted")),
        ("mean_iou", lambda t, p: jaccard_score(t, p, labels=range(5), average="macro")),
    ],
)
def test_fast_bootstrap_matches_sklearn_on_same_resamples(name: str, fn) -> None:
    rng = np.random.default_rng(0)
    t = rng.integers(0, 5, 80)
    p = np.where(rng.random(80) < 0.7, t, rng.integers(0, 5, 80))
    with warnings.catch_warnings(action="ignore"):
        slow = M.bootstrap_ci(t, p, fn, n_boot=40, random_state=11)
    fast, _ = M.bootstrap_confusion_cis(t, p, labels=range(5), n_boot=40, random_state=11)
    assert fast[name].estimate == pytest.approx(slow.estimate)
    assert (fast[name].low, fast[name].high) == pytest.approx((slow.low, slow.high))


def test_bootstrap_seeding() -> None:
    rng = np.random.default_rng(1)
    t = rng.integers(0, 4, 200)
    p = np.where(rng.random(200) < 0.8, t, rng.integers(0, 4, 200))
    a, a_cls = M.bootstrap_confusion_cis(t, p, n_boot=200, random_state=5)
    b, b_cls = M.bootstrap_confusion_cis(t, p, n_boot=200, random_state=5)
    c, _ = M.bootstrap_confusion_cis(t, p, n_boot=200, random_state=6)
    assert a == b and a_cls == b_cls
    assert (a["macro_f1"].low, a["macro_f1"].high) != (c["macro_f1"].low, c["macro_f1"].high)
    for interval in a.values():
        assert interval.low <= interval.estimate <= interval.high
        assert interval.n_boot == 200


@pytest.mark.parametrize(("confidence", "lo", "hi"), [(0.95, 0.90, 0.985), (0.5, 0.40, 0.60)])
def test_bootstrap_coverage_bernoulli(confidence: float, lo: float, hi: float) -> None:
    """The interval covers the true accuracy p in about ``confidence`` of simulated test sets."""
    p_true, n, sims = 0.8, 150, 300
    rng = np.random.default_rng(2024)
    y_true = np.ones(n, dtype=int)
    covered = 0
    for s in range(sims):
        y_pred = (rng.random(n) < p_true).astype(int)
        ci, _ = M.bootstrap_confusion_cis(
            y_true, y_pred, labels=[0, 1], n_boot=300, confidence=confidence, random_state=s
        )
        covered += ci["accuracy"].contains(p_true)
    assert lo <= covered / sims <= hi


def test_evaluate_predictions_is_json_ready() -> None:
    result = M.evaluate_predictions(
        Y_TRUE,
        Y_PRED,
        class_names=NAMES,
        n_boot=50,
        random_state=0,
        zero_division=np.nan,
        extra_metrics={"top1": lambda t, p: float(np.mean(t == p))},
    )
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text)["overall"]["accuracy"] == pytest.approx(0.6)
    assert result["per_class"][3]["precision"] is None  # undefined, written as null
    assert result["per_class"][3]["support"] == 2
    assert result["ci"]["top1"]["low"] == result["ci"]["accuracy"]["low"]  # same resamples
    assert result["confusion_matrix"][3] == [1, 1, 0, 0]
    assert set(result["ci"]) >= {"accuracy", "macro_f1", "mean_iou"}


def test_input_errors() -> None:
    with pytest.raises(M.MetricsError, match="entries"):
        M.overall_metrics([0, 1], [0])
    with pytest.raises(M.MetricsError, match="not in labels"):
        M.per_class_metrics([0, 5], [0, 1], labels=[0, 1])
    with pytest.raises(M.MetricsError, match="zero_division"):
        M.mean_iou([0, 1], [0, 1], zero_division=0.5)
    with pytest.raises(M.MetricsError, match="integer"):
        M.overall_metrics(["a", "b"], ["a", "b"])
    with pytest.raises(M.MetricsError, match="n_boot"):
        M.bootstrap_indices(10, n_boot=1, random_state=0)


def _write_predictions(path, rows: int = 12, k: int = 3, **changes) -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(k), rows)
    df = pd.DataFrame({"image": [f"{i}.jpg" for i in range(rows)]})
    df["y_true"] = rng.integers(0, k, rows)
    df["y_pred"] = probs.argmax(1)
    for j in range(k):
        df[f"prob_{j}"] = probs[:, j]
    for col, value in changes.items():
        df.loc[0, col] = value
    df.to_csv(path, index=False)


def test_load_predictions_round_trip(tmp_path) -> None:
    path = tmp_path / "pred.csv"
    _write_predictions(path)
    df = M.load_predictions(path, n_classes=3)
    assert list(df.columns) == ["image", "y_true", "y_pred", "prob_0", "prob_1", "prob_2"]
    result = M.evaluate_predictions_csv(path, class_names=["x", "y", "z"], n_boot=20)
    assert result["n_images"] == 12 and result["source"] == str(path)
    expected = accuracy_score(df["y_true"], df["y_pred"])
    assert result["overall"]["accuracy"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"y_true": 7}, "outside"),
        ({"prob_1": 3.0}, "outside \\[0, 1\\]"),
        ({"image": "1.jpg"}, "more than once"),
    ],
)
def test_load_predictions_rejects_bad_files(tmp_path, changes, message) -> None:
    path = tmp_path / "bad.csv"
    _write_predictions(path, **changes)
    with pytest.raises(M.MetricsError, match=message):
        M.load_predictions(path)


def test_load_predictions_missing_things(tmp_path) -> None:
    with pytest.raises(M.MetricsError, match="does not exist"):
        M.load_predictions(tmp_path / "nope.csv")
    path = tmp_path / "p.csv"
    _write_predictions(path)
    pd.read_csv(path).drop(columns=["prob_1"]).to_csv(path, index=False)
    with pytest.raises(M.MetricsError, match="probability columns"):
        M.load_predictions(path)
    _write_predictions(path)
    with pytest.raises(M.MetricsError, match="4 classes expected"):
        M.load_predictions(path, n_classes=4)


# --------------------------------------------------------------------------------------------
# clustered bootstrap and the exact fallback
# --------------------------------------------------------------------------------------------


def _twins(n_families: int = 150, copies: int = 4, seed: int = 0):
    """Families of ``copies`` identical images (same label, same prediction), as under TTA."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n_families)
    pred = np.where(rng.random(n_families) < 0.8, y, (y + 1) % 4)
    groups = np.repeat(np.arange(n_families), copies)
    return np.repeat(y, copies), np.repeat(pred, copies), groups


def test_clustered_interval_is_wider_with_twins() -> None:
    t, p, groups = _twins()
    iid, _ = M.bootstrap_confusion_cis(t, p, n_boot=500, random_state=0)
    clustered, _ = M.bootstrap_confusion_cis(t, p, n_boot=500, random_state=0, groups=groups)
    for name in ("accuracy", "macro_f1"):
        width_iid = iid[name].high - iid[name].low
        width_clustered = clustered[name].high - clustered[name].low
        assert width_clustered > 1.5 * width_iid  # 4 copies: about twice as wide
    assert clustered["accuracy"].n_clusters == 150 and iid["accuracy"].n_clusters is None
    assert "clusters" in clustered["accuracy"].method


def test_singleton_families_give_the_image_bootstrap() -> None:
    rng = np.random.default_rng(3)
    t = rng.integers(0, 5, 300)
    p = np.where(rng.random(300) < 0.7, t, rng.integers(0, 5, 300))
    iid, iid_cls = M.bootstrap_confusion_cis(t, p, n_boot=300, random_state=9)
    # any labels, as long as each image is its own family (numbered by first appearance)
    for groups in (np.arange(300), rng.permutation(300) + 1000, [f"f{i}" for i in range(300)]):
        one, one_cls = M.bootstrap_confusion_cis(t, p, n_boot=300, random_state=9, groups=groups)
        for name in iid:
            assert (one[name].low, one[name].high) == (iid[name].low, iid[name].high)
        assert [c.low for c in one_cls["f1"]] == [c.low for c in iid_cls["f1"]]
    w = M.bootstrap_weights(300, n_boot=50, random_state=9, groups=np.arange(300))
    idx = M.bootstrap_indices(300, n_boot=50, random_state=9)
    np.testing.assert_array_equal(w, np.stack([np.bincount(i, minlength=300) for i in idx]))


def test_cluster_weights_move_whole_families() -> None:
    groups = np.array([0, 0, 0, 1, 2, 2])
    w = M.bootstrap_weights(6, n_boot=200, random_state=0, groups=groups)
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 1] == w[:, 2]).all() and (w[:, 4] == w[:, 5]).all()
    assert set(w[:, 3]) <= {0, 1, 2, 3}
    resamples = M.bootstrap_indices(6, n_boot=5, random_state=0, groups=groups)
    assert [len(r) for r in resamples] == w[:5].sum(axis=1).tolist()
    with pytest.raises(M.MetricsError, match="groups has 5 entries"):
        M.bootstrap_weights(6, n_boot=10, random_state=0, groups=groups[:5])
    with pytest.raises(M.MetricsError, match="missing"):
        M.cluster_codes([1.0, np.nan, 2.0])


def test_degenerate_class_interval_falls_back_to_exact_binomial() -> None:
    from statsmodels.stats.proportion import proportion_confint

    t, p, groups = _twins(n_families=60)
    perfect = np.repeat(np.arange(5), 2)  # class 4: 5 families of 2 images, all right
    t = np.concatenate([t, np.full(10, 4)])
    p = np.concatenate([p, np.full(10, 4)])
    groups = np.concatenate([groups, 1000 + perfect])
    result = M.evaluate_predictions(
        t, p, class_names=["a", "b", "c", "d", "e"], n_boot=200, groups=groups
    )
    recall = result["per_class"][4]["recall_ci"]
    low, high = proportion_confint(5, 5, alpha=0.05, method="beta")
    assert recall["method"].startswith("exact binomial") and "n=5" in recall["method"]
    assert recall["low"] == pytest.approx(low) and recall["high"] == pytest.approx(high)
    f1 = result["per_class"][4]["f1_ci"]  # F1 = 2J / (1 + J) of the Jaccard bound
    assert f1["low"] == pytest.approx(2 * low / (1 + low)) and f1["high"] == 1.0
    assert result["settings"]["n_clusters"] == 65
    assert M.exact_binomial_interval(0, 8)[0] == 0.0
    with pytest.raises(M.MetricsError, match="successes"):
        M.exact_binomial_interval(9, 8)


def test_a_predicted_class_absent_from_the_truth_raises_no_warning():
    """Small test sets often lack a class the model predicts; the score skips it silently, so
    no scikit-learn warning (with the machine's absolute path) reaches the book."""
    import warnings

    from marsutils.stats.metrics import overall_metrics

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = overall_metrics([0, 0, 1, 1], [0, 2, 1, 1], labels=[0, 1, 2])
    assert scores["balanced_accuracy"] == 0.75
