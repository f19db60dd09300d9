"""All measurements in one call, on a tiny CNN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from marsutils.xai.cache import compute_attribution_set
from marsutils.xai.evaluation import evaluate_explanations
from marsutils.xai.methods import AttributionSettings
from marsutils.xai.testing import TinyCNN


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    attributions = compute_attribution_set(
        model, inputs, image_ids=list("abcd"), settings=AttributionSettings(n_steps=8, blur_sigma=3)
    )
    y_true = np.array([attributions.y_pred[0], 0, 1, 2])
    return model, inputs, attributions, y_true


def test_evaluation_tables_and_headline(case):
    model, inputs, attributions, y_true = case
    result = evaluate_explanations(
        model,
        inputs,
        attributions,
        y_true=y_true,
        class_names=["a", "b", "c"],
        deletion_steps=4,
        randomization_stages=2,
        randomization_images=2,
        n_perturb_samples=2,
    )
    assert set(result.consistency["pair"]) == {
        "gradcam~ig_black",
        "gradcam~ig_blur",
        "ig_black~ig_blur",
    }
    assert len(result.consistency) == 3 * 4
    assert set(result.faithfulness.table["method"]) == {"gradcam", "ig_black", "ig_blur", "random"}
    assert result.randomization["image"].nunique() == 2
    assert result.randomization_summary["step"].tolist() == [1, 2]
    assert set(result.infidelity["method"]) == {"gradcam", "ig_black", "ig_blur"}
    assert set(result.sensitivity["method"]) == {"gradcam"}
    assert len(result.completeness) == 2 * 4
    np.testing.assert_allclose(
        result.completeness["delta"],
        np.concatenate([attributions.deltas["ig_black"], attributions.deltas["ig_blur"]]),
    )

    headline = result.headline()
    json.dumps(headline)  # JSON-ready
    assert headline["gradcam~ig_black.iou_top10.chance"] == pytest.approx(0.1 / 1.9)
    assert headline["gradcam.deletion_auc"] == pytest.approx(
        result.faithfulness.summary().set_index("method").loc["gradcam", "deletion_auc_mean"]
    )
    assert "ig_blur.relative_delta_median" in headline and "gradcam.infidelity" in headline
    finite = [v for v in headline.values() if v is not None]
    assert all(math.isfinite(v) for v in finite)


def test_evaluation_can_skip_robustness(case):
    model, inputs, attributions, y_true = case
    result = evaluate_explanations(
        model,
        inputs,
        attributions,
        y_true=y_true,
        deletion_steps=2,
        randomization_methods=(),
        robustness=False,
    )
    assert result.infidelity is None and result.sensitivity is None
    assert result.randomization.empty
    assert not any(k.endswith(("infidelity", "sensitivity")) for k in result.headline())
    with pytest.raises(ValueError, match="inputs has 2 images"):
        evaluate_explanations(model, inputs[:2], attributions, y_true=y_true)


def test_evaluation_records_mismatched_pairs_and_settings(case):
    model, inputs, attributions, y_true = case
    y_pred = np.array(y_true)  # every image counted correct, whatever the model says
    result = evaluate_explanations(
        model,
        inputs,
        attributions,
        y_true=y_true,
        y_pred=y_pred,
        deletion_steps=2,
        randomization_methods=(),
        robustness=False,
        resolution=16,
    )
    assert result.consistency["correct"].all()
    mismatched = result.consistency_mismatched
    assert len(mismatched) == 3 * 4 and (mismatched["image"] != mismatched["partner"]).all()
    assert (result.resolution, result.deletion_steps, result.deletion_baseline) == (16, 2, "blur")
    with pytest.raises(ValueError, match="y_pred has 2 entries"):
        evaluate_explanations(model, inputs, attributions, y_true=y_true, y_pred=[0, 1])
