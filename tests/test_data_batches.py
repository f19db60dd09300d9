"""The batch pipeline: shapes, normalisation, determinism and class balance."""

from __future__ import annotations

import numpy as np
import torch

from marsutils.data.batches import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchDataset,
    class_balanced_weights,
    epoch_batches,
    make_augment,
    make_loader,
    to_model_input,
)


def test_to_model_input_normalises_and_resizes():
    batch = torch.full((2, 227, 227), 255, dtype=torch.uint8)
    x = to_model_input(batch, 64)
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert torch.allclose(x[0, :, 10, 10], torch.tensor(expected), atol=1e-5)


def test_balanced_weights():
    labels = np.array([0, 0, 0, 1])
    assert np.allclose(class_balanced_weights(labels, 1.0), [1 / 3, 1 / 3, 1 / 3, 1])
    assert np.allclose(class_balanced_weights(labels, 0.0), 1)


def test_epoch_plan_balanced_and_seeded():
    labels = np.array([0] * 900 + [1] * 100)
    plan = epoch_batches(labels, 50, seed=1, epoch=0, balance_power=1.0)
    drawn = labels[np.concatenate([p for _, p in plan])]
    assert len(drawn) == 1000 and len(plan) == 20
    assert 0.4 < drawn.mean() < 0.6  # balanced, against 0.1 unbalanced
    again = epoch_batches(labels, 50, seed=1, epoch=0, balance_power=1.0)
    assert all(
        np.array_equal(a[1], b[1]) and a[0] == b[0] for a, b in zip(plan, again, strict=True)
    )
    other = epoch_batches(labels, 50, seed=1, epoch=1, balance_power=1.0)
    assert not np.array_equal(plan[0][1], other[0][1])


def test_batches_deterministic_across_workers():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 227, 227), dtype=np.uint8)
    labels = np.arange(40) % 4
    data = BatchDataset(images, np.arange(40), labels, 64, make_augment())
    plan = epoch_batches(labels, 8, seed=0, epoch=0)
    main = [x for x, _, _ in make_loader(data, plan, num_workers=0)]
    worker = [x for x, _, _ in make_loader(data, plan, num_workers=1)]
    assert all(torch.equal(a, b) for a, b in zip(main, worker, strict=True))
    x, y, _ = data[plan[0]]
    assert x.shape == (8, 3, 64, 64)
    assert torch.equal(y, torch.as_tensor(labels[plan[0][1]]))
    # augmentation actually changes the pixels
    plain = BatchDataset(images, np.arange(40), labels, 64)
    assert not torch.equal(plain[plan[0]][0], x)
