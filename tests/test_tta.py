"""Dihedral test-time augmentation: the eight views, and predict_proba's average over them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from marsutils.data.batches import dihedral_view, to_model_input
from marsutils.train import predict_proba


def test_the_eight_views_are_the_dihedral_group():
    grid = torch.arange(9).reshape(1, 3, 3)
    views = [dihedral_view(grid, i) for i in range(8)]
    assert torch.equal(views[0], grid)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    expected = {
        tuple(torch.rot90(g, k, dims=(-2, -1)).flatten().tolist())
        for g in (grid, torch.flip(grid, dims=(-1,)))
        for k in range(4)
    }
    assert {tuple(v.flatten().tolist()) for v in views} == expected
    with pytest.raises(ValueError, match="0-7"):
        dihedral_view(grid, 8)


def _setup():
    torch.manual_seed(0)
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4)).eval()
    return images, model


def test_views_average_the_softmax_over_the_transformed_inputs():
    images, model = _setup()
    rows = np.array([4, 0, 2])
    x = to_model_input(torch.from_numpy(images[rows]), 32)
    with torch.no_grad():
        manual = sum(torch.softmax(model(dihedral_view(x, i)), 1) for i in range(4)) / 4
    probs = predict_proba(model, images, rows, image_size=32, batch_size=2, views=4)
    np.testing.assert_allclose(probs, manual.numpy(), atol=1e-5)
    single = predict_proba(model, images, rows, image_size=32, batch_size=2)
    assert not np.allclose(single, probs)  # a non-invariant model: the views matter
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_an_invariant_model_is_unchanged_by_the_views():
    images, _ = _setup()
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4)).eval()
    rows = np.arange(5)
    single = predict_proba(model, images, rows, image_size=32)
    np.testing.assert_allclose(
        predict_proba(model, images, rows, image_size=32, views=8), single, atol=1e-5
    )


def test_views_out_of_range_are_refused():
    images, model = _setup()
    with pytest.raises(ValueError, match="1-8"):
        predict_proba(model, images, np.arange(2), image_size=32, views=9)
