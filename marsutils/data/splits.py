"""Seeded, stratified train/val/test splits, their CSV files and their twin leakage.

* ``paper``: random image-level 80/20 (the paper's protocol); validation carved from train the
  same way. Twins of test images land in train.
* ``family``: 80/20 with whole twin families on one side (``StratifiedGroupKFold``), validation
  carved from train the same way. No family crosses a boundary.
* ``<kind>-cv<K>-f<k>`` (``kind`` ``family`` or ``paper``): fold ``k`` of K-fold
  cross-validation drawn with the seed. ``family`` folds hold whole twin families and keep each
  class's share (scikit-learn's ``StratifiedGroupKFold``); ``paper`` folds are random and
  image-level (``StratifiedKFold``: the paper's protocol as folds, twins leak). Fold ``k`` is the
  test part; validation (for the learning curve and the plateau rule) is carved from the other
  K - 1 folds the same way as in the hold-out split (by family, or by image for ``paper``).
  Over ``k = 0 .. K-1`` every image is tested exactly once per seed.
* ``official``: the JPL v3.2 release's own split (by source observation), as published: its val
  and test parts hold augmented copies too (counted in ``dataset.notes["official_augmented"]``);
  ``official_drop_augmented=True`` drops those from val and test. JPL v3.2 layout only.

Every stratified draw (the ``paper`` and ``family`` splits and folds, and the ``max_images``
subset of :func:`subsample_rows`) needs at least 2 images of each class it splits: a class with a
single image stops with a :class:`~marsutils.data.DataError` naming it, before scikit-learn is
called. (Inside a split, a class left with one image in a fold's training part keeps it on the
training side when validation is carved.)

A split is a DataFrame with columns ``row`` (position in the dataset table), ``image``, ``label``,
``family``, ``subset`` (train/val/test), ``split``, ``seed`` and, when built through
:func:`~marsutils.data.prepare.prepare_data`, ``data_fingerprint`` (the first 20 hex digits of
:func:`~marsutils.data.imagecache.content_hash`), so a saved split is never reused for other data.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from marsutils.data.errors import DataError
from marsutils.data.layouts import LandmarkDataset

__all__ = [
    "SPLIT_KINDS",
    "SplitName",
    "parse_split",
    "make_split",
    "subsample_rows",
    "check_stratifiable",
    "save_split",
    "load_split",
    "leakage_report",
]

SPLIT_KINDS = ("paper", "family", "official")
_COLUMNS = ["row", "image", "label", "family", "subset", "split", "seed"]
_FOLD_NAME = re.compile(r"(family|paper)-cv(\d+)(?:-f(\d+))?")


@dataclass(frozen=True)
class SplitName:
    """A parsed split name: its ``kind`` and, for a cross-validation fold, ``folds`` and
    ``fold`` (both None for a hold-out split)."""

    kind: str
    folds: int | None = None
    fold: int | None = None

    @property
    def is_fold(self) -> bool:
        """True for one cross-validation fold."""
        return self.fold is not None

    @property
    def is_pooled(self) -> bool:
        """True for ``<kind>-cv<K>``: the K folds pooled (a name for results, not a split)."""
        return self.folds is not None and self.fold is None


def parse_split(name: str) -> SplitName:
    """Parse ``"family"``, ``"paper"``, ``"official"``, a fold name ``"family-cv5-f0"`` or the
    name of pooled folds ``"family-cv5"``.

    Raises
    ------
    DataError
        For another name, or a fold index outside ``0 .. K-1`` or ``K < 2``.
    """
    if name in SPLIT_KINDS:
        return SplitName(name)
    match = _FOLD_NAME.fullmatch(str(name))
    if match is None:
        raise DataError(
            f"unknown split {name!r}; choose one of {SPLIT_KINDS} or a fold "
            "'<family|paper>-cv<K>-f<k>'"
        )
    kind, folds = match.group(1), int(match.group(2))
    fold = None if match.group(3) is None else int(match.group(3))
    if folds < 2 or (fold is not None and not 0 <= fold < folds):
        raise DataError(f"split {name!r}: need K >= 2 folds and 0 <= k < K")
    return SplitName(kind, folds, fold)


def check_stratifiable(
    labels: np.ndarray,
    class_names: Sequence[str] | None = None,
    *,
    source: str = "the data",
    what: str = "a stratified split",
) -> None:
    """Raise if a class has a single image, which no stratified draw can split.

    scikit-learn's ``train_test_split(..., stratify=)`` stops with "The least populated class in
    y has only 1 member"; ``StratifiedKFold`` and ``StratifiedGroupKFold`` put the image on one
    side only (a class never tested, or never trained on).

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (n,)
        Class id of each image to be split.
    class_names : sequence of str, optional
        Names by class id, for the message.
    source : str
        The data folder (or other source) named in the message.
    what : str
        The draw named in the message.

    Raises
    ------
    DataError
        Naming every class with one image (id, name and count) and what to do.
    """
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    lone = values[counts < 2]
    if len(lone) == 0:
        return
    named = ", ".join(
        f"class {int(c)} ({class_names[int(c)]!r})" if class_names is not None else f"class {c}"
        for c in lone
    )
    verb = "has" if len(lone) == 1 else "each have"
    raise DataError(
        f"{source}: {named} {verb} 1 image among the {len(labels)} images of {what}; a "
        "stratified split needs at least 2 images per class (and 2 twin families to reach both "
        "sides of the family split): drop the class or add images of it"
    )


def subsample_rows(
    labels: np.ndarray,
    n: int | None,
    seed: int,
    *,
    class_names: Sequence[str] | None = None,
    source: str = "the data",
) -> np.ndarray:
    """A stratified random choice of ``n`` row positions (all rows when ``n`` is None or large).

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (N,)
    n : int or None
        Number of rows to keep (``max_images`` of a profile).
    seed : int
    class_names, source :
        Named by the error (see :func:`check_stratifiable`).

    Returns
    -------
    numpy.ndarray of int, shape (min(n, N),)
        Sorted row positions.

    Raises
    ------
    DataError
        ``n < N`` and a class has a single image.
    """
    rows = np.arange(len(labels))
    if n is None or n >= len(labels):
        return rows
    check_stratifiable(
        labels, class_names, source=source, what=f"the stratified subset of max_images={n}"
    )
    keep, _ = train_test_split(rows, train_size=n, stratify=labels, random_state=seed)
    return np.sort(keep)


def _group_holdout(
    rows: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    n_splits = max(2, round(1 / fraction))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        keep, held = next(cv.split(rows, labels[rows], groups[rows]))
    return rows[keep], rows[held]


def _random_holdout(
    rows: np.ndarray, labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random hold-out; a class with a single image in ``rows`` cannot be split and
    stays on the kept side (stratification needs two)."""
    values, counts = np.unique(labels[rows], return_counts=True)
    single = np.isin(labels[rows], values[counts < 2])
    keep, held = train_test_split(
        rows[~single], test_size=fraction, stratify=labels[rows[~single]], random_state=seed
    )
    return np.sort(np.concatenate([keep, rows[single]])), np.sort(held)


