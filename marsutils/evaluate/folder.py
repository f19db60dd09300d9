"""A trained classifier scored on every image of a labelled folder whose class it knows.

The folder's classes are matched to the model's **by name**
(:func:`~marsutils.data.classes.match_classes`); the result holds accuracy, balanced accuracy,
macro F1 and mean IoU, each with a percentile bootstrap interval that resamples whole twin
families (:func:`~marsutils.evaluate.scores.clustered_bootstrap_ci`), the confusion matrix, the
classes that did not match and the overlap with the training images
(:func:`~marsutils.evaluate.overlap.overlap_section`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from marsutils.data.classes import match_classes
from marsutils.data.errors import DataError
from marsutils.evaluate.overlap import TrainingImages, overlap_section
from marsutils.evaluate.scores import clustered_bootstrap_ci, confusion_scores

__all__ = ["ScoredFolder", "evaluate_folder", "load_folder"]


def evaluate_folder(
    model: Any,
    class_names: Sequence[str],
    data_dir: str | os.PathLike,
    *,
    image_size: int,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    views: int = 1,
    device: str | None = None,
    progress: bool = False,
    training: TrainingImages | str | None = None,
) -> dict[str, Any]:
    """Score ``model`` on every labelled image of ``data_dir`` whose class it knows.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 3, image_size, image_size)`` images to ``(B, len(class_names))`` logits.
    class_names : sequence of str
        The model's classes in output order.
    data_dir : path-like
        A folder of any layout :func:`~marsutils.data.load_dataset` reads.
    image_size : int
        Model input side in pixels.
    n_boot, confidence, seed :
        Passed to :func:`~marsutils.evaluate.scores.clustered_bootstrap_ci` (groups: the
        folder's twin families).
    views : int
        Dihedral test-time augmentation views (1 = none).
    training : TrainingImages or str, optional
        The model's training images (:func:`~marsutils.evaluate.overlap.training_images`), to
        count the scored images that are twins of them
        (:func:`marsutils.data.overlap.training_overlap`) and score the rest; a str is the
        reason this could not be checked, reported as given.

    Returns
    -------
    dict
        ``data_dir``, ``layout``, ``n_images`` (scored), ``classes`` (mapped / data_only /
        model_only / synonyms_used), ``excluded_images`` (per data-only class),
        ``scored_classes`` (model classes with at least one true image: the ``labels=`` of
        every macro average), ``no_image_of`` (the other model classes, in model order; left
        out of the macro averages, their predictions still errors), ``metrics`` (estimate and
        family-clustered interval per score), ``per_class`` (scored classes),
        ``confusion_matrix`` (rows true, columns predicted, over all the model's classes),
        ``class_names`` and ``overlap`` (``checked``; when checked the counts of
        :meth:`~marsutils.data.overlap.Overlap.counts`, ``n_images_without_overlap`` and
        ``metrics_without_overlap``, the same scores over the scored images outside every
        overlapping twin family; else the ``reason``).

    Raises
    ------
    DataError
        The folder cannot be read, or no image has a class the model knows.
    """
    from marsutils.train import predict_proba, resolve_device

    folder = load_folder(data_dir, class_names, progress)
    model = model.to(resolve_device(device))
    probs = predict_proba(
        model, folder.images, folder.keep, image_size=image_size, device=device, views=views
    )
    score = _scoring(folder, probs.argmax(axis=1), len(class_names), n_boot, confidence, seed)
    return {
        **_folder_section(folder, class_names, score.scored),
        "metrics": score(folder.keep),
        **_confusion_section(score, class_names),
        "overlap": overlap_section(
            training, folder.dataset, folder.images, folder.families, folder.keep, score
        ),
        "settings": {
            "image_size": int(image_size),
            "views": int(views),
            "interval": "percentile bootstrap over twin families (cluster bootstrap)",
        },
    }


@dataclass(frozen=True)
class ScoredFolder:
    """A labelled folder read for scoring: ``keep`` are the rows of a class the model knows,
    ``y_true`` their model class ids."""

    dataset: Any
    match: Any
    keep: np.ndarray
    y_true: np.ndarray
    images: np.ndarray
    families: np.ndarray

    def class_sections(self, class_names: Sequence[str], scored: Sequence[int]) -> dict[str, Any]:
        """How the folder's classes met ``class_names``: ``classes`` (the match), the
        ``excluded_images`` per folder class the model lacks, and the model's ``scored_classes``
        (the ids in ``scored``) and the rest as ``no_image_of``."""
        dataset, labels = self.dataset, self.dataset.labels
        excluded = {
            dataset.class_names[c]: int((labels == c).sum())
            for c in range(len(dataset.class_names))
            if c not in self.match.mapping
        }
        return {
            "classes": self.match.as_dict(dataset.class_names, class_names),
            "excluded_images": excluded,
            "scored_classes": [class_names[j] for j in scored],
            "no_image_of": [n for j, n in enumerate(class_names) if j not in scored],
        }


def load_folder(
    data_dir: str | os.PathLike, class_names: Sequence[str], progress: bool
) -> ScoredFolder:
    """Read ``data_dir``, match its classes to ``class_names``, decode it, find its families."""
    from marsutils.data import find_families, load_dataset, load_images

    dataset = load_dataset(data_dir)
    try:
        match = match_classes(dataset.class_names, class_names)
    except ValueError as err:
        raise DataError(f"{dataset.root}: {err}") from err
    labels = dataset.labels
    keep = np.flatnonzero(np.isin(labels, list(match.mapping)))
    if len(keep) == 0:
        raise DataError(f"{dataset.root}: no image has a class the model knows")
    images = load_images(dataset, progress=progress)
    families = find_families(dataset, images)
    to_model = np.full(len(dataset.class_names), -1)
    for d, m in match.mapping.items():
        to_model[d] = m
    return ScoredFolder(dataset, match, keep, to_model[labels[keep]], images, families)


@dataclass(frozen=True)
class _Scoring:
    """Family-clustered scores of the predictions over any subset of the scored rows.

    ``at`` maps a dataset row to its position among the scored ones (-1: not scored).
    """

    at: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    families: np.ndarray
    n_classes: int
    scored: list[int]
    n_boot: int
    confidence: float
    seed: int

    def __call__(self, rows: np.ndarray) -> dict[str, dict[str, float]]:
        """Family-clustered scores over ``rows`` of the dataset (a subset of the scored ones)."""
        i = self.at[rows]
        return clustered_bootstrap_ci(
            self.y_true[i],
            self.y_pred[i],
            self.families[rows],
            n_classes=self.n_classes,
            scored=self.scored,
            n_boot=self.n_boot,
            confidence=self.confidence,
            random_state=self.seed,
        )

    def confusion(self) -> np.ndarray:
        """Confusion matrix ``(K, K)`` of all scored rows (rows true, columns predicted)."""
        cm = np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        np.add.at(cm, (self.y_true, self.y_pred), 1)
        return cm


def _scoring(
    folder: ScoredFolder,
    y_pred: np.ndarray,
    n_classes: int,
    n_boot: int,
    confidence: float,
    seed: int,
) -> _Scoring:
    """The scoring of predictions ``y_pred`` of ``folder.keep``, with these interval settings."""
    at = np.full(len(folder.dataset), -1)
    at[folder.keep] = np.arange(len(folder.keep))
    # macro averages over the classes with a true image (scikit-learn's labels=present): a
    # matched class the folder has no image of would otherwise add a 0 to every average
    scored = np.unique(folder.y_true).tolist()
    return _Scoring(
        at, folder.y_true, y_pred, folder.families, n_classes, scored, n_boot, confidence, seed
    )


def _folder_section(
    folder: ScoredFolder, class_names: Sequence[str], scored: list[int]
) -> dict[str, Any]:
    """What was scored: the folder, its images and families, and how the classes matched."""
    dataset = folder.dataset
    return {
        "data_dir": str(dataset.root),
        "layout": dataset.layout,
        "n_images": len(folder.keep),
        "n_families": len(np.unique(folder.families[folder.keep])),
        "class_names": list(class_names),
        **folder.class_sections(class_names, scored),
    }


def _confusion_section(score: _Scoring, class_names: Sequence[str]) -> dict[str, Any]:
    """``per_class`` scores of the scored classes and the ``confusion_matrix``."""
    cm = score.confusion()
    per = confusion_scores(cm, score.scored)
    per_class = [
        {
            "class": class_names[j],
            "support": int(cm[j].sum()),
            "predicted": int(cm[:, j].sum()),
            **{m: float(per[m][i]) for m in ("precision", "recall", "f1", "iou")},
        }
        for i, j in enumerate(score.scored)
    ]
    return {"per_class": per_class, "confusion_matrix": cm.tolist()}
