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

from marsutils.xai.methods import METHOD_LABELS
from marsutils.xai.selection import select_images

__all__ = [
    "class_examples_figure",
    "display_scale",
    "draw_explanation",
    "explanation_panel",
    "explanation_grid",
    "plot_consistency",
    "plot_consistency_tests",
    "plot_faithfulness_curves",
    "plot_randomization",
]


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


def explanation_panel(
    image: np.ndarray | None,
    heatmap: np.ndarray | None = None,
    *,
    alpha: float = 0.5,
    title: str | None = None,
    panel_size: float = 4.0,
    empty_text: str = "no image matches the filters",
) -> Figure:
    """One image with its heat map (:func:`draw_explanation`) as a figure of its own.

    ``image`` is ``(H, W)`` (``[0, 1]`` floats or uint8), ``heatmap`` ``(H, W)`` or None (the image
    alone); ``panel_size`` is the width in inches. With ``image=None`` the panel shows
    ``empty_text`` instead (the live explorer's empty selection).
    """
    fig = Figure(figsize=(panel_size, panel_size + 0.5), layout="constrained")
    ax = fig.subplots()
    if image is None:
        ax.text(0.5, 0.5, empty_text, ha="center", va="center")
        ax.set_axis_off()
        return fig
    draw_explanation(ax, image, heatmap, alpha=alpha, title=title)
    return fig


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
    :func:`marsutils.xai.attribution.denormalize`); ``maps[method]`` are ``(N, H, W)``. Methods in
    ``overlay`` are drawn over the image with opacity ``alpha`` (the paper's Grad-CAM style); the
    others as a heat map alone (the paper's IG style), after :func:`display_scale`. The row title
    gives true/predicted class and whether the prediction is correct.
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


def class_examples_figure(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    overlay: Collection[str] = ("gradcam",),
    alpha: float = 0.5,
    seed: int = 0,
    panel_size: float = 1.6,
) -> Figure:
    """One column per class: a correct and a misclassified example, each with its maps.

    The rows are: the correct example, its map for every method in ``maps``, then the same for a
    misclassified example of that class (true class = the column). The examples are drawn with
    :func:`~marsutils.xai.selection.select_images` (``seed``); a class with no example of a kind
    shows an empty panel saying so. Methods in ``overlay`` are drawn over the image at opacity
    ``alpha`` (the paper's Figure 3 style), the others as a heat map alone after
    :func:`display_scale` (its Figure 4).
    """
    images = np.asarray(images)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(images)
    if len(y_true) != n or len(y_pred) != n:
        raise ValueError(f"y_true/y_pred need {n} entries; got {len(y_true)}/{len(y_pred)}")
    for method, values in maps.items():
        if len(values) != n:
            raise ValueError(f"maps[{method!r}] has {len(values)} maps for {n} images")
    table = pd.DataFrame({"row": np.arange(n), "y_true": y_true, "y_pred": y_pred})
    picked = select_images(table, n_correct=1, n_wrong=1, seed=seed)
    classes = sorted(set(y_true.tolist()))
    methods = list(maps)
    per_outcome = 1 + len(methods)
    fig = Figure(
        figsize=(panel_size * len(classes), (panel_size + 0.15) * 2 * per_outcome + 0.4),
        layout="constrained",
    )
    axes = fig.subplots(2 * per_outcome, len(classes), squeeze=False)
    scaled = {m: (v if m in overlay else display_scale(v)) for m, v in maps.items()}
    for col, cls in enumerate(classes):
        for block, correct in enumerate((True, False)):
            top = block * per_outcome
            match = picked[(picked["y_true"] == cls) & (picked["correct"] == correct)]
            if match.empty:
                for ax in axes[top : top + per_outcome, col]:
                    ax.set_axis_off()
                kind = "correct" if correct else "misclassified"
                axes[top, col].text(
                    0.5, 0.5, f"no {kind}\nexample", ha="center", va="center", fontsize=7
                )
                continue
            row = int(match["row"].iat[0])
            verdict = "correct" if correct else f"→ {_label(int(y_pred[row]), class_names)}"
            draw_explanation(axes[top, col], images[row], title=verdict)
            for offset, method in enumerate(methods, start=1):
                if method in overlay:
                    heat, opacity, cmap = scaled[method][row], alpha, "jet"
                else:
                    heat, opacity, cmap = scaled[method][row], 1.0, "magma"
                draw_explanation(
                    axes[top + offset, col], images[row], heat, alpha=opacity, cmap=cmap
                )
        axes[0, col].set_title(f"{_label(cls, class_names)}\ncorrect", fontsize=8)
    for block, outcome in enumerate(("correct", "misclassified")):
        for offset, name in enumerate(["image", *[METHOD_LABELS.get(m, m) for m in methods]]):
            ax = axes[block * per_outcome + offset, 0]
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_ylabel(f"{outcome}\n{name}" if offset == 0 else name, fontsize=7)
    return fig


def plot_randomization(summary: pd.DataFrame, *, panel_size: float = 3.2) -> Figure:
    """Mean Spearman (original vs randomised maps) against the share of weights re-initialised.

    ``summary`` is :func:`~marsutils.xai.sanity.summarize_randomization` output with a
    ``method`` column; the band is +-1 standard error, the dotted line the share of randomised
    maps that are constant.
    """
    if summary.empty:
        raise ValueError("the randomisation summary is empty")
    fig = Figure(figsize=(panel_size * 1.4, panel_size), layout="constrained")
    ax = fig.subplots()
    for method, part in summary.groupby("method", sort=False):
        x = part["fraction_params"].to_numpy(dtype=float)
        mean = part["spearman_mean"].to_numpy(dtype=float)
        sem = np.nan_to_num(part["spearman_sem"].to_numpy(dtype=float))
        (line,) = ax.plot(x, mean, marker="o", label=METHOD_LABELS.get(str(method), str(method)))
        ax.fill_between(x, mean - sem, mean + sem, alpha=0.2, color=line.get_color())
        share = part["constant_share"]
        ax.plot(x, share, ":", color=line.get_color(), label="share of constant maps")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("share of parameters re-initialised (top layers first)")
    ax.set_ylabel("Spearman: original vs randomised map")
    ax.set_ylim(-1.05, 1.05)
    ax.legend(fontsize=8)
    return fig


def _pair_label(pair: str) -> str:
    first, _, second = pair.partition("~")
    return f"{METHOD_LABELS.get(first, first)} ~ {METHOD_LABELS.get(second, second)}"


def plot_consistency_tests(tests: pd.DataFrame, *, panel_size: float = 3.2) -> Figure:
    """Agreement of every pair of methods with bootstrap intervals, against two references.

    ``tests`` is :func:`~marsutils.xai.stats.consistency_tests` output. Left: mean top-k IoU
    against k per pair (error bars: the interval), the analytic chance level (black dashes) and
    the mismatched-image level of each pair (dotted, in the pair's colour). Right: mean Spearman
    per pair with its interval, and its mismatched-image level (hollow marker).
    """
    if tests.empty:
        raise ValueError("no consistency tests to plot")
    fig = Figure(figsize=(panel_size * 2.4, panel_size), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.4, 1])
    pairs = list(pd.unique(tests["pair"]))
    for index, pair in enumerate(pairs):
        part = tests[tests["pair"] == pair]
        iou = part[part["metric"].str.startswith("topk_iou@")]
        k = 100 * iou["metric"].str.partition("@")[2].astype(float).to_numpy()
        order = np.argsort(k)
        mean = iou["mean"].to_numpy(dtype=float)[order]
        errors = np.vstack(
            [
                mean - iou["ci_low"].to_numpy(dtype=float)[order],
                iou["ci_high"].to_numpy(dtype=float)[order] - mean,
            ]
        )
        bars = left.errorbar(
            k[order] + (index - 1) * 0.3,
            mean,
            yerr=errors,
            marker="o",
            capsize=3,
            label=_pair_label(pair),
        )
        color = bars[0].get_color()
        left.plot(k[order], iou["mismatched"].to_numpy(dtype=float)[order], ":", color=color)
        rho = part[part["metric"] == "spearman"]
        if not rho.empty:
            value = float(rho["mean"].iat[0])
            right.errorbar(
                [index],
                [value],
                yerr=[
                    [value - float(rho["ci_low"].iat[0])],
                    [float(rho["ci_high"].iat[0]) - value],
                ],
                marker="o",
                capsize=3,
                color=color,
            )
            right.plot([index], [float(rho["mismatched"].iat[0])], "o", mfc="none", color=color)
    chance = tests[tests["metric"].str.startswith("topk_iou@")].drop_duplicates("metric")
    k = 100 * chance["metric"].str.partition("@")[2].astype(float).to_numpy()
    order = np.argsort(k)
    left.plot(k[order], chance["chance"].to_numpy(dtype=float)[order], "k--", label="chance")
    left.set_xlabel("top-k % of pixels")
    left.set_ylabel("IoU of the top-k sets")
    values = tests[tests["metric"].str.startswith("topk_iou@")][["ci_high", "chance", "mismatched"]]
    top = float(np.nanmax(values.to_numpy(dtype=float))) if values.notna().any().any() else 0.9
    left.set_ylim(0, min(1.0, top + 0.1))
    left.legend(fontsize=7, title="dotted: different images", title_fontsize=7)
    right.axhline(0.0, color="k", ls="--", lw=0.8)
    right.set_xticks(range(len(pairs)), [_pair_label(p).replace(" ~ ", "\n~ ") for p in pairs])
    right.tick_params(axis="x", labelsize=6)
    right.set_ylabel("Spearman rank correlation")
    right.set_ylim(-1, 1)
    right.set_title("hollow: different images", fontsize=8)
    return fig
