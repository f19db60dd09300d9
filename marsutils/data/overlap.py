"""Which images of a scored folder are twins of a model's training images.

A model scored on "another" folder may have seen some of its images: the same file (a release
redistributed under new names), a rotated, flipped or re-encoded copy, or the same landmark cut
again from the same HiRISE observation. :func:`training_overlap` marks every scored image that
has a twin among the training images, by the same three rules that build twin families
(:mod:`marsutils.data.twins`):

- **name**: the same file name, counted only when both tables come from one folder (across
  releases a name such as ``ESP_011623_2100_RED-0069.jpg`` is a per-release crop index, and the
  shared v3.2 sample is renamed ``1.jpg`` ...: names say nothing there);
- **bytes**: the same sha256;
- **look**: a dihedral thumbnail correlation above ``threshold`` (z-scored ``thumb x thumb``
  thumbnails under the 8 rotations and flips, :func:`~marsutils.data.twins.twin_pairs`'s test).

A scored image is then *overlapping* when any member of its twin family in the scored folder is
a twin of a training image (family members are copies of one landmark), so the non-overlapping
part is whole families.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from marsutils.data.imagecache import image_hashes
from marsutils.data.layouts import LandmarkDataset
from marsutils.data.twins import dihedral_views, thumbnails

__all__ = ["Overlap", "twins_in", "training_overlap"]

MATCHES = ("name", "bytes", "look")


@dataclass(frozen=True)
class Overlap:
    """The result of :func:`training_overlap` over ``n`` scored images.

    Attributes
    ----------
    match : numpy.ndarray of object, shape (n,)
        ``"name"``, ``"bytes"`` or ``"look"`` (the first rule that matched, in that order) for a
        scored image that is itself a twin of a training image, else ``""``.
    overlapping : numpy.ndarray of bool, shape (n,)
        True for every image whose twin family (in the scored folder) holds a matched image.
    n_training : int
        Number of training images compared against.
    """

    match: np.ndarray
    overlapping: np.ndarray
    n_training: int

    def counts(self) -> dict[str, int]:
        """Images matched per rule, the matched total and the overlapping (family) total."""
        out = {rule: int((self.match == rule).sum()) for rule in MATCHES}
        out["twin_images"] = int((self.match != "").sum())
        out["overlapping_images"] = int(self.overlapping.sum())
        return out


def twins_in(
    query: torch.Tensor, reference: torch.Tensor, threshold: float = 0.99, block: int = 512
) -> np.ndarray:
    """Whether each query thumbnail has a dihedral twin among ``reference``.

    Parameters
    ----------
    query, reference : torch.Tensor, shapes (Q, t, t) and (R, t, t)
        Thumbnails from :func:`~marsutils.data.twins.thumbnails` (z-scored, unit norm).
    threshold : float
        Pearson correlation above which two thumbnails are twins (as in
        :func:`~marsutils.data.twins.twin_pairs`).

    Returns
    -------
    numpy.ndarray of bool, shape (Q,)
    """
    if len(query) == 0 or len(reference) == 0:
        return np.zeros(len(query), dtype=bool)
    ref = reference.reshape(len(reference), -1)
    views = [v.reshape(len(query), -1) for v in dihedral_views(query)]
    found = np.zeros(len(query), dtype=bool)
    for start in range(0, len(query), block):
        best = torch.full((min(block, len(query) - start),), -1.0)
        for view in views:
            best = torch.maximum(best, (view[start : start + block] @ ref.T).amax(dim=1))
        found[start : start + block] = (best > threshold).numpy()
    return found


def training_overlap(
    scored: LandmarkDataset,
    scored_images: np.ndarray,
    scored_families: np.ndarray,
    training: LandmarkDataset,
    training_images: np.ndarray,
    *,
    threshold: float = 0.99,
    thumb: int = 32,
) -> Overlap:
    """Mark the scored images that are, or whose family holds, a twin of a training image.

    Parameters
    ----------
    scored : LandmarkDataset
        The folder being scored (every row).
    scored_images : numpy.ndarray, shape (N, H, W)
        Its images (:func:`~marsutils.data.imagecache.load_images`).
    scored_families : numpy.ndarray of int, shape (N,)
        Its twin families (:func:`~marsutils.data.twins.find_families`).
    training : LandmarkDataset
        The training images only (e.g. ``dataset.subset(train_and_val_rows)``).
    training_images : numpy.ndarray, shape (M, H, W)
        Their images, in the same order.
    threshold, thumb :
        The thumbnail matcher's correlation threshold and thumbnail side in pixels.

    Returns
    -------
    Overlap

    Raises
    ------
    ValueError
        The image arrays do not have one image per table row.
    """
    if len(scored_images) != len(scored) or len(scored_families) != len(scored):
        raise ValueError("scored_images and scored_families need one entry per scored row")
    if len(training_images) != len(training):
        raise ValueError("training_images needs one image per training row")
    match = np.full(len(scored), "", dtype=object)
    if scored.root == training.root:
        names = set(training.table["image"])
        match[np.isin(scored.table["image"].to_numpy(), list(names))] = "name"
    hashes = set(image_hashes(training))
    by_bytes = np.array([h in hashes for h in image_hashes(scored)], dtype=bool)
    match[(match == "") & by_bytes] = "bytes"
    open_rows = np.flatnonzero(match == "")
    by_look = twins_in(
        thumbnails(scored_images[open_rows], thumb),
        thumbnails(training_images, thumb),
        threshold,
    )
    match[open_rows[by_look]] = "look"
    touched = np.unique(scored_families[match != ""])
    overlapping = np.isin(scored_families, touched)
    return Overlap(match=match, overlapping=overlapping, n_training=len(training))
