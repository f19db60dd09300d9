"""Run a classifier's attribution over a 512x512 segmentation tile and return a tile-sized map.

The HiRISE classifier was trained on 227x227 crops, so a 512x512 tile must be brought to that
input size. Two choices, both provided:

* ``mode="window"`` (default): slide a ``window`` x ``window`` box over the tile (stride
  ``window // 2``, the last box flush with the border so every pixel is covered), attribute each
  box at full resolution and average the overlapping maps. The classifier sees inputs of its
  training size with no resampling, and a crater keeps its pixel size. Window maps are not
  rescaled one by one: they come from the same model and target class, so their raw values are
  comparable, and rescaling would inflate windows with nothing in them.
* ``mode="resize"``: shrink the whole tile to ``window`` x ``window`` (a factor 2.26 for 227),
  attribute once and upsample the map back. One pass with the whole context, but small craters
  shrink to a few pixels.

Neither matches the HiRISE pixel scale: the tiles' camera and resolution are not documented
(see the dataset's PROVENANCE.md), so the classifier sees terrain at an unknown scale either way.

``attribute`` is any callable mapping a normalised ``(B, 3, h, w)`` float batch to ``(B, h', w')``
or ``(B, 1, h', w')`` saliency (e.g. a wrapper around captum ``LayerGradCam`` or
``IntegratedGradients`` that sums over channels); maps smaller than the input are upsampled
bilinearly. The input is prepared by :func:`~marsutils.seg.dataset.to_model_input` (ImageNet
normalisation of the grayscale repeated to three channels) unless ``preprocess`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as nnf

from .dataset import to_model_input

__all__ = ["Attribution", "tile_saliency", "window_starts"]

#: ``attribute(batch (B, 3, h, w)) -> (B, h', w')`` or ``(B, 1, h', w')`` saliency.
Attribution = Callable[[torch.Tensor], torch.Tensor]
Preprocess = Callable[[np.ndarray], torch.Tensor]


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start offsets of windows covering ``[0, length)``; the last ends exactly at ``length``."""
    if window > length:
        raise ValueError(f"window {window} is larger than the tile side {length}.")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}.")
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def _attribute(attribute: Attribution, batch: torch.Tensor) -> torch.Tensor:
    maps = attribute(batch)
    if not torch.is_tensor(maps):
        raise TypeError(f"attribute must return a tensor, got {type(maps).__name__}.")
    maps = maps.detach().float()
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3 or maps.shape[0] != batch.shape[0]:
        raise ValueError(
            f"attribute must return (B, h, w) or (B, 1, h, w) maps for a batch of "
            f"{batch.shape[0]}, got {tuple(maps.shape)}; reduce channel attributions first."
        )
    if maps.shape[-2:] != batch.shape[-2:]:
        maps = nnf.interpolate(
            maps[:, None], size=batch.shape[-2:], mode="bilinear", align_corners=False
        )[:, 0]
    return maps.cpu()


def _window_map(
    image: np.ndarray,
    attribute: Attribution,
    window: int,
    stride: int,
    batch_size: int,
    preprocess: Preprocess,
) -> np.ndarray:
    height, width = image.shape
    boxes = [
        (top, left)
        for top in window_starts(height, window, stride)
        for left in window_starts(width, window, stride)
    ]
    total = torch.zeros(height, width)
    count = torch.zeros(height, width)
    for first in range(0, len(boxes), batch_size):
        chunk = boxes[first : first + batch_size]
        crops = np.stack([image[t : t + window, lf : lf + window] for t, lf in chunk])
        maps = _attribute(attribute, preprocess(crops))
        for (top, left), tile_map in zip(chunk, maps, strict=True):
            total[top : top + window, left : left + window] += tile_map
            count[top : top + window, left : left + window] += 1
    return (total / count).numpy()


def _resized_map(
    image: np.ndarray, attribute: Attribution, window: int, preprocess: Preprocess
) -> np.ndarray:
    batch = preprocess(image[None])
    small = nnf.interpolate(
        batch, size=(window, window), mode="bilinear", antialias=True, align_corners=False
    )
    maps = _attribute(attribute, small)
    return nnf.interpolate(maps[:, None], size=image.shape, mode="bilinear", align_corners=False)[
        0, 0
    ].numpy()


def tile_saliency(
    images: np.ndarray,
    attribute: Attribution,
    *,
    mode: str = "window",
    window: int = 227,
    stride: int | None = None,
    batch_size: int = 16,
    preprocess: Preprocess = to_model_input,
) -> np.ndarray:
    """``(N, H, W) float32`` saliency for ``uint8`` grayscale tiles ``(N, H, W)`` or ``(H, W)``.

    See the module docstring for ``mode`` ("window" or "resize"); ``stride`` defaults to
    ``window // 2`` and ``batch_size`` caps the windows attributed at once.
    """
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W), got {images.dtype} {images.shape}.")
    if mode == "window":
        step = stride or window // 2
        maps = [_window_map(im, attribute, window, step, batch_size, preprocess) for im in images]
    elif mode == "resize":
        maps = [_resized_map(im, attribute, window, preprocess) for im in images]
    else:
        raise ValueError(f"mode must be 'window' or 'resize', got {mode!r}.")
    return np.stack(maps).astype(np.float32)
