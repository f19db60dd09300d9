"""The XAI explorer, driven from code, and its static gallery."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from marsutils.book.widgets import XAIExplorer, explore, gallery, on_demand, should_show_widget
from marsutils.xai.cache import compute_attribution_set
from marsutils.xai.methods import AttributionSettings
from marsutils.xai.testing import TinyCNN

CLASSES = ["crater", "dune", "other"]


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    model = TinyCNN(num_classes=3).eval()
    inputs = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    settings = AttributionSettings(n_steps=4, blur_sigma=3.0)
    # a fixed prediction table: maps explain these classes; images 1 and 3 are misclassified
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    y_true = np.array([0, 1, 1, 0, 2, 2])
    computed = compute_attribution_set(
        model, inputs, image_ids=[f"img{i}" for i in range(6)], targets=y_pred, settings=settings
    )
    attributions = dataclasses.replace(computed, y_pred=y_pred)
    images = inputs[:, 0].numpy()
    images = (images - images.min()) / (images.max() - images.min())
    return model, inputs, settings, attributions, y_true, images


def test_every_control_rerenders(case):
    _, _, _, attributions, y_true, images = case
    explorer = explore(images, attributions, y_true=y_true, class_names=CLASSES)
    shown = [bytes(explorer.image.value)]
    assert shown[0].startswith(b"\x89PNG")

    explorer.opacity.value = 0.9
    shown.append(bytes(explorer.image.value))
    explorer.method_select.value = "ig_black"
    shown.append(bytes(explorer.image.value))
    explorer.method_select.value = "ig_blur"
    shown.append(bytes(explorer.image.value))
    explorer.image_select.value = explorer.image_select.options[1][1]
    shown.append(bytes(explorer.image.value))
    assert len(set(shown)) == len(shown), "each change must change the picture"
    assert explorer.target_select.value == int(attributions.targets[1])


def test_filters_restrict_the_image_choices(case):
    _, _, _, attributions, y_true, images = case
    explorer = XAIExplorer(images, attributions, y_true=y_true, class_names=CLASSES)

    def choices() -> list[int]:
        return [value for _, value in explorer.image_select.options]

    assert choices() == [0, 1, 2, 3, 4, 5]
    explorer.outcome_filter.value = "wrong"
    assert choices() == [1, 3]
    assert explorer.image_select.options[0][0] == "img1 (dune → crater)"
    explorer.outcome_filter.value = "correct"
    assert choices() == [0, 2, 4, 5]
    explorer.class_filter.value = 2
    assert choices() == [4, 5]
    assert explorer.target_select.value == 2
    before = bytes(explorer.image.value)
    explorer.outcome_filter.value = "wrong"  # no image of class "other" is misclassified
    assert choices() == []
    assert "No image matches" in explorer.status.value
    assert bytes(explorer.image.value) != before


def test_other_target_uses_compute_and_memoises(case):
    model, inputs, settings, attributions, y_true, images = case
    calls = []
    compute = on_demand(model, inputs, settings)

    def counting(index, target, method):
        calls.append((index, target, method))
        return compute(index, target, method)

    explorer = XAIExplorer(images, attributions, y_true=y_true, class_names=CLASSES)
    cached_png = bytes(explorer.image.value)
    other = (int(attributions.targets[0]) + 1) % 3
    explorer.target_select.value = other
    assert "No cached" in explorer.status.value  # no compute callable: says so
    assert bytes(explorer.image.value) != cached_png

    explorer = XAIExplorer(
        images, attributions, y_true=y_true, class_names=CLASSES, compute=counting
    )
    explorer.target_select.value = other
    assert calls == [(0, other, "gradcam")] and explorer.status.value == ""
    heat = explorer.heatmap(0, other, "gradcam")
    assert heat.shape == (32, 32) and heat.max() == pytest.approx(1.0)
    explorer.opacity.value = 0.2
    assert len(calls) == 1, "a computed map is memoised"


def test_explorer_checks_lengths(case):
    _, _, _, attributions, y_true, images = case
    with pytest.raises(ValueError, match="same length"):
        XAIExplorer(images[:2], attributions, y_true=y_true, class_names=CLASSES)


def test_gallery_is_a_static_figure(case):
    _, _, _, attributions, y_true, images = case
    fig = gallery(images, attributions, y_true=y_true, class_names=CLASSES, n_correct=1, n_wrong=1)
    assert isinstance(fig, Figure)
    rows = len(fig.axes) // 4
    titles = [fig.axes[4 * r].get_title() for r in range(rows)]
    assert any("WRONG" in t for t in titles) and any("(correct)" in t for t in titles)


def test_gallery_adds_the_true_class_map_from_compute(case):
    model, inputs, settings, attributions, y_true, images = case
    calls = []
    compute = on_demand(model, inputs, settings)

    def counting(index: int, target: int, method: str) -> np.ndarray:
        calls.append((index, target, method))
        return compute(index, target, method)

    fig = gallery(
        images, attributions, y_true=y_true, class_names=CLASSES, compute=counting, n_wrong=2
    )
    assert fig.axes[4].get_title() == "Grad-CAM for the true class"
    # only the misclassified images (1 and 3) need a map for another class
    assert sorted(calls) == [(1, 1, "gradcam"), (3, 0, "gradcam")]
    with pytest.raises(ValueError, match="contrast_method"):
        gallery(
            images,
            attributions,
            y_true=y_true,
            class_names=CLASSES,
            compute=counting,
            contrast_method="lime",
        )


@pytest.mark.parametrize(
    ("interactive", "run_dir", "expected"),
    [
        (None, None, True),  # opened by hand: the widget
        (None, "/runs/quick", False),  # papermill in the book build: the gallery
        (True, "/runs/quick", True),
        (False, None, False),
        ("true", "/runs/quick", True),  # papermill -p interactive true
        ("False", None, False),
    ],
)
def test_should_show_widget(interactive, run_dir, expected):
    assert should_show_widget(interactive, run_dir) is expected


def test_should_show_widget_rejects_nonsense():
    with pytest.raises(ValueError, match="interactive must be"):
        should_show_widget("maybe", None)
    with pytest.raises(ValueError, match="interactive must be"):
        should_show_widget(1, None)
