"""Find rotated, flipped and brightness-adjusted twins and group them into landmark families.

Two images are twins when the Pearson correlation of their z-scored ``thumb x thumb`` thumbnails,
under one of the 8 dihedral transforms (4 rotations x optional flip), exceeds ``threshold``.
Z-scoring makes the test blind to brightness and contrast changes. Twins are joined transitively
(union-find) into families.

In every layout, families join three kinds of twin edges in one union-find: name-derived (the
JPL releases name augmented copies ``<base>-r90.jpg`` etc.), byte-identical files under any name,
and the thumbnail matcher above, run over one representative image per name-derived group. So a
copy under a new name cannot cross a split boundary unseen.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from marsutils.data.imagecache import cache_dir, content_hash, image_hashes
from marsutils.data.layouts import LandmarkDataset

__all__ = [
    "thumbnails",
    "dihedral_views",
    "twin_pairs",
    "group_families",
    "same_value_pairs",
    "find_families",
]


def thumbnails(images: np.ndarray, thumb: int = 32) -> torch.Tensor:
    """Area-downsampled, z-scored, unit-norm thumbnails, shape ``(N, thumb, thumb)``."""
    out = []
    for start in range(0, len(images), 1024):
        block = torch.from_numpy(np.asarray(images[start : start + 1024], dtype=np.float32))
        small = F.interpolate(block[:, None], size=(thumb, thumb), mode="area")[:, 0]
        flat = small.reshape(len(small), -1)
        flat = flat - flat.mean(dim=1, keepdim=True)
        flat = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-6)
        out.append(flat.reshape(-1, thumb, thumb))
    return torch.cat(out)


def dihedral_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 dihedral transforms of a batch of square images ``(N, H, W)``."""
    views = []
    for flipped in (x, x.flip(-1)):
        for k in range(4):
            views.append(torch.rot90(flipped, k, dims=(-2, -1)))
    return views


def twin_pairs(thumbs: torch.Tensor, threshold: float = 0.99, block: int = 1024) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, whose best dihedral correlation exceeds ``threshold``."""
    n = len(thumbs)
    flat_views = [v.reshape(n, -1) for v in dihedral_views(thumbs)]
    base = flat_views[0]
    pairs = []
    for start in range(0, n, block):
        rows = base[start : start + block]
        best = torch.full((len(rows), n), -1.0)
        for view in flat_views:
            torch.maximum(best, rows @ view.T, out=best)
        i, j = torch.nonzero(best > threshold, as_tuple=True)
        i = i + start
        keep = i < j
        pairs.append(torch.stack([i[keep], j[keep]], dim=1))
    return torch.cat(pairs).numpy() if pairs else np.zeros((0, 2), dtype=np.int64)


def group_families(n: int, pairs: np.ndarray) -> np.ndarray:
    """Union-find over ``pairs``; dense family ids numbered by first appearance."""
    parent = np.arange(n)

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(i) for i in range(n)])
    _, dense = np.unique(roots, return_inverse=True)
    # renumber by first appearance for readability
    order = {}
    return np.array([order.setdefault(r, len(order)) for r in dense], dtype=np.int64)


def same_value_pairs(values: np.ndarray | list) -> np.ndarray:
    """Pairs ``(first, i)`` linking every row to the first row with the same value."""
    _, first, inverse = np.unique(np.asarray(values), return_index=True, return_inverse=True)
    heads = first[inverse.ravel()]
    rows = np.arange(len(heads))
    keep = heads != rows
    return np.stack([heads[keep], rows[keep]], axis=1).astype(np.int64)


def find_families(
    dataset: LandmarkDataset,
    images: np.ndarray | None = None,
    threshold: float = 0.99,
    thumb: int = 32,
    cache: str | os.PathLike | None = None,
) -> np.ndarray:
    """Family id per row of ``dataset``, merging name, byte and thumbnail twins (module docstring).

    Cached on disk, keyed by the data fingerprint
    (:func:`~marsutils.data.imagecache.content_hash`). ``images`` (from
    :func:`~marsutils.data.imagecache.load_images`) is loaded when needed and not given.

    Returns
    -------
    numpy.ndarray of int64, shape (N,)
        Dense family ids numbered by first appearance.
    """
    key = f"families-v2-{content_hash(dataset)[:20]}-t{thumb}-c{threshold:g}.csv"
    target = cache_dir(cache) / key
    if target.is_file():
        cached = pd.read_csv(target)
        if list(cached["image"]) == list(dataset.table["image"]):
            return cached["family"].to_numpy(dtype=np.int64)
    if images is None:
        from marsutils.data.imagecache import load_images

        images = load_images(dataset, cache)
    name_pairs = same_value_pairs(dataset.table["base"].to_numpy())
    byte_pairs = same_value_pairs(np.array(image_hashes(dataset)))
    # one representative per name-derived group keeps the quadratic matcher small
    reps = np.flatnonzero(~np.isin(np.arange(len(dataset)), name_pairs[:, 1]))
    rep_pairs = twin_pairs(thumbnails(images, thumb)[torch.from_numpy(reps)], threshold)
    look_pairs = reps[rep_pairs] if len(rep_pairs) else np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate([name_pairs, byte_pairs, look_pairs])
    families = group_families(len(dataset), pairs)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    pd.DataFrame({"image": dataset.table["image"], "family": families}).to_csv(tmp, index=False)
    os.replace(tmp, target)
    return families
