"""How much do two saliency methods agree? Top-k overlap and rank correlation, per image.

Both measures are computed at a *common resolution* (``resolution``, area-averaged): Grad-CAM is
native to the last backbone stage (input/32) and only upsampled, while IG is pixel-level and
speckled, so comparing at full resolution would mostly measure IG's pixel noise rather than
whether the two methods point at the same regions. ``resolution=None`` compares at input size.

An image where either map is constant (no salient region, e.g. an all-zero Grad-CAM) has no top-k
set and no ranking: its IoU and Spearman are NaN, never a fabricated value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import rankdata
from torch import Tensor

__all__ = [
    "chance_top_k_iou",
    "consistency_table",
    "derangement",
    "fraction_of_column",
    "iou_column",
    "mismatched_consistency_table",
    "random_top_k_iou",
    "spearman_maps",
    "summarize_consistency",
    "to_common_resolution",
    "top_k_iou",
    "top_k_mask",
]

MapsLike = Tensor | np.ndarray


def _as_maps(maps: MapsLike, name: str = "maps") -> Tensor:
    out = torch.as_tensor(np.asarray(maps) if not isinstance(maps, Tensor) else maps)
    if out.ndim != 3:
        raise ValueError(f"{name} must be (B, H, W); got shape {tuple(out.shape)}")
    return out.detach().float().cpu()


def _check_pair(maps_a: MapsLike, maps_b: MapsLike) -> tuple[Tensor, Tensor]:
    a, b = _as_maps(maps_a, "maps_a"), _as_maps(maps_b, "maps_b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"maps_a has {a.shape[0]} images but maps_b has {b.shape[0]}")
    return a, b


def _check_fraction(fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise ValueError(f"top-k fraction must be in (0, 1]; got {fraction}")


def to_common_resolution(maps: MapsLike, resolution: int | None) -> Tensor:
    """Area-average ``(B, H, W)`` maps to ``resolution x resolution`` (None: unchanged)."""
    out = _as_maps(maps)
    if resolution is None or tuple(out.shape[-2:]) == (resolution, resolution):
        return out
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1; got {resolution}")
    return F.adaptive_avg_pool2d(out[:, None], resolution)[:, 0]


def _is_constant(flat: Tensor) -> Tensor:
    return flat.amax(dim=1) == flat.amin(dim=1)


def top_k_mask(maps: MapsLike, fraction: float) -> Tensor:
    """Boolean ``(B, H, W)`` masks of the ``round(fraction * H * W)`` (at least 1) top pixels.

    Ties are broken by raster order (a stable sort), so the mask has exactly k pixels.
    """
    _check_fraction(fraction)
    values = _as_maps(maps)
    flat = values.reshape(values.shape[0], -1)
    k = max(1, round(fraction * flat.shape[1]))
    order = torch.argsort(flat, dim=1, descending=True, stable=True)[:, :k]
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, order, True)
    return mask.reshape(values.shape)


def top_k_iou(
    maps_a: MapsLike, maps_b: MapsLike, fraction: float, *, resolution: int | None = None
) -> np.ndarray:
    """Per-image IoU of the top-``fraction`` pixels of two maps (NaN where a map is constant)."""
    a, b = _check_pair(maps_a, maps_b)
    a, b = to_common_resolution(a, resolution), to_common_resolution(b, resolution)
    if a.shape != b.shape:
        raise ValueError(f"map sizes differ: {tuple(a.shape)} vs {tuple(b.shape)}; set resolution")
    mask_a = top_k_mask(a, fraction).reshape(a.shape[0], -1)
    mask_b = top_k_mask(b, fraction).reshape(b.shape[0], -1)
    inter = (mask_a & mask_b).sum(dim=1).double()
    union = (mask_a | mask_b).sum(dim=1).double()
    iou = (inter / union).numpy()
    undefined = _is_constant(a.reshape(a.shape[0], -1)) | _is_constant(b.reshape(b.shape[0], -1))
    iou[undefined.numpy()] = np.nan
    return iou


def chance_top_k_iou(fraction: float) -> float:
    """Expected IoU of two independent random top-k sets: ``k^2 / (2k - k^2) = k / (2 - k)``."""
    _check_fraction(fraction)
    return fraction / (2.0 - fraction)


def random_top_k_iou(
    size: tuple[int, int], fraction: float, *, n_samples: int = 200, seed: int = 0
) -> float:
    """The same chance level measured: mean top-k IoU of pairs of uniform random maps."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand((n_samples, *size), generator=generator)
    b = torch.rand((n_samples, *size), generator=generator)
    return float(np.mean(top_k_iou(a, b, fraction)))


