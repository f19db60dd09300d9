"""Read the three on-disk layouts of the HiRISE landmark data into one table.

* ``sample``: ``labels.csv`` (filename,label) + ``images/`` + ``classmap.csv`` (label,name): the
  shared 8,201-image sample.
* ``jpl-v3.2``: the official JPL release (Doran et al. 2020, doi:10.5281/zenodo.4002935):
  ``labels-map-proj_v3_2.txt``, ``labels-map-proj_v3_2_train_val_test.txt``,
  ``landmarks_map-proj-v3_2_classmap.csv`` and ``map-proj-v3_2/``. Its official split (by source
  observation) is kept as published, augmented copies (``-r90 -r180 -r270 -fh -fv -brt``) in val
  and test included; :attr:`LandmarkDataset.notes` counts them, and
  ``make_split(..., official_drop_augmented=True)`` drops them.
* ``jpl-v1``: the first release (Wagstaff et al. 2018, doi:10.5281/zenodo.1048301):
  ``labels-map-proj.txt`` + ``map-proj/``, 7 classes (ids 0-6, ``edge`` included) and no class
  map file; the names come from :data:`~marsutils.data.classes.V1_CLASS_NAMES`.

Every label, split and class-map file goes through :mod:`marsutils.data.labelfiles`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from marsutils.data.classes import V1_CLASS_NAMES
from marsutils.data.errors import DataError
from marsutils.data.labelfiles import read_classmap, read_label_file
from marsutils.data.locate import locate_data_dir

__all__ = [
    "LandmarkDataset",
    "load_dataset",
    "detect_layout",
    "safe_relative_name",
    "AUGMENT_SUFFIXES",
    "JPL_FILES",
    "V1_FILES",
    "LAYOUTS",
]

AUGMENT_SUFFIXES = ("r90", "r180", "r270", "fh", "fv", "brt")
_AUG_RE = re.compile(r"-(" + "|".join(AUGMENT_SUFFIXES) + r")(?=\.[A-Za-z]+$)")
JPL_FILES = {
    "labels": "labels-map-proj_v3_2.txt",
    "split": "labels-map-proj_v3_2_train_val_test.txt",
    "classmap": "landmarks_map-proj-v3_2_classmap.csv",
    "images": "map-proj-v3_2",
}
V1_FILES = {"labels": "labels-map-proj.txt", "images": "map-proj"}
LAYOUTS = ("sample", "jpl-v3.2", "jpl-v1")


@dataclass(frozen=True)
class LandmarkDataset:
    """A labelled image table plus where its files live.

    ``table`` has one row per image with columns ``image`` (file name relative to ``image_dir``),
    ``label`` (int), ``base`` (the un-augmented name: the file name without an augmentation
    suffix) and ``official`` (train/val/test as published for the JPL v3.2 layout, else empty).
    ``notes`` holds what reading found and reported rather than refused: ``duplicate_rows`` per
    file (exact repeats counted once) and, for v3.2, ``official_augmented`` (augmented copies per
    official subset), ``official_unlisted`` and ``official_split_only``.
    """

    root: Path
    layout: str
    image_dir: Path
    table: pd.DataFrame
    class_names: tuple[str, ...]
    notes: dict = field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        """Integer labels, one per row."""
        return self.table["label"].to_numpy(dtype=np.int64)

    def path(self, i: int) -> Path:
        """The absolute path of row ``i``'s image."""
        return self.image_dir / self.table["image"].iat[i]

    def subset(self, rows: np.ndarray | list[int]) -> LandmarkDataset:
        """A dataset restricted to the given row positions (order kept as given)."""
        table = self.table.iloc[np.asarray(rows)].reset_index(drop=True)
        return LandmarkDataset(
            self.root, self.layout, self.image_dir, table, self.class_names, self.notes
        )


def safe_relative_name(name: str, where: str) -> str:
    """Return ``name`` if it is a plain relative path inside the data dir, else raise."""
    text = str(name).strip()
    pure = PurePosixPath(text.replace("\\", "/"))
    if not text or pure.is_absolute() or os.path.isabs(text) or ".." in pure.parts:
        raise DataError(f"{where}: file name {name!r} escapes the data directory; rejected")
    return pure.as_posix()


def detect_layout(root: Path) -> str:
    """``"sample"``, ``"jpl-v3.2"`` or ``"jpl-v1"``; :class:`DataError` when none is present."""
    if (root / "labels.csv").is_file():
        return "sample"
    if (root / JPL_FILES["labels"]).is_file():
        return "jpl-v3.2"
    if (root / V1_FILES["labels"]).is_file():
        return "jpl-v1"
    raise DataError(
        f"{root} holds neither labels.csv (the shared sample), {JPL_FILES['labels']} "
        f"(the JPL v3.2 release) nor {V1_FILES['labels']} (the v1 release); point MARS_DATA_DIR "
        "at one of them"
    )


