"""Decode every image once into a ``uint8`` array cached on disk and memory-mapped.

The cache file is named by a hash of the dataset's content (every file name and the sha256 of its
bytes), so any change to the images or their order makes a new cache. Files are written to a
temporary name and renamed, so an interrupted build never leaves a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from marsutils.core.atomic import pid_alive
from marsutils.core.progress import progress_bar
from marsutils.data.layouts import LandmarkDataset
from marsutils.data.validate import EXPECTED_MODE, EXPECTED_SIZE, decode_image

__all__ = ["cache_dir", "content_hash", "image_hashes", "load_images"]

_HASH_MEMO: dict[tuple, list[str]] = {}


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else ``$MARS_CACHE_DIR``, else ``~/.cache/marsutils``; created if needed."""
    path = Path(explicit or os.environ.get("MARS_CACHE_DIR") or Path.home() / ".cache/marsutils")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stats_key(dataset: LandmarkDataset) -> tuple:
    stats = tuple(
        (name, os.stat(dataset.image_dir / name).st_mtime_ns)
        if (dataset.image_dir / name).exists()
        else (name, -1)
        for name in dataset.table["image"]
    )
    return (str(dataset.image_dir), stats)


def image_hashes(dataset: LandmarkDataset) -> list[str]:
    """Hex sha256 of every row's image bytes (of ``b"<missing>"`` for a missing file), in order.

    Memoised in-process on (image dir, names, modification times).
    """
    key = _stats_key(dataset)
    if key not in _HASH_MEMO:
        out = []
        for name in dataset.table["image"]:
            path = dataset.image_dir / name
            data = path.read_bytes() if path.is_file() else b"<missing>"
            out.append(hashlib.sha256(data).hexdigest())
        _HASH_MEMO[key] = out
    return list(_HASH_MEMO[key])


def content_hash(dataset: LandmarkDataset) -> str:
    """The data fingerprint: sha256 over (name, label, sha256 of bytes) of every row, in order.

    Any changed label, image, name, added or dropped row, or reordering changes it; the image
    cache, the twin-family cache, saved splits and experiment identities are keyed by it.
    """
    digest = hashlib.sha256()
    for name, label, h in zip(
        dataset.table["image"], dataset.labels, image_hashes(dataset), strict=True
    ):
        digest.update(f"{name}\0{label}\0".encode())
        digest.update(bytes.fromhex(h))
    return digest.hexdigest()


def _remove_dead_temporaries(target: Path) -> None:
    """Delete ``<target>.tmp<pid>.npy`` files of processes that are gone (killed mid-write)."""
    for tmp in target.parent.glob(f"{target.stem}.tmp*.npy"):
        pid = tmp.name[len(target.stem) + 4 : -4]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


def load_images(
    dataset: LandmarkDataset,
    cache: str | os.PathLike | None = None,
    size: tuple[int, int] = EXPECTED_SIZE,
    mode: str = EXPECTED_MODE,
    progress: bool = True,
) -> np.ndarray:
    """Return all images as a read-only ``(N, H, W) uint8`` memory-mapped array.

    The first call decodes and validates every image (a corrupt, missing, wrongly sized or
    wrongly moded file raises :class:`~marsutils.data.errors.DataError` naming it); later calls
    map the cached file.
    """
    digest = content_hash(dataset)
    target = cache_dir(cache) / f"images-{digest[:20]}-{size[1]}x{size[0]}.npy"
    if not target.is_file():
        _remove_dead_temporaries(target)
        tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(len(dataset), size[1], size[0])
        )
        try:
            rows = progress_bar(range(len(dataset)), desc="decoding images", disable=not progress)
            for i in rows:
                out[i] = decode_image(dataset.path(i), size, mode)
            out.flush()
            del out
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    return np.load(target, mmap_mode="r")
