"""The input pipeline: cached uint8 images -> augmented, resized, normalised 3-channel batches.

Batches are produced whole (one :class:`torch.utils.data.Dataset` item is one batch), so the
decoding cost is paid once by :mod:`marsutils.data.imagecache` and a ``DataLoader`` worker only
slices the memory map, augments (torchvision transforms v2: random rotation and horizontal flip,
as in the paper) and resizes. Every batch carries its own augmentation seed, derived from
``(seed, epoch, batch number)``, so an epoch is reproducible on its own: this is what makes a
resumed training run identical to an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

__all__ = [
    "dihedral_view",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "to_model_input",
    "make_augment",
    "class_balanced_weights",
    "epoch_batches",
    "eval_batches",
    "BatchDataset",
    "make_loader",
    "derive_seed",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (stable across runs and platforms)."""
    return int(
        np.random.SeedSequence([int(p) for p in parts])
        .generate_state(2, np.uint32)
        .view(np.uint64)[0]
        >> np.uint64(1)
    )


def to_model_input(batch: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, H, W)`` or ``(B, 1, H, W)`` uint8 -> ``(B, 3, size, size)`` normalised float32."""
    x = batch if batch.ndim == 4 else batch[:, None]
    x = TF.to_dtype(x, torch.float32, scale=True)
    if x.shape[-2:] != (size, size):
        x = TF.resize(x, [size, size], antialias=True)
    x = x.expand(-1, 3, -1, -1)
    return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)


def dihedral_view(batch: torch.Tensor, index: int) -> torch.Tensor:
    """View ``index`` (0-7) of the dihedral group on ``(..., H, W)``: ``index % 4`` quarter turns,
    after a horizontal flip when ``index >= 4``. View 0 is the batch itself."""
    if not 0 <= index < 8:
        raise ValueError(f"a dihedral view index is 0-7; got {index}")
    if index >= 4:
        batch = torch.flip(batch, dims=(-1,))
    return torch.rot90(batch, k=index % 4, dims=(-2, -1))


def make_augment(rotation: float = 15.0) -> v2.Transform:
    """Random horizontal flip, a random quarter turn and a random small rotation (zero fill)."""
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0, 90, 180, 270)]),
            v2.RandomRotation(rotation, interpolation=v2.InterpolationMode.BILINEAR),
        ]
    )


def class_balanced_weights(labels: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Per-sample weights ``count(label) ** -power``: 1 balances classes fully, 0 not at all."""
    counts = np.bincount(labels)
    return counts[labels].astype(np.float64) ** -power


def epoch_batches(
    labels: np.ndarray, batch_size: int, seed: int, epoch: int, balance_power: float = 1.0
) -> list[tuple[int, np.ndarray]]:
    """One epoch of class-balanced batches as ``(augmentation seed, positions)`` pairs.

    Positions index ``labels``. ``len(labels)`` samples are drawn with replacement by
    :class:`~torch.utils.data.WeightedRandomSampler`, seeded from ``(seed, epoch)``.
    """
    generator = torch.Generator().manual_seed(derive_seed(seed, epoch, 1))
    sampler = WeightedRandomSampler(
        torch.as_tensor(class_balanced_weights(labels, balance_power)),
        num_samples=len(labels),
        replacement=True,
        generator=generator,
    )
    order = np.fromiter(iter(sampler), dtype=np.int64, count=len(labels))
    return [
        (derive_seed(seed, epoch, 2, b), order[start : start + batch_size])
        for b, start in enumerate(range(0, len(order), batch_size))
    ]


def eval_batches(n: int, batch_size: int) -> list[tuple[int, np.ndarray]]:
    """Sequential batches over ``range(n)`` (no augmentation seed needed)."""
    return [(0, np.arange(s, min(s + batch_size, n))) for s in range(0, n, batch_size)]


class BatchDataset(Dataset):
    """Item ``(seed, positions)`` -> ``(inputs, labels, positions)`` for one whole batch.

    ``images`` is the ``(N, H, W)`` uint8 cache (a memory map is re-opened lazily in each worker
    rather than copied); ``rows[p]`` is the image row and ``labels[p]`` the label of position
    ``p``.
    """

    def __init__(
        self,
        images: np.ndarray,
        rows: Sequence[int],
        labels: Sequence[int],
        size: int,
        augment: v2.Transform | None = None,
    ) -> None:
        self._path = getattr(images, "filename", None)
        self._images = None if self._path else images
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = torch.tensor(np.array(labels, dtype=np.int64))
        self.size = size
        self.augment = augment

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self._path:
            state["_images"] = None
        return state

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = np.load(os.fspath(self._path), mmap_mode="r")
        return self._images

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: tuple[int, np.ndarray]) -> tuple[torch.Tensor, ...]:
        seed, positions = item
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.rows[positions]
        order = np.argsort(rows)  # sorted reads from the memory map, then restore the order
        raw = np.empty((len(rows), *self.images.shape[1:]), dtype=np.uint8)
        raw[order] = self.images[rows[order]]
        batch = torch.from_numpy(raw)[:, None]
        if self.augment is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                batch = torch.stack([self.augment(img) for img in batch])
        return to_model_input(batch, self.size), self.labels[positions], torch.from_numpy(positions)


def _iter_plan(plan: list[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
    yield from plan


def make_loader(
    dataset: BatchDataset, plan: list[tuple[int, np.ndarray]], num_workers: int = 1
) -> DataLoader:
    """A ``DataLoader`` over a batch plan; ``num_workers`` prefetch batches in the background."""
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=plan,
        num_workers=num_workers,
        prefetch_factor=2 if num_workers else None,
        persistent_workers=False,
    )
