"""Every plot function returns a figure; save_figure writes PNG and SVG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from marsutils.core.paper import DATASET_CLASSES
from marsutils.figures import plots
from marsutils.stats.compare import compare_many
from marsutils.stats.metrics import evaluate_predictions


@pytest.fixture(scope="module")
def evaluation() -> dict:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 8, 300)
    y_pred = np.where(rng.random(300) < 0.8, y_true, rng.integers(0, 8, 300))
    return evaluate_predictions(y_true, y_pred, class_names=DATASET_CLASSES, n_boot=50)


HISTORY = [
    {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_macro_f1": 0.5 + 0.1 * e,
     "val_accuracy": 0.6 + 0.1 * e, "lr": 1e-3 / e, "epoch_time_s": 30.0 + e,
     "images_per_s": 100.0 - e}
    for e in (1, 2, 3)
]  # fmt: skip


def _axes_with_data(fig: Figure) -> int:
    return sum(bool(ax.lines or ax.patches or ax.collections) for ax in fig.axes)


def test_confusion_matrix_figures(evaluation: dict) -> None:
    raw = plots.plot_confusion_matrix(evaluation["confusion_matrix"], DATASET_CLASSES)
    assert isinstance(raw, Figure) and _axes_with_data(raw) >= 1
    texts = [t.get_text() for t in raw.axes[0].texts]
    assert str(evaluation["confusion_matrix"][0][0]) in texts  # counts are annotated
    pair = plots.plot_confusion_matrices(evaluation, title="test")
    assert isinstance(pair, Figure) and _axes_with_data(pair) >= 2
    with pytest.raises(ValueError, match="class names"):
        plots.plot_confusion_matrix(np.eye(3), ["a", "b"])


def test_per_class_and_comparison_bars(evaluation: dict) -> None:
    fig = plots.plot_per_class_vs_paper(evaluation, metrics=("precision", "recall", "f1"))
    assert len(fig.axes) == 3
    assert len(fig.axes[0].patches) == 2 * 8  # paper and ours per class
    comparison = compare_many({"plain": evaluation, "full": evaluation, "unet": evaluation})
    bars = plots.plot_comparison_bars(comparison)
    assert isinstance(bars, Figure) and len(bars.axes) == 3
    accuracy_axis = bars.axes[0]
    heights = [p.get_height() for p in accuracy_axis.patches]
    assert 88.20 in heights and 92.61 in heights  # Table 3 values drawn
    with pytest.raises(ValueError, match="metrics"):
        plots.plot_per_class_vs_paper(evaluation, metrics=("auc",))


def test_training_curves_from_list_and_file(tmp_path) -> None:
    fig = plots.plot_training_curves(HISTORY)
    assert len([ax for ax in fig.axes if ax.lines]) >= 4  # loss, quality, lr, speed (+ twin)
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"history": HISTORY}))
    assert isinstance(plots.plot_training_curves(path), Figure)
    partial = [{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.4}]
    assert len(plots.plot_training_curves(partial).axes) == 1
    with pytest.raises(ValueError, match="epoch"):
        plots.plot_training_curves([{"train_loss": 0.5}])
    with pytest.raises(ValueError, match="non-empty"):
        plots.plot_training_curves([])


def test_save_figure_writes_png_and_svg(tmp_path, evaluation: dict) -> None:
    fig = plots.plot_confusion_matrices(evaluation)
    png, svg = plots.save_figure(fig, tmp_path / "figs", "confusion")
    assert png.name == "confusion.png" and svg.name == "confusion.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert b"<svg" in svg.read_bytes()[:500] and svg.stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "confusion.png",
        "confusion.svg",
    ]
    with pytest.raises(ValueError, match="stem"):
        plots.save_figure(fig, tmp_path, "confusion.png")


def test_data_chapter_figures_are_built_without_pyplot():
    import matplotlib.pyplot as plt

    from marsutils.figures import dataviz

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 8, 8), dtype=np.uint8)
    labels = np.repeat([0, 1, 2], 4)
    families = np.repeat([0, 1, 2, 3], 3)
    before = plt.get_fignums()
    counts = dataviz.class_count_figure(labels, ("a", "b", "c"))
    grid = dataviz.sample_grid(images, labels, ("a", "b", "c"), per_class=2)
    twins = dataviz.twin_family_figure(images, families, n_families=2)
    assert plt.get_fignums() == before  # none of them is registered with pyplot
    assert all(isinstance(fig, Figure) for fig in (counts, grid, twins))
    assert counts.axes[0].get_title() == "Images per class"
    assert len(grid.axes) == 3 * 2 and len(twins.axes) == 2 * 3
    assert [ax.get_title(loc="left") for ax in grid.axes[::2]] == ["a", "b", "c"]


def test_leakage_table_in_percent():
    from marsutils.data.report import leakage_table

    table = leakage_table([{"split": "random", "test_with_twin_in_train": 0.6111}])
    assert table.loc["random", "test with twin in train (%)"] == 61.1
