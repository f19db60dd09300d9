"""Grad-CAM and Integrated Gradients on a tiny CNN."""

from __future__ import annotations

import pytest
import torch

from marsutils.xai.attribution import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    black_baseline,
    blur_baseline,
    grad_cam,
    integrated_gradients,
    normalize_per_image,
    reduce_attributions,
)
from marsutils.xai.methods import AttributionSettings, explain
from marsutils.xai.testing import TinyCNN


@pytest.fixture
def model() -> TinyCNN:
    torch.manual_seed(0)
    return TinyCNN(num_classes=3).eval()


@pytest.fixture
def inputs() -> torch.Tensor:
    gray = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (gray.expand(-1, 3, -1, -1) - mean) / std


def test_grad_cam_shape_range_and_mode_restored(model, inputs):
    model.train()
    maps = grad_cam(model, inputs, target=[0, 1, 2, 0])
    assert model.training, "grad_cam must restore the caller's train/eval mode"
    assert maps.shape == (4, 32, 32)
    assert torch.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    for single in maps:
        if single.max() > single.min():
            assert single.max() == pytest.approx(1.0) and single.min() == pytest.approx(0.0)


def test_grad_cam_depends_on_target_and_accepts_layer_names(model, inputs):
    by_default = grad_cam(model, inputs, target=0)
    by_name = grad_cam(model, inputs, target=0, layer="stage")
    torch.testing.assert_close(by_default, by_name)
    other_class = grad_cam(model, inputs, target=1)
    assert not torch.allclose(by_default, other_class)
    earlier = grad_cam(model, inputs, target=0, layer="stem")
    assert earlier.shape == (4, 32, 32) and not torch.allclose(earlier, by_default)


def test_grad_cam_rejects_bad_layer_and_inputs(model, inputs):
    with pytest.raises(ValueError, match="no submodule named 'nope'"):
        grad_cam(model, inputs, layer="nope")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        grad_cam(model, inputs[:, :1])
    with pytest.raises(ValueError, match="not a submodule"):
        grad_cam(model, inputs, layer=torch.nn.Conv2d(8, 8, 1))


def test_normalize_per_image_handles_constant_maps():
    maps = torch.stack([torch.full((5, 5), 3.0), torch.arange(25.0).reshape(5, 5)])
    out = normalize_per_image(maps)
    assert torch.equal(out[0], torch.zeros(5, 5))
    assert out[1].min() == 0 and out[1].max() == 1
    assert not torch.isnan(out).any()


def test_black_baseline_is_black_after_denormalising(inputs):
    base = black_baseline(inputs)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    torch.testing.assert_close(base * std + mean, torch.zeros_like(inputs))
    assert (base < -1.7).all(), "black is far below zero in ImageNet-normalised space"


def test_blur_baseline_smooths_and_keeps_the_mean(inputs):
    blurred = blur_baseline(inputs, sigma=3.0)
    assert blurred.shape == inputs.shape
    assert blurred.var() < 0.2 * inputs.var()
    assert blurred.mean() == pytest.approx(inputs.mean().item(), abs=0.05)
    with pytest.raises(ValueError, match="sigma"):
        blur_baseline(inputs, sigma=0.0)
    # a sigma larger than the image is capped, not an error
    assert blur_baseline(inputs, sigma=100.0).shape == inputs.shape


@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_integrated_gradients_completeness(model, inputs, baseline):
    target = torch.tensor([0, 1, 2, 1])
    result = integrated_gradients(
        model, inputs, target, baseline=baseline, n_steps=64, blur_sigma=4.0, reduce="signed"
    )
    assert result.maps.shape == (4, 32, 32)
    # completeness checked independently of captum's delta: sum of attributions = f(x) - f(b)
    base = black_baseline(inputs) if baseline == "black" else blur_baseline(inputs, sigma=4.0)
    with torch.no_grad():
        gap = (
            model(inputs).gather(1, target[:, None])[:, 0]
            - model(base).gather(1, target[:, None])[:, 0]
        )
    total = result.attributions.sum(dim=(1, 2, 3))
    torch.testing.assert_close(total - gap, result.delta, atol=1e-4, rtol=1e-3)
    assert (result.relative_delta < 1e-2).all(), result.relative_delta
    torch.testing.assert_close(result.maps.sum(dim=(1, 2)), total, atol=1e-4, rtol=1e-4)


def test_convergence_delta_flags_too_few_steps(model, inputs):
    coarse = integrated_gradients(model, inputs, 0, n_steps=1)
    fine = integrated_gradients(model, inputs, 0, n_steps=64)
    assert coarse.delta.abs().mean() > 5 * fine.delta.abs().mean()


def test_reduce_attributions():
    attributions = torch.tensor([[[[1.0, -3.0]], [[1.0, 1.0]], [[-0.5, 0.0]]]])
    torch.testing.assert_close(
        reduce_attributions(attributions, "signed"), torch.tensor([[[1.5, -2.0]]])
    )
    torch.testing.assert_close(
        reduce_attributions(attributions, "abs"), torch.tensor([[[1.5, 2.0]]])
    )
    torch.testing.assert_close(
        reduce_attributions(attributions, "positive"), torch.tensor([[[1.5, 0.0]]])
    )
    with pytest.raises(ValueError, match="unknown reduction"):
        reduce_attributions(attributions, "square")


def test_explain_dispatch_and_settings_validation(model, inputs):
    settings = AttributionSettings(n_steps=8, ig_reduce="positive")
    ig = explain(model, inputs, 0, "ig_black", settings)
    signed = explain(model, inputs, 0, "ig_black", settings, reduced=False)
    torch.testing.assert_close(ig, signed.clamp_min(0))
    assert (signed < 0).any()
    with pytest.raises(ValueError, match="unknown method"):
        explain(model, inputs, 0, "lime", settings)
    with pytest.raises(ValueError, match="unknown or no method"):
        AttributionSettings(methods=("gradcam", "shap"))
    with pytest.raises(ValueError, match="ig_reduce"):
        AttributionSettings(ig_reduce="max")


def test_target_forms(model, inputs):
    import numpy as np

    from marsutils.xai.attribution import resolve_target

    with torch.no_grad():
        predicted = model(inputs).argmax(1)
    torch.testing.assert_close(resolve_target(model, inputs), predicted)
    for single in (2, np.int64(2), torch.tensor(2), [2]):
        torch.testing.assert_close(resolve_target(model, inputs, single), torch.full((4,), 2))
    torch.testing.assert_close(
        resolve_target(model, inputs, np.array([0, 1, 2, 0])), torch.tensor([0, 1, 2, 0])
    )
    with pytest.raises(ValueError, match="2 entries for a batch of 4"):
        resolve_target(model, inputs, [0, 1])
