"""Grad-CAM and Integrated Gradients maps, computed with captum.

Inputs follow the model contract: ``(B, 3, H, W)`` float tensors holding an ImageNet-normalised
grayscale image repeated on the three channels; ``model(x)`` returns logits ``(B, K)``;
``model.cam_layer`` is the default Grad-CAM layer. Every function here switches the model to eval
mode for the call and restores its previous mode afterwards.

Map conventions
---------------
* Grad-CAM maps are ReLU'd, bilinearly upsampled to ``(H, W)`` and min-max normalised per image
  to ``[0, 1]`` (:func:`normalize_per_image`): the most class-supporting location is 1, the least
  is 0. A constant map carries no spatial information and becomes all zeros (never NaN).
* Integrated Gradients attributions keep their units (logit contributions), so that their sum still
  equals ``f(x) - f(baseline)`` up to the convergence delta. :func:`reduce_attributions` sums them
  over the three channels (the channels are copies of one grayscale pixel, so the sum is that
  pixel's attribution) and then takes the absolute value, the positive part, or keeps the sign.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam
from torch import Tensor, nn
from torchvision.transforms.v2.functional import gaussian_blur

from marsutils.data.batches import IMAGENET_MEAN, IMAGENET_STD
from marsutils.models.protocol import CamLayerModel

__all__ = [
    "IG_REDUCTIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IGResult",
    "black_baseline",
    "denormalize",
    "blur_baseline",
    "eval_mode",
    "grad_cam",
    "integrated_gradients",
    "make_baseline",
    "normalize_per_image",
    "reduce_attributions",
    "resolve_layer",
    "resolve_target",
]

IG_REDUCTIONS: tuple[str, ...] = ("abs", "positive", "signed")

Reduction = Literal["abs", "positive", "signed"]
BaselineKind = Literal["black", "blur"]
TargetLike = int | Sequence[int] | np.ndarray | Tensor | None


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block and restore its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def check_inputs(inputs: Tensor) -> None:
    """Raise ``ValueError`` unless ``inputs`` is a float ``(B, 3, H, W)`` tensor."""
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor; got {type(inputs).__name__}")
    if inputs.ndim != 4 or inputs.shape[1] != 3:
        raise ValueError(f"inputs must have shape (B, 3, H, W); got {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise ValueError(f"inputs must be a float tensor; got dtype {inputs.dtype}")


def resolve_target(model: nn.Module, inputs: Tensor, target: TargetLike = None) -> Tensor:
    """Return the target class of every image as a ``(B,)`` long tensor.

    ``None`` means the model's predicted class; a single class (int, NumPy integer, one-element
    tensor) is used for every image; a sequence, array or tensor gives one class per image.
    """
    batch = inputs.shape[0]
    if target is None:
        with torch.no_grad(), eval_mode(model):
            return model(inputs).argmax(dim=1)
    out = torch.as_tensor(np.array(target) if not isinstance(target, Tensor) else target)
    out = out.to(dtype=torch.long, device=inputs.device).reshape(-1)
    if out.numel() == 1:
        return out.expand(batch).clone()
    if out.numel() != batch:
        raise ValueError(f"target has {out.numel()} entries for a batch of {batch} images")
    return out


def resolve_layer(model: nn.Module, layer: nn.Module | str | None = None) -> nn.Module:
    """The Grad-CAM layer: ``model.cam_layer`` by default, a module name, or a submodule.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; with ``layer=None`` it must be a
        :class:`~marsutils.models.protocol.CamLayerModel` (every model of
        :func:`~marsutils.models.build_model` is).
    layer : torch.nn.Module or str, optional
        A submodule of ``model`` or its name in ``model.named_modules()``.

    Returns
    -------
    layer : torch.nn.Module

    Raises
    ------
    ValueError
        When ``model`` names no Grad-CAM layer and none is given, or ``layer`` is not one of
        ``model``'s submodules.
    """
    if layer is None:
        found = model.cam_layer if isinstance(model, CamLayerModel) else None
        if not isinstance(found, nn.Module):
            raise ValueError(
                f"{type(model).__name__} has no `cam_layer` module; pass `layer` explicitly"
            )
        return found
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules:
            some = [name for name in modules if name][:12]
            raise ValueError(f"model has no submodule named {layer!r}; some names: {some}")
        return modules[layer]
    if not any(layer is module for module in model.modules()):
        raise ValueError("`layer` is not a submodule of `model` (pass its name for model copies)")
    return layer


def normalize_per_image(maps: Tensor) -> Tensor:
    """Min-max normalise each ``(H, W)`` map of a ``(B, H, W)`` batch to ``[0, 1]``.

    A constant map (no spatial contrast) becomes all zeros rather than NaN.
    """
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(torch.finfo(flat.dtype).tiny), 0.0)
    return scaled.reshape(maps.shape)


def grad_cam(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike = None,
    *,
    layer: nn.Module | str | None = None,
    interpolate_mode: str = "bilinear",
) -> Tensor:
    """Grad-CAM maps ``(B, H, W)`` in ``[0, 1]`` for ``target`` (default: predicted class).

    captum's :class:`~captum.attr.LayerGradCam` weights the channels of ``layer`` (default
    ``model.cam_layer``) by their spatially averaged gradients and sums them; the result is ReLU'd,
    upsampled to the input size with :meth:`LayerAttribution.interpolate` and normalised per image
    with :func:`normalize_per_image`.
    """
    check_inputs(inputs)
    with eval_mode(model):
        module = resolve_layer(model, layer)
        targets = resolve_target(model, inputs, target)
        cam = LayerGradCam(model, module).attribute(inputs, target=targets, relu_attributions=True)
        if cam.ndim != 4:
            raise ValueError(
                f"Grad-CAM layer output must be (B, C, h, w); got a {cam.ndim}-D attribution"
            )
        cam = LayerAttribution.interpolate(
            cam.detach().float(), tuple(inputs.shape[-2:]), interpolate_mode=interpolate_mode
        )
    return normalize_per_image(cam[:, 0])


def black_baseline(
    inputs: Tensor,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """An all-black image *in normalised space*: ``(0 - mean_c) / std_c`` on every channel.

    The model never sees raw pixels, so "black" is the value a black pixel has after the
    normalisation (about -2.1, -2.0, -1.8), not 0: a zero tensor would be the mean-grey image.
    """
    check_inputs(inputs)
    mean_t = torch.as_tensor(mean, dtype=inputs.dtype, device=inputs.device).view(1, 3, 1, 1)
    std_t = torch.as_tensor(std, dtype=inputs.dtype, device=inputs.device).view(1, 3, 1, 1)
    return ((0.0 - mean_t) / std_t).expand_as(inputs).clone()


def blur_kernel_size(sigma: float, height: int, width: int) -> int:
    """An odd kernel covering +-3 sigma, capped so that reflect padding fits the image."""
    size = 2 * math.ceil(3.0 * sigma) + 1
    cap = 2 * min(height, width) - 1
    return max(3, min(size, cap if cap % 2 else cap - 1))


def blur_baseline(inputs: Tensor, *, sigma: float) -> Tensor:
    """The input blurred with a Gaussian of standard deviation ``sigma`` pixels.

    Blurring commutes with the per-channel affine normalisation (the kernel sums to one), so
    blurring the normalised tensor equals normalising the blurred image.
    """
    check_inputs(inputs)
    if not sigma > 0:
        raise ValueError(f"blur sigma must be > 0; got {sigma}")
    size = blur_kernel_size(sigma, inputs.shape[-2], inputs.shape[-1])
    return gaussian_blur(inputs, kernel_size=[size, size], sigma=[float(sigma), float(sigma)])


def make_baseline(
    inputs: Tensor,
    baseline: BaselineKind | Tensor,
    *,
    blur_sigma: float = 10.0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """Build the ``"black"`` or ``"blur"`` baseline, or check and broadcast a given tensor."""
    if isinstance(baseline, Tensor):
        try:
            return baseline.to(inputs).expand_as(inputs)
        except RuntimeError as err:
            raise ValueError(
                f"baseline of shape {tuple(baseline.shape)} does not broadcast to the inputs "
                f"{tuple(inputs.shape)}"
            ) from err
    if baseline == "black":
        return black_baseline(inputs, mean=mean, std=std)
    if baseline == "blur":
        return blur_baseline(inputs, sigma=blur_sigma)
    raise ValueError(f"unknown baseline {baseline!r}; use 'black', 'blur' or a tensor")


def reduce_attributions(attributions: Tensor, reduce: Reduction = "abs") -> Tensor:
    """Sum ``(B, C, H, W)`` attributions over channels, then apply ``reduce``.

    ``"abs"`` keeps the magnitude (evidence for or against), ``"positive"`` keeps only evidence
    for the target, ``"signed"`` keeps both signs.
    """
    if attributions.ndim != 4:
        raise ValueError(f"attributions must be (B, C, H, W); got {tuple(attributions.shape)}")
    summed = attributions.sum(dim=1)
    if reduce == "abs":
        return summed.abs()
    if reduce == "positive":
        return summed.clamp_min(0.0)
    if reduce == "signed":
        return summed
    raise ValueError(f"unknown reduction {reduce!r}; choose one of {IG_REDUCTIONS}")


@dataclass(frozen=True)
class IGResult:
    """Integrated Gradients for a batch.

    ``maps`` are the reduced ``(B, H, W)`` maps; ``attributions`` the raw ``(B, 3, H, W)`` ones;
    ``delta`` captum's convergence delta, ``sum(attributions) - (f(x) - f(baseline))`` per image
    (the completeness check); ``relative_delta`` is ``|delta| / |f(x) - f(baseline)|``.
    """

    maps: Tensor
    attributions: Tensor
    delta: Tensor
    relative_delta: Tensor
    target: Tensor


def integrated_gradients(
    model: nn.Module,
    inputs: Tensor,
    target: TargetLike = None,
    *,
    baseline: BaselineKind | Tensor = "black",
    n_steps: int = 32,
    blur_sigma: float = 10.0,
    reduce: Reduction = "abs",
    internal_batch_size: int | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> IGResult:
    """Integrated Gradients of the target logit from ``baseline`` to ``inputs``.

    ``baseline`` is ``"black"`` (:func:`black_baseline`), ``"blur"`` (:func:`blur_baseline` with
    ``blur_sigma``) or a tensor. The path integral uses captum's Gauss-Legendre rule with
    ``n_steps`` points; ``internal_batch_size`` bounds how many path points go through the model
    at once.
    """
    check_inputs(inputs)
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1; got {n_steps}")
    if reduce not in IG_REDUCTIONS:
        raise ValueError(f"unknown reduction {reduce!r}; choose one of {IG_REDUCTIONS}")
    with eval_mode(model):
        targets = resolve_target(model, inputs, target)
        base = make_baseline(inputs, baseline, blur_sigma=blur_sigma, mean=mean, std=std)
        attributions, delta = IntegratedGradients(model).attribute(
            inputs,
            baselines=base,
            target=targets,
            n_steps=n_steps,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
    attributions = attributions.detach().float()
    delta = delta.detach().float()
    output_gap = attributions.sum(dim=(1, 2, 3)) - delta
    relative = delta.abs() / output_gap.abs().clamp_min(1e-12)
    return IGResult(
        maps=reduce_attributions(attributions, reduce),
        attributions=attributions,
        delta=delta,
        relative_delta=relative,
        target=targets,
    )


def denormalize(
    inputs: np.ndarray | object,
    *,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """Normalised ``(N, 3, H, W)`` inputs back to grayscale ``(N, H, W)`` images in ``[0, 1]``."""
    values = np.asarray(inputs.detach().cpu() if isinstance(inputs, Tensor) else inputs, float)
    if values.ndim != 4 or values.shape[1] != 3:
        raise ValueError(f"inputs must be (N, 3, H, W); got shape {values.shape}")
    pixels = values * np.asarray(std).reshape(1, 3, 1, 1) + np.asarray(mean).reshape(1, 3, 1, 1)
    return pixels.mean(axis=1).clip(0.0, 1.0)