def spearman_maps(
    maps_a: MapsLike, maps_b: MapsLike, *, resolution: int | None = None
) -> np.ndarray:
    """Per-image Spearman rank correlation of two maps (average ranks for ties; NaN if constant).

    Equivalent to :func:`scipy.stats.spearmanr` on each pair of flattened maps.
    """
    a, b = _check_pair(maps_a, maps_b)
    a, b = to_common_resolution(a, resolution), to_common_resolution(b, resolution)
    if a.shape != b.shape:
        raise ValueError(f"map sizes differ: {tuple(a.shape)} vs {tuple(b.shape)}; set resolution")
    ranks_a = rankdata(a.reshape(a.shape[0], -1).double().numpy(), axis=1)
    ranks_b = rankdata(b.reshape(b.shape[0], -1).double().numpy(), axis=1)
    ranks_a -= ranks_a.mean(axis=1, keepdims=True)
    ranks_b -= ranks_b.mean(axis=1, keepdims=True)
    norm = np.sqrt((ranks_a**2).sum(axis=1) * (ranks_b**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ranks_a * ranks_b).sum(axis=1) / norm
    rho[norm == 0] = np.nan
    return rho


def iou_column(fraction: float) -> str:
    """The table column of the top-``fraction`` IoU, e.g. ``iou_top10`` for 0.1."""
    return f"iou_top{fraction * 100:g}"


def fraction_of_column(column: str) -> float:
    """The top-k fraction of an ``iou_top<k>`` column, e.g. 0.1 for ``iou_top10``."""
    if not column.startswith("iou_top"):
        raise ValueError(f"not a top-k IoU column: {column!r}")
    return float(column.removeprefix("iou_top")) / 100.0


def consistency_table(
    maps_a: MapsLike,
    maps_b: MapsLike,
    *,
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    image_ids: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    fractions: Sequence[float] = (0.05, 0.1, 0.2),
    resolution: int | None = 32,
) -> pd.DataFrame:
    """One row per image: ids, classes, ``correct``, ``spearman`` and one ``iou_top<k>`` per k."""
    a, b = _check_pair(maps_a, maps_b)
    n = a.shape[0]
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if len(y_true) != n or len(y_pred) != n:
        raise ValueError(f"y_true/y_pred have {len(y_true)}/{len(y_pred)} entries for {n} maps")
    ids = list(image_ids) if image_ids is not None else [str(i) for i in range(n)]
    if len(ids) != n:
        raise ValueError(f"image_ids has {len(ids)} entries for {n} maps")
    table = pd.DataFrame(
        {
            "image": ids,
            "y_true": y_true.astype(int),
            "y_pred": y_pred.astype(int),
            "correct": y_true == y_pred,
        }
    )
    if class_names is not None:
        names = np.asarray(list(class_names), dtype=object)
        table["class"] = names[table["y_true"].to_numpy()]
    else:
        table["class"] = table["y_true"].astype(str)
    table["spearman"] = spearman_maps(a, b, resolution=resolution)
    for fraction in fractions:
        table[iou_column(fraction)] = top_k_iou(a, b, fraction, resolution=resolution)
    return table


def derangement(n: int, *, seed: int = 0) -> np.ndarray:
    """A seeded random permutation of ``range(n)`` with no fixed point (``n >= 2``)."""
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 items; got {n}")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm


def mismatched_consistency_table(
    maps_a: MapsLike,
    maps_b: MapsLike,
    *,
    image_ids: Sequence[str] | None = None,
    fractions: Sequence[float] = (0.05, 0.1, 0.2),
    resolution: int | None = 32,
    seed: int = 0,
) -> pd.DataFrame:
    """The agreement of *unrelated* maps: image ``i``'s map A against another image's map B.

    Image ``i`` is paired with image :func:`derangement` ``[i]``. What two methods share on every
    image (a bias towards the centre or the border, say) survives this pairing, what they share
    about a particular image does not; so the mean is a data-driven chance level, next to the
    analytic one of :func:`chance_top_k_iou`. Columns: ``image``, ``partner``, ``spearman`` and
    one ``iou_top<k>`` per k. Needs at least two images.
    """
    a, b = _check_pair(maps_a, maps_b)
    n = a.shape[0]
    ids = list(image_ids) if image_ids is not None else [str(i) for i in range(n)]
    if len(ids) != n:
        raise ValueError(f"image_ids has {len(ids)} entries for {n} maps")
    partner = derangement(n, seed=seed)
    shuffled = b[torch.as_tensor(partner)]
    table = pd.DataFrame({"image": ids, "partner": [ids[j] for j in partner]})
    table["spearman"] = spearman_maps(a, shuffled, resolution=resolution)
    for fraction in fractions:
        table[iou_column(fraction)] = top_k_iou(a, shuffled, fraction, resolution=resolution)
    return table


def _metric_columns(table: pd.DataFrame) -> list[str]:
    return ["spearman", *[c for c in table.columns if c.startswith("iou_top")]]


def summarize_consistency(table: pd.DataFrame) -> pd.DataFrame:
    """Tidy summary of :func:`consistency_table`, overall, by class and by correct/wrong.

    Columns: ``group_by`` (``all``, ``class``, ``outcome``), ``group``, ``metric``, ``mean``,
    ``sem``, ``n`` (images with a defined value) and ``chance`` (the value expected for unrelated
    maps: ``k / (2 - k)`` for a top-k IoU, 0 for Spearman).
    """
    missing = {"class", "correct", "spearman"} - set(table.columns)
    if missing:
        raise ValueError(f"not a consistency table: missing column(s) {sorted(missing)}")
    metrics = _metric_columns(table)
    frame = table.assign(outcome=np.where(table["correct"], "correct", "wrong"), all="all")
    rows = []
    for group_by in ("all", "class", "outcome"):
        for group, part in frame.groupby(group_by, sort=True):
            for metric in metrics:
                values = part[metric].dropna().to_numpy(dtype=float)
                count = len(values)
                rows.append(
                    {
                        "group_by": group_by,
                        "group": str(group),
                        "metric": metric,
                        "mean": float(values.mean()) if count else np.nan,
                        "sem": float(values.std(ddof=1) / np.sqrt(count)) if count > 1 else np.nan,
                        "n": count,
                        "chance": 0.0
                        if metric == "spearman"
                        else chance_top_k_iou(fraction_of_column(metric)),
                    }
                )
    return pd.DataFrame(rows)
