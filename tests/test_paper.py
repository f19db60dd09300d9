"""The paper's numbers, recomputed from its own tables."""

from __future__ import annotations

import numpy as np
import pytest

from marsutils.core import paper as P


def test_table1_shape_and_class_mapping() -> None:
    t = P.table1()
    assert list(t.index) == list(P.DATASET_CLASSES)
    assert t["label"].tolist() == list(range(8))
    assert set(t["paper_name"]) == set(P.PAPER_TO_DATASET_CLASS)
    assert (t["source"] == "Table 1").all()


def test_supports_sum_to_a_fifth_of_the_dataset() -> None:
    assert P.table1_total_support() == 1231
    assert P.table1_test_fraction() == pytest.approx(0.20, abs=0.001)


def test_text_macro_f1_is_the_unweighted_mean_of_table1() -> None:
    t = P.table1()
    assert P.table1_macro_f1() == pytest.approx(t["f1"].sum() / len(t))
    assert P.table1_macro_f1() == pytest.approx(87.51, abs=0.005 + 1e-9)
    assert P.HEADLINE["weighted_macro_f1"].value == 87.51


def test_headline_f1_is_neither_macro_nor_weighted() -> None:
    headline = P.HEADLINE["f1"].value
    weighted = P.table1_weighted_f1()
    assert weighted == pytest.approx(np.dot(P.table1()["f1"], P.table1()["support"]) / 1231)
    assert abs(headline - P.table1_macro_f1()) > 0.5
    assert abs(headline - weighted) > 0.5
    averages = P.f1_averages()["f1"]
    assert not np.isclose(averages.drop("headline F1 (printed)"), headline, atol=0.01).any()


def test_printed_f1_matches_precision_and_recall() -> None:
    check = P.table1_f1_check()
    assert P.table1_f1_disagreements() == []
    assert (check["difference"].abs() < 0.006).all()


def test_f1_check_flags_a_wrong_row() -> None:
    t = P.table1()
    t.loc["spider", "f1"] = 85.21  # one point off
    assert P.table1_f1_disagreements(t) == ["spider"]


def test_reconstructed_counts_reproduce_table1() -> None:
    c = P.table1_counts()
    assert c["consistent"].all()
    assert c["predicted"].sum() == c["support"].sum() == 1231  # one prediction per image
    t = P.table1()
    np.testing.assert_allclose(100 * c["tp"] / c["predicted"], t["precision"], atol=0.005)
    np.testing.assert_allclose(100 * c["tp"] / c["support"], t["recall"], atol=0.005)
    f1 = 200 * c["tp"] / (c["support"] + c["predicted"])
    np.testing.assert_allclose(f1, t["f1"], atol=0.005 + 1e-9)


def test_accuracy_agrees_but_miou_does_not() -> None:
    assert P.table1_accuracy() == pytest.approx(P.HEADLINE["accuracy"].value, abs=0.005)
    c = P.table1_counts().loc["impact ejecta"]
    assert P.table1_iou()["impact ejecta"] == pytest.approx(100 * c.tp / (c.tp + c.fp + c.fn))
    assert P.table1_mean_iou() == pytest.approx(78.33, abs=0.01)
    checks = P.consistency_checks()
    assert checks.loc["accuracy vs Table 1 counts", "agrees"]
    assert checks.loc["'weighted macro-average' F1 vs mean of Table 1 F1", "agrees"]
    assert not checks.loc["mean IoU vs image-level Jaccard from Table 1", "agrees"]
    assert not checks.loc["F1 vs mean of Table 1 F1", "agrees"]


def test_abstract_repeats_table1_and_its_iou_gains_add_up() -> None:
    t = P.table1()
    for name, value in P.ABSTRACT_CLASS_F1.items():
        assert t.loc[name, "f1"] == value
    assert P.abstract_gains_check()["agrees"].all()
    base = P.baseline_values()
    assert base.loc["unet", "iou"] == 76.0 and base.loc["deeplabv3plus", "iou"] == 81.5
    assert base.loc["unet", "f1"] == pytest.approx(88.48 - 6.41)


def test_table3_rows_are_the_models_ablation_configurations() -> None:
    """The paper's Table 3 keys and flags are the study's one list of ablation models."""
    from marsutils.models import ABLATION_FLAGS, ABLATION_NAMES, MODEL_NAMES
    from marsutils.study import experiments

    t3 = P.table3()
    assert tuple(t3.index) == ABLATION_NAMES == P.ABLATION_KEYS == experiments.ABLATION_MODELS
    assert MODEL_NAMES[: len(ABLATION_NAMES)] == ABLATION_NAMES
    for name, (attention, head) in ABLATION_FLAGS.items():
        assert (t3.loc[name, "attention"], t3.loc[name, "segmentation_head"]) == (attention, head)


def test_table3_last_row_is_the_headline() -> None:
    t3 = P.table3()
    assert list(t3.index) == list(P.ABLATION_KEYS)
    full = t3.loc["full"]
    assert full["accuracy"] == P.HEADLINE["accuracy"].value
    assert full["iou"] == P.HEADLINE["mean_iou"].value
    assert full["f1"] == P.HEADLINE["f1"].value
    assert t3["accuracy"].is_monotonic_increasing


def test_every_value_has_a_source() -> None:
    values = [*P.HEADLINE.values(), *P.EFFICIENCY.values(), *P.BASELINE_IOU.values()]
    values += [*P.ABSTRACT_GAINS.values(), P.DATASET_SIZE, P.TEST_FRACTION]
    assert all(v.source for v in values)
    assert P.EFFICIENCY["latency_ms_low"].value < P.EFFICIENCY["latency_ms_high"].value
