"""The named explanation methods and the settings that define them.

A method name maps to one map per image:

* ``"gradcam"``: :func:`~marsutils.xai.attribution.grad_cam`, in ``[0, 1]``;
* ``"ig_black"`` / ``"ig_blur"``: :func:`~marsutils.xai.attribution.integrated_gradients` with the
  black or blurred baseline, summed over channels and kept *signed* (apply
  :meth:`AttributionSettings.reduce` to get the map that is shown and compared).

Keeping IG signed in storage lets one computation serve every reduction and the infidelity metric,
which needs the signed attribution.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from torch import Tensor, nn

from marsutils.xai.attribution import (
    IG_REDUCTIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TargetLike,
    grad_cam,
    integrated_gradients,
)

__all__ = ["METHODS", "METHOD_LABELS", "AttributionSettings", "explain", "explain_with_delta"]

METHODS: tuple[str, ...] = ("gradcam", "ig_black", "ig_blur")
METHOD_LABELS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "ig_black": "IG (black baseline)",
    "ig_blur": "IG (blurred baseline)",
    "random": "random",
}


@dataclass(frozen=True)
class AttributionSettings:
    """Everything that changes the maps (and so the cache key).

    ``layer`` is a module name (``None``: ``model.cam_layer``); ``n_steps`` the IG path points;
    ``blur_sigma`` the blurred baseline's Gaussian sigma in pixels; ``ig_reduce`` how signed IG
    maps are turned into saliency (``"abs"``, ``"positive"`` or ``"signed"``); ``mean``/``std`` the
    input normalisation (needed for the black baseline); ``internal_batch_size`` only bounds memory
    and is not part of the identity.
    """

    methods: tuple[str, ...] = METHODS
    layer: str | None = None
    n_steps: int = 32
    blur_sigma: float = 10.0
    ig_reduce: str = "abs"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    internal_batch_size: int | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"unknown or no method(s) {unknown}; choose from {METHODS}")
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1; got {self.n_steps}")
        if not self.blur_sigma > 0:
            raise ValueError(f"blur_sigma must be > 0; got {self.blur_sigma}")
        if self.ig_reduce not in IG_REDUCTIONS:
            raise ValueError(f"ig_reduce must be one of {IG_REDUCTIONS}; got {self.ig_reduce!r}")
        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    def identity(self) -> dict:
        """The fields that define the maps, as a JSON-ready dict."""
        out = dataclasses.asdict(self)
        out.pop("internal_batch_size")
        out["methods"] = list(self.methods)
        out["mean"] = list(self.mean)
        out["std"] = list(self.std)
        return out

    def reduce(self, method: str, maps: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """The saliency shown for ``method``: Grad-CAM as is, IG reduced by ``ig_reduce``."""
        if method == "gradcam" or self.ig_reduce == "signed":
            return maps
        if self.ig_reduce == "abs":
            return abs(maps)
        return maps.clip(min=0) if isinstance(maps, np.ndarray) else maps.clamp_min(0)


def explain_with_delta(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike,
    method: str,
    settings: AttributionSettings,
) -> tuple[Tensor, Tensor | None]:
    """Maps ``(B, H, W)`` of ``method`` (IG kept signed) and IG's convergence delta (else None)."""
    if method == "gradcam":
        return grad_cam(model, inputs, target, layer=settings.layer), None
    if method in ("ig_black", "ig_blur"):
        result = integrated_gradients(
            model,
            inputs,
            target,
            baseline="black" if method == "ig_black" else "blur",
            n_steps=settings.n_steps,
            blur_sigma=settings.blur_sigma,
            reduce="signed",
            internal_batch_size=settings.internal_batch_size,
            mean=settings.mean,
            std=settings.std,
        )
        return result.maps, result.delta
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def explain(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike,
    method: str,
    settings: AttributionSettings | None = None,
    *,
    reduced: bool = True,
) -> Tensor:
    """Maps ``(B, H, W)`` of ``method``; ``reduced`` applies ``settings.ig_reduce`` to IG."""
    settings = settings or AttributionSettings()
    maps, _ = explain_with_delta(model, inputs, target, method, settings)
    return settings.reduce(method, maps) if reduced else maps
