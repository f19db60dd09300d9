"""Deletion and insertion curves (Petsiuk et al. 2018): does removing salient pixels hurt?

*Deletion* starts from the image and replaces its most salient pixels, a growing fraction at a
time, with the baseline; *insertion* starts from the baseline and puts the most salient pixels
back. The curve is the model's softmax probability of the target class after each step, at
fractions ``0, 1/steps, ..., 1`` of the pixels. A faithful map gives a low deletion AUC (the
probability collapses early) and a high insertion AUC. A random map is the reference.

A "pixel" is a spatial location: its three (identical grayscale) channels move together. Ties in
the saliency (e.g. the flat zero areas of a ReLU'd Grad-CAM) are broken in a seeded random order,
not in raster order, so a flat map behaves like the random reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from marsutils.xai.attribution import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BaselineKind,
    TargetLike,
    check_inputs,
    eval_mode,
    make_baseline,
    resolve_target,
)

__all__ = [
    "FaithfulnessResult",
    "curve_auc",
    "deletion_insertion",
    "perturbation_curves",
    "random_saliency",
    "saliency_order",
]

Mode = Literal["deletion", "insertion"]
MapsLike = Tensor | np.ndarray


def _maps_at_input_size(saliency: MapsLike, inputs: Tensor) -> Tensor:
    maps = torch.as_tensor(np.asarray(saliency) if not isinstance(saliency, Tensor) else saliency)
    maps = maps.detach().float().to(inputs.device)
    if maps.ndim != 3 or maps.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"saliency must be (B, H, W) with B={inputs.shape[0]}; got {tuple(maps.shape)}"
        )
    if maps.shape[-2:] != inputs.shape[-2:]:
        maps = F.interpolate(maps[:, None], inputs.shape[-2:], mode="bilinear")[:, 0]
    return maps


def saliency_order(saliency: Tensor, *, seed: int = 0) -> Tensor:
    """Per image, the flat pixel indices from most to least salient (ties in random order)."""
    flat = saliency.reshape(saliency.shape[0], -1).cpu()
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.argsort(torch.rand(flat.shape, generator=generator), dim=1)
    ranked = torch.argsort(flat.gather(1, shuffle), dim=1, descending=True, stable=True)
    return shuffle.gather(1, ranked).to(saliency.device)


def random_saliency(shape: Sequence[int], *, seed: int = 0) -> Tensor:
    """Uniform random ``(B, H, W)`` maps: the no-information reference."""
    return torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed))


def perturbation_curves(
    model: nn.Module,
    inputs: Tensor,
    saliency: MapsLike,
    target: TargetLike = None,
    *,
    mode: Mode = "deletion",
    baseline: BaselineKind | Tensor = "black",
    steps: int = 16,
    blur_sigma: float = 10.0,
    batch_size: int = 32,
    seed: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """Target-class probabilities ``(B, steps + 1)`` along the deletion or insertion path.

    ``saliency`` is ``(B, h, w)`` (bilinearly resized to the input if needed); ``baseline`` is the
    replacement: ``"black"``, ``"blur"`` (Gaussian, ``blur_sigma`` pixels) or a tensor.
    """
    check_inputs(inputs)
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion'; got {mode!r}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    maps = _maps_at_input_size(saliency, inputs)
    base = make_baseline(inputs, baseline, blur_sigma=blur_sigma, mean=mean, std=std)
    n_pixels = maps.shape[-2] * maps.shape[-1]
    order = saliency_order(maps, seed=seed)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(n_pixels, device=order.device).expand_as(order).contiguous()
    )
    counts = torch.round(torch.linspace(0, n_pixels, steps + 1)).long().to(inputs.device)
    start, end = (inputs, base) if mode == "deletion" else (base, inputs)
    # every (image, step) point of every curve, sent through the model batch_size at a time
    n_points = inputs.shape[0] * (steps + 1)
    image_of = torch.arange(n_points, device=inputs.device) // (steps + 1)
    step_of = torch.arange(n_points, device=inputs.device) % (steps + 1)
    curves = torch.empty(n_points)
    with torch.no_grad(), eval_mode(model):
        targets = resolve_target(model, inputs, target)
        for lo in range(0, n_points, batch_size):
            images, points = image_of[lo : lo + batch_size], step_of[lo : lo + batch_size]
            changed = rank[images] < counts[points][:, None]
            changed = changed.reshape(len(images), 1, *maps.shape[-2:])
            batch = torch.where(changed, end[images], start[images])
            probs = model(batch).float().softmax(dim=1)
            curves[lo : lo + len(images)] = probs.gather(1, targets[images][:, None])[:, 0].cpu()
    return curves.reshape(inputs.shape[0], steps + 1)


def curve_auc(curves: Tensor | np.ndarray) -> np.ndarray:
    """Area under ``(B, S)`` curves sampled evenly on ``[0, 1]`` (trapezoid rule)."""
    values = np.asarray(curves, dtype=float)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f"curves must be (B, S) with S >= 2; got shape {values.shape}")
    return np.trapezoid(values, np.linspace(0.0, 1.0, values.shape[1]), axis=1)


@dataclass(frozen=True)
class FaithfulnessResult:
    """Curves and AUCs for several methods.

    ``curves[method][mode]`` is ``(B, steps + 1)``; ``table`` has one row per image and method with
    ``deletion_auc`` and ``insertion_auc``; ``fractions`` is the x axis of the curves.
    """

    curves: dict[str, dict[str, np.ndarray]]
    table: pd.DataFrame
    fractions: np.ndarray

    def summary(self) -> pd.DataFrame:
        """Per method: mean and standard error of both AUCs, and the number of images."""
        grouped = self.table.groupby("method", sort=False)[["deletion_auc", "insertion_auc"]]
        out = grouped.agg(["mean", "sem"])
        out.columns = [f"{metric}_{stat}" for metric, stat in out.columns]
        out["n"] = grouped.size()
        return out.reset_index()


def deletion_insertion(
    model: nn.Module,
    inputs: Tensor,
    saliency: Mapping[str, MapsLike],
    target: TargetLike = None,
    *,
    baseline: BaselineKind | Tensor = "black",
    steps: int = 16,
    blur_sigma: float = 10.0,
    include_random: bool = True,
    image_ids: Sequence[str] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> FaithfulnessResult:
    """Deletion and insertion curves and AUCs for every map in ``saliency`` (plus ``"random"``)."""
    check_inputs(inputs)
    if not saliency:
        raise ValueError("saliency must hold at least one method's maps")
    batch = inputs.shape[0]
    ids = list(image_ids) if image_ids is not None else [str(i) for i in range(batch)]
    if len(ids) != batch:
        raise ValueError(f"image_ids has {len(ids)} entries for {batch} images")
    targets = resolve_target(model, inputs, target)
    all_maps = dict(saliency)
    if include_random:
        if "random" in all_maps:
            raise ValueError("'random' is reserved for the random reference; rename that method")
        all_maps["random"] = random_saliency((batch, *inputs.shape[-2:]), seed=seed)
    path = {"baseline": baseline, "steps": steps, "blur_sigma": blur_sigma, "seed": seed}
    path |= {"batch_size": batch_size, "mean": mean, "std": std}
    curves: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    for method, maps in all_maps.items():
        curves[method] = {
            mode: perturbation_curves(model, inputs, maps, targets, mode=mode, **path).numpy()
            for mode in ("deletion", "insertion")
        }
        rows.append(
            pd.DataFrame(
                {
                    "image": ids,
                    "target": targets.cpu().numpy(),
                    "method": method,
                    "deletion_auc": curve_auc(curves[method]["deletion"]),
                    "insertion_auc": curve_auc(curves[method]["insertion"]),
                }
            )
        )
    return FaithfulnessResult(
        curves=curves,
        table=pd.concat(rows, ignore_index=True),
        fractions=np.linspace(0.0, 1.0, steps + 1),
    )
