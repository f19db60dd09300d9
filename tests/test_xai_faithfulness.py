"""Deletion/insertion, randomisation sanity check, infidelity and sensitivity on toy models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marsutils.xai.faithfulness import (
    curve_auc,
    deletion_insertion,
    perturbation_curves,
    saliency_order,
)
from marsutils.xai.methods import AttributionSettings
from marsutils.xai.robustness import infidelity_scores, sensitivity_scores
from marsutils.xai.sanity import (
    cascading_stages,
    parameterized_modules,
    randomization_check,
    summarize_randomization,
)
from marsutils.xai.testing import LinearPixelModel, TinyCNN

SIZE = 16


@pytest.fixture
def linear_case() -> tuple[LinearPixelModel, torch.Tensor, torch.Tensor]:
    """Class 0's logit depends only on a 4x4 patch; the image is positive everywhere."""
    weight = torch.zeros(SIZE, SIZE)
    weight[2:6, 9:13] = 0.03
    generator = torch.Generator().manual_seed(0)
    inputs = 1.0 + torch.rand(3, 1, SIZE, SIZE, generator=generator).expand(-1, 3, -1, -1)
    true_saliency = (weight * inputs[:, 0]).clone()
    return LinearPixelModel(weight).eval(), inputs.contiguous(), true_saliency


def test_curve_auc_known_values():
    np.testing.assert_allclose(curve_auc(np.ones((1, 5))), 1.0)
    np.testing.assert_allclose(curve_auc(np.linspace(0, 1, 11)[None]), 0.5)
    with pytest.raises(ValueError, match="S >= 2"):
        curve_auc(np.ones((2, 1)))


def test_saliency_order_breaks_ties_at_random_not_in_raster_order():
    flat = torch.zeros(1, 8, 8)
    flat[0, 7, 7] = 1.0
    order = saliency_order(flat, seed=0)[0]
    assert order[0] == 63
    assert not torch.equal(order[1:], torch.arange(63)), "ties must not follow raster order"
    assert torch.equal(order.sort().values, torch.arange(64))


def test_deletion_curve_endpoints(linear_case):
    model, inputs, saliency = linear_case
    zeros = torch.zeros_like(inputs)
    curves = perturbation_curves(model, inputs, saliency, 0, baseline=zeros, steps=8)
    with torch.no_grad():
        start = model(inputs).softmax(1)[:, 0]
    torch.testing.assert_close(curves[:, 0], start)
    torch.testing.assert_close(curves[:, -1], torch.full((3,), 0.5))
    insertion = perturbation_curves(
        model, inputs, saliency, 0, mode="insertion", baseline=zeros, steps=8
    )
    torch.testing.assert_close(insertion[:, 0], torch.full((3,), 0.5))
    torch.testing.assert_close(insertion[:, -1], start)


def test_true_saliency_beats_random_on_deletion_and_insertion(linear_case):
    model, inputs, saliency = linear_case
    result = deletion_insertion(
        model,
        inputs,
        {"true": saliency},
        0,
        baseline=torch.zeros_like(inputs),
        steps=16,
        image_ids=["a", "b", "c"],
    )
    summary = result.summary().set_index("method")
    assert (
        summary.loc["true", "deletion_auc_mean"] < summary.loc["random", "deletion_auc_mean"] - 0.1
    )
    assert (
        summary.loc["true", "insertion_auc_mean"]
        > summary.loc["random", "insertion_auc_mean"] + 0.1
    )
    assert summary.loc["true", "n"] == 3
    assert result.curves["true"]["deletion"].shape == (3, 17)
    assert result.fractions[0] == 0 and result.fractions[-1] == 1
    assert set(result.table["image"]) == {"a", "b", "c"}


