"""The explainability chapter's glue: model loading, inputs, tests, the JSON summary, verdicts."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from marsutils.core.profiles import get_profile
from marsutils.models import build_model
from marsutils.study.experiments import plan
from marsutils.study.xai import record, report, verdicts
from marsutils.train.checkpoint import save_checkpoint
from marsutils.xai.cache import compute_attribution_set
from marsutils.xai.evaluation import evaluate_explanations
from marsutils.xai.methods import AttributionSettings
from marsutils.xai.testing import TinyCNN

CLASSES = ["crater", "dune", "other"]


@pytest.fixture(scope="module")
def evaluated():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    attributions = compute_attribution_set(
        model,
        inputs,
        image_ids=[f"img{i}" for i in range(6)],
        settings=AttributionSettings(n_steps=8, blur_sigma=3.0),
    )
    y_true = attributions.y_pred.copy()
    y_true[:2] = (y_true[:2] + 1) % 3  # two mistakes
    evaluation = evaluate_explanations(
        model,
        inputs,
        attributions,
        y_true=y_true,
        class_names=CLASSES,
        deletion_steps=4,
        randomization_stages=2,
        randomization_images=4,
        n_perturb_samples=2,
    )
    tests = record.test_explanations(evaluation, n_boot=200, seed=0)
    return model, inputs, attributions, evaluation, tests


def test_summary_has_the_documented_schema(evaluated):
    _, _, attributions, evaluation, tests = evaluated
    summary = record.build_summary(
        evaluation, tests, attributions, image_size=32, model_key="m@1", profile="smoke", seed=0
    )
    json.loads(json.dumps(summary, allow_nan=False))  # plain JSON, no NaN
    assert summary["schema"] == record.SUMMARY_SCHEMA
    assert summary["n_images"] == 6 and (summary["n_correct"], summary["n_wrong"]) == (4, 2)
    assert summary["ig_steps"] == 8 and summary["image_size"] == 32
    assert summary["deletion_steps"] == 4 and summary["consistency_resolution"] == 32
    for key in (
        "completeness_median_relative_delta",
        "completeness_max_relative_delta",
        "completeness_share_within_tolerance",
    ):
        assert set(summary[key]) == {"black", "blur"}
    median = evaluation.completeness.groupby("method")["relative_delta"].median()
    assert summary["completeness_median_relative_delta"]["black"] == pytest.approx(
        median["ig_black"]
    )
    pairs = {(r["pair"], r["metric"]) for r in summary["consistency"]}
    for pair in ("gradcam~ig_blur", "gradcam~ig_black", "ig_black~ig_blur"):
        assert {(pair, "topk_iou@0.1"), (pair, "spearman")} <= pairs
    for row in summary["consistency"]:
        assert {"mean", "ci_low", "ci_high", "chance", "mismatched", "n", "above_chance"} <= set(
            row
        )
        if row["metric"] == "spearman":
            assert row["chance"] == 0.0
        else:
            k = float(row["metric"].removeprefix("topk_iou@"))
            assert row["chance"] == pytest.approx(k / (2 - k))
        if row["mean"] is not None:
            assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    methods = [r["method"] for r in summary["faithfulness"]]
    assert methods == ["gradcam", "ig_black", "ig_blur", "random"]
    for row in summary["faithfulness"]:
        assert 0 <= row["deletion_auc"] <= 1 and 0 <= row["insertion_auc"] <= 1
    assert summary["faithfulness"][-1]["deletion_vs_random"] is None
    rand = summary["randomization"]
    assert rand["method"] == "gradcam" and 0 <= rand["constant_share"] <= 1
    assert rand["n_images"] == 4
    assert {r["method"] for r in summary["robustness"]} == {"gradcam", "ig_black", "ig_blur"}
    assert summary["bootstrap"] == {"n_boot": 200, "confidence": 0.95, "seed": 0}


def test_randomization_test_counts_constant_maps(evaluated):
    _, _, _, evaluation, _ = evaluated
    table = evaluation.randomization.copy()
    last = table["step"] == table["step"].max()
    table.loc[last, "spearman"] = [0.1, 0.3, np.nan, np.nan]
    table.loc[last, "constant_map"] = [False, False, True, True]
    altered = copy.copy(evaluation)
    object.__setattr__(altered, "randomization", table)
    row = record.test_explanations(altered, n_boot=100).randomization.iloc[0]
    assert row["spearman"] == pytest.approx(0.2)
    assert row["n_defined"] == 2 and row["n_images"] == 4 and row["constant_share"] == 0.5


def summary_with(**changes) -> dict:
    base = {
        "ig_steps": 16,
        "completeness_tolerance": 0.05,
        "completeness_median_relative_delta": {"black": 0.02, "blur": 0.2},
        "completeness_max_relative_delta": {"black": 0.04, "blur": 0.9},
        "completeness_share_within_tolerance": {"black": 1.0, "blur": 0.25},
        "consistency": [],
        "faithfulness": [],
        "randomization": {
            "method": "gradcam",
            "spearman_after_full_randomisation": 0.1,
            "ci_low": 0.0,
            "ci_high": 0.2,
            "constant_share": 0.25,
            "n_images": 8,
            "threshold": 0.5,
        },
    }
    return base | changes


def test_completeness_and_randomization_verdicts():
    text = verdicts.completeness_verdict(summary_with())
    assert "16 path points" in text and "black baseline the median relative error is 2.0%" in text
    assert "100% of the images" in text and "25% of the images are within 5%" in text
    assert "90.0%" not in text  # the largest error, dominated by near-zero gaps, stays out
    assert "passes" in verdicts.randomization_verdict(summary_with())
    failing = summary_with()["randomization"] | {"ci_low": 0.7, "ci_high": 0.9}
    assert "fails" in verdicts.randomization_verdict(summary_with(randomization=failing))
    unclear = summary_with()["randomization"] | {"ci_low": 0.3, "ci_high": 0.7}
    assert "inconclusive" in verdicts.randomization_verdict(summary_with(randomization=unclear))
    constant = summary_with()["randomization"] | {
        "spearman_after_full_randomisation": None,
        "ci_low": None,
        "ci_high": None,
        "constant_share": 1.0,
    }
    assert "100% of the 8" in verdicts.randomization_verdict(summary_with(randomization=constant))
    assert "not run" in verdicts.randomization_verdict(summary_with(randomization=None))


def consistency_row(**changes) -> dict:
    row = {
        "pair": "gradcam~ig_blur",
        "metric": "topk_iou@0.1",
        "mean": 0.2,
        "ci_low": 0.15,
        "ci_high": 0.25,
        "chance": 0.0526,
        "mismatched": 0.1,
        "n": 24,
        "above_chance": True,
    }
    return row | changes


def test_consistency_verdict_follows_the_test():
    text = verdicts.consistency_verdict(consistency_row())
    assert text.startswith("Grad-CAM and IG (blurred baseline) agree more than chance")
    assert "top 10% pixels" in text and "0.20 [0.15, 0.25]" in text
    assert "is above what the two methods share" in text
    shared = verdicts.consistency_verdict(consistency_row(mismatched=0.18))
    assert "is not above what the two methods share" in shared
    below = verdicts.consistency_verdict(
        consistency_row(metric="spearman", mean=0.01, ci_low=-0.1, chance=0.0, above_chance=False)
    )
    assert "do not agree more than chance by the Spearman correlation" in below
    assert "undefined" in verdicts.consistency_verdict(consistency_row(mean=None))


def test_consistency_verdict_judges_the_paired_difference_with_the_controls_interval():
    """With the control's own interval (issue 23, point 9), the sentence judges the paired
    difference to mismatched images, not the agreement's interval against a point value."""
    paired = {"mismatched_ci_low": 0.08, "mismatched_ci_high": 0.12, "vs_mismatched": 0.1}
    above = verdicts.consistency_verdict(
        consistency_row(**paired, vs_mismatched_ci_low=0.02, vs_mismatched_ci_high=0.17)
    )
    assert "reach 0.10 [0.08, 0.12] (paired difference 0.10 [0.02, 0.17]" in above
    assert "is above what the two methods share" in above
    # the agreement's interval [0.15, 0.25] lies above the control's point 0.1, but the paired
    # difference's interval contains 0: not shown above the control
    level = verdicts.consistency_verdict(
        consistency_row(**paired, vs_mismatched_ci_low=-0.01, vs_mismatched_ci_high=0.2)
    )
    assert "is not above what the two methods share" in level


