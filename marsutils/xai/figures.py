"""Figures in the style of the paper's Figures 3 and 4, and plots of the XAI measurements.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot's global state
(so it works with the Agg backend and in threads); the caller saves or displays it.

Display scaling: Grad-CAM maps are already in ``[0, 1]``. IG maps are dominated by a few pixels,
so :func:`display_scale` divides each map by its 99th percentile of ``|value|`` and clips to
``[0, 1]`` (signed maps to ``[-1, 1]``); the scaling only affects the picture.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from marsutils.xai.attribution import IMAGENET_MEAN, IMAGENET_STD
from marsutils.xai.methods import METHOD_LABELS

__all__ = [
    "denormalize",
    "display_scale",
    "draw_explanation",
    "explanation_grid",
    "plot_consistency",
    "plot_faithfulness_curves",
    "select_examples",
]


def denormalize(
    inputs: np.ndarray | object,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """Normalised ``(N, 3, H, W)`` inputs back to grayscale ``(N, H, W)`` images in ``[0, 1]``."""
    values = np.asarray(inputs.detach().cpu() if hasattr(inputs, "detach") else inputs, float)
    if values.ndim != 4 or values.shape[1] != 3:
        raise ValueError(f"inputs must be (N, 3, H, W); got shape {values.shape}")
    pixels = values * np.asarray(std).reshape(1, 3, 1, 1) + np.asarray(mean).reshape(1, 3, 1, 1)
    return pixels.mean(axis=1).clip(0.0, 1.0)


def display_scale(maps: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """Scale each map by its ``percentile`` of ``|value|`` and clip (display only)."""
    values = np.asarray(maps, dtype=float)
    flat = np.abs(values.reshape(values.shape[0], -1))
    scale = np.percentile(flat, percentile, axis=1).reshape(-1, *([1] * (values.ndim - 1)))
    scaled = np.divide(values, scale, out=np.zeros_like(values), where=scale > 0)
    low = -1.0 if (values < 0).any() else 0.0
    return scaled.clip(low, 1.0)


def _as_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(float) / 255.0
    return image.astype(float)


def draw_explanation(
    ax: Axes,
    image: np.ndarray,
    heatmap: np.ndarray | None = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    title: str | None = None,
) -> None:
    """Draw a grayscale ``image`` with ``heatmap`` on top at opacity ``alpha`` (1: map only)."""
    ax.imshow(_as_gray(image), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    if heatmap is not None:
        heat = np.asarray(heatmap, dtype=float)
        low = -1.0 if heat.min() < 0 else 0.0
        ax.imshow(heat, cmap=cmap, vmin=low, vmax=1.0, alpha=alpha, interpolation="bilinear")
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def _label(y: int, class_names: Sequence[str] | None) -> str:
    return class_names[y] if class_names is not None else str(y)


def explanation_grid(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str] | None = None,
    image_ids: Sequence[str] | None = None,
    overlay: Collection[str] = ("gradcam",),
    alpha: float = 0.5,
    panel_size: float = 2.0,
) -> Figure:
    """One row per example: the original, then one panel per method in ``maps``.

    ``images`` are display images ``(N, H, W)`` (``[0, 1]`` floats or uint8; see
    :func:`denormalize`); ``maps[method]`` are ``(N, H, W)``. Methods in ``overlay`` are drawn over
    the image with opacity ``alpha`` (the paper's Grad-CAM style); the others as a heat map alone
    (the paper's IG style), after :func:`display_scale`. The row title gives true/predicted class
    and whether the prediction is correct.
    """
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("no examples to draw")
    for method, values in maps.items():
        if len(values) != n:
            raise ValueError(f"maps[{method!r}] has {len(values)} maps for {n} images")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != n or len(y_pred) != n:
        raise ValueError(f"y_true/y_pred need {n} entries; got {len(y_true)}/{len(y_pred)}")
    cols = 1 + len(maps)
    fig = Figure(figsize=(panel_size * cols, (panel_size + 0.45) * n), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n, cols, squeeze=False))
    scaled = {m: (v if m in overlay else display_scale(v)) for m, v in maps.items()}
    for row in range(n):
        verdict = "correct" if y_true[row] == y_pred[row] else "WRONG"
        name = f"{image_ids[row]}\n" if image_ids is not None else ""
        title = (
            f"{name}true: {_label(int(y_true[row]), class_names)}\n"
            f"pred: {_label(int(y_pred[row]), class_names)} ({verdict})"
        )
        draw_explanation(axes[row, 0], images[row], title=title)
        for col, (method, values) in enumerate(scaled.items(), start=1):
            if method in overlay:
                draw_explanation(axes[row, col], images[row], values[row], alpha=alpha)
            else:
                draw_explanation(axes[row, col], images[row], values[row], alpha=1.0, cmap="magma")
            if row == 0:
                axes[row, col].set_title(METHOD_LABELS.get(method, method), fontsize=9)
    return fig


def select_examples(
    predictions: pd.DataFrame,
    *,
    n_correct: int = 1,
    n_wrong: int = 1,
    classes: Sequence[int] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """For every true class, up to ``n_correct`` correct and ``n_wrong`` misclassified rows.

    ``predictions`` needs ``y_true`` and ``y_pred`` and an identifying ``image`` or ``row``
    column. Rows are drawn at random with ``seed``; a class with too few of a kind gives what it
    has. The result keeps all columns, adds ``correct``, and is ordered by class, correct first.
    """
    missing = {"y_true", "y_pred"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions table lacks column(s) {sorted(missing)}")
    if not {"image", "row"} & set(predictions.columns):
        raise ValueError("predictions table needs an 'image' or 'row' column to identify images")
    table = predictions.assign(correct=predictions["y_true"] == predictions["y_pred"])
    wanted = sorted(table["y_true"].unique()) if classes is None else list(classes)
    rng = np.random.default_rng(seed)
    parts = []
    for cls in wanted:
        of_class = table[table["y_true"] == cls]
        for is_correct, count in ((True, n_correct), (False, n_wrong)):
            pool = of_class[of_class["correct"] == is_correct]
            if count > 0 and len(pool):
                picks = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
                parts.append(pool.iloc[np.sort(picks)])
    if not parts:
        return table.iloc[:0]
    return pd.concat(parts)


def plot_faithfulness_curves(
    curves: Mapping[str, Mapping[str, np.ndarray]],
    fractions: np.ndarray,
    *,
    panel_size: float = 3.2,
) -> Figure:
    """Mean deletion and insertion curves per method with a +-1 standard error band."""
    fig = Figure(figsize=(2 * panel_size + 0.6, panel_size), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, mode in zip(axes, ("deletion", "insertion"), strict=True):
        for method, by_mode in curves.items():
            values = np.asarray(by_mode[mode], dtype=float)
            mean = values.mean(axis=0)
            sem = values.std(axis=0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0 * mean
            style = "--" if method == "random" else "-"
            ax.plot(fractions, mean, style, label=METHOD_LABELS.get(method, method))
            ax.fill_between(fractions, mean - sem, mean + sem, alpha=0.2)
        ax.set_title(f"{mode} (lower AUC is better)" if mode == "deletion" else f"{mode} (higher)")
        ax.set_xlabel("fraction of pixels " + ("removed" if mode == "deletion" else "inserted"))
    axes[0].set_ylabel("probability of target class")
    axes[1].legend(fontsize=8)
    return fig


def plot_consistency(
    summary: pd.DataFrame, *, label: str = "Grad-CAM vs IG", panel_size: float = 3.2
) -> Figure:
    """Top-k IoU of two methods against k, with the chance level, from the overall summary."""
    overall = summary[(summary["group_by"] == "all") & summary["metric"].str.startswith("iou_top")]
    if overall.empty:
        raise ValueError("summary has no overall top-k IoU rows (see summarize_consistency)")
    k = overall["metric"].str.removeprefix("iou_top").astype(float).to_numpy()
    order = np.argsort(k)
    fig = Figure(figsize=(panel_size * 1.3, panel_size), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(
        k[order],
        overall["mean"].to_numpy()[order],
        yerr=overall["sem"].to_numpy()[order],
        marker="o",
        label=label,
    )
    ax.plot(k[order], overall["chance"].to_numpy()[order], "k--", label="chance")
    ax.set_xlabel("top-k % of pixels")
    ax.set_ylabel("IoU of the top-k sets")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    return fig