def _fold(
    rows: np.ndarray, labels: np.ndarray, groups: np.ndarray, name: SplitName, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, test rows) of fold ``name.fold`` of ``name.folds`` drawn with ``seed``."""
    if name.kind == "family":
        cv = StratifiedGroupKFold(n_splits=name.folds, shuffle=True, random_state=seed)
        args = (rows, labels[rows], groups[rows])
    else:
        cv = StratifiedKFold(n_splits=name.folds, shuffle=True, random_state=seed)
        args = (rows, labels[rows])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        for k, (keep, held) in enumerate(cv.split(*args)):
            if k == name.fold:
                return rows[keep], rows[held]
    raise AssertionError("unreachable: the fold index was checked by parse_split")


def make_split(
    dataset: LandmarkDataset,
    kind: str,
    families: np.ndarray,
    seed: int = 0,
    test_size: float = 0.2,
    val_size: float = 0.1,
    rows: np.ndarray | None = None,
    official_drop_augmented: bool = False,
) -> pd.DataFrame:
    """Build split ``kind`` over ``rows`` (default: all rows) of ``dataset``.

    Parameters
    ----------
    dataset : LandmarkDataset
    kind : {"paper", "family", "official"} or a fold name ``"<family|paper>-cv<K>-f<k>"``
        See the module docstring (:func:`parse_split`).
    families : numpy.ndarray of int, shape (N,)
        Twin family id per dataset row.
    seed : int
    test_size : float
        Fraction of ``rows`` held out for test (a fold's test part is the fold itself).
    val_size : float
        Fraction of the training part that becomes validation.
    rows : numpy.ndarray of int, optional
        Row positions to split (default: all).
    official_drop_augmented : bool
        ``official`` only: drop the augmented copies the published split puts in val and test
        (default False: the split as published).

    Raises
    ------
    DataError
        Unknown ``kind``, wrong ``families`` length, ``official`` outside the v3.2 layout, or
        (any other kind) a class with a single image among ``rows`` (:func:`check_stratifiable`),
        or too few images or twin families for scikit-learn to draw the stratified test and
        validation parts (naming the folder, the counts and scikit-learn's reason).
    """
    name = parse_split(kind)
    if name.is_pooled:
        raise DataError(f"{kind!r} names pooled folds; make one fold, e.g. '{kind}-f0'")
    families = np.asarray(families)
    if len(families) != len(dataset):
        raise DataError(f"{len(families)} family ids for {len(dataset)} images")
    rows = np.arange(len(dataset)) if rows is None else np.asarray(rows)
    if kind == "official":  # the published split is taken as it is
        subset = _official_subset(dataset, rows, official_drop_augmented)
    else:
        subset_of = f" (a subset of the {len(dataset)})" if len(rows) < len(dataset) else ""
        check_stratifiable(
            dataset.labels[rows],
            dataset.class_names,
            source=str(dataset.root),
            what=f"the {kind!r} split{subset_of}",
        )
        try:
            subset = _drawn_subset(dataset.labels, families, rows, name, seed, test_size, val_size)
        except ValueError as err:  # scikit-learn: too few images or families for the draw
            n_classes = len(np.unique(dataset.labels[rows]))
            n_families = len(np.unique(families[rows]))
            raise DataError(
                f"{dataset.root}: the {kind!r} split{subset_of} cannot be drawn from "
                f"{len(rows)} images of {n_classes} classes in {n_families} twin families "
                f"(test_size={test_size}, val_size={val_size}): {err}. Each of test, "
                "validation and training needs at least one image of every class (and a family "
                "split one family per fold): add images, or use a larger folder"
            ) from err
    return _split_frame(dataset, families, subset, kind, seed)


def _official_subset(
    dataset: LandmarkDataset, rows: np.ndarray, drop_augmented: bool
) -> np.ndarray:
    """Subset name per dataset row ("" = unused) of the JPL v3.2 release's own split."""
    if dataset.layout != "jpl-v3.2":
        raise DataError("the official split exists only in the JPL v3.2 layout")
    subset = np.full(len(dataset), "", dtype=object)
    subset[rows] = dataset.table["official"].to_numpy()[rows]
    if drop_augmented:
        is_aug = (dataset.table["image"] != dataset.table["base"]).to_numpy()
        subset[is_aug & np.isin(subset, ["val", "test"])] = ""
    return subset


def _drawn_subset(
    labels: np.ndarray,
    families: np.ndarray,
    rows: np.ndarray,
    name: SplitName,
    seed: int,
    test_size: float,
    val_size: float,
) -> np.ndarray:
    """Subset name per dataset row ("" = unused) of a seeded ``paper``/``family`` split or fold."""
    if name.is_fold:
        train, test = _fold(rows, labels, families, name, seed)
    elif name.kind == "paper":
        train, test = _random_holdout(rows, labels, test_size, seed)
    else:
        train, test = _group_holdout(rows, labels, families, test_size, seed)
    if name.kind == "paper":
        train, val = _random_holdout(train, labels, val_size, seed + 1)
    else:
        train, val = _group_holdout(train, labels, families, val_size, seed + 1)
    subset = np.full(len(labels), "", dtype=object)
    subset[train], subset[val], subset[test] = "train", "val", "test"
    return subset


def _split_frame(
    dataset: LandmarkDataset, families: np.ndarray, subset: np.ndarray, kind: str, seed: int
) -> pd.DataFrame:
    """The split table of the rows with a subset (columns of :data:`_COLUMNS`)."""
    chosen = np.flatnonzero(subset != "")
    return pd.DataFrame(
        {
            "row": chosen,
            "image": dataset.table["image"].to_numpy()[chosen],
            "label": dataset.labels[chosen],
            "family": families[chosen],
            "subset": subset[chosen],
            "split": kind,
            "seed": seed,
        }
    )


def save_split(split: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``split`` as CSV atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    columns = _COLUMNS + [c for c in ("data_fingerprint",) if c in split.columns]
    split[columns].to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def load_split(path: str | os.PathLike) -> pd.DataFrame:
    """Read a split CSV written by :func:`save_split`, checking its columns."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"split file {path} does not exist")
    split = pd.read_csv(path, dtype={"data_fingerprint": str})
    missing = set(_COLUMNS) - set(split.columns)
    if missing:
        raise DataError(f"split file {path} lacks columns {sorted(missing)}")
    return split


def leakage_report(split: pd.DataFrame) -> dict[str, float | int]:
    """Share of val and test images with a twin (same family) in train, and test in val."""
    fam = {s: set(split.loc[split["subset"] == s, "family"]) for s in ("train", "val", "test")}

    def share(subset: str, other: str) -> float:
        part = split.loc[split["subset"] == subset, "family"]
        return float(part.isin(fam[other]).mean()) if len(part) else 0.0

    return {
        "split": str(split["split"].iat[0]),
        "seed": int(split["seed"].iat[0]),
        "n_train": int((split["subset"] == "train").sum()),
        "n_val": int((split["subset"] == "val").sum()),
        "n_test": int((split["subset"] == "test").sum()),
        "test_with_twin_in_train": share("test", "train"),
        "val_with_twin_in_train": share("val", "train"),
        "test_with_twin_in_val": share("test", "val"),
    }