def test_faithfulness_verdict_reads_the_paired_intervals():
    row = {
        "method": "gradcam",
        "deletion_auc": 0.2,
        "insertion_auc": 0.4,
        "deletion_vs_random": -0.05,
        "deletion_vs_random_ci_low": -0.08,
        "deletion_vs_random_ci_high": -0.02,
        "insertion_vs_random": 0.0,
        "insertion_vs_random_ci_low": -0.01,
        "insertion_vs_random_ci_high": 0.02,
    }
    text = verdicts.faithfulness_verdict(row)
    assert "deletion AUC 0.20, better than random" in text
    assert "insertion AUC 0.40, not distinguishable from random" in text
    worse = row | {"insertion_vs_random_ci_low": -0.05, "insertion_vs_random_ci_high": -0.01}
    assert "insertion AUC 0.40, worse than random" in verdicts.faithfulness_verdict(worse)


def test_verdicts_cover_the_headline_pairs(evaluated):
    _, _, attributions, evaluation, tests = evaluated
    summary = record.build_summary(evaluation, tests, attributions, image_size=32)
    sentences = verdicts.verdicts_by_section(summary)
    assert set(sentences) == {
        "completeness",
        "consistency",
        "faithfulness",
        "randomization",
        "other_folds",
    }
    assert sentences["other_folds"] == []  # a hold-out summary: no other fold's model
    assert len(sentences["consistency"]) == 4 and len(sentences["faithfulness"]) == 3
    assert all(isinstance(s, str) and s.endswith(".") for v in sentences.values() for s in v)


