"""Choosing the images to explain, and the bootstrap tests on the XAI measurements."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from marsutils.xai.consistency import chance_top_k_iou, derangement, mismatched_consistency_table
from marsutils.xai.selection import select_images
from marsutils.xai.stats import (
    bootstrap_mean,
    consistency_tests,
    faithfulness_tests,
    metric_name,
)


def predictions(counts: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """A predictions table with ``counts[class] = (n_correct, n_wrong)``."""
    rows = []
    for cls, (right, wrong) in counts.items():
        rows += [(cls, cls)] * right + [(cls, (cls + 1) % 8)] * wrong
    table = pd.DataFrame(rows, columns=["y_true", "y_pred"])
    return table.assign(image=[f"{i:03d}.jpg" for i in range(len(table))], row=range(len(table)))


# --- selection ---------------------------------------------------------------------------------
def test_selection_is_class_stratified_with_mistakes():
    table = predictions({0: (50, 10), 1: (20, 5), 2: (6, 0), 3: (0, 4)})
    chosen = select_images(table, 12, seed=0)
    assert len(chosen) == 12 and chosen["image"].is_unique
    assert chosen["y_true"].value_counts().to_dict() == {0: 3, 1: 3, 2: 3, 3: 3}
    right = chosen.groupby("y_true")["correct"].sum()
    # classes with both kinds alternate them; a class short of one kind gives the other
    assert right[0] in (1, 2) and right[1] in (1, 2) and right[2] == 3 and right[3] == 0
    assert chosen["correct"].tolist() == (chosen["y_true"] == chosen["y_pred"]).tolist()
    # sorted by class, correct first
    assert chosen["y_true"].is_monotonic_increasing


def test_selection_smaller_than_the_number_of_classes_still_has_both_kinds():
    table = predictions({c: (10, 10) for c in range(8)})
    for seed in range(5):
        chosen = select_images(table, 6, seed=seed)
        assert chosen["y_true"].nunique() == 6
        assert chosen["correct"].sum() == 3


def test_selection_is_seeded_and_caps_at_the_table():
    table = predictions({0: (30, 30), 1: (30, 30)})
    first = select_images(table, 10, seed=1)
    pd.testing.assert_frame_equal(first, select_images(table, 10, seed=1))
    assert set(first["image"]) != set(select_images(table, 10, seed=2)["image"])
    assert len(select_images(table, 1000, seed=0)) == len(table)


def test_selection_rejects_bad_input():
    table = predictions({0: (3, 1)})
    with pytest.raises(ValueError, match="lacks column"):
        select_images(table.drop(columns="y_pred"), 2)
    with pytest.raises(ValueError, match="n_images"):
        select_images(table, 0)
    with pytest.raises(ValueError, match="empty"):
        select_images(table.iloc[:0], 2)


# --- mismatched pairs --------------------------------------------------------------------------
def test_derangement_has_no_fixed_point():
    for seed in range(20):
        perm = derangement(5, seed=seed)
        assert sorted(perm) == list(range(5)) and not (perm == np.arange(5)).any()
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1)


def test_mismatched_pairs_lose_image_specific_agreement():
    maps = torch.rand(6, 16, 16, generator=torch.Generator().manual_seed(0))
    table = mismatched_consistency_table(maps, maps, fractions=(0.1,), resolution=None)
    assert (table["image"] != table["partner"]).all()
    # the same method on different random images agrees only by chance
    assert table["spearman"].abs().max() < 0.5
    assert table["iou_top10"].mean() == pytest.approx(chance_top_k_iou(0.1), abs=0.08)
    # a map shared by every image (a pure "centre bias") survives the mismatch
    shared = torch.rand(16, 16).expand(6, 16, 16)
    biased = mismatched_consistency_table(shared, shared, fractions=(0.1,), resolution=None)
    assert biased["spearman"].min() == pytest.approx(1.0)


# --- bootstrap ---------------------------------------------------------------------------------
def test_bootstrap_mean_interval():
    values = np.random.default_rng(0).normal(1.0, 1.0, 200)
    ci = bootstrap_mean(values, n_boot=500, random_state=3)
    assert ci.estimate == pytest.approx(values.mean())
    assert ci.low < ci.estimate < ci.high
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert ci.high - ci.low == pytest.approx(2 * half_width, rel=0.25)
    assert bootstrap_mean(values, n_boot=500, random_state=3) == ci
    with_nan = bootstrap_mean(np.r_[values, np.nan], n_boot=500, random_state=3)
    assert with_nan.estimate == pytest.approx(values.mean())
    assert np.isnan(bootstrap_mean([np.nan, np.nan]).estimate)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean(values, confidence=1.5)


def test_metric_names():
    assert metric_name("iou_top10") == "topk_iou@0.1"
    assert metric_name("iou_top5") == "topk_iou@0.05"
    assert metric_name("spearman") == "spearman"
    with pytest.raises(ValueError):
        metric_name("pixels")


def consistency_rows(pair: str, spearman: np.ndarray, iou: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"pair": pair, "spearman": spearman, "iou_top10": iou, "iou_top5": iou})


def test_consistency_tests_decide_above_chance():
    rng = np.random.default_rng(0)
    table = pd.concat(
        [
            consistency_rows("a~b", rng.uniform(0.5, 0.9, 30), rng.uniform(0.4, 0.8, 30)),
            consistency_rows("a~c", rng.normal(0.0, 0.1, 30), rng.uniform(0.0, 0.1, 30)),
        ]
    )
    mismatched = consistency_rows("a~b", np.full(30, 0.2), np.full(30, 0.1))
    tests = consistency_tests(table, mismatched, n_boot=300).set_index(["pair", "metric"])
    assert list(tests.loc["a~b"].index) == ["spearman", "topk_iou@0.05", "topk_iou@0.1"]
    assert tests.loc[("a~b", "spearman"), "above_chance"]
    assert tests.loc[("a~b", "topk_iou@0.1"), "chance"] == pytest.approx(chance_top_k_iou(0.1))
    assert tests.loc[("a~b", "spearman"), "mismatched"] == pytest.approx(0.2)
    assert not tests.loc[("a~c", "spearman"), "above_chance"]
    assert np.isnan(tests.loc[("a~c", "spearman"), "mismatched"])
    with pytest.raises(ValueError, match="pair"):
        consistency_tests(table.drop(columns="pair"))


def test_faithfulness_tests_pair_each_method_with_random():
    rng = np.random.default_rng(1)
    images = [f"i{i}" for i in range(40)]
    random_deletion = rng.uniform(0.3, 0.6, 40)
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "image": images,
                    "method": "good",
                    "deletion_auc": random_deletion - 0.1,
                    "insertion_auc": random_deletion + 0.1,
                }
            ),
            pd.DataFrame(
                {
                    "image": images,
                    "method": "random",
                    "deletion_auc": random_deletion,
                    "insertion_auc": random_deletion,
                }
            ),
        ]
    )
    tests = faithfulness_tests(table, n_boot=200).set_index("method")
    assert tests.loc["good", "deletion_vs_random"] == pytest.approx(-0.1)
    assert tests.loc["good", "deletion_vs_random_ci_high"] < 0
    assert tests.loc["good", "insertion_vs_random_ci_low"] > 0
    assert np.isnan(tests.loc["random", "deletion_vs_random"])
    assert tests.loc["good", "n"] == 40
    with pytest.raises(ValueError, match="random"):
        faithfulness_tests(table[table["method"] == "good"])


# --- twin families ---------------------------------------------------------------------------
def test_bootstrap_mean_over_twin_families():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 1.0, 100)
    images = bootstrap_mean(values, n_boot=800, random_state=2)
    # one family per image: the same draws as the image bootstrap
    singles = bootstrap_mean(values, n_boot=800, random_state=2, groups=np.arange(100))
    assert singles.low == pytest.approx(images.low) and singles.high == pytest.approx(images.high)
    assert singles.n_clusters == 100 and images.n_clusters is None
    # four identical twins per family: the image bootstrap is about twice too narrow
    twins = np.repeat(values, 4)
    families = np.repeat(np.arange(100), 4)
    naive = bootstrap_mean(twins, n_boot=800, random_state=2)
    clustered = bootstrap_mean(twins, n_boot=800, random_state=2, groups=families)
    assert clustered.estimate == pytest.approx(values.mean())
    assert clustered.n_clusters == 100 and "clusters" in clustered.method
    assert clustered.high - clustered.low > 1.6 * (naive.high - naive.low)
    # NaN values leave with their family entry
    with_nan = bootstrap_mean(np.r_[twins, np.nan], groups=np.r_[families, 999], n_boot=100)
    assert with_nan.n_clusters == 100
    with pytest.raises(ValueError, match="groups has 3 entries for 400 values"):
        bootstrap_mean(twins, groups=[0, 1, 2])


def test_consistency_and_faithfulness_tests_over_families():
    rng = np.random.default_rng(0)
    images = [f"{i}.jpg" for i in range(40)]
    families = pd.Series(np.repeat(np.arange(10), 4), index=images)
    iou = np.repeat(rng.uniform(0.1, 0.5, 10), 4)
    table = consistency_rows("a~b", iou, iou).assign(image=images)
    plain = consistency_tests(table, n_boot=300).set_index("metric")
    grouped = consistency_tests(table, n_boot=300, groups=families).set_index("metric")
    assert np.isnan(plain.loc["spearman", "n_families"])
    assert grouped.loc["spearman", "n_families"] == 10 and grouped.loc["spearman", "n"] == 40
    width = lambda t: t.loc["topk_iou@0.1", "ci_high"] - t.loc["topk_iou@0.1", "ci_low"]  # noqa: E731
    assert width(grouped) > 1.5 * width(plain)
    with pytest.raises(ValueError, match="'image' column"):
        consistency_tests(table.drop(columns="image"), groups=families)
    with pytest.raises(ValueError, match=r"no twin family for image\(s\) \['0.jpg'\]"):
        consistency_tests(table, groups=families.iloc[1:])
    faith = pd.concat(
        [
            pd.DataFrame({"image": images, "method": m, "deletion_auc": d, "insertion_auc": 1 - d})
            for m, d in (("good", iou - 0.1), ("random", iou))
        ]
    )
    tests = faithfulness_tests(faith, n_boot=200, groups=families.to_dict()).set_index("method")
    assert tests.loc["good", "n_families"] == 10
    assert tests.loc["good", "deletion_vs_random"] == pytest.approx(-0.1)


# --- every control its own interval and p-value (issue 23, point 9) -----------------------------
def test_each_control_has_its_own_interval_and_each_comparison_a_p_value():
    """The mismatched-image control was a point value with no interval, and no XAI comparison had
    a p-value, so no Holm family could hold them. Now the control has its interval, the paired
    difference its interval and a two-sided p-value drawn from the same resamples."""
    from marsutils.xai.stats import bootstrap_p_value

    rng = np.random.default_rng(4)
    images = [f"i{i}" for i in range(40)]
    same = pd.DataFrame(
        {"pair": "a~b", "image": images, "spearman": rng.uniform(0.4, 0.8, 40)}
    ).assign(iou_top10=lambda t: t["spearman"])
    other = same.assign(spearman=rng.uniform(0.0, 0.3, 40), iou_top10=rng.uniform(0.0, 0.3, 40))
    other = other.sample(frac=1.0, random_state=0)  # paired by image id, not by row order
    row = consistency_tests(same, other, n_boot=400).set_index("metric").loc["spearman"]
    control = other.set_index("image").loc[images, "spearman"].to_numpy()
    assert row["mismatched"] == pytest.approx(control.mean())
    assert row["mismatched_ci_low"] < row["mismatched"] < row["mismatched_ci_high"]
    assert row["vs_mismatched"] == pytest.approx((same["spearman"] - control).mean())
    assert row["vs_mismatched_ci_low"] > 0 and row["p_vs_mismatched"] < 0.01
    # a difference centred on 0 is not rejected; the p-value is never 0
    noise = rng.normal(0.0, 1.0, 200)
    noise -= noise.mean()
    assert bootstrap_p_value(noise, n_boot=500) > 0.5
    assert 0 < bootstrap_p_value(noise + 5, n_boot=500) <= 2 / 501
    # the p-value and the interval come from the same resamples: they agree about 0
    for shift in (0.05, 0.1, 0.15, 0.2, 0.3):
        values = noise + shift
        ci = bootstrap_mean(values, n_boot=1000, random_state=2)
        p = bootstrap_p_value(values, n_boot=1000, random_state=2)
        assert (p < 0.05) == (ci.low > 0), shift


def test_the_faithfulness_differences_have_p_values():
    rng = np.random.default_rng(1)
    images = [f"i{i}" for i in range(40)]
    base = rng.uniform(0.3, 0.6, 40)
    table = pd.concat(
        [
            pd.DataFrame({"image": images, "method": "good", "deletion_auc": base - 0.1,
                          "insertion_auc": base + rng.normal(0, 0.05, 40)}),
            pd.DataFrame({"image": images, "method": "random", "deletion_auc": base,
                          "insertion_auc": base}),
        ]
    )  # fmt: skip
    tests = faithfulness_tests(table, n_boot=400).set_index("method")
    assert tests.loc["good", "deletion_vs_random_p"] < 0.01
    assert tests.loc["good", "insertion_vs_random_p"] > 0.05  # noise around random's
    assert np.isnan(tests.loc["random", "insertion_vs_random_p"])


def test_the_p_value_takes_the_options_of_the_interval():
    from marsutils.xai.stats import bootstrap_p_value

    values = np.random.default_rng(5).normal(0.2, 1.0, 60)
    options = {"n_boot": 400, "confidence": 0.9, "random_state": 3, "groups": np.arange(60) // 2}
    p = bootstrap_p_value(values, **options)
    assert p == bootstrap_p_value(values, n_boot=400, random_state=3, groups=options["groups"])
    assert 0 < p <= 1
    with pytest.raises(TypeError):
        bootstrap_p_value(values, resamples=10)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_p_value(values, confidence=1.5)
