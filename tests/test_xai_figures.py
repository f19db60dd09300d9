"""Figures: explanation grids, example selection, curve and consistency plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from marsutils.figures.xai import (
    class_examples_figure,
    display_scale,
    explanation_grid,
    plot_consistency,
    plot_consistency_tests,
    plot_faithfulness_curves,
    plot_randomization,
)
from marsutils.xai.attribution import IMAGENET_MEAN, IMAGENET_STD, denormalize
from marsutils.xai.consistency import consistency_table, summarize_consistency
from marsutils.xai.selection import select_images

CLASSES = ["crater", "dune", "other"]


def test_denormalize_recovers_the_grayscale_image():
    gray = torch.rand(2, 1, 8, 8)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    normalised = (gray.expand(-1, 3, -1, -1) - mean) / std
    np.testing.assert_allclose(denormalize(normalised), gray[:, 0].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        denormalize(np.zeros((2, 8, 8)))


def test_display_scale_clips_at_the_percentile_and_keeps_zeros():
    maps = np.zeros((2, 10, 10))
    maps[0] = np.arange(100).reshape(10, 10)
    out = display_scale(maps, percentile=50)
    assert out[0].max() == 1.0 and (out[0] >= 0).all()
    assert (out[0] == 1.0).sum() >= 50
    np.testing.assert_array_equal(out[1], 0.0)


def test_explanation_grid_layout_and_titles():
    rng = np.random.default_rng(0)
    images = rng.random((3, 16, 16))
    maps = {"gradcam": rng.random((3, 16, 16)), "ig_black": rng.normal(size=(3, 16, 16))}
    fig = explanation_grid(
        images, maps, y_true=[0, 1, 2], y_pred=[0, 2, 2], class_names=CLASSES, image_ids=list("abc")
    )
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 9
    titles = [ax.get_title() for ax in fig.axes]
    assert "true: dune\npred: other (WRONG)" in titles[3]
    assert "(correct)" in titles[0] and titles[0].startswith("a\n")
    assert titles[1] == "Grad-CAM" and titles[2] == "IG (black baseline)"
    # the Grad-CAM column is an overlay (image + heat map), the IG column a map over the image
    assert len(fig.axes[1].images) == 2
    fig.savefig(__import__("io").BytesIO(), format="png")
    with pytest.raises(ValueError, match="3 maps for 2 images"):
        explanation_grid(images[:2], maps, y_true=[0, 1], y_pred=[0, 1])


def test_select_images_per_class_correct_and_wrong():
    predictions = pd.DataFrame(
        {
            "image": [f"i{k}" for k in range(9)],
            "y_true": [0, 0, 0, 1, 1, 1, 2, 2, 2],
            "y_pred": [0, 0, 1, 1, 1, 1, 0, 1, 2],
        }
    )
    picked = select_images(predictions, n_correct=1, n_wrong=1, seed=0)
    counts = picked.groupby(["y_true", "correct"]).size().to_dict()
    assert counts == {(0, True): 1, (0, False): 1, (1, True): 1, (2, True): 1, (2, False): 1}
    assert picked["y_true"].is_monotonic_increasing
    two = select_images(predictions, n_correct=5, n_wrong=0, classes=[1])
    assert two["image"].tolist() == ["i3", "i4", "i5"]
    # identified by position alone, as the figures do
    by_row = select_images(
        predictions.drop(columns="image").assign(row=range(9)), n_correct=1, n_wrong=1, seed=0
    )
    assert by_row["row"].tolist() == [int(i[1:]) for i in picked["image"]]
    with pytest.raises(ValueError, match="y_pred"):
        select_images(predictions.drop(columns="y_pred"), n_correct=1)
    with pytest.raises(ValueError, match="'image' or 'row'"):
        select_images(predictions.drop(columns="image"), n_correct=1)
    with pytest.raises(ValueError, match="either n_images"):
        select_images(predictions, 3, n_correct=1)
    with pytest.raises(ValueError, match="either n_images"):
        select_images(predictions)
    with pytest.raises(ValueError, match=">= 0"):
        select_images(predictions, n_wrong=-1)


def test_both_modes_draw_from_the_same_per_class_order():
    """The per-class examples of a seed are the first draws of the budget sample's classes."""
    predictions = pd.DataFrame(
        {
            "image": [f"i{k:02d}" for k in range(40)],
            "y_true": [k % 4 for k in range(40)],
            "y_pred": [k % 4 if k % 3 else (k + 1) % 4 for k in range(40)],
        }
    )
    for seed in range(4):
        budget = select_images(predictions, 8, seed=seed)  # 2 per class, one of each kind
        examples = select_images(predictions, n_correct=1, n_wrong=1, seed=seed)
        assert set(budget["image"]) == set(examples["image"])


