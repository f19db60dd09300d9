"""Figures of the data chapter: class counts, a sample grid per class, twin families.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (seaborn draws on
its axes), as every figure of the book (:mod:`marsutils.core.layers`); the caller saves or shows it.
The leakage table of the chapter is :func:`marsutils.data.report.leakage_table`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

__all__ = ["class_count_figure", "sample_grid", "twin_family_figure"]


def class_count_figure(labels: np.ndarray, class_names: tuple[str, ...]) -> Figure:
    """A horizontal bar chart of images per class, with counts and shares annotated."""
    counts = np.bincount(labels, minlength=len(class_names))
    frame = pd.DataFrame({"class": class_names, "images": counts}).sort_values("images")
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    sns.barplot(frame, x="images", y="class", ax=ax, color="#b5651d")
    for i, n in enumerate(frame["images"]):
        ax.text(n, i, f" {n} ({100 * n / counts.sum():.1f}%)", va="center", fontsize=8)
    ax.set_xlim(0, counts.max() * 1.3)
    ax.set_ylabel("")
    ax.set_title("Images per class")
    fig.tight_layout()
    return fig


def sample_grid(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    per_class: int = 6,
    seed: int = 0,
) -> Figure:
    """``per_class`` random images of every class, one row per class."""
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(1.3 * per_class, 1.35 * len(class_names)))
    axes = fig.subplots(len(class_names), per_class, squeeze=False)
    for k, name in enumerate(class_names):
        rows = np.flatnonzero(labels == k)
        chosen = rng.choice(rows, size=min(per_class, len(rows)), replace=False)
        for j, ax in enumerate(axes[k]):
            ax.axis("off")
            if j < len(chosen):
                ax.imshow(images[chosen[j]], cmap="gray", vmin=0, vmax=255)
        axes[k, 0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def twin_family_figure(
    images: np.ndarray, families: np.ndarray, n_families: int = 4, seed: int = 0
) -> Figure:
    """A few randomly chosen multi-image families, one row each."""
    rng = np.random.default_rng(seed)
    sizes = np.bincount(families)
    big = np.flatnonzero(sizes >= 3)
    chosen = rng.choice(big, size=min(n_families, len(big)), replace=False)
    width = int(min(sizes[chosen].max(), 8)) if len(chosen) else 1
    fig = Figure(figsize=(1.3 * width, 1.35 * len(chosen)))
    axes = fig.subplots(max(1, len(chosen)), width, squeeze=False)
    for r, fam in enumerate(chosen):
        members = np.flatnonzero(families == fam)[:width]
        for j, ax in enumerate(axes[r]):
            ax.axis("off")
            if j < len(members):
                ax.imshow(images[members[j]], cmap="gray", vmin=0, vmax=255)
        axes[r, 0].set_title(f"family {fam} ({sizes[fam]} images)", fontsize=8, loc="left")
    fig.tight_layout()
    return fig