def _check_labels(table: pd.DataFrame, class_names: tuple[str, ...], source: Path) -> None:
    bad = table[(table["label"] < 0) | (table["label"] >= len(class_names))]
    if len(bad):
        row = bad.iloc[0]
        raise DataError(
            f"{source}:{row['line']}: label {row['label']} of {row['image']} is not in the class "
            f"map (ids 0..{len(class_names) - 1}: {', '.join(class_names)})"
        )


def _labels_table(path: Path) -> tuple[pd.DataFrame, int]:
    parsed = read_label_file(path)
    table = parsed.table.copy()
    table["image"] = [
        safe_relative_name(n, f"{path}:{ln}")
        for n, ln in zip(table["image"], table["line"], strict=True)
    ]
    return table, parsed.duplicate_rows


def _finish(
    root: Path,
    layout: str,
    image_dir: Path,
    table: pd.DataFrame,
    classes: tuple[str, ...],
    labels_path: Path,
    notes: dict,
) -> LandmarkDataset:
    _check_labels(table, classes, labels_path)
    table = table.drop(columns="line").reset_index(drop=True)
    table["label"] = table["label"].astype(np.int64)
    return LandmarkDataset(root, layout, image_dir, table, classes, notes)


def _read_sample(root: Path) -> LandmarkDataset:
    labels_csv = root / "labels.csv"
    table, dups = _labels_table(labels_csv)
    classes = read_classmap(root / "classmap.csv")
    table["base"] = [augmented_base(n) for n in table["image"]]
    table["official"] = ""
    notes = {"duplicate_rows": {labels_csv.name: dups}}
    return _finish(root, "sample", root / "images", table, classes, labels_csv, notes)


def augmented_base(name: str) -> str:
    """The original landmark's file name for an augmented copy (identity otherwise)."""
    return _AUG_RE.sub("", name)


def _read_jpl(root: Path) -> LandmarkDataset:
    labels_path = root / JPL_FILES["labels"]
    split_path = root / JPL_FILES["split"]
    table, dups = _labels_table(labels_path)
    split = read_label_file(split_path, with_subset=True, subsets=("train", "val", "test"))
    where = dict(zip(table["image"], zip(table["label"], table["line"], strict=True), strict=True))
    official: dict[str, str] = {}
    split_only = 0
    for name, label, line, subset in split.table.itertuples(index=False):
        name = safe_relative_name(name, f"{split_path}:{line}")
        if name not in where:
            split_only += 1
            continue
        if where[name][0] != label:
            raise DataError(
                f"the label of {name} disagrees: {labels_path}:{where[name][1]} says "
                f"{where[name][0]}, {split_path}:{line} says {label}"
            )
        official[name] = subset
    table["base"] = [augmented_base(n) for n in table["image"]]
    table["official"] = [official.get(n, "") for n in table["image"]]
    # The published split is kept as it is; count the augmented copies it puts in val and test.
    is_aug = table["image"] != table["base"]
    notes = {
        "duplicate_rows": {labels_path.name: dups, split_path.name: split.duplicate_rows},
        "official_augmented": {
            s: int((is_aug & (table["official"] == s)).sum()) for s in ("train", "val", "test")
        },
        "official_unlisted": int((table["official"] == "").sum()),
        "official_split_only": split_only,
    }
    classes = read_classmap(root / JPL_FILES["classmap"])
    return _finish(root, "jpl-v3.2", root / JPL_FILES["images"], table, classes, labels_path, notes)


def _read_v1(root: Path) -> LandmarkDataset:
    labels_path = root / V1_FILES["labels"]
    table, dups = _labels_table(labels_path)
    table["base"] = [augmented_base(n) for n in table["image"]]
    table["official"] = ""
    notes = {"duplicate_rows": {labels_path.name: dups}}
    return _finish(
        root, "jpl-v1", root / V1_FILES["images"], table, V1_CLASS_NAMES, labels_path, notes
    )


_READERS = {"sample": _read_sample, "jpl-v3.2": _read_jpl, "jpl-v1": _read_v1}


def load_dataset(data_dir: str | os.PathLike | None = None) -> LandmarkDataset:
    """Locate and read the dataset in any of the three layouts (see module docstring).

    Raises
    ------
    DataError
        No layout found, or a label, split or class-map file is malformed (see
        :mod:`marsutils.data.labelfiles`), or a label is outside the class map.
    """
    root = locate_data_dir(data_dir)
    return _READERS[detect_layout(root)](root)
