"""The external-validation chapter's figures, drawn from an :class:`ExternalRecord`.

* :func:`plot_class_f1`: per class, external F1 against in-release F1 (one panel per model);
* :func:`plot_external_confusion`: the confusion matrix on the external folder, row-normalised,
  summed over a configuration's K fold models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from marsutils.core.records import ExternalRecord

__all__ = ["plot_class_f1", "plot_external_confusion"]


def _complete(record: ExternalRecord) -> list[str]:
    return [m for m, e in record.models.items() if not e["missing"] and "per_class" in e]


def plot_class_f1(record: ExternalRecord, models: Sequence[str] | None = None) -> Figure:
    """Per class, external F1 (y) against in-release F1 (x), with 95% intervals, in percent.

    One panel per model (default: every model with complete predictions); the diagonal is "no
    drop", so a class below it scores worse on the external release.

    Raises
    ------
    ValueError
        When no model of ``models`` has complete external predictions.
    """
    import seaborn as sns

    names = [m for m in (models or _complete(record)) if m in _complete(record)]
    if not names:
        raise ValueError("no model has external predictions of every fold")
    classes = record.folder["scored_classes"]
    colors = dict(zip(classes, sns.color_palette("colorblind", len(classes)), strict=True))
    ncols = min(3, len(names))
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(3.4 * ncols + 1.6, 3.3 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax, model in zip(axes, names, strict=False):
        for c in record.models[model]["per_class"]:
            x, y = c["in_release"], c["external"]
            ax.errorbar(
                100 * x["estimate"],
                100 * y["estimate"],
                xerr=[[100 * (x["estimate"] - x["low"])], [100 * (x["high"] - x["estimate"])]],
                yerr=[[100 * (y["estimate"] - y["low"])], [100 * (y["high"] - y["estimate"])]],
                fmt="o",
                color=colors[c["class"]],
                label=c["class"],
                capsize=2,
            )
        ax.plot([0, 100], [0, 100], color="#888888", lw=0.8, ls="--")
        ax.set(xlim=(0, 102), ylim=(0, 102), title=model, aspect="equal")
        ax.set_xlabel("in-release F1 (%)")
        ax.set_ylabel("external F1 (%)")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="class", fontsize=8)
    return fig


def plot_external_confusion(record: ExternalRecord, model: str = "full") -> Figure:
    """The row-normalised confusion matrix of ``model`` on the external folder.

    Rows are the scored classes (true), columns every class of the model (predicted); the counts
    are summed over the K fold models, each of which predicts every image once.

    Raises
    ------
    ValueError
        When ``model`` has no complete external predictions.
    """
    import seaborn as sns

    from marsutils.core.paper import DATASET_CLASSES

    entry = record.models.get(model)
    if entry is None or entry["missing"]:
        raise ValueError(f"{model!r} has no external predictions of every fold")
    cm = np.asarray(entry["confusion_matrix"], dtype=float)
    scored = [DATASET_CLASSES.index(c) for c in record.folder["scored_classes"]]
    rows = cm[scored]
    normalized = rows / rows.sum(axis=1, keepdims=True)
    k = len(DATASET_CLASSES)
    fig = Figure(figsize=(0.75 * k + 2.5, 0.65 * len(scored) + 2.0), layout="constrained")
    ax = fig.subplots()
    sns.heatmap(
        normalized,
        ax=ax,
        annot=True,
        fmt=".2f",
        cmap="Blues",
        vmin=0,
        vmax=1,
        cbar_kws={"shrink": 0.7},
        xticklabels=list(DATASET_CLASSES),
        yticklabels=record.folder["scored_classes"],
        annot_kws={"fontsize": 8},
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (external)")
    ax.tick_params(axis="x", labelrotation=45)
    ax.tick_params(axis="y", labelrotation=0)
    n_models = len(entry["folds"])
    ax.set_title(f"{model} on {record.folder['name']}, row-normalised ({n_models} models)")
    return fig
