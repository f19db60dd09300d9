"""Pointing game: does a saliency map's peak land on a crater?

For each tile the saliency map's maximum (``np.argmax``; with ``top_n > 1`` the ``top_n`` highest
points, each later one at least ``min_distance`` pixels, Chebyshev, from the earlier ones) is
looked up in the tile's crater region. A tile scores the fraction of its peaks that hit (0 or 1
when ``top_n == 1``); the hit rate is the mean over tiles. ``tolerance > 0`` grows the crater
region by a disc of that radius first (the usual 15 px slack of the pointing game), for the
saliency and the baseline alike.

Only tiles that contain the target class count: a tile without craters cannot be hit, so it says
nothing about where the map points. In mars-orbital-seg-53, 33 of the 53 tiles contain craters.

The baseline is a uniformly random point: on tile ``i`` it hits with probability ``f_i``, the
crater pixel fraction of that tile, so its expected hit rate is ``mean(f_i)``. A seeded
Monte-Carlo run draws actual random points (``top_n`` per tile) to estimate the same thing and to
give the one-sided p-value ``P(random hit rate >= observed)``. With ``top_n == 1`` the exact
p-value under the same null comes from the Poisson-binomial distribution of the number of hits
(``scipy.stats.poisson_binom`` with the ``f_i``). The confidence interval of the hit rate is a
percentile bootstrap over tiles.

A constant saliency map (for instance an all-zero Grad-CAM) has its peak at its first pixel by the
argmax convention; such maps are counted in ``n_flat_maps`` so they can be reported.

Beating random points does not yet show that a model knows craters: crater rims are high-contrast
structures, and a map that simply follows image contrast may point at them too. :func:`edge_map`
gives such a model-free map (smoothed gradient magnitude) to play the game as a control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from marsutils.seg.classes import CRATER_MASK_ID
from marsutils.seg.tiles import SegTile, rasterize_polygons

__all__ = [
    "PointingResult",
    "edge_map",
    "grow_regions",
    "pointing_game",
    "saliency_peaks",
    "target_regions",
]


def target_regions(
    tiles: Sequence[SegTile], class_id: int = CRATER_MASK_ID, *, source: str = "mask"
) -> np.ndarray:
    """``(N, H, W) bool`` region of ``class_id`` per tile.

    ``source="mask"`` uses the class-index mask, where a later polygon of another class covers a
    crater; ``source="polygons"`` rasterizes only the class's own polygons (their union).
    """
    if source == "mask":
        return np.stack([t.mask == class_id for t in tiles])
    if source == "polygons":
        if any(not t.polygons for t in tiles):
            raise ValueError("source='polygons' needs tiles loaded with polygons.")
        return np.stack(
            [rasterize_polygons(t.polygons, t.mask.shape, {class_id}) > 0 for t in tiles]
        )
    raise ValueError(f"source must be 'mask' or 'polygons', got {source!r}.")


def edge_map(images: np.ndarray, *, sigma: float = 2.0) -> np.ndarray:
    """Model-free control saliency: Gaussian gradient magnitude (``sigma`` px) of each image.

    ``images`` is ``(N, H, W)`` or ``(H, W)``; returns ``(N, H, W) float32``.
    """
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3:
        raise ValueError(f"images must be (N, H, W) or (H, W), got shape {images.shape}.")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    return np.stack(
        [ndimage.gaussian_gradient_magnitude(im.astype(np.float32), sigma) for im in images]
    ).astype(np.float32)


def saliency_peaks(saliency: np.ndarray, *, top_n: int = 1, min_distance: int = 16) -> np.ndarray:
    """``(N, top_n, 2)`` integer ``(row, col)`` of the highest points of each ``(H, W)`` map.

    The first peak is the argmax (first in raster order on ties); each further peak is the argmax
    after blanking a square of half-width ``min_distance`` around every earlier one.
    """
    maps = np.asarray(saliency, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"saliency must be (N, H, W), got shape {maps.shape}.")
    if not np.isfinite(maps).all():
        raise ValueError("saliency holds NaN or infinite values.")
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, got {top_n}.")
    n, _, width = maps.shape
    peaks = np.zeros((n, top_n, 2), dtype=np.int64)
    for i in range(n):
        work = maps[i].copy()
        available = np.ones_like(work, dtype=bool)
        for j in range(top_n):
            if not available.any():
                raise ValueError(f"map {i}: no room for {top_n} peaks {min_distance} px apart.")
            flat = np.argmax(np.where(available, work, -np.inf))
            row, col = divmod(int(flat), width)
            peaks[i, j] = row, col
            available[
                max(0, row - min_distance) : row + min_distance + 1,
                max(0, col - min_distance) : col + min_distance + 1,
            ] = False
    return peaks


@dataclass
class PointingResult:
    """Pointing-game outcome; see the module docstring for every quantity."""

    hit_rate: float
    ci_low: float
    ci_high: float
    baseline_expected: float
    baseline_monte_carlo: float
    p_value_monte_carlo: float
    p_value_exact: float | None
    n_tiles: int
    n_excluded: int
    n_flat_maps: int
    top_n: int
    tolerance: int
    per_tile: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary without the per-tile table."""
        out = {k: v for k, v in self.__dict__.items() if k != "per_tile"}
        out["per_tile"] = self.per_tile.to_dict(orient="records")
        return out


