"""Read the two on-disk layouts of the HiRISE landmark data into one table.

* ``sample``: ``labels.csv`` (filename,label) + ``images/`` + ``classmap.csv`` (label,name): the
  shared 8,201-image sample.
* ``jpl-v3.2``: the official JPL release (Doran et al. 2020, doi:10.5281/zenodo.4002935):
  ``labels-map-proj_v3_2.txt``, ``labels-map-proj_v3_2_train_val_test.txt``,
  ``landmarks_map-proj-v3_2_classmap.csv`` and ``map-proj-v3_2/``. Its official split is by source
  observation; the augmented copies (``-r90 -r180 -r270 -fh -fv -brt``) are kept in train only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .errors import DataError
from .locate import locate_data_dir

__all__ = [
    "LandmarkDataset",
    "load_dataset",
    "detect_layout",
    "safe_relative_name",
    "AUGMENT_SUFFIXES",
    "JPL_FILES",
]

AUGMENT_SUFFIXES = ("r90", "r180", "r270", "fh", "fv", "brt")
_AUG_RE = re.compile(r"-(" + "|".join(AUGMENT_SUFFIXES) + r")(?=\.[A-Za-z]+$)")
JPL_FILES = {
    "labels": "labels-map-proj_v3_2.txt",
    "split": "labels-map-proj_v3_2_train_val_test.txt",
    "classmap": "landmarks_map-proj-v3_2_classmap.csv",
    "images": "map-proj-v3_2",
}


@dataclass(frozen=True)
class LandmarkDataset:
    """A labelled image table plus where its files live.

    ``table`` has one row per image with columns ``image`` (file name relative to ``image_dir``),
    ``label`` (int), ``base`` (the un-augmented name for the JPL layout, else the file name) and
    ``official`` (train/val/test for the JPL layout, else empty).
    """

    root: Path
    layout: str
    image_dir: Path
    table: pd.DataFrame
    class_names: tuple[str, ...]

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
        return LandmarkDataset(self.root, self.layout, self.image_dir, table, self.class_names)


def safe_relative_name(name: str, where: str) -> str:
    """Return ``name`` if it is a plain relative path inside the data dir, else raise."""
    text = str(name).strip()
    pure = PurePosixPath(text.replace("\\", "/"))
    if not text or pure.is_absolute() or os.path.isabs(text) or ".." in pure.parts:
        raise DataError(f"{where}: file name {name!r} escapes the data directory; rejected")
    return pure.as_posix()


def detect_layout(root: Path) -> str:
    """``"sample"`` or ``"jpl-v3.2"``; raise :class:`DataError` when neither is present."""
    if (root / "labels.csv").is_file():
        return "sample"
    if (root / JPL_FILES["labels"]).is_file():
        return "jpl-v3.2"
    raise DataError(
        f"{root} holds neither labels.csv (the shared sample) nor {JPL_FILES['labels']} "
        "(the JPL v3.2 release); point MARS_DATA_DIR at one of them"
    )


def _read_classmap(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise DataError(f"class map {path} is missing")
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        parts = [p.strip() for p in line.split(",", 1)]
        if len(parts) != 2 or not parts[0]:
            continue
        if not parts[0].lstrip("-").isdigit():
            if line_no == 1:
                continue  # header
            raise DataError(f"{path}:{line_no}: expected 'label,name', got {line!r}")
        rows.append((int(parts[0]), parts[1]))
    ids = sorted(i for i, _ in rows)
    if ids != list(range(len(rows))):
        raise DataError(f"{path}: class ids must be 0..K-1 without gaps; got {ids}")
    return tuple(name for _, name in sorted(rows))


def _check_labels(table: pd.DataFrame, n_classes: int, source: Path) -> None:
    bad = table[(table["label"] < 0) | (table["label"] >= n_classes)]
    if len(bad):
        row = bad.iloc[0]
        raise DataError(f"{source}: label {row['label']} of {row['image']} is not in the class map")
    dup = table["image"].duplicated()
    if dup.any():
        raise DataError(f"{source}: {table['image'][dup].iloc[0]} is listed more than once")


def _read_sample(root: Path) -> LandmarkDataset:
    labels_csv = root / "labels.csv"
    try:
        raw = pd.read_csv(labels_csv, dtype={"filename": str})
        table = pd.DataFrame(
            {
                "image": [safe_relative_name(n, str(labels_csv)) for n in raw["filename"]],
                "label": pd.to_numeric(raw["label"], errors="raise").astype(np.int64),
            }
        )
    except (KeyError, ValueError) as err:
        raise DataError(f"{labels_csv}: expected columns filename,label ({err})") from err
    classes = _read_classmap(root / "classmap.csv")
    _check_labels(table, len(classes), labels_csv)
    table["base"] = table["image"]
    table["official"] = ""
    return LandmarkDataset(root, "sample", root / "images", table, classes)


def _read_whitespace_table(path: Path, n_cols: int) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"{path} is missing")
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != n_cols:
            raise DataError(f"{path}:{line_no}: expected {n_cols} fields, got {line!r}")
        rows.append(parts)
    return rows


def augmented_base(name: str) -> str:
    """The original landmark's file name for an augmented copy (identity otherwise)."""
    return _AUG_RE.sub("", name)


def _read_jpl(root: Path) -> LandmarkDataset:
    labels_path = root / JPL_FILES["labels"]
    split_path = root / JPL_FILES["split"]
    labels = {
        safe_relative_name(n, str(labels_path)): int(lab)
        for n, lab in _read_whitespace_table(labels_path, 2)
    }
    split_rows = _read_whitespace_table(split_path, 3)
    official = {}
    for name, lab, subset in split_rows:
        name = safe_relative_name(name, str(split_path))
        if subset not in ("train", "val", "test"):
            raise DataError(f"{split_path}: unknown subset {subset!r} for {name}")
        if name in labels and labels[name] != int(lab):
            raise DataError(f"{split_path}: label of {name} disagrees with {labels_path.name}")
        official[name] = subset
    table = pd.DataFrame({"image": list(labels), "label": list(labels.values())})
    table["label"] = table["label"].astype(np.int64)
    table["base"] = [augmented_base(n) for n in table["image"]]
    table["official"] = [official.get(n, "") for n in table["image"]]
    # The official split is by observation; augmented copies must never reach val or test.
    is_aug = table["image"] != table["base"]
    table.loc[is_aug & table["official"].isin(["val", "test"]), "official"] = ""
    classes = _read_classmap(root / JPL_FILES["classmap"])
    _check_labels(table, len(classes), labels_path)
    return LandmarkDataset(root, "jpl-v3.2", root / JPL_FILES["images"], table, classes)


def load_dataset(data_dir: str | os.PathLike | None = None) -> LandmarkDataset:
    """Locate and read the dataset in either layout (see module docstring)."""
    root = locate_data_dir(data_dir)
    layout = detect_layout(root)
    return _read_sample(root) if layout == "sample" else _read_jpl(root)
