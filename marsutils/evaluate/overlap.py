"""The overlap of a scored folder with the images a classifier was trained on.

For a checkpoint inside a run folder, :func:`training_images` finds the train and val images of
its split file (in a training folder checked against the split file's data fingerprint);
:func:`overlap_section` counts the scored images that are twins of them (same name in the same
folder, same bytes, or a dihedral thumbnail match: :mod:`marsutils.data.overlap`) and scores the
scored images outside their twin families.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marsutils.data.errors import DataError

__all__ = ["TrainingImages", "overlap_section", "training_images"]


@dataclass(frozen=True)
class TrainingImages:
    """The images a classifier was fitted or selected on: ``rows`` of ``dataset``.

    ``rows`` are the ``train`` and ``val`` rows of the run's split file ``source`` (validation
    images choose the learning-rate schedule's end and are seen by the model's selection).
    """

    dataset: Any
    rows: np.ndarray
    source: str


def training_images(
    checkpoint: str | os.PathLike, training_data_dir: str | os.PathLike | None = None
) -> TrainingImages | str:
    """Find the training images of a checkpoint inside a run folder, or say why not.

    The checkpoint must lie at ``<run>/experiments/<split>/<config>/seed<k>/`` (the
    :class:`~marsutils.core.layout.RunLayout`); its split file ``<run>/splits/<split>-seed<k>.csv``
    names the rows, and the training folder (``training_data_dir``, else ``$MARS_DATA_DIR``, else
    the shared sample: :func:`~marsutils.data.locate_data_dir`) must have the split file's data
    fingerprint, so rows are never matched against another version of the data.

    Returns
    -------
    TrainingImages, or str
        The reason the overlap cannot be checked (no run folder, no split file, no training
        folder, or a training folder with another fingerprint).

    Raises
    ------
    DataError
        ``training_data_dir`` is given and does not exist, or the split file is malformed.
    """
    from marsutils.core.layout import RunLayout
    from marsutils.data import load_dataset, load_split, locate_data_dir
    from marsutils.data.imagecache import content_hash

    path = Path(checkpoint).resolve()
    parts = path.parent.parts
    if "experiments" not in parts:
        return f"{path} is not inside a run folder (<run>/experiments/...): no split file"
    at = len(parts) - 1 - parts[::-1].index("experiments")
    run_dir, rest = Path(*parts[:at]), parts[at + 1 :]
    seed = int(rest[-1][4:]) if rest and rest[-1][4:].isdigit() else 0
    split_path = RunLayout(run_dir).split_file(rest[0], seed) if rest else None
    if split_path is None or not split_path.is_file():
        return f"the run's split file {split_path} does not exist"
    split = load_split(split_path)
    if training_data_dir is None:
        try:
            root = locate_data_dir(None)
        except DataError as err:
            return f"no training folder to compare with ({err}); pass --training-data-dir"
    else:
        root = locate_data_dir(training_data_dir)
    data = load_dataset(root)
    want = str(split["data_fingerprint"].iat[0]) if "data_fingerprint" in split else ""
    have = content_hash(data)[: len(want)] if want else ""
    if not want or have != want:
        return (
            f"the training folder {root} (fingerprint {have or '?'}) is not the data of "
            f"{split_path} (fingerprint {want or 'not recorded'}); pass --training-data-dir"
        )
    fitted = split.loc[split["subset"].isin(["train", "val"]), "row"].to_numpy(dtype=np.int64)
    return TrainingImages(dataset=data, rows=fitted, source=str(split_path))


def overlap_section(
    training: TrainingImages | str | None,
    dataset: Any,
    images: np.ndarray,
    families: np.ndarray,
    keep: np.ndarray,
    score: Callable[[np.ndarray], dict[str, dict[str, float]]],
) -> dict[str, Any]:
    """The ``overlap`` entry of :func:`~marsutils.evaluate.folder.evaluate_folder`'s result.

    Parameters
    ----------
    training : TrainingImages, str or None
        The model's training images (:func:`training_images`); a str is the reason they could
        not be found, None means the overlap was not asked for.
    dataset : LandmarkDataset
        The scored folder, of N images.
    images : numpy.ndarray of uint8, shape (N, H, W)
        Its decoded images.
    families : numpy.ndarray of int, shape (N,)
        Twin family of each of its images.
    keep : numpy.ndarray of int
        Rows of ``dataset`` that are scored.
    score : callable
        ``score(rows)``: the scores (:func:`~marsutils.evaluate.scores.clustered_bootstrap_ci`)
        of a subset of ``keep``.

    Returns
    -------
    dict
        ``checked`` and, when False, the ``reason``; when True, ``source``,
        ``n_training_images``, the counts of :meth:`~marsutils.data.overlap.Overlap.counts`,
        ``n_images_without_overlap``, ``metrics_without_overlap`` (None when every scored image
        overlaps) and the ``rule``.
    """
    if training is None:
        return {"checked": False, "reason": "not asked for"}
    if isinstance(training, str):
        return {"checked": False, "reason": training}
    from marsutils.data import load_images
    from marsutils.data.overlap import training_overlap

    rows = training.rows
    found = training_overlap(
        dataset.subset(keep),
        images[keep],
        families[keep],
        training.dataset.subset(rows),
        load_images(training.dataset, progress=False)[rows],
    )
    clean = keep[~found.overlapping]
    return {
        "checked": True,
        "source": training.source,
        "n_training_images": found.n_training,
        **found.counts(),
        "n_images_without_overlap": len(clean),
        "metrics_without_overlap": score(clean) if len(clean) else None,
        "rule": "twin of a train or val image by name (same folder), bytes or dihedral "
        "thumbnail; whole twin families of the scored folder left out",
    }
