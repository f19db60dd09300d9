"""The mars-orbital-seg-53 loader, class mapping, folds and tensor datasets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from marsutils.data.errors import DataError
from marsutils.data.locate import locate_seg_dir
from marsutils.seg.classes import IGNORE_INDEX, to_model_targets
from marsutils.seg.dataset import SegCropDataset, SegTileDataset
from marsutils.seg.folds import tile_folds
from marsutils.seg.tiles import SegTile, load_tiles, rasterize_polygons, tile_stems

STEMS = ["n_0", "n_12"]


@pytest.fixture(scope="module")
def seg_dir() -> Path:
    try:
        return locate_seg_dir()
    except DataError as err:
        pytest.skip(f"segmentation data not available: {err}")


@pytest.fixture(scope="module")
def tiles(seg_dir: Path) -> list:
    return load_tiles(seg_dir, STEMS)


@pytest.fixture
def tmp_copy(seg_dir: Path, tmp_path: Path) -> Path:
    """classes.csv and two tiles copied into a writable folder."""
    shutil.copy(seg_dir / "classes.csv", tmp_path / "classes.csv")
    for sub, ext in (("images", "png"), ("masks", "png"), ("annotations", "json")):
        (tmp_path / sub).mkdir()
        for stem in STEMS:
            shutil.copy(seg_dir / sub / f"{stem}.{ext}", tmp_path / sub / f"{stem}.{ext}")
    return tmp_path


def test_all_tiles_listed_in_natural_order(seg_dir: Path) -> None:
    stems = tile_stems(seg_dir)
    assert len(stems) == 53
    assert stems[:3] == ["n_0", "n_1", "n_2"] and stems[-1] == "n_170"


def test_tiles_shapes_dtypes_and_polygons(tiles: list) -> None:
    for tile in tiles:
        assert tile.image.shape == tile.mask.shape == (512, 512)
        assert tile.image.dtype == tile.mask.dtype == np.uint8
        assert set(np.unique(tile.mask)) <= {0, 1, 2, 3, 4}
        assert tile.polygons and all(p.shape[1] == 2 for _, p in tile.polygons)
        # the masks were rasterized from these polygons; redrawing them gives the same pixels
        np.testing.assert_array_equal(rasterize_polygons(tile.polygons, (512, 512)), tile.mask)
    assert {c for t in tiles for c, _ in t.polygons} >= {1, 2, 3}


def test_model_targets_shift_and_ignore() -> None:
    mask = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)
    expected = [[IGNORE_INDEX, 0, 1], [2, 3, IGNORE_INDEX]]
    np.testing.assert_array_equal(to_model_targets(mask), expected)


def test_crop_dataset_shapes_dtypes_and_ignore_index(tiles: list) -> None:
    torch.manual_seed(0)
    dataset = SegCropDataset(tiles, crop=64, image_size=256, crops_per_tile=3)
    assert len(dataset) == 6
    image, target = dataset[1]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert target.shape == (64, 64) and target.dtype == torch.int64
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    gray = image * std + mean  # the grayscale, repeated to three channels before normalising
    torch.testing.assert_close(gray[1:], gray[:1].expand(2, -1, -1))
    # nearest resizing keeps only valid target ids; unlabelled pixels are the ignore index
    values = set(torch.cat([dataset[i][1].flatten() for i in range(6)]).unique().tolist())
    assert values <= {0, 1, 2, 3, IGNORE_INDEX} and IGNORE_INDEX in values


def test_crop_augmentation_moves_image_and_mask_together() -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(96, 96), dtype=np.uint8)
    tile = SegTile("synthetic", gray, (gray // 64 + 1).astype(np.uint8))
    torch.manual_seed(1)
    dataset = SegCropDataset([tile], crop=32, crops_per_tile=8)
    crops = [dataset[i] for i in range(8)]
    for image, target in crops:
        recovered = torch.round((image[0] * 0.229 + 0.485) * 255).long()
        assert torch.equal(target, recovered // 64)
    assert len({tuple(t.flatten()[:20].tolist()) for _, t in crops}) > 1


def test_tile_dataset_resizes_image_but_not_target(tiles: list) -> None:
    image, target = SegTileDataset(tiles, image_size=128)[0]
    assert image.shape == (3, 128, 128)
    assert target.shape == (512, 512)
    np.testing.assert_array_equal(target.numpy(), to_model_targets(tiles[0].mask))
    expected = (tiles[0].image.astype(np.float32) / 255 - 0.485) / 0.229
    full, _ = SegTileDataset(tiles)[0]
    assert full.shape == (3, 512, 512)
    np.testing.assert_allclose(full[0].numpy(), expected, atol=1e-5)


def test_folds_split_by_tile_without_overlap() -> None:
    folds = tile_folds(53, n_splits=5, seed=3)
    val = np.concatenate([v for _, v in folds])
    assert sorted(val.tolist()) == list(range(53))
    for train, held in folds:
        assert not set(train) & set(held)
        assert len(train) + len(held) == 53
    again = tile_folds(53, n_splits=5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = tile_folds(53, n_splits=5, seed=4)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_missing_mask_is_a_clear_error(tmp_copy: Path) -> None:
    (tmp_copy / "masks" / "n_12.png").unlink()
    with pytest.raises(DataError, match=r"mask .*n_12\.png is missing"):
        load_tiles(tmp_copy)


def test_mask_size_mismatch_is_a_clear_error(tmp_copy: Path) -> None:
    Image.new("L", (256, 512)).save(tmp_copy / "masks" / "n_0.png")
    with pytest.raises(DataError, match=r"n_0\.png is 256x512 but its image is 512x512"):
        load_tiles(tmp_copy)


def test_mask_values_outside_class_table_are_a_clear_error(tmp_copy: Path) -> None:
    mask = np.zeros((512, 512), np.uint8)
    mask[0, 0] = 9
    Image.fromarray(mask).save(tmp_copy / "masks" / "n_0.png")
    with pytest.raises(DataError, match=r"values \[9\] that are not in classes.csv"):
        load_tiles(tmp_copy)


def test_unknown_polygon_label_is_a_clear_error(tmp_copy: Path) -> None:
    path = tmp_copy / "annotations" / "n_0.json"
    path.write_text(path.read_text().replace('"Crater"', '"Volcano"', 1))
    with pytest.raises(DataError, match="unknown label 'Volcano'"):
        load_tiles(tmp_copy)
    assert len(load_tiles(tmp_copy, with_polygons=False)) == 2