def grow_regions(regions: np.ndarray, tolerance: int) -> np.ndarray:
    """Dilate ``(N, H, W)`` boolean regions by a disc of radius ``tolerance`` pixels.

    Computed as "Euclidean distance to the region <= tolerance" (one distance transform per map),
    which equals a binary dilation with the disc ``dy**2 + dx**2 <= tolerance**2``.
    """
    regions = np.asarray(regions, dtype=bool)
    if tolerance <= 0:
        return regions
    return np.stack(
        [ndimage.distance_transform_edt(~r) <= tolerance if r.any() else r for r in regions]
    )


def _bootstrap_ci(
    scores: np.ndarray, confidence: float, n_resamples: int, seed: int
) -> tuple[float, float]:
    if np.ptp(scores) == 0:  # every tile scored the same: the resampled means cannot vary
        return float(scores[0]), float(scores[0])
    ci = stats.bootstrap(
        (scores,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return float(ci.low), float(ci.high)


def pointing_game(
    saliency: np.ndarray,
    masks: np.ndarray,
    *,
    target_class: int = CRATER_MASK_ID,
    top_n: int = 1,
    min_distance: int = 16,
    tolerance: int = 0,
    n_random: int = 10_000,
    n_bootstrap: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> PointingResult:
    """Score ``(N, H, W)`` saliency maps against ``(N, H, W)`` masks (see module docstring).

    ``masks`` are class-index masks (compared with ``target_class``) or boolean target regions
    (e.g. from :func:`target_regions`). ``names`` label the rows of ``per_tile``.
    """
    maps = np.asarray(saliency)
    masks = np.asarray(masks)
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(
            f"saliency {maps.shape} and masks {masks.shape} must both be (N, H, W) and equal."
        )
    if names is not None and len(names) != len(maps):
        raise ValueError(f"{len(names)} names for {len(maps)} maps.")
    target = masks if masks.dtype == bool else masks == target_class
    used = np.flatnonzero(target.reshape(len(target), -1).any(axis=1))
    if used.size == 0:
        raise ValueError("no tile contains the target class; the pointing game is undefined.")
    regions = grow_regions(target[used], tolerance)
    maps = maps[used]
    peaks = saliency_peaks(maps, top_n=top_n, min_distance=min_distance)
    tile_axis = np.arange(len(used))[:, None]
    scores = regions[tile_axis, peaks[..., 0], peaks[..., 1]].mean(axis=1)
    fractions = regions.reshape(len(used), -1).mean(axis=1)
    hit_rate = float(scores.mean())

    rng = np.random.default_rng(seed)
    _, height, width = regions.shape
    rows = rng.integers(height, size=(n_random, len(used), top_n))
    cols = rng.integers(width, size=(n_random, len(used), top_n))
    random_rates = regions[tile_axis[None], rows, cols].mean(axis=(1, 2))
    p_mc = float((1 + np.sum(random_rates >= hit_rate - 1e-12)) / (n_random + 1))
    p_exact = None
    if top_n == 1:
        hits = round(scores.sum())
        p_exact = float(stats.poisson_binom(fractions).sf(hits - 1))
    low, high = _bootstrap_ci(scores, confidence, n_bootstrap, seed)

    flat = np.ptp(maps.reshape(len(used), -1), axis=1) == 0
    per_tile = pd.DataFrame(
        {
            "tile": [names[i] for i in used] if names is not None else used,
            "peak_row": peaks[:, 0, 0],
            "peak_col": peaks[:, 0, 1],
            "score": scores,
            "target_fraction": fractions,
            "flat_map": flat,
        }
    )
    return PointingResult(
        hit_rate=hit_rate,
        ci_low=low,
        ci_high=high,
        baseline_expected=float(fractions.mean()),
        baseline_monte_carlo=float(random_rates.mean()),
        p_value_monte_carlo=p_mc,
        p_value_exact=p_exact,
        n_tiles=int(used.size),
        n_excluded=len(target) - int(used.size),
        n_flat_maps=int(flat.sum()),
        top_n=top_n,
        tolerance=tolerance,
        per_tile=per_tile,
    )
