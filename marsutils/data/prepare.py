"""Everything a notebook needs before training: dataset, image cache, families and splits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from marsutils.core.layout import RunLayout
from marsutils.data.imagecache import content_hash, load_images
from marsutils.data.layouts import LandmarkDataset, load_dataset
from marsutils.data.splits import load_split, make_split, save_split, subsample_rows
from marsutils.data.twins import find_families

__all__ = ["PreparedData", "prepare_data", "split_path"]


@dataclass
class PreparedData:
    """The dataset, its ``(N, H, W)`` uint8 image cache, family ids and the requested splits.

    ``fingerprint`` is the data fingerprint (first 20 hex digits of
    :func:`~marsutils.data.imagecache.content_hash`: every name, label and image hash).
    ``messages`` lists what preparing reported (rebuilt stale splits, the official split's
    augmented copies).
    """

    dataset: LandmarkDataset
    images: np.ndarray
    families: np.ndarray
    rows: np.ndarray
    splits: dict[str, pd.DataFrame]
    fingerprint: str = ""
    messages: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names

    @property
    def family_frame(self) -> pd.DataFrame:
        """``row``, ``image``, ``label`` and ``family`` of every prepared row (any split's
        families: they are the dataset's, not the split's)."""
        rows = self.rows
        return pd.DataFrame(
            {
                "row": rows,
                "image": self.dataset.table["image"].to_numpy()[rows],
                "label": self.dataset.labels[rows],
                "family": self.families[rows],
            }
        )


def split_path(
    run_dir: str | os.PathLike, kind: str, seed: int, official_drop_augmented: bool = False
) -> Path:
    """Where split ``kind`` with ``seed`` is saved inside a run directory."""
    suffix = "-dropaug" if kind == "official" and official_drop_augmented else ""
    return RunLayout(run_dir).split_file(f"{kind}{suffix}", seed)


def _stale_reason(saved: pd.DataFrame, fingerprint: str, rows: np.ndarray, kind: str) -> str:
    """Why a saved split cannot be reused ("" when it can)."""
    if "data_fingerprint" not in saved.columns:
        return "it records no data fingerprint"
    old = str(saved["data_fingerprint"].iat[0]) if len(saved) else ""
    if old != fingerprint:
        return f"the data changed (fingerprint {old} -> {fingerprint})"
    if kind != "official" and set(saved["row"]) != set(rows.tolist()):
        return "it covers other rows (another max_images?)"
    return ""


def _official_message(dataset: LandmarkDataset, drop: bool) -> str:
    aug = dataset.notes.get("official_augmented", {})
    n_val, n_test = aug.get("val", 0), aug.get("test", 0)
    if drop:
        return (
            f"official split: dropped {n_val} augmented copies from val and {n_test} from test "
            "(official_drop_augmented=True)"
        )
    return (
        f"official split as published: {n_val} augmented copies in val, {n_test} in test "
        "(official_drop_augmented=True drops them)"
    )


def prepare_data(
    data_dir: str | os.PathLike | None = None,
    *,
    splits: tuple[str, ...] = ("family", "paper"),
    seed: int = 0,
    max_images: int | None = None,
    run_dir: str | os.PathLike | None = None,
    progress: bool = True,
    official_drop_augmented: bool = False,
) -> PreparedData:
    """Load (and cache) everything; save each split as CSV under ``run_dir/splits``.

    A split already saved in ``run_dir`` is read back rather than recomputed, so every notebook
    of a run sees exactly the same split, but only while the data fingerprint and rows it was
    built for still hold: a changed label, image or row count rebuilds it (and says so, in
    ``messages`` and on stdout when ``progress``). ``max_images`` takes a stratified random
    subset first (used by the ``smoke`` profile). ``official_drop_augmented`` is passed to
    :func:`~marsutils.data.splits.make_split`.

    Raises
    ------
    DataError
        The folder cannot be read, or a class has a single image, which no stratified subset or
        split can draw (:func:`~marsutils.data.splits.check_stratifiable`).
    """
    dataset = load_dataset(data_dir)
    images = load_images(dataset, progress=progress)
    fingerprint = content_hash(dataset)[:20]
    families = find_families(dataset, images)
    rows = subsample_rows(
        dataset.labels, max_images, seed, class_names=dataset.class_names, source=str(dataset.root)
    )
    out: dict[str, pd.DataFrame] = {}
    messages: list[str] = []
    for kind in splits:
        path = (
            split_path(run_dir, kind, seed, official_drop_augmented)
            if run_dir is not None
            else None
        )
        if kind == "official":
            messages.append(_official_message(dataset, official_drop_augmented))
        if path is not None and path.is_file():
            saved = load_split(path)
            reason = _stale_reason(saved, fingerprint, rows, kind)
            if not reason:
                out[kind] = saved
                continue
            messages.append(f"rebuilding the saved split {path}: {reason}")
        split = make_split(
            dataset,
            kind,
            families,
            seed=seed,
            rows=rows,
            official_drop_augmented=official_drop_augmented,
        )
        split["data_fingerprint"] = fingerprint
        out[kind] = split
        if path is not None:
            save_split(split, path)
    if progress:
        for message in messages:
            print(message)
    return PreparedData(dataset, images, families, rows, out, fingerprint, messages)
