"""Verdicts follow the stated rules, from the result files a run writes."""

from __future__ import annotations

import numpy as np

from marsutils.atomic import write_json
from marsutils.experiments import plan
from marsutils.findings import FAILS, HOLDS, NOT_RUN, UNTESTABLE, evaluate_claims
from marsutils.metrics import evaluate_predictions
from marsutils.profiles import get_profile

CLASSES = [
    "other", "crater", "dark dune", "slope streak", "bright dune", "impact ejecta",
    "swiss cheese", "spider",
]  # fmt: skip


def _metrics(accuracy: float, seed: int = 0, hard_classes: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    y = np.arange(2000) % 8
    wrong = rng.random(2000) > accuracy
    # errors concentrated on impact ejecta and slope streak make those the lowest F1
    if hard_classes:
        wrong |= np.isin(y, [3, 5]) & (rng.random(2000) < 0.5)
    pred = np.where(wrong, (y + 1) % 8, y)
    return evaluate_predictions(y, pred, class_names=CLASSES, n_boot=200, random_state=seed)


def _write_main(run_dir, profile, accuracies, *, single_view_only=False):
    """Main-model metrics; with the profile's TTA views too unless ``single_view_only``."""
    for spec in plan(profile, "training"):
        metrics = _metrics(accuracies[spec.split], hard_classes=spec.split == "family")
        write_json(run_dir / "experiments" / spec.key / "metrics.json", metrics)
        if profile.tta_views > 1 and not single_view_only:
            name = f"metrics_tta{profile.tta_views}.json"
            write_json(run_dir / "experiments" / spec.key / name, metrics)


def test_a_tta_profile_reads_the_tta_metrics(tmp_path):
    profile = get_profile("smoke", tta_views=4)
    _write_main(tmp_path, profile, {"family": 0.80, "paper": 0.99}, single_view_only=True)
    claims = evaluate_claims(tmp_path, profile)
    accuracy = claims[claims["claim"] == "accuracy 92.61"]
    assert len(accuracy) == 2 and set(accuracy["verdict"]) == {"not run"}
    _write_main(tmp_path, profile, {"family": 0.80, "paper": 0.99})
    claims = evaluate_claims(tmp_path, profile)
    accuracy = claims[claims["claim"] == "accuracy 92.61"]
    assert set(accuracy["verdict"]) == {"holds", "does not hold"}


def test_value_claims_and_split_gap(tmp_path):
    profile = get_profile("smoke")
    _write_main(tmp_path, profile, {"family": 0.80, "paper": 0.99})
    claims = evaluate_claims(tmp_path, profile).set_index(["claim", "test"])
    fam = claims.loc[("accuracy 92.61", "full model, family split")]
    pap = claims.loc[("accuracy 92.61", "full model, paper split")]
    assert fam["verdict"] == FAILS and "below" in fam["why"]
    assert pap["verdict"] == HOLDS
    gap = claims.xs("(ours) a random split overstates accuracy", level="claim").iloc[0]
    assert gap["verdict"] == HOLDS
    iou = claims.xs("mean IoU 84.7 of the segmentation", level="claim").iloc[0]
    assert iou["verdict"] == UNTESTABLE
    lowest = claims.xs("impact ejecta and slope streak score lowest", level="claim").iloc[0]
    assert lowest["verdict"] == HOLDS


def test_missing_chapters_are_not_run(tmp_path):
    claims = evaluate_claims(tmp_path, get_profile("smoke"))
    assert (claims["verdict"] == NOT_RUN).sum() >= 6


def _test_row(a, b, diff, lo, hi):
    return {"a": a, "b": b, "metric": "macro_f1", "a minus b (points)": diff,
            "95% CI low": lo, "95% CI high": hi, "a better (CI above 0)": lo > 0,
            "b better (CI below 0)": hi < 0, "p(a not better)": 0.5}  # fmt: skip


def test_comparative_claims(tmp_path):
    results = tmp_path / "results"
    write_json(results / "baseline_tests.json", [
        _test_row("full", "unet", 3.0, 1.0, 5.0),
        _test_row("full", "deeplabv3plus", 0.5, -1.0, 2.0),
    ])  # fmt: skip
    write_json(results / "ablation_tests.json", [
        _test_row("head (family)", "plain (family)", -2.0, -3.0, -1.0),
        _test_row("full (family)", "attention (family)", 1.0, 0.5, 1.5),
        _test_row("attention (family)", "plain (family)", 1.0, 0.2, 2.0),
        _test_row("full (family)", "head (family)", 1.0, 0.1, 2.0),
    ])  # fmt: skip
    claims = evaluate_claims(tmp_path, get_profile("smoke")).set_index("claim")
    assert claims.loc["beats U-Net", "verdict"] == HOLDS
    assert claims.loc["beats DeepLabV3+", "verdict"] == FAILS
    assert "includes zero" in claims.loc["beats DeepLabV3+", "why"]
    assert claims.loc["the segmentation head helps", "verdict"] == FAILS
    assert "other model is better" in claims.loc["the segmentation head helps", "why"]
    assert claims.loc["attention helps", "verdict"] == HOLDS


def test_xai_and_efficiency_claims(tmp_path):
    results = tmp_path / "results"
    write_json(results / "xai_summary.json", {"consistency": [
        {"pair": "gradcam~ig_blur", "metric": "topk_iou@0.1", "mean": 0.2, "ci_low": 0.15,
         "ci_high": 0.25, "chance": 0.053},
        {"pair": "gradcam~ig_black", "metric": "topk_iou@0.1", "mean": 0.06, "ci_low": 0.04,
         "ci_high": 0.08, "chance": 0.053},
    ]})  # fmt: skip
    write_json(results / "efficiency.json", [
        {"backbone": "resnet50", "model": "full", "params": 25.3e6, "gmacs": 4.14,
         "latency_ms_optimised": 76.0},
        {"backbone": "efficientnet_lite0", "model": "full", "params": 4.5e6, "gmacs": 0.43,
         "latency_ms_optimised": 15.0},
    ])  # fmt: skip
    claims = evaluate_claims(tmp_path, get_profile("smoke")).set_index("claim")
    assert claims.loc["Grad-CAM and IG highlight the same regions", "verdict"] == FAILS
    assert claims.loc["~25M parameters and ~4 GFLOPs at 224", "verdict"] == HOLDS
    assert claims.loc["25-30 ms per image", "verdict"] == UNTESTABLE
