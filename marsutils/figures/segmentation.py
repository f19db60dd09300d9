"""Figures of the segmentation chapter (figures layer of :mod:`marsutils.core.layers`).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (seaborn draws on
its axes); the caller saves or shows it. The chapter's tables and its choice of example tiles
live in the library (:func:`marsutils.seg.classes.class_share_table`,
:func:`marsutils.seg.classes.example_tiles`).

Class colours follow the legend of the dataset's README (``classes.csv`` column ``readme_rgb``):
crater yellow, rough red, smooth green, alluvial fan blue; unlabelled pixels are left uncoloured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from marsutils.seg.classes import (
    CLASS_NAMES,
    CRATER_MASK_ID,
    IGNORE_INDEX,
    example_tiles,
    to_model_targets,
)
from marsutils.seg.pointing import saliency_peaks, target_regions
from marsutils.seg.tiles import SegTile

__all__ = [
    "CLASS_COLORS",
    "iou_figure",
    "pointing_figure",
    "prediction_figure",
    "tile_gallery",
]

#: RGB colour of each model class (channel order of :data:`~marsutils.seg.classes.CLASS_NAMES`).
CLASS_COLORS: tuple[tuple[float, float, float], ...] = (
    (1.0, 1.0, 0.0),
    (1.0, 0.0, 0.0),
    (0.0, 0.8, 0.0),
    (0.0, 0.3, 1.0),
)
_CLASS_CMAP = ListedColormap(CLASS_COLORS)


def _overlay(ax: Axes, image: np.ndarray, targets: np.ndarray, alpha: float = 0.45) -> None:
    """Grayscale image with model class ids coloured on top (IGNORE_INDEX left transparent)."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    shown = np.ma.masked_equal(targets.astype(np.int16), IGNORE_INDEX)
    ax.imshow(shown, cmap=_CLASS_CMAP, vmin=-0.5, vmax=len(CLASS_NAMES) - 0.5, alpha=alpha)
    ax.set_axis_off()


def _legend(fig: Figure, unlabelled: bool = True) -> None:
    handles = [Patch(color=c, label=n) for c, n in zip(CLASS_COLORS, CLASS_NAMES, strict=True)]
    if unlabelled:
        handles.append(Patch(facecolor="none", edgecolor="0.5", label="unlabelled (ignored)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)


def tile_gallery(tiles: Sequence[SegTile], n: int = 4) -> Figure:
    """``n`` example tiles (:func:`example_tiles`): the image above, its mask overlaid below."""
    chosen = example_tiles(tiles, n)
    fig = Figure(figsize=(2.4 * len(chosen), 5.2))
    axes = fig.subplots(2, len(chosen), squeeze=False)
    for j, tile in enumerate(chosen):
        axes[0, j].imshow(tile.image, cmap="gray", vmin=0, vmax=255)
        axes[0, j].set_axis_off()
        axes[0, j].set_title(tile.stem, fontsize=9)
        _overlay(axes[1, j], tile.image, to_model_targets(tile.mask))
    _legend(fig)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def iou_figure(per_fold: pd.DataFrame) -> Figure:
    """Held-out IoU per class and model: bars at the fold mean, one dot per fold.

    ``per_fold`` is :meth:`marsutils.study.segmentation.SegStudy.per_fold` (columns ``model``,
    ``fold``, ``class``, ``iou``); classes undefined in a fold (NaN) are left out of that fold.
    """
    frame = per_fold.dropna(subset=["iou"])
    fig = Figure(figsize=(7.5, 3.4))
    ax = fig.subplots()
    sns.barplot(frame, x="class", y="iou", hue="model", errorbar=None, alpha=0.75, ax=ax)
    sns.stripplot(
        frame,
        x="class",
        y="iou",
        hue="model",
        dodge=True,
        palette="dark:black",
        size=3.5,
        legend=False,
        ax=ax,
    )
    ax.set_ylim(0, 1)
    ax.set_xlabel("")
    ax.set_ylabel("held-out pixel IoU")
    ax.legend(title="", fontsize=8, loc="upper left")
    ax.set_title("Per-class IoU across folds (bar: mean, dots: folds)", fontsize=10)
    fig.tight_layout()
    return fig


def prediction_figure(tile: SegTile, predictions: Mapping[str, np.ndarray]) -> Figure:
    """The tile, its ground truth and each model's out-of-fold prediction (model class ids)."""
    panels = 2 + len(predictions)
    fig = Figure(figsize=(2.5 * panels, 3.1))
    axes = fig.subplots(1, panels)
    axes[0].imshow(tile.image, cmap="gray", vmin=0, vmax=255)
    axes[0].set_axis_off()
    axes[0].set_title(f"tile {tile.stem}", fontsize=9)
    _overlay(axes[1], tile.image, to_model_targets(tile.mask), alpha=0.55)
    axes[1].set_title("ground truth", fontsize=9)
    for ax, (name, pred) in zip(axes[2:], predictions.items(), strict=True):
        _overlay(ax, tile.image, pred, alpha=0.55)
        ax.set_title(name, fontsize=9)
    _legend(fig)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def pointing_figure(
    tiles: Sequence[SegTile],
    maps: Mapping[str, np.ndarray],
    labels: Mapping[str, str] | None = None,
    *,
    source: str = "polygons",
) -> Figure:
    """One row per tile: the crater outline, then each method's saliency with its peak.

    ``maps[method]`` is ``(len(tiles), H, W)``; the crater region comes from
    :func:`~marsutils.seg.pointing.target_regions` with ``source``. The peak is drawn as a
    circle, filled green when it lies in the region (tolerance 0) and red when not.
    """
    regions = target_regions(tiles, CRATER_MASK_ID, source=source)
    methods = list(maps)
    fig = Figure(figsize=(2.4 * (1 + len(methods)), 2.4 * len(tiles)))
    axes = fig.subplots(len(tiles), 1 + len(methods), squeeze=False)
    for i, tile in enumerate(tiles):
        crater = regions[i]
        axes[i, 0].imshow(tile.image, cmap="gray", vmin=0, vmax=255)
        axes[i, 0].contour(crater, levels=[0.5], colors="yellow", linewidths=0.8)
        axes[i, 0].set_title(f"{tile.stem}: craters", fontsize=9)
        for j, method in enumerate(methods, start=1):
            saliency = maps[method][i]
            ((row, col),) = saliency_peaks(saliency[None])[0]
            ax = axes[i, j]
            ax.imshow(tile.image, cmap="gray", vmin=0, vmax=255)
            ax.imshow(saliency, cmap="magma", alpha=0.55)
            ax.contour(crater, levels=[0.5], colors="yellow", linewidths=0.5)
            hit = bool(crater[row, col])
            ax.plot(col, row, "o", ms=9, mfc="lime" if hit else "red", mec="white", mew=1.2)
            ax.set_title((labels or {}).get(method, method), fontsize=9)
        for ax in axes[i]:
            ax.set_axis_off()
    fig.tight_layout()
    return fig