def test_tables_for_display(evaluated):
    _, _, attributions, evaluation, _ = evaluated
    breakdown = report.consistency_breakdown(evaluation.consistency_summary, "iou_top10")
    assert list(breakdown.columns) == [
        "gradcam~ig_black",
        "gradcam~ig_blur",
        "ig_black~ig_blur",
        "images",
    ]
    assert breakdown.loc[("outcome", "wrong"), "images"] <= 2
    assert breakdown.index.get_level_values(0).tolist().count("all") == 1
    with pytest.raises(ValueError, match="no 'iou_top50'"):
        report.consistency_breakdown(evaluation.consistency_summary, "iou_top50")

    predictions = pd.DataFrame({"y_true": [0, 0, 1, 2, 2], "y_pred": [0, 1, 1, 2, 0]})
    chosen = predictions.iloc[[0, 1, 3]].assign(correct=[True, False, True])
    overview = report.sample_overview(predictions, chosen, CLASSES)
    assert overview.loc["crater"].tolist() == [2, 1, 1, 1]
    assert overview.loc["dune"].tolist() == [1, 1, 0, 0]

    line = report.describe_attributions(attributions, attributions.y_pred)
    assert "6 of 6" in line and "computed" in line


def test_model_inputs_and_cam_grid():
    images = np.random.default_rng(0).integers(0, 255, (5, 40, 40), dtype=np.uint8)
    x = report.model_inputs(images, [4, 1], 32)
    assert x.shape == (2, 3, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="non-empty"):
        report.model_inputs(images, [], 32)
    assert report.cam_grid_size(TinyCNN(), 32) == (16, 16)


def test_load_explained_model_finds_the_training_run(tmp_path):
    profile = get_profile("smoke")
    spec = next(s for s in plan(profile, "training") if s.split_kind == "family")
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        report.load_explained_model(profile, tmp_path)
    model = build_model(spec.model, num_classes=8, backbone=spec.backbone, weights="none")
    folder = tmp_path / "experiments" / spec.key
    save_checkpoint(folder / "best_model.pt", {"model": model.state_dict()})
    with pytest.raises(FileNotFoundError, match="02_training"):
        report.load_explained_model(profile, tmp_path)
    pd.DataFrame({"image": ["a.jpg"], "row": [0], "y_true": [1], "y_pred": [1]}).to_csv(
        folder / "predictions_test.csv", index=False
    )
    explained = report.load_explained_model(profile, tmp_path)
    assert explained.spec == spec and not explained.model.training
    assert explained.model_key.startswith(f"{spec.key}@") and len(explained.model_key) > len(
        spec.key
    )
    assert explained.checkpoint_sha256 == report.file_sha256(folder / "best_model.pt")
    assert explained.predictions["image"].tolist() == ["a.jpg"]
    with pytest.raises(ValueError, match="no model"):
        report.load_explained_model(profile, tmp_path, split="official")


def test_explanations_tested_over_twin_families(evaluated):
    _, _, attributions, evaluation, _ = evaluated
    families = {f"img{i}": i // 2 for i in range(6)}  # three families of two images
    tests = record.test_explanations(evaluation, n_boot=100, seed=0, groups=families)
    defined = tests.consistency.dropna(subset=["mean"])
    assert (defined["n_families"] <= 3).all() and (defined["n_families"] >= 1).all()
    assert (tests.faithfulness["n_families"] == 3).all()
    summary = record.build_summary(evaluation, tests, attributions, image_size=32)
    json.loads(json.dumps(summary, allow_nan=False))
    with pytest.raises(ValueError, match="no twin family"):
        record.test_explanations(evaluation, n_boot=100, groups={"img0": 0})
