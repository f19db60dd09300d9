"""Seeded k-fold splits by tile: a tile's pixels are never in both training and validation."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import KFold

__all__ = ["tile_folds"]


def tile_folds(
    n_tiles: int, *, n_splits: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_indices, val_indices)`` per fold, from ``KFold(shuffle=True, random_state=seed)``.

    Indices refer to positions in the tile list; every tile is validated exactly once.
    """
    if n_splits < 2 or n_splits > n_tiles:
        raise ValueError(f"n_splits must be between 2 and the number of tiles ({n_tiles}).")
    kfold = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(train, val) for train, val in kfold.split(np.arange(n_tiles))]
