"""Everything a notebook needs before training: dataset, image cache, families and splits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .imagecache import load_images
from .layouts import LandmarkDataset, load_dataset
from .splits import load_split, make_split, save_split, subsample_rows
from .twins import find_families

__all__ = ["PreparedData", "prepare_data", "split_path"]


@dataclass
class PreparedData:
    """The dataset, its ``(N, H, W)`` uint8 image cache, family ids and the requested splits."""

    dataset: LandmarkDataset
    images: np.ndarray
    families: np.ndarray
    rows: np.ndarray
    splits: dict[str, pd.DataFrame]

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names


def split_path(run_dir: str | os.PathLike, kind: str, seed: int) -> Path:
    """Where split ``kind`` with ``seed`` is saved inside a run directory."""
    return Path(run_dir) / "splits" / f"{kind}-seed{seed}.csv"


def prepare_data(
    data_dir: str | os.PathLike | None = None,
    *,
    splits: tuple[str, ...] = ("family", "paper"),
    seed: int = 0,
    max_images: int | None = None,
    run_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> PreparedData:
    """Load (and cache) everything; save each split as CSV under ``run_dir/splits``.

    A split already saved in ``run_dir`` is read back rather than recomputed, so every notebook
    of a run sees exactly the same split. ``max_images`` takes a stratified random subset first
    (used by the ``smoke`` profile).
    """
    dataset = load_dataset(data_dir)
    images = load_images(dataset, progress=progress)
    families = find_families(dataset, images)
    rows = subsample_rows(dataset.labels, max_images, seed)
    out: dict[str, pd.DataFrame] = {}
    for kind in splits:
        path = split_path(run_dir, kind, seed) if run_dir is not None else None
        if path is not None and path.is_file():
            out[kind] = load_split(path)
            continue
        out[kind] = make_split(dataset, kind, families, seed=seed, rows=rows)
        if path is not None:
            save_split(out[kind], path)
    return PreparedData(dataset, images, families, rows, out)
