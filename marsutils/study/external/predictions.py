"""Every compared classifier of every fold, run on an external labelled folder.

:func:`external_folder` reads the folder once (classes matched to the models' by name,
:func:`marsutils.evaluate.load_folder`; under a profile's ``max_images`` a stratified subset of the
scored images, as the training data is subsampled). :func:`predict_external` writes, beside each
experiment's own predictions, ``external_<folder>.csv`` (:meth:`ExperimentFiles.external
<marsutils.core.layout.ExperimentFiles.external>`): ``image, row, y_true, y_pred, prob_k`` and the
folder's ``data_fingerprint`` for every scored image, ``y_true`` in the model's class ids. A file
whose fingerprint or images differ from the folder's is predicted again, never reused; one whose
experiment kept no weights is reported missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marsutils.core import paper
from marsutils.core.atomic import atomic_write
from marsutils.core.layout import ExperimentFiles, RunLayout
from marsutils.core.profiles import Profile
from marsutils.data.errors import DataError
from marsutils.study.experiments import ClassifierSpec, plan

__all__ = [
    "EXTERNAL_MODELS",
    "NOT_TRAINED",
    "WEIGHTS_NOT_KEPT",
    "ExternalFolder",
    "external_folder",
    "external_specs",
    "predict_external",
    "read_external",
]

#: The compared classifiers, in the order the chapter lists them (the proposed model first).
EXTERNAL_MODELS = ("full", "plain", "head", "attention", "unet", "deeplabv3plus")
#: The reasons :func:`predict_external` gives for a missing predictions file.
NOT_TRAINED = "not trained yet"
WEIGHTS_NOT_KEPT = "its weights were not kept"
#: Rows of the fingerprint kept in a predictions file (as in the split files).
_FINGERPRINT = 16


@dataclass(frozen=True)
class ExternalFolder:
    """An external folder read for scoring.

    Attributes
    ----------
    name : str
        The folder's name (``hirise-v1``): the suffix of every predictions file.
    folder : marsutils.evaluate.folder.ScoredFolder
        The whole folder, its classes matched to :data:`marsutils.core.paper.DATASET_CLASSES`.
    rows : numpy.ndarray of int, shape (n,)
        The scored rows of the folder (a class the models know; all, or a ``max_images`` subset).
    y_true : numpy.ndarray of int, shape (n,)
        Their classes in the models' class ids.
    families : numpy.ndarray of int, shape (n,)
        Their twin families within the folder.
    fingerprint : str
        The folder's data fingerprint (:func:`marsutils.data.imagecache.content_hash`), shortened.
    """

    name: str
    folder: Any
    rows: np.ndarray
    y_true: np.ndarray
    families: np.ndarray
    fingerprint: str

    @property
    def scored_labels(self) -> list[int]:
        """The model classes with at least one scored image: every macro average's class set."""
        return np.unique(self.y_true).tolist()


