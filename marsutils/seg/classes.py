"""The models' class space and its mapping from the dataset's mask values.

Masks store ``classes.csv`` ids. Models predict four channels, one per labelled terrain class:

=========  ================  ==========
mask id    class             model id
=========  ================  ==========
0          background        255 (ignored)
1          crater            0
2          rough             1
3          smooth            2
4          alluvial fan      3
5          boulders          255 (dropped)
=========  ================  ==========

Unlabelled pixels (mask 0) are not a terrain class: nobody drew a polygon there, so they carry no
label. They become :data:`IGNORE_INDEX` and are skipped by the loss
(``CrossEntropyLoss(ignore_index=255)``) and by :func:`~marsutils.seg.metrics.pixel_iou`.
Boulders is listed in the legend but no polygon uses it, so the models get no channel for it; a
boulder pixel, should one appear, is ignored as well.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from marsutils.seg.tiles import SegTile

__all__ = [
    "CLASS_NAMES",
    "CRATER_MASK_ID",
    "IGNORE_INDEX",
    "MASK_TO_MODEL",
    "NUM_CLASSES",
    "class_share_table",
    "example_tiles",
    "to_model_targets",
]

#: Names of the four model outputs, in channel order.
CLASS_NAMES: tuple[str, ...] = ("crater", "rough", "smooth", "alluvial fan")
NUM_CLASSES = len(CLASS_NAMES)
#: Target value of pixels that count in neither the loss nor the metric.
IGNORE_INDEX = 255
#: Mask id of the crater class in ``classes.csv``.
CRATER_MASK_ID = 1

#: Lookup table from mask value (0..255) to model target; unknown values map to IGNORE_INDEX.
MASK_TO_MODEL = np.full(256, IGNORE_INDEX, dtype=np.uint8)
MASK_TO_MODEL[1:5] = np.arange(NUM_CLASSES, dtype=np.uint8)
#: Names of the mask ids 0..5 of ``classes.csv``, as the chapter's class-share table shows them.
_MASK_NAMES = ("unlabelled", *CLASS_NAMES, "boulders")


def to_model_targets(mask: np.ndarray) -> np.ndarray:
    """Map a ``uint8`` class-index mask to model targets (ids shifted by -1, 0 and 5 -> 255)."""
    mask = np.asarray(mask)
    if mask.dtype != np.uint8:
        raise TypeError(f"mask must be uint8 class ids, got dtype {mask.dtype}.")
    return MASK_TO_MODEL[mask]


def class_share_table(tiles: Sequence[SegTile]) -> pd.DataFrame:
    """Per mask class (unlabelled included): pixels, share of all pixels (%), tiles holding it."""
    masks = np.stack([t.mask for t in tiles])
    counts = np.bincount(masks.reshape(-1), minlength=len(_MASK_NAMES))[: len(_MASK_NAMES)]
    present = [(masks == k).any(axis=(1, 2)).sum() for k in range(len(_MASK_NAMES))]
    return pd.DataFrame(
        {
            "pixels": counts,
            "share_%": 100 * counts / masks.size,
            "tiles": present,
        },
        index=pd.Index(_MASK_NAMES, name="class"),
    )


def example_tiles(tiles: Sequence[SegTile], n: int) -> list[SegTile]:
    """``n`` tiles showing the most classes (ties: the larger labelled share), in stem order."""

    def richness(tile: SegTile) -> tuple[int, float]:
        labelled = to_model_targets(tile.mask)
        present = len(set(np.unique(labelled).tolist()) - {IGNORE_INDEX})
        return present, float(np.mean(labelled != IGNORE_INDEX))

    ranked = sorted(range(len(tiles)), key=lambda i: richness(tiles[i]), reverse=True)
    return [tiles[i] for i in sorted(ranked[:n])]
