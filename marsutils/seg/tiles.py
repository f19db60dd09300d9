"""Read the mars-orbital-seg-53 tiles: images, class-index masks and LabelMe polygons.

Every tile is returned as it is on disk: a ``uint8`` grayscale image, a ``uint8`` mask whose values
are the ids of ``classes.csv`` (0 background/unlabelled, 1 crater, 2 rough, 3 smooth, 4 alluvial
fan, 5 boulders) and the polygons parsed from the JSON as ``(class_id, points)`` pairs in drawing
order. Class-space conversion for models (four outputs, unlabelled ignored) lives in
:mod:`marsutils.seg.classes`.

A missing mask or annotation, a mask whose size differs from its image, a mask value outside the
class table, or a polygon label the table does not know raises
:class:`~marsutils.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from marsutils.data.errors import DataError
from marsutils.data.locate import locate_seg_dir

__all__ = [
    "ClassTable",
    "Polygon",
    "SegTile",
    "load_class_table",
    "load_tiles",
    "parse_labelme",
    "rasterize_polygons",
    "tile_stems",
]

#: One annotation: the ``classes.csv`` id and an ``(N, 2)`` float array of ``(x, y)`` vertices.
Polygon = tuple[int, np.ndarray]


@dataclass(frozen=True)
class ClassTable:
    """The legend of ``classes.csv``: ids, LabelMe labels and readable names."""

    ids: tuple[int, ...]
    labelme_labels: tuple[str, ...]
    names: tuple[str, ...]

    def id_for_label(self, label: str) -> int | None:
        """The id whose LabelMe label is ``label`` (None when unknown)."""
        for class_id, known in zip(self.ids, self.labelme_labels, strict=True):
            if known and known == label:
                return class_id
        return None


@dataclass
class SegTile:
    """One 512x512 tile: ``image`` and ``mask`` are ``(H, W) uint8``; ``polygons`` in draw order."""

    stem: str
    image: np.ndarray
    mask: np.ndarray
    polygons: list[Polygon] = field(default_factory=list)

    def class_fraction(self, class_id: int) -> float:
        """Fraction of the tile's pixels whose mask value is ``class_id``."""
        return float(np.mean(self.mask == class_id))


def _natural_key(stem: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", stem))


def load_class_table(seg_dir: str | os.PathLike | None = None) -> ClassTable:
    """Parse ``classes.csv`` (columns ``id``, ``labelme_label``, ``name``)."""
    path = locate_seg_dir(seg_dir) / "classes.csv"
    if not path.is_file():
        raise DataError(f"class table {path} is missing.")
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        ids = tuple(int(row["id"]) for row in rows)
        labels = tuple((row["labelme_label"] or "").strip() for row in rows)
        names = tuple(row["name"].strip() for row in rows)
    except (KeyError, ValueError, TypeError) as err:
        raise DataError(f"class table {path} is malformed: {err!r}") from err
    if not ids or len(set(ids)) != len(ids):
        raise DataError(f"class table {path} has no rows or repeats an id: {ids}.")
    return ClassTable(ids, labels, names)


def tile_stems(seg_dir: str | os.PathLike | None = None) -> list[str]:
    """Stems of ``images/*.png`` in natural order (``n_0``, ``n_1``, ..., ``n_170``)."""
    image_dir = locate_seg_dir(seg_dir) / "images"
    stems = sorted((p.stem for p in image_dir.glob("*.png")), key=_natural_key)
    if not stems:
        raise DataError(f"no PNG images found in {image_dir}.")
    return stems


def parse_labelme(path: str | os.PathLike, table: ClassTable) -> list[Polygon]:
    """Read a LabelMe JSON file into ``(class_id, (N, 2) float64 points)`` pairs, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"annotation {path} is missing.")
    try:
        shapes = json.loads(path.read_text())["shapes"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"annotation {path} is not a LabelMe JSON file: {err!r}") from err
    polygons: list[Polygon] = []
    for number, shape in enumerate(shapes):
        label = shape.get("label")
        class_id = table.id_for_label(label)
        if class_id is None:
            raise DataError(f"annotation {path}, shape {number}: unknown label {label!r}.")
        kind = shape.get("shape_type", "polygon")
        points = np.asarray(shape.get("points", []), dtype=np.float64)
        if kind != "polygon" or points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise DataError(
                f"annotation {path}, shape {number}: expected a polygon of at least 3 (x, y) "
                f"points, got shape_type={kind!r} with points of shape {points.shape}."
            )
        polygons.append((class_id, points))
    return polygons


def rasterize_polygons(
    polygons: list[Polygon], size: tuple[int, int], class_ids: set[int] | None = None
) -> np.ndarray:
    """Draw ``polygons`` (fill and outline, later over earlier) into an ``(H, W) uint8`` array.

    ``size`` is ``(height, width)``. With ``class_ids`` only those classes are drawn, so e.g.
    ``{1}`` gives the union of the crater polygons even where a later polygon covers them in the
    mask. This is the rasterization the dataset's masks were made with (Pillow
    ``ImageDraw.polygon``).
    """
    height, width = size
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for class_id, points in polygons:
        if class_ids is None or class_id in class_ids:
            xy = [tuple(p) for p in points.tolist()]
            draw.polygon(xy, fill=class_id, outline=class_id)
    return np.asarray(canvas, dtype=np.uint8)


def _read_gray(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{what} {path} is missing.")
    try:
        with Image.open(path) as img:
            if img.mode != "L":
                raise DataError(f"{what} {path} has mode {img.mode!r}; expected 8-bit 'L'.")
            return np.asarray(img, dtype=np.uint8).copy()
    except OSError as err:
        raise DataError(f"{what} {path} cannot be decoded: {err}") from err


def _load_tile(root: Path, stem: str, table: ClassTable, with_polygons: bool) -> SegTile:
    image = _read_gray(root / "images" / f"{stem}.png", "image")
    mask_path = root / "masks" / f"{stem}.png"
    mask = _read_gray(mask_path, "mask")
    if mask.shape != image.shape:
        raise DataError(
            f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image is "
            f"{image.shape[1]}x{image.shape[0]}."
        )
    unknown = sorted(set(np.unique(mask).tolist()) - set(table.ids))
    if unknown:
        raise DataError(
            f"mask {mask_path} holds values {unknown} that are not in classes.csv {table.ids}."
        )
    polygons = parse_labelme(root / "annotations" / f"{stem}.json", table) if with_polygons else []
    return SegTile(stem, image, mask, polygons)


def load_tiles(
    seg_dir: str | os.PathLike | None = None,
    stems: list[str] | None = None,
    *,
    with_polygons: bool = True,
) -> list[SegTile]:
    """Load the tiles named by ``stems`` (default: all, natural order) with masks and polygons."""
    root = locate_seg_dir(seg_dir)
    table = load_class_table(root)
    return [_load_tile(root, stem, table, with_polygons) for stem in stems or tile_stems(root)]
