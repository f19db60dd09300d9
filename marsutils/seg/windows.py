"""Run a classifier's attribution over a 512x512 segmentation tile and return a tile-sized map.

The HiRISE classifier was trained on 227x227 crops resized to its input size, so a 512x512 tile
must be brought to that input. Two choices, both provided:

* ``mode="window"`` (default): slide a ``window`` x ``window`` box over the tile (stride
  ``window // 2``, the last box flush with the border so every pixel is covered), attribute each
  box and average the overlapping maps. The classifier sees boxes of its training crop size, and a
  crater keeps its pixel size. Raw attribution values (Integrated Gradients) come from the same
  model and target class, so they are comparable across boxes and the average keeps the strongest
  box strongest. Maps normalised per input (such as Grad-CAM in ``[0, 1]``) lose that: every box
  then has its own maximum of 1, also a box with nothing in it.
* ``mode="resize"``: treat the whole tile as one crop, shrunk to the model input (a factor
  512 / 227 = 2.26 more than a training crop), attribute once and upsample the map back. One pass
  with the whole context and one normalisation, but small craters shrink to a few pixels.

Neither matches the HiRISE pixel scale: the tiles' camera and resolution are not documented
(see the dataset's PROVENANCE.md), so the classifier sees terrain at an unknown scale either way.

Every box (or the whole tile) goes through :func:`marsutils.data.batches.to_model_input`, the
classifier's own input pipeline: scaled to [0, 1], resized to ``input_size`` (antialiased
bilinear), repeated to three channels and ImageNet-normalised. ``attribute`` is any callable
mapping that ``(B, 3, input_size, input_size)`` batch to ``(B, h, w)`` or ``(B, 1, h, w)``
saliency (e.g. :func:`marsutils.xai.explain` with a fixed target class); maps are upsampled
bilinearly to the box size before they are put back into the tile.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as nnf

from marsutils.data.batches import to_model_input

__all__ = ["Attribution", "tile_saliency", "window_starts"]

#: ``attribute(batch (B, 3, s, s)) -> (B, h, w)`` or ``(B, 1, h, w)`` saliency.
Attribution = Callable[[torch.Tensor], torch.Tensor]


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


def _attribute(
    attribute: Attribution, crops: np.ndarray, input_size: int, out_size: tuple[int, int]
) -> torch.Tensor:
    """Attribute ``(B, h, w)`` uint8 crops; return ``(B, *out_size)`` float maps on the CPU."""
    batch = to_model_input(torch.from_numpy(np.ascontiguousarray(crops)), input_size)
    maps = attribute(batch)
    if not torch.is_tensor(maps):
        raise TypeError(f"attribute must return a tensor, got {type(maps).__name__}.")
    maps = maps.detach().float().cpu()
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    if maps.ndim != 3 or maps.shape[0] != batch.shape[0]:
        raise ValueError(
            f"attribute must return (B, h, w) or (B, 1, h, w) maps for a batch of "
            f"{batch.shape[0]}, got {tuple(maps.shape)}; reduce channel attributions first."
        )
    if tuple(maps.shape[-2:]) != tuple(out_size):
        maps = nnf.interpolate(maps[:, None], size=out_size, mode="bilinear", align_corners=False)[
            :, 0
        ]
    return maps


def _window_map(
    image: np.ndarray,
    attribute: Attribution,
    window: int,
    stride: int,
    batch_size: int,
    input_size: int,
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
        maps = _attribute(attribute, crops, input_size, (window, window))
        for (top, left), box_map in zip(chunk, maps, strict=True):
            total[top : top + window, left : left + window] += box_map
            count[top : top + window, left : left + window] += 1
    return (total / count).numpy()


def tile_saliency(
    images: np.ndarray,
    attribute: Attribution,
    *,
    mode: str = "window",
    window: int = 227,
    stride: int | None = None,
    input_size: int | None = None,
    batch_size: int = 16,
) -> np.ndarray:
    """``(N, H, W) float32`` saliency for ``uint8`` grayscale tiles ``(N, H, W)`` or ``(H, W)``.

    See the module docstring for ``mode`` ("window" or "resize"). ``input_size`` is the side the
    model sees (default ``window``: boxes go in unresized); ``stride`` defaults to ``window // 2``
    and ``batch_size`` caps the boxes attributed at once.
    """
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W), got {images.dtype} {images.shape}.")
    size = input_size or window
    if mode == "window":
        step = stride or window // 2
        maps = [_window_map(im, attribute, window, step, batch_size, size) for im in images]
    elif mode == "resize":
        maps = [_attribute(attribute, im[None], size, im.shape)[0].numpy() for im in images]
    else:
        raise ValueError(f"mode must be 'window' or 'resize', got {mode!r}.")
    return np.stack(maps).astype(np.float32)