def test_plots_return_figures():
    curves = {
        "gradcam": {"deletion": np.random.rand(4, 5), "insertion": np.random.rand(4, 5)},
        "random": {"deletion": np.random.rand(4, 5), "insertion": np.random.rand(4, 5)},
    }
    fig = plot_faithfulness_curves(curves, np.linspace(0, 1, 5))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2

    maps = torch.rand(4, 8, 8)
    table = consistency_table(maps, maps.flip(-1), y_true=[0, 1, 0, 1], y_pred=[0, 1, 1, 1])
    fig = plot_consistency(summarize_consistency(table))
    assert isinstance(fig, Figure)
    chance_line = fig.axes[0].lines[-1]
    np.testing.assert_allclose(chance_line.get_ydata(), [0.05 / 1.95, 0.1 / 1.9, 0.2 / 1.8])


def test_class_examples_figure_has_a_column_per_class_and_marks_gaps():
    images = np.random.rand(5, 8, 8)
    maps = {"gradcam": np.random.rand(5, 8, 8), "ig_blur": np.random.randn(5, 8, 8)}
    y_true = np.array([0, 0, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0])  # class 1 has no mistake
    fig = class_examples_figure(images, maps, y_true=y_true, y_pred=y_pred, class_names=CLASSES)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 2 * 3
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["no misclassified\nexample"]
    assert fig.axes[0].get_title() == "crater\ncorrect"
    labels = [ax.get_ylabel() for ax in fig.axes[::3]]
    assert labels == [
        "correct\nimage",
        "Grad-CAM",
        "IG (blurred baseline)",
        "misclassified\nimage",
        "Grad-CAM",
        "IG (blurred baseline)",
    ]
    with pytest.raises(ValueError, match="maps"):
        class_examples_figure(
            images,
            {"gradcam": maps["gradcam"][:2]},
            y_true=y_true,
            y_pred=y_pred,
            class_names=CLASSES,
        )


def test_randomization_and_consistency_test_plots():
    summary = pd.DataFrame(
        {
            "step": [1, 2],
            "fraction_params": [0.5, 1.0],
            "spearman_mean": [0.6, 0.1],
            "spearman_sem": [0.05, np.nan],
            "constant_share": [0.0, 0.25],
            "method": "gradcam",
        }
    )
    fig = plot_randomization(summary)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.6, 0.1])
    with pytest.raises(ValueError, match="empty"):
        plot_randomization(summary.iloc[:0])

    rows = []
    for pair in ("gradcam~ig_blur", "gradcam~ig_black"):
        for metric, mean in (("topk_iou@0.05", 0.1), ("topk_iou@0.1", 0.2), ("spearman", 0.4)):
            chance = 0.0 if metric == "spearman" else float(metric[9:]) / (2 - float(metric[9:]))
            rows.append(
                {
                    "pair": pair,
                    "metric": metric,
                    "mean": mean,
                    "ci_low": mean - 0.05,
                    "ci_high": mean + 0.05,
                    "chance": chance,
                    "mismatched": mean / 2,
                }
            )
    fig = plot_consistency_tests(pd.DataFrame(rows))
    left, right = fig.axes
    chance_line = left.lines[-1]
    np.testing.assert_allclose(chance_line.get_ydata(), [0.05 / 1.95, 0.1 / 1.9])
    assert right.get_xticklabels()[0].get_text().startswith("Grad-CAM")
