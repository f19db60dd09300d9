"""Chapter tables: interval formatting and paired comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marsutils.book.reporting import format_ci, headline_table, yardstick_table
from marsutils.core.profiles import get_profile
from marsutils.stats.metrics import evaluate_predictions
from marsutils.study.comparisons import (
    family_lookup,
    majority_class_evaluation,
    paired_comparisons,
    saved_predictions,
)
from marsutils.study.experiments import plan


def test_format_ci():
    assert format_ci(0.9312, {"low": 0.92, "high": 0.941}) == "93.1 [92.0, 94.1]"
    assert format_ci(0.5, None) == "50.0"
    assert format_ci(None, None) == "n/a"


def test_headline_table():
    y = np.arange(40) % 4
    ev = evaluate_predictions(y, y, class_names=list("abcd"), n_boot=50)
    table = headline_table({"perfect": ev})
    # every image right: the bootstrap cannot vary, so the interval is the exact binomial one
    assert table.loc["perfect", "accuracy"] == "100.0 [91.2, 100.0]"
    assert table.loc["perfect", "test images"] == 40


def test_paired_comparisons():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = pd.DataFrame({"row": np.arange(300), "y_true": y, "y_pred": y})
    noisy = pd.DataFrame({"row": np.arange(300), "y_true": y, "y_pred": rng.integers(0, 3, 300)})
    table = paired_comparisons({"good": good, "noisy": noisy}, [("good", "noisy")], n_boot=200)
    assert list(table["metric"]) == ["accuracy", "macro_f1"]
    assert (table["low"] > 0).all()  # a better on both metrics, as fractions
    assert (table["difference"] < 1).all()
    shifted = good.assign(row=good["row"] + 1)
    with pytest.raises(ValueError, match="same images"):
        paired_comparisons({"good": good, "shifted": shifted}, [("good", "shifted")])


# --- twin families ---------------------------------------------------------------------
def twin_predictions(n_families=150, copies=4, seed=0):
    """Predictions where every image has ``copies - 1`` twins with the same label and outcome."""
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.integers(0, 3, n_families), copies)
    right_a = np.repeat(rng.random(n_families) < 0.85, copies)
    right_b = np.repeat(rng.random(n_families) < 0.75, copies)
    rows = np.arange(len(y))
    a = pd.DataFrame({"row": rows, "y_true": y, "y_pred": np.where(right_a, y, (y + 1) % 3)})
    b = pd.DataFrame({"row": rows, "y_true": y, "y_pred": np.where(right_b, y, (y + 1) % 3)})
    families = np.repeat(np.arange(n_families), copies)
    return a, b, families


def test_paired_comparisons_resample_twin_families():
    a, b, families = twin_predictions()
    preds, pairs = {"a": a, "b": b}, [("a", "b")]
    images = paired_comparisons(preds, pairs, n_boot=400)
    by_array = paired_comparisons(preds, pairs, n_boot=400, groups=families)
    by_series = paired_comparisons(
        preds, pairs, n_boot=400, groups=pd.Series(families, index=a["row"])
    )
    pd.testing.assert_frame_equal(by_array, by_series)
    assert (images["n_clusters"] == 600).all() and (by_array["n_clusters"] == 150).all()
    width = lambda t: (t["high"] - t["low"]).to_numpy()  # noqa: E731
    # four identical copies per family: the honest interval is about twice as wide (sqrt 4)
    assert (width(by_array) > 1.5 * width(images)).all()
    pd.testing.assert_series_equal(by_array["difference"], images["difference"])
    with pytest.raises(ValueError, match="no twin family"):
        paired_comparisons(preds, pairs, groups=pd.Series(families[:-4], index=a["row"][:-4]))
    with pytest.raises(ValueError, match="outside the 10 families"):
        paired_comparisons(preds, pairs, groups=families[:10])


def split_table(train_labels, test_labels, test_families=None) -> pd.DataFrame:
    n_train, n_test = len(train_labels), len(test_labels)
    rows = np.arange(n_train + n_test)
    fam_test = np.arange(n_test) if test_families is None else np.asarray(test_families)
    return pd.DataFrame(
        {"row": rows, "image": [f"{r}.jpg" for r in rows],
         "label": np.r_[train_labels, test_labels],
         "family": np.r_[np.arange(n_train) + 10_000, fam_test],
         "subset": ["train"] * n_train + ["test"] * n_test}
    )  # fmt: skip


def test_family_lookup(tmp_path):
    frame = split_table([0, 1], [2, 2, 2], [7, 7, 8])
    path = tmp_path / "family-seed0.csv"
    frame.to_csv(path, index=False)
    by_row = family_lookup(path)
    assert by_row.loc[3] == 7 and by_row.loc[4] == 8 and len(by_row) == 5
    assert family_lookup(frame, by="image").loc["4.jpg"] == 8
    with pytest.raises(ValueError, match=r"family-seed0.csv lacks the column\(s\) \['family'\]"):
        frame.drop(columns="family").to_csv(path, index=False)
        family_lookup(path)
    with pytest.raises(ValueError, match="repeat"):
        family_lookup(frame.assign(image="same.jpg"), by="image")
    with pytest.raises(ValueError, match="by must be"):
        family_lookup(frame, by="label")


# --- yardsticks ---------------------------------------------------------------------------
CLASSES3 = ["crater", "dune", "other"]


def test_majority_class_scores_the_most_frequent_training_class():
    train = [2] * 60 + [0] * 30 + [1] * 10
    test = [2] * 40 + [0] * 40 + [1] * 20
    families = np.repeat(np.arange(50), 2)
    ev = majority_class_evaluation(split_table(train, test, families), class_names=CLASSES3)
    assert ev["predictor"] == {"strategy": "most_frequent", "class": "other", "train_images": 100}
    assert ev["overall"]["accuracy"] == pytest.approx(0.40)
    # macro F1 = F1 of the predicted class (precision 0.4, recall 1) over three classes
    assert ev["overall"]["macro_f1"] == pytest.approx((2 * 0.4 / 1.4) / 3)
    assert ev["settings"]["n_clusters"] == 50
    assert ev["ci"]["accuracy"]["low"] < 0.40 < ev["ci"]["accuracy"]["high"]
    with pytest.raises(ValueError, match="training and test images"):
        majority_class_evaluation(split_table([], test), class_names=CLASSES3)


def test_yardstick_table_rows_and_checks():
    rng = np.random.default_rng(0)
    test = rng.integers(0, 3, 120)
    split = split_table([1] * 50 + [0] * 10, test, np.repeat(np.arange(60), 2))
    rows = split.loc[split["subset"] == "test", "row"].to_numpy()
    perfect = pd.DataFrame({"row": rows, "y_true": test, "y_pred": test})
    table = yardstick_table(
        split,
        {"plain fine-tune": None, "proposed model": perfect.sample(frac=1, random_state=0)},
        class_names=CLASSES3,
        n_boot=200,
    )
    assert list(table.index) == ["majority class (dune)", "plain fine-tune", "proposed model"]
    assert table.loc["majority class (dune)", "accuracy value"] == pytest.approx(
        100 * (test == 1).mean()
    )
    assert table.loc["plain fine-tune", "accuracy"] == "not run"
    assert table.loc["proposed model", "macro F1 value"] == pytest.approx(100.0)
    assert (table.loc[["majority class (dune)", "proposed model"], "n families"] == 60).all()
    assert table.loc["proposed model", "test images"] == 120
    with pytest.raises(ValueError, match="not the split's test images"):
        yardstick_table(split, {"m": perfect.iloc[1:]}, class_names=CLASSES3, n_boot=50)
    wrong = perfect.assign(y_true=(perfect["y_true"] + 1) % 3)
    with pytest.raises(ValueError, match="disagree with the split's labels"):
        yardstick_table(split, {"m": wrong}, class_names=CLASSES3, n_boot=50)


def test_saved_predictions_find_the_chapters_files(tmp_path):
    reference = Path(__file__).resolve().parents[1] / "results" / "reference-v1"
    spec, frame = saved_predictions(reference, get_profile("reference-v1"), "ablation", "plain")
    assert spec.model == "plain" and spec.split == "family" and len(frame) == 1641
    assert {"row", "y_true", "y_pred"} <= set(frame.columns)
    profile = get_profile("smoke", cv_folds=0)  # the hold-out design: one file per seed
    assert saved_predictions(tmp_path, profile, "ablation", "plain") is None
    assert saved_predictions(tmp_path, profile, "ablation", "nonexistent") is None
    # a seed folder is read for its seed, and preferred for seed 0
    spec = next(s for s in plan(profile, "ablation") if s.model == "plain")
    seed1 = tmp_path / "experiments" / spec.key / "seed1"
    seed1.mkdir(parents=True)
    pd.DataFrame(
        {"image": ["a.jpg"], "row": [5], "y_true": [0], "y_pred": [0], "prob_0": [1.0]}
    ).to_csv(seed1 / "predictions_test.csv", index=False)
    assert saved_predictions(tmp_path, profile, "ablation", "plain", seed=0) is None
    _, frame = saved_predictions(tmp_path, profile, "ablation", "plain", seed=1)
    assert frame["row"].tolist() == [5]
