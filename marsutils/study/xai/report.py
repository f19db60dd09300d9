"""The explainability chapter's glue: the trained model, its inputs and tables to display.

:func:`load_explained_model` finds the proposed model trained on a split by the training chapter,
:func:`model_inputs` turns cached images into its inputs, :func:`attribution_settings` reads the
profile; the other functions build the small tables and lines the chapter shows.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from marsutils.core.layout import RunLayout
from marsutils.core.profiles import Profile
from marsutils.data.batches import to_model_input
from marsutils.study.experiments import ClassifierSpec, load_trained, plan
from marsutils.xai.attribution import resolve_layer
from marsutils.xai.cache import AttributionSet
from marsutils.xai.methods import AttributionSettings

__all__ = [
    "ExplainedModel",
    "attribution_settings",
    "cam_grid_size",
    "consistency_breakdown",
    "describe_attributions",
    "file_sha256",
    "load_explained_model",
    "model_inputs",
    "sample_overview",
]


@dataclass
class ExplainedModel:
    """A trained classifier with its test predictions and the identity of its weights."""

    spec: ClassifierSpec
    model: nn.Module
    predictions: pd.DataFrame
    checkpoint: Path
    checkpoint_sha256: str

    @property
    def model_key(self) -> str:
        """The cache key of the weights: the experiment key and the checkpoint's hash."""
        return f"{self.spec.key}@{self.checkpoint_sha256[:16]}"


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_explained_model(
    profile: Profile,
    run_dir: str | os.PathLike,
    *,
    split: str = "family",
    seed: int = 0,
    num_classes: int = 8,
    channels_last: bool = True,
    fold: int = 0,
) -> ExplainedModel:
    """The proposed model trained on ``split`` under ``seed`` by the training chapter, in eval mode.

    Under cross-validation ``fold`` picks the fold's model, which explains that fold's test
    images (a hold-out profile has one model: ``fold`` must be 0).

    Raises :class:`FileNotFoundError` (naming the notebook to run) when it has not been trained,
    and :class:`ValueError` for a ``fold`` the profile does not have.
    ``channels_last`` stores the weights in that memory format, which is faster on CPUs.
    """
    specs = [s for s in plan(profile, "training", seed=seed) if s.split_kind == split]
    if not specs:
        raise ValueError(f"profile {profile.name!r} trains no model on the {split!r} split")
    if not 0 <= fold < len(specs):
        raise ValueError(
            f"fold must lie in [0, {len(specs) - 1}] for profile {profile.name!r}; got {fold}"
        )
    spec = specs[fold]
    layout = RunLayout(run_dir)
    model = load_trained(spec, run_dir, profile, num_classes=num_classes)
    predictions_path = layout.predictions(spec.key, spec.seed, "test")
    if not predictions_path.is_file():
        raise FileNotFoundError(f"{predictions_path} does not exist: run 02_training first")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    checkpoint = layout.best_model(spec.key, spec.seed)
    return ExplainedModel(
        spec=spec,
        model=model.eval(),
        predictions=pd.read_csv(predictions_path),
        checkpoint=checkpoint,
        checkpoint_sha256=file_sha256(checkpoint),
    )


def model_inputs(images: np.ndarray, rows: Sequence[int] | np.ndarray, image_size: int) -> Tensor:
    """The model's inputs ``(N, 3, size, size)`` for cached uint8 images ``images[rows]``."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.ndim != 1 or len(rows) == 0:
        raise ValueError("rows must be a non-empty 1-D list of image rows")
    batch = torch.from_numpy(np.ascontiguousarray(images[rows]))
    return to_model_input(batch, image_size).contiguous(memory_format=torch.channels_last)


def attribution_settings(profile: Profile, *, blur_sigma: float = 10.0) -> AttributionSettings:
    """The maps' settings under ``profile``: IG with ``profile.ig_steps`` path points."""
    return AttributionSettings(
        n_steps=profile.ig_steps, blur_sigma=blur_sigma, internal_batch_size=64
    )


def cam_grid_size(
    model: nn.Module, image_size: int, layer: nn.Module | str | None = None
) -> tuple[int, int]:
    """``(h, w)`` of the Grad-CAM layer's output for ``image_size`` inputs (its native grid)."""
    module = resolve_layer(model, layer)
    found: list[tuple[int, int]] = []
    handle = module.register_forward_hook(lambda _m, _i, out: found.append(tuple(out.shape[-2:])))
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        handle.remove()
    return found[-1]


def sample_overview(
    predictions: pd.DataFrame, chosen: pd.DataFrame, class_names: Sequence[str]
) -> pd.DataFrame:
    """Per class: test images, how many the model got right, and the chosen correct/wrong."""
    names = dict(enumerate(class_names))

    def count(table: pd.DataFrame, mask: pd.Series | None = None) -> pd.Series:
        part = table if mask is None else table[mask]
        return part["y_true"].map(names).value_counts()

    right = predictions["y_true"] == predictions["y_pred"]
    overview = pd.DataFrame(
        {
            "test images": count(predictions),
            "correct in test": count(predictions, right),
            "chosen correct": count(chosen, chosen["correct"]),
            "chosen wrong": count(chosen, ~chosen["correct"]),
        }
    )
    present = [c for c in class_names if c in overview.index]
    return overview.reindex(present).fillna(0).astype(int)


def describe_attributions(attributions: AttributionSet, recorded_pred: Sequence[int]) -> str:
    """One line: how the maps were obtained and whether the model still predicts as recorded."""
    recorded = np.asarray(recorded_pred)
    same = int((np.asarray(attributions.y_pred) == recorded).sum())
    origin = "loaded from the cache" if attributions.loaded_from_cache else "computed"
    return (
        f"{len(attributions)} images, methods {', '.join(attributions.methods)}: {origin} "
        f"(computation took {attributions.seconds:.1f} s). The reloaded model predicts the "
        f"recorded class for {same} of {len(recorded)} images; the maps explain the recorded one."
    )


def consistency_breakdown(summary: pd.DataFrame, metric: str = "iou_top10") -> pd.DataFrame:
    """Mean ``metric`` per pair of methods (columns) overall, by class and by outcome (rows).

    ``summary`` is :attr:`~marsutils.xai.evaluation.XAIEvaluation.consistency_summary`; the
    column ``images`` is the largest number of images with a defined value over the pairs.
    """
    part = summary[summary["metric"] == metric]
    if part.empty:
        raise ValueError(f"no {metric!r} rows in the consistency summary")
    keys = ["group_by", "group"]
    groups = part.drop_duplicates(keys)[keys]
    index = pd.MultiIndex.from_frame(groups)
    table = part.set_index([*keys, "pair"])["mean"].unstack("pair").reindex(index)
    images = part.groupby(keys, sort=False)["n"].max().reindex(index)
    return table.assign(images=images).rename_axis(columns=None)
