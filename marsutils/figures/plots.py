"""Figures of the evaluation: confusion matrices, ours-vs-paper bars, training curves, latency.

Every plot function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global
figure state, so a notebook shows it once, when it is the cell's value). :func:`save_figure`
writes PNG and SVG atomically. Without a display the Agg backend is selected.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from marsutils.core.atomic import atomic_write
from marsutils.core.paper import EFFICIENCY
from marsutils.stats.compare import compare_with_paper

__all__ = [
    "plot_confusion_matrix",
    "plot_confusion_matrices",
    "plot_per_class_vs_paper",
    "plot_training_curves",
    "plot_learning_curves",
    "plot_comparison_bars",
    "plot_latency_bars",
    "save_figure",
]


def _headless() -> bool:
    has_display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    return not has_display and "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules


if _headless() and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

OURS_COLOR = "#1f77b4"
PAPER_COLOR = "#bbbbbb"


def _new_figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


# --------------------------------------------------------------------------------------------
# confusion matrices (the paper's Figure 2)
# --------------------------------------------------------------------------------------------


def plot_confusion_matrix(
    confusion: np.ndarray | Sequence[Sequence[float]],
    class_names: Sequence[str],
    *,
    normalized: bool = False,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of one confusion matrix (rows true, columns predicted).

    ``normalized=True`` expects row-normalised values (recall per row) and prints them as
    fractions; else counts are printed.
    """
    import seaborn as sns

    matrix = np.asarray(confusion, dtype=float)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {matrix.shape} for {k} class names")
    if ax is None:
        fig, (ax,) = _new_figure(0.75 * k + 2.5, 0.65 * k + 1.8)
    else:
        fig = ax.figure
    sns.heatmap(
        matrix,
        ax=ax,
        annot=True,
        fmt=".2f" if normalized else ".0f",
        cmap="Blues",
        vmin=0,
        vmax=1 if normalized else None,
        square=True,
        cbar_kws={"shrink": 0.7},
        xticklabels=class_names,
        yticklabels=class_names,
        annot_kws={"fontsize": 8},
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    default = "row-normalised (recall)" if normalized else "counts"
    ax.set_title(title or f"Confusion matrix, {default}")
    return fig


def plot_confusion_matrices(evaluation: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Raw counts and row-normalised confusion matrices of an evaluation, side by side."""
    names = evaluation["class_names"]
    k = len(names)
    fig, axes = _new_figure(2 * (0.75 * k + 2.5), 0.65 * k + 2.0, ncols=2)
    plot_confusion_matrix(evaluation["confusion_matrix"], names, ax=axes[0])
    plot_confusion_matrix(
        evaluation["confusion_matrix_normalized"], names, normalized=True, ax=axes[1]
    )
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------
# ours vs the paper
# --------------------------------------------------------------------------------------------


def _error_bars(frame: pd.DataFrame) -> np.ndarray | None:
    low, high = frame["ci_low"].to_numpy(float), frame["ci_high"].to_numpy(float)
    ours = frame["ours"].to_numpy(float)
    if np.isnan(low).all():
        return None
    return np.vstack([np.nan_to_num(ours - low), np.nan_to_num(high - ours)])


def _paired_bars(ax: Axes, frame: pd.DataFrame, labels: Sequence[str]) -> None:
    x = np.arange(len(frame))
    width = 0.38
    ax.bar(x - width / 2, frame["paper"], width, color=PAPER_COLOR, label="paper")
    ax.bar(
        x + width / 2,
        frame["ours"],
        width,
        color=OURS_COLOR,
        yerr=_error_bars(frame),
        capsize=3,
        error_kw={"elinewidth": 1},
        label="ours (95% CI)",
    )
    ax.set_xticks(x, labels, rotation=35, ha="right")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)


def plot_per_class_vs_paper(
    evaluation: Mapping[str, Any], *, metrics: Sequence[str] = ("f1",)
) -> Figure:
    """Per-class bars, the paper's Table 1 next to ours with our 95% CI; one panel per metric.

    ``metrics`` from ``precision``, ``recall``, ``f1``, ``iou`` (the paper's per-class IoU is
    derived from its Table 1 counts).
    """
    table = compare_with_paper(evaluation, model="full", per_class=True)
    table = table[table["section"] == "per_class"]
    unknown = sorted(set(metrics) - {"precision", "recall", "f1", "iou"})
    if unknown or not metrics:
        raise ValueError(f"metrics must be from precision, recall, f1, iou; got {list(metrics)}")
    fig, axes = _new_figure(4.8 * len(metrics), 4.2, ncols=len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = table[table["metric"] == metric]
        _paired_bars(ax, rows, list(rows["class"]))
        ax.set_ylabel(f"{metric} (%)")
        kind = " (paper: derived from Table 1)" if metric == "iou" else ""
        ax.set_title(f"{metric} per class{kind}")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=2)
    return fig


def plot_comparison_bars(
    comparison: pd.DataFrame, *, metrics: Sequence[str] = ("accuracy", "macro_f1", "mean_iou")
) -> Figure:
    """Headline metrics per run (ablation, baselines): ours with 95% CI next to the paper's.

    ``comparison`` is a :func:`marsutils.stats.compare.compare_many` table. Per run and metric the
    first paper value is used (the printed Table 3 / headline value where there is one); a run
    without a paper value for a metric (e.g. the baselines' accuracy) shows our bar alone.
    """
    head = comparison[comparison["section"] == "headline"]
    head = head.sort_values("paper_kind", key=lambda s: s != "printed", kind="stable")
    head = head.drop_duplicates(["run", "metric"], keep="first")
    runs = list(dict.fromkeys(comparison["run"]))
    fig, axes = _new_figure(max(4.0, 1.2 * len(runs) + 1.5) * len(metrics), 4.2, len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = head[head["metric"] == metric].set_index("run").reindex(runs)
        frame = rows.reset_index()
        if frame["ours"].isna().all():
            raise ValueError(f"no rows for metric {metric!r} in the comparison")
        _paired_bars(ax, frame, runs)  # a missing paper value draws no bar
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(metric)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=2)
    return fig


# --------------------------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------------------------

_PANELS: tuple[tuple[str, str], ...] = (
    ("loss", "loss"),
    ("quality", "score"),
    ("lr", "learning rate"),
    ("speed", "images / s"),
)


def _panel_of(key: str) -> str | None:
    if key == "epoch":
        return None
    if key.endswith("loss"):
        return "loss"
    if key == "lr" or key.startswith("lr_"):
        return "lr"
    if key in ("images_per_s", "epoch_time_s") or key.endswith("_per_s"):
        return "speed"
    if key.startswith(("val_", "train_", "test_")):
        return "quality"
    return None


def _load_history(history: Sequence[Mapping[str, Any]] | str | os.PathLike) -> pd.DataFrame:
    if isinstance(history, str | os.PathLike):
        data = json.loads(Path(history).read_text())
        history = data["history"] if isinstance(data, Mapping) else data
    if not isinstance(history, Sequence) or not history:
        raise ValueError("history must be a non-empty list of per-epoch dicts")
    if not all(isinstance(h, Mapping) for h in history):
        raise ValueError("every history entry must be a dict of per-epoch values")
    frame = pd.DataFrame(list(history)).apply(pd.to_numeric, errors="coerce")
    if "epoch" not in frame:
        raise ValueError(f"history entries need an 'epoch' key; found {sorted(frame.columns)}")
    return frame.sort_values("epoch")


def plot_training_curves(
    history: Sequence[Mapping[str, Any]] | str | os.PathLike, *, title: str | None = None
) -> Figure:
    """Per-epoch curves from a history (list of dicts, or a JSON file holding one).

    Panels, each shown only when the history has such keys: losses (``*loss``), scores
    (``val_*``/``train_*``, e.g. ``val_macro_f1``, ``val_accuracy``), learning rate (``lr``) and
    speed (``images_per_s``; ``epoch_time_s`` on a second axis).
    """
    frame = _load_history(history)
    groups: dict[str, list[str]] = {}
    for key in frame.columns:
        panel = _panel_of(key)
        if panel and frame[key].notna().any():
            groups.setdefault(panel, []).append(key)
    panels = [(name, label) for name, label in _PANELS if name in groups]
    if not panels:
        raise ValueError(f"nothing to plot: history keys are {sorted(frame.columns)}")
    fig, axes = _new_figure(4.2 * len(panels), 3.6, ncols=len(panels))
    epoch = frame["epoch"]
    for ax, (panel, label) in zip(axes, panels, strict=True):
        for key in groups[panel]:
            if key == "epoch_time_s":
                continue
            ax.plot(epoch, frame[key], marker="o", markersize=3, label=key)
        if panel == "speed" and "epoch_time_s" in groups[panel]:
            twin = ax.twinx()
            twin.plot(epoch, frame["epoch_time_s"], color="grey", ls="--", label="epoch_time_s")
            twin.set_ylabel("seconds / epoch")
            twin.legend(loc="lower right", fontsize=8)
        if panel == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _by_seed(history: Any) -> dict[int | None, Any]:
    """``{seed: history}`` of one model: a mapping of seeds as is, a single history as seed None."""
    if isinstance(history, Mapping):
        if not history:
            raise ValueError("a model's mapping of seeds to histories is empty")
        return dict(history)
    return {None: history}


def plot_learning_curves(
    histories: Mapping[str, Any],
    *,
    metrics: Sequence[str] = ("val_macro_f1", "val_loss"),
    title: str | None = None,
) -> Figure:
    """The validation curves of several compared models, one panel per metric.

    Parameters
    ----------
    histories : mapping of str to history, or of str to mapping of int to history
        Model label to its per-epoch history (a list of dicts or a ``history.json`` path), as
        written by :func:`marsutils.train.fit`; or model label to ``{seed: history}`` to show
        every seed's curve (see :func:`marsutils.study.comparisons.seed_histories`).
    metrics : sequence of str, default=("val_macro_f1", "val_loss")
        History keys to plot; a key that no history has is skipped.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per plotted metric, epochs on the x axis, one colour per model and one line
        per seed (solid for the first seed, then dashed and dotted); the legend names each
        model once, with its number of seeds when it has several. The cross-validation folds of
        a model (labels ``"<model>, fold <k>"``) are drawn the same way, one line per fold, and
        named once with their number of folds, so the legend stays one entry per model.

    Raises
    ------
    ValueError
        If ``histories`` (or a model's mapping of seeds) is empty, or no history has any of
        ``metrics``.
    """
    if not histories:
        raise ValueError("no histories to plot")
    # a configuration's cross-validation folds ("<label>, fold <k>", as seed_histories names
    # them) share its colour and legend entry, like its seeds: one line per fold and seed
    frames: dict[str, dict[Any, pd.DataFrame]] = {}
    folds: dict[str, int] = {}
    for label, runs in histories.items():
        model, sep, fold = label.partition(", fold ")
        group = model if sep else label
        folds[group] = folds.get(group, 0) + bool(sep)
        for seed, h in _by_seed(runs).items():
            frames.setdefault(group, {})[(fold, seed)] = _load_history(h)
    shown = [
        m
        for m in metrics
        if any(m in f and f[m].notna().any() for runs in frames.values() for f in runs.values())
    ]
    if not shown:
        raise ValueError(f"no history has any of {list(metrics)}")
    styles = ("-", "--", ":", "-.")
    fig, axes = _new_figure(4.4 * len(shown), 3.6, ncols=len(shown))
    for ax, metric in zip(axes, shown, strict=True):
        for i, (label, runs) in enumerate(frames.items()):
            color = f"C{i % 10}"
            unit = "folds" if folds[label] > 1 else "seeds"
            count = folds[label] if folds[label] > 1 else len(runs)
            name = label if len(runs) == 1 else f"{label} ({count} {unit})"
            for j, frame in enumerate(runs.values()):
                if metric in frame:
                    ax.plot(
                        frame["epoch"],
                        frame[metric],
                        color=color,
                        ls=styles[j % len(styles)],
                        marker="o",
                        markersize=2.5,
                        lw=1.2,
                        label=name if j == 0 else None,
                    )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------
# efficiency (the paper's Table 2)
# --------------------------------------------------------------------------------------------


def plot_latency_bars(table: pd.DataFrame) -> Figure:
    """Batch-1 latency per model, plain vs optimised, one panel per backbone.

    Models not timed show no bar but a "not timed" label; the paper's 25-30 ms/image band is
    drawn when the timing was at 224 px.

    ``table`` is :func:`marsutils.efficiency.efficiency_table` (columns ``backbone``,
    ``model``, ``latency_ms_plain``, ``latency_ms_optimised``, ``timing_image_size``).
    """
    from marsutils.efficiency import (  # torch: loaded only here
        BACKBONE_LABELS,
        COST_IMAGE_SIZE,
    )

    backbones = list(dict.fromkeys(table["backbone"]))
    fig = Figure(figsize=(4.2 * len(backbones), 3.6), layout="constrained")
    axes = fig.subplots(1, len(backbones), squeeze=False)[0]
    low = float(EFFICIENCY["latency_ms_low"].value)
    high = float(EFFICIENCY["latency_ms_high"].value)
    for ax, backbone in zip(axes, backbones, strict=True):
        rows = table[table["backbone"] == backbone].reset_index(drop=True)
        x = np.arange(len(rows))
        for offset, column, label, color in (
            (-0.2, "latency_ms_plain", "plain fp32 eager", "#bbbbbb"),
            (0.2, "latency_ms_optimised", "optimised", "#1f77b4"),
        ):
            ax.bar(x + offset, rows[column].to_numpy(float), 0.4, label=label, color=color)
        for position in x[rows["latency_ms_optimised"].isna().to_numpy()]:
            ax.text(position, 0, " not timed", rotation=90, ha="center", va="bottom", fontsize=8,
                    color="#777777")  # fmt: skip
        sizes = set(rows["timing_image_size"].dropna().astype(int))
        if sizes == {COST_IMAGE_SIZE}:
            ax.axhspan(low, high, color="#d62728", alpha=0.15, label="paper (GPU)")
        ax.set_xticks(x, rows["model"], rotation=30, ha="right")
        size_text = ", ".join(f"{s} px" for s in sorted(sizes)) or "not timed"
        ax.set_title(f"{BACKBONE_LABELS.get(backbone, backbone)} ({size_text})", fontsize=10)
        ax.set_ylabel("ms per image, batch 1 (CPU)")
        ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------------------------


def _savefig(fig: Figure, tmp: Path, fmt: str, dpi: int) -> None:
    fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    os.chmod(tmp, 0o644)  # the temporary file is private (0600); figures are for publishing


def save_figure(
    fig: Figure, folder: str | os.PathLike, name: str, *, dpi: int = 150
) -> tuple[Path, Path]:
    """Write ``folder/name.png`` (at ``dpi``) and ``folder/name.svg`` atomically; return both paths.

    ``name`` is a bare file stem (letters, digits, ``-``, ``_``, ``.``), without extension.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.endswith((".png", ".svg")):
        raise ValueError(f"name must be a bare file stem without extension; got {name!r}")
    folder = Path(folder)
    paths = []
    for fmt in ("png", "svg"):
        path = folder / f"{name}.{fmt}"
        atomic_write(path, lambda tmp, fmt=fmt: _savefig(fig, tmp, fmt, dpi))
        paths.append(path)
    return paths[0], paths[1]
