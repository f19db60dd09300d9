"""The image cache, image validation and the manifest check."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from marsutils.data import DataError, load_dataset, load_images, verify_manifest
from marsutils.data.imagecache import content_hash
from marsutils.data.validate import sha256_file


def test_cache_roundtrip_and_reuse(make_sample_layout, isolated_cache):
    ds = load_dataset(make_sample_layout())
    first = load_images(ds, progress=False)
    assert first.shape == (len(ds), 227, 227) and first.dtype == np.uint8
    with Image.open(ds.path(3)) as img:
        assert np.array_equal(first[3], np.asarray(img))
    files = list(isolated_cache.glob("images-*.npy"))
    assert len(files) == 1
    again = load_images(ds, progress=False)
    assert np.array_equal(first, again)
    assert list(isolated_cache.glob("images-*.npy")) == files


def test_cache_invalidated_by_content(make_sample_layout, isolated_cache):
    root = make_sample_layout()
    ds = load_dataset(root)
    before = content_hash(ds)
    load_images(ds, progress=False)
    Image.fromarray(np.zeros((227, 227), np.uint8)).save(root / "images" / "2.jpg")
    ds2 = load_dataset(root)
    assert content_hash(ds2) != before
    assert load_images(ds2, progress=False)[1].max() < 5
    assert len(list(isolated_cache.glob("images-*.npy"))) == 2


def test_corrupt_image_named(make_sample_layout, isolated_cache):
    root = make_sample_layout()
    (root / "images" / "4.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"4\.jpg.*corrupt"):
        load_images(load_dataset(root), progress=False)
    assert not list(isolated_cache.glob("*.npy")), "a failed build must leave no cache behind"


def test_missing_image_named(make_sample_layout, isolated_cache):
    root = make_sample_layout()
    (root / "images" / "5.jpg").unlink()
    with pytest.raises(DataError, match=r"5\.jpg.*missing"):
        load_images(load_dataset(root), progress=False)


def test_wrong_size_and_mode_named(make_sample_layout, isolated_cache):
    root = make_sample_layout()
    Image.new("L", (100, 100)).save(root / "images" / "6.jpg")
    with pytest.raises(DataError, match=r"6\.jpg is 100x100"):
        load_images(load_dataset(root), progress=False)
    Image.new("RGB", (227, 227)).save(root / "images" / "6.jpg")
    with pytest.raises(DataError, match=r"6\.jpg has mode RGB"):
        load_images(load_dataset(root), progress=False)


def _write_manifest(root):
    lines = [
        f"{sha256_file(p)}  ./{p.relative_to(root).as_posix()}"
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "MANIFEST.sha256"
    ]
    (root / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")


def test_manifest_verify(make_sample_layout):
    root = make_sample_layout(n_per_class=2)
    _write_manifest(root)
    assert verify_manifest(root)["checked"] == 3 * 2 * 2 + 2  # images + labels + classmap
    (root / "images" / "3.jpg").write_bytes(b"tampered")
    with pytest.raises(DataError, match=r"changed: images/3\.jpg"):
        verify_manifest(root)
    (root / "images" / "2.jpg").unlink()
    with pytest.raises(DataError, match=r"missing: images/2\.jpg"):
        verify_manifest(root)


def test_manifest_absent(tmp_path):
    with pytest.raises(DataError, match="no MANIFEST"):
        verify_manifest(tmp_path)


def test_real_sample_manifest(real_data_dir):
    assert verify_manifest(real_data_dir)["checked"] == 8204
