"""Torch datasets over segmentation tiles: random augmented crops for training, full tiles for
evaluation.

Inputs follow the HiRISE classification pipeline: the 8-bit grayscale is scaled to [0, 1],
repeated to three channels and normalised with the ImageNet mean and standard deviation of
:mod:`marsutils.data.batches` (the one place those constants live).
Targets are model class ids (see :mod:`marsutils.seg.classes`): crater 0, rough 1, smooth 2,
alluvial fan 3, and :data:`~marsutils.seg.classes.IGNORE_INDEX` (255) for unlabelled pixels,
which the loss and the metric skip.

Image and mask go through the same torchvision v2 transform as ``tv_tensors.Image`` and
``tv_tensors.Mask``, so every crop, flip and rotation hits both alike; a resize uses bilinear
(antialiased) interpolation for the image and nearest for the mask. Randomness comes from torch's
global generator, so :func:`~marsutils.train.runtime.seed_everything` makes the crops repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from marsutils.data.batches import IMAGENET_MEAN, IMAGENET_STD
from marsutils.seg.classes import to_model_targets
from marsutils.seg.tiles import SegTile

__all__ = [
    "RandomRot90",
    "SegCropDataset",
    "SegTileDataset",
    "resize_pair",
    "train_augmentation",
]

_NORMALIZE = v2.Compose(
    [
        v2.ToDtype(torch.float32, scale=True),
        v2.RGB(),
        v2.Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD)),
    ]
)


class RandomRot90(v2.Transform):
    """Rotate every image and mask by the same random multiple of 90 degrees (exact, no
    interpolation)."""

    _transformed_types = (tv_tensors.Image, tv_tensors.Mask)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw ``k`` uniformly from {0, 1, 2, 3}."""
        return {"k": int(torch.randint(4, ()).item())}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """Apply ``torch.rot90`` with the drawn ``k`` to the last two dimensions."""
        rotated = torch.rot90(inpt.as_subclass(torch.Tensor), params["k"], dims=(-2, -1))
        return tv_tensors.wrap(rotated, like=inpt)


def train_augmentation(crop: int | None) -> v2.Compose:
    """Random ``crop`` x ``crop`` window (whole tile when None), random h/v flips and rot90."""
    steps: list[v2.Transform] = [] if crop is None else [v2.RandomCrop(crop)]
    steps += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(), RandomRot90()]
    return v2.Compose(steps)


def resize_pair(
    image: np.ndarray, mask: np.ndarray, size: int | None
) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """Wrap an ``(H, W)`` image and mask as tv_tensors, resized to ``size`` x ``size`` if given
    (bilinear with antialias for the image, nearest for the mask)."""
    img = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(image)).unsqueeze(0))
    msk = tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(mask)))
    if size is not None:
        img = F.resize(img, [size, size], antialias=True)
        msk = F.resize(msk, [size, size])
    return img, msk


class SegCropDataset(Dataset):
    """Training samples: ``crops_per_tile`` random augmented crops of every tile per epoch.

    Tiles are first resized to ``image_size`` (when given), then cropped to ``crop``, flipped and
    rotated by multiples of 90 degrees. Items are ``(image (3, crop, crop) float32,
    target (crop, crop) int64)``.
    """

    def __init__(
        self,
        tiles: Sequence[SegTile],
        *,
        crop: int | None = 256,
        image_size: int | None = None,
        crops_per_tile: int = 1,
    ) -> None:
        if not tiles:
            raise ValueError("SegCropDataset needs at least one tile.")
        if crops_per_tile < 1:
            raise ValueError(f"crops_per_tile must be >= 1, got {crops_per_tile}.")
        self.pairs = [resize_pair(t.image, to_model_targets(t.mask), image_size) for t in tiles]
        smallest = min(min(img.shape[-2:]) for img, _ in self.pairs)
        if crop is not None and crop > smallest:
            raise ValueError(f"crop {crop} is larger than the (resized) tiles ({smallest} px).")
        self.crops_per_tile = crops_per_tile
        self.augment = train_augmentation(crop)

    def __len__(self) -> int:
        return len(self.pairs) * self.crops_per_tile

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, target = self.augment(*self.pairs[index % len(self.pairs)])
        return _NORMALIZE(image).as_subclass(torch.Tensor), target.as_subclass(torch.Tensor).long()


class SegTileDataset(Dataset):
    """Evaluation samples: whole tiles, the image resized to ``image_size`` (when given) and the
    target kept at the tile's native size so the metric is computed on the original mask.

    Items are ``(image (3, S, S) float32, target (H, W) int64)``.
    """

    def __init__(self, tiles: Sequence[SegTile], *, image_size: int | None = None) -> None:
        if not tiles:
            raise ValueError("SegTileDataset needs at least one tile.")
        self.images = [resize_pair(t.image, t.mask, image_size)[0] for t in tiles]
        self.targets = [torch.from_numpy(to_model_targets(t.mask)).long() for t in tiles]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _NORMALIZE(self.images[index]).as_subclass(torch.Tensor), self.targets[index]
