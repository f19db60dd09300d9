"""Shared fixtures: the real shared sample (when present) and small synthetic data sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from marsutils.data.locate import default_data_dir

os.environ.setdefault("MPLBACKEND", "Agg")
# The tests use tiny tensors: one intra-op thread avoids OpenMP spin-wait stalls on 2 busy cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The shared 8,201-image sample; these tests are the point, so its absence is an error."""
    path = Path(os.environ.get("MARS_DATA_DIR") or default_data_dir())
    if not (path / "labels.csv").is_file():
        pytest.fail(f"the shared sample is missing at {path}; CI runs with ../shared beside")
    return path


@pytest.fixture(scope="session")
def real_prepared(real_data_dir):
    """Dataset, image cache, families and both splits of the real sample (cached on disk)."""
    from marsutils.data import prepare_data

    return prepare_data(real_data_dir, splits=("paper", "family"), seed=0, progress=False)


def _texture(rng: np.random.Generator, size: int = 227) -> np.ndarray:
    """A smooth random texture with structure at several scales (no symmetry)."""
    base = rng.random((8, 8))
    img = np.asarray(Image.fromarray((base * 255).astype(np.uint8)).resize((size, size), 3))
    noise = rng.normal(0, 12, (size, size))
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@pytest.fixture()
def make_sample_layout(tmp_path):
    """Factory for a synthetic sample-layout folder (labels.csv + images/ + classmap.csv)."""

    def make(n_per_class: int = 6, n_classes: int = 3, twins: bool = True, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        root = tmp_path / f"sample{seed}"
        (root / "images").mkdir(parents=True)
        rows = []
        k = 0
        for label in range(n_classes):
            for _ in range(n_per_class):
                img = _texture(rng)
                k += 1
                Image.fromarray(img).save(root / "images" / f"{k}.jpg", quality=95)
                rows.append((f"{k}.jpg", label))
                if twins:
                    k += 1
                    twin = np.rot90(img, 1) if k % 2 else np.fliplr(img)
                    Image.fromarray(np.ascontiguousarray(twin)).save(
                        root / "images" / f"{k}.jpg", quality=95
                    )
                    rows.append((f"{k}.jpg", label))
        (root / "labels.csv").write_text(
            "filename,label\n" + "".join(f"{n},{lab}\n" for n, lab in rows)
        )
        (root / "classmap.csv").write_text(
            "label,name\n" + "".join(f"{i},class{i}\n" for i in range(n_classes))
        )
        return root

    return make


@pytest.fixture()
def jpl_layout(tmp_path) -> Path:
    """A small synthetic copy of the official JPL v3.2 layout, augmented copies included."""
    rng = np.random.default_rng(1)
    root = tmp_path / "hirise-map-proj-v3_2"
    images = root / "map-proj-v3_2"
    images.mkdir(parents=True)
    labels, split = [], []
    subsets = ["train"] * 6 + ["val"] * 2 + ["test"] * 2
    for obs in range(10):
        for crop in range(2):
            base = f"ESP_0{obs:05d}_1234_RED-{crop:04d}"
            label = (obs + crop) % 3
            img = _texture(rng)
            variants = {"": img, "-r90": np.rot90(img), "-fh": np.fliplr(img), "-brt": img // 2}
            for suffix, arr in variants.items():
                name = f"{base}{suffix}.jpg"
                Image.fromarray(np.ascontiguousarray(arr)).save(images / name, quality=95)
                labels.append(f"{name} {label}")
                # the official file lists augmented copies too; some under val/test on purpose
                split.append(f"{name} {label} {subsets[obs]}")
    (root / "labels-map-proj_v3_2.txt").write_text("\n".join(labels) + "\n")
    # like the published file, the split file repeats some rows verbatim
    split += split[:3]
    (root / "labels-map-proj_v3_2_train_val_test.txt").write_text("\n".join(split) + "\n")
    (root / "landmarks_map-proj-v3_2_classmap.csv").write_text("0,other\n1,crater\n2,dark dune\n")
    return root


@pytest.fixture()
def make_v1_layout(tmp_path):
    """Factory for a synthetic v1-release folder: labels-map-proj.txt + map-proj/, classes 0-6."""

    def make(labels: tuple[int, ...] = (0, 0, 1, 1, 2, 3, 4, 5, 6, 6), seed: int = 2) -> Path:
        rng = np.random.default_rng(seed)
        root = tmp_path / f"v1-{seed}"
        images = root / "map-proj"
        images.mkdir(parents=True)
        rows = []
        for k, label in enumerate(labels):
            base = f"ESP_0{k:05d}_1000_RED-{k:04d}"
            img = _texture(rng)
            for suffix, arr in {"": img, "-r90": np.rot90(img)}.items():
                Image.fromarray(np.ascontiguousarray(arr)).save(images / f"{base}{suffix}.jpg")
                rows.append(f"{base}{suffix}.jpg {label}")
        (root / "labels-map-proj.txt").write_text("\n".join(rows) + "\n")
        return root

    return make


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Point the image/family cache at a temporary folder."""
    path = tmp_path / "cache"
    monkeypatch.setenv("MARS_CACHE_DIR", str(path))
    return path


#: The precisions every CPU can run; bf16 autocast is exact-to-tolerance on any x86 CPU (slowly
#: without native bf16), so both paths are tested whatever this machine has.
CPU_PRECISIONS = ("fp32", "bf16")


@pytest.fixture(params=CPU_PRECISIONS)
def forced_precision(request, monkeypatch) -> str:
    """Force each CPU precision in turn through ``$MARS_PRECISION`` (the same switch a user sets);
    the test gets the precision's name."""
    monkeypatch.delenv("MARS_DISABLE_BF16", raising=False)
    monkeypatch.setenv("MARS_PRECISION", request.param)
    return request.param