def external_folder(
    data_dir: str | os.PathLike,
    *,
    max_images: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> ExternalFolder:
    """Read ``data_dir`` for :func:`predict_external`.

    Parameters
    ----------
    data_dir : path-like
        A labelled folder of any layout :func:`marsutils.data.load_dataset` reads.
    max_images : int, optional
        Score a class-stratified random subset of this many of the scored images (a profile's
        ``max_images``; :func:`marsutils.data.splits.subsample_rows`); None: all.
    seed : int
        Seed of that subset.

    Raises
    ------
    DataError
        The folder is missing or unreadable, no image has a class the models know, or the subset
        cannot be stratified.
    """
    from marsutils.data.imagecache import content_hash
    from marsutils.data.splits import subsample_rows
    from marsutils.evaluate.folder import load_folder

    folder = load_folder(data_dir, paper.DATASET_CLASSES, progress)
    chosen = subsample_rows(
        folder.y_true,
        max_images,
        seed,
        class_names=paper.DATASET_CLASSES,
        source=str(folder.dataset.root),
    )
    rows = folder.keep[chosen]
    return ExternalFolder(
        name=Path(folder.dataset.root).name,
        folder=folder,
        rows=rows,
        y_true=folder.y_true[chosen],
        families=folder.families[rows],
        fingerprint=content_hash(folder.dataset)[:_FINGERPRINT],
    )


def external_specs(profile: Profile, seed: int = 0) -> dict[str, list[ClassifierSpec]]:
    """The experiments of every compared classifier on the family split, fold by fold.

    Returns
    -------
    dict
        Model name (:data:`EXTERNAL_MODELS` order) -> its specs, one per fold (one for a hold-out
        profile), from the ablation and baselines plans (the proposed model's shared budget).
    """
    found: dict[str, dict[str, ClassifierSpec]] = {m: {} for m in EXTERNAL_MODELS}
    for notebook in ("ablation", "baselines"):
        for spec in plan(profile, notebook, seed=seed):
            # the precision-effect runs (a precision override) are not compared classifiers
            if spec.split_kind == "family" and spec.model in found and spec.precision is None:
                found[spec.model].setdefault(spec.key, spec)
    return {m: sorted(s.values(), key=lambda s: s.split) for m, s in found.items() if s}


def _frame(ext: ExternalFolder, probs: np.ndarray) -> pd.DataFrame:
    """The training predictions' columns (:func:`marsutils.train.engine.predictions_frame`) plus
    the folder's ``data_fingerprint``."""
    from marsutils.train.engine import predictions_frame

    table = ext.folder.dataset.table
    part = pd.DataFrame(
        {"image": table["image"].to_numpy()[ext.rows], "row": ext.rows, "label": ext.y_true}
    )
    return predictions_frame(part, probs).assign(data_fingerprint=ext.fingerprint)


def read_external(path: str | os.PathLike, ext: ExternalFolder) -> pd.DataFrame | None:
    """The predictions file ``path`` when it is current for ``ext``, else None.

    Current means the same folder fingerprint and the same scored rows and labels; anything else
    (an older release of the folder, another ``max_images`` subset) is stale and not read.

    Raises
    ------
    marsutils.stats.metrics.MetricsError
        The file is malformed (:func:`marsutils.stats.metrics.load_predictions`).
    """
    from marsutils.stats.metrics import load_predictions

    path = Path(path)
    if not path.is_file():
        return None
    from marsutils.stats.metrics import MetricsError

    frame = load_predictions(path, n_classes=len(paper.DATASET_CLASSES))
    extra = pd.read_csv(path, dtype={"data_fingerprint": str})
    missing = [c for c in ("row", "data_fingerprint") if c not in extra.columns]
    if missing:
        raise MetricsError(f"{path}: missing column(s) {missing}: not an external predictions file")
    same = (
        (extra["data_fingerprint"] == ext.fingerprint).all()
        and np.array_equal(extra["row"].to_numpy(), ext.rows)
        and np.array_equal(frame["y_true"].to_numpy(), ext.y_true)
    )
    return frame.assign(row=extra["row"].to_numpy()) if same else None


def _predict_one(files: ExperimentFiles, ext: ExternalFolder, profile: Profile) -> pd.DataFrame:
    from marsutils.evaluate import load_classifier
    from marsutils.train import predict_proba

    model, info = load_classifier(files.best)
    if tuple(info["class_names"]) != tuple(paper.DATASET_CLASSES):
        raise DataError(
            f"{files.best}: the model's classes {list(info['class_names'])} are not the "
            f"study's {list(paper.DATASET_CLASSES)}"
        )
    probs = predict_proba(
        model,
        ext.folder.images,
        ext.rows,
        image_size=int(info["image_size"]),
        device="cpu",
        precision=profile.precision or "fp32",
    )
    frame = _frame(ext, probs)
    atomic_write(files.external(ext.name), lambda tmp: frame.to_csv(tmp, index=False))
    return frame


def predict_external(
    run_dir: str | os.PathLike,
    profile: Profile,
    ext: ExternalFolder,
    *,
    seed: int = 0,
    models: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Predict ``ext`` with every fold's model of every compared classifier of the run.

    A current predictions file (:func:`read_external`) is reused; a missing or stale one is
    written from the experiment's ``best_model.pt`` (loaded with ``weights_only=True``).

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    profile : Profile
        The run's profile (:func:`external_specs`; its ``precision`` for the forward pass).
    ext : ExternalFolder
        The folder (:func:`external_folder`).
    models : sequence of str, optional
        Only these classifiers (default: all of :func:`external_specs`).

    Returns
    -------
    dict
        Model -> ``specs`` (list of ClassifierSpec), ``frames`` (one predictions frame per spec,
        None where missing), ``predicted`` (keys predicted now), ``missing`` (key -> reason).

    Raises
    ------
    marsutils.evaluate.checkpoint.CheckpointError, DataError
        A checkpoint does not fit its ``done.json`` or the study's classes.
    """
    layout = RunLayout(run_dir)
    out: dict[str, dict[str, Any]] = {}
    for model, specs in external_specs(profile, seed).items():
        if models is not None and model not in models:
            continue
        entry: dict[str, Any] = {"specs": specs, "frames": [], "predicted": [], "missing": {}}
        for spec in specs:
            files = layout.files(spec.key, seed)
            frame = read_external(files.external(ext.name), ext)
            if frame is None and files.best.is_file() and files.done.is_file():
                frame = _predict_one(files, ext, profile)
                entry["predicted"].append(spec.key)
            elif frame is None:
                entry["missing"][spec.key] = (
                    NOT_TRAINED if not files.done.is_file() else WEIGHTS_NOT_KEPT
                )
            entry["frames"].append(frame)
        out[model] = entry
    return out