def test_deletion_insertion_on_a_cnn_with_named_baselines():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(2, 3, 32, 32)
    maps = {"gradcam": torch.rand(2, 4, 4)}  # coarse maps are resized to the input
    for baseline in ("black", "blur"):
        result = deletion_insertion(model, inputs, maps, baseline=baseline, steps=4, blur_sigma=3)
        assert result.table.shape == (4, 5)
        assert np.isfinite(result.table[["deletion_auc", "insertion_auc"]].to_numpy()).all()
    with pytest.raises(ValueError, match="reserved"):
        deletion_insertion(model, inputs, {"random": maps["gradcam"]}, steps=2)


def test_randomization_check_changes_gradcam_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    table = randomization_check(model, inputs, "gradcam", stages=3, resolution=16)
    assert table["step"].max() == 3
    assert table.groupby("step")["n_modules"].first().tolist() == [2, 3, 4]
    assert table["fraction_params"].max() == pytest.approx(1.0)
    fully_random = table[table["step"] == 3]["spearman"]
    assert fully_random.mean() < 0.8, fully_random.tolist()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])
    summary = summarize_randomization(table)
    assert summary["step"].tolist() == [1, 2, 3]
    assert (summary["n_defined"] + (summary["constant_share"] * 4).round() == 4).all()
    assert summary["spearman_mean"].iloc[-1] == pytest.approx(fully_random.mean())


def test_randomization_check_exposes_a_model_independent_explanation():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(2, 3, 32, 32)

    def edge_detector(_model, x, _target):  # ignores the model entirely
        return (x[:, 0, 1:, :] - x[:, 0, :-1, :]).abs()

    table = randomization_check(model, inputs, edge_detector, stages=2, resolution=None)
    np.testing.assert_allclose(table["spearman"], 1.0)


def test_cascading_stages_top_first_and_by_name():
    model = TinyCNN()
    assert parameterized_modules(model) == ["stem.0", "stem.1", "stage.0", "fc"]
    assert cascading_stages(model, 2) == [["fc", "stage.0"], ["stem.1", "stem.0"]]
    assert cascading_stages(model, ["fc", "stage"]) == [["fc"], ["stage.0"], ["stem.1", "stem.0"]]
    with pytest.raises(ValueError, match="no submodule named 'head'"):
        cascading_stages(model, ["head"])


def test_infidelity_is_zero_for_the_exact_linear_attribution(linear_case):
    model, inputs, _ = linear_case
    exact = model.weight.expand(3, -1, -1)
    random = torch.rand(3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    table = infidelity_scores(model, inputs, {"exact": exact, "random": random}, 0, noise_std=0.1)
    by_method = table.groupby("method")["infidelity"].mean()
    assert by_method["exact"] < 1e-6
    assert by_method["random"] > 100 * max(by_method["exact"], 1e-9)


def test_sensitivity_scores_run_and_are_finite():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(2, 3, 32, 32)
    table = sensitivity_scores(
        model,
        inputs,
        ["gradcam", "ig_black"],
        settings=AttributionSettings(n_steps=4),
        n_perturb_samples=2,
        image_ids=["x", "y"],
    )
    assert table.shape == (4, 3)
    assert np.isfinite(table["sensitivity"]).all() and (table["sensitivity"] > 0).all()


def test_curves_do_not_depend_on_how_points_are_batched():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(3, 3, 8, 8)
    saliency = torch.rand(3, 8, 8)
    targets = torch.tensor([2, 0, 1])
    order = saliency_order(saliency, seed=0)
    base = torch.full_like(inputs, -2.0)
    expected = torch.empty(3, 5)
    with torch.no_grad():
        for i in range(3):
            for j, count in enumerate(torch.round(torch.linspace(0, 64, 5)).long()):
                mask = torch.zeros(64, dtype=torch.bool)
                mask[order[i, :count]] = True
                x = torch.where(mask.reshape(1, 8, 8), base[i], inputs[i])
                expected[i, j] = model(x[None]).softmax(1)[0, targets[i]]
    batched = perturbation_curves(model, inputs, saliency, targets, baseline=base, steps=4)
    torch.testing.assert_close(batched, expected)
    odd = perturbation_curves(
        model, inputs, saliency, targets, baseline=base, steps=4, batch_size=7
    )
    torch.testing.assert_close(odd, expected)
