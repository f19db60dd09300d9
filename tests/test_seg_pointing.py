"""Pointing game on synthetic masks with known answers, and tile-sized saliency from windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marsutils.seg.pointing import (
    edge_map,
    grow_regions,
    pointing_game,
    saliency_peaks,
    target_regions,
)
from marsutils.seg.tiles import SegTile
from marsutils.seg.windows import tile_saliency, window_starts


def crater_masks(n: int, size: int = 32, side: int = 16) -> np.ndarray:
    """Class-index masks: one ``side`` x ``side`` crater (1) at a varying place, rest rough (2)."""
    masks = np.full((n, size, size), 2, dtype=np.uint8)
    for i in range(n):
        top, left = (3 * i) % (size - side), (5 * i) % (size - side)
        masks[i, top : top + side, left : left + side] = 1
    return masks


def test_peaks_with_non_max_suppression() -> None:
    saliency = np.zeros((1, 20, 20))
    saliency[0, 5, 5], saliency[0, 6, 6], saliency[0, 15, 12] = 3.0, 2.0, 1.0
    np.testing.assert_array_equal(saliency_peaks(saliency), [[[5, 5]]])
    peaks = saliency_peaks(saliency, top_n=2, min_distance=2)
    np.testing.assert_array_equal(peaks, [[[5, 5], [15, 12]]])  # (6, 6) is suppressed
    with pytest.raises(ValueError, match="no room"):
        saliency_peaks(saliency, top_n=2, min_distance=20)


def test_saliency_peaked_inside_craters_always_hits() -> None:
    masks = crater_masks(30)
    saliency = np.random.default_rng(0).random(masks.shape) + 5.0 * (masks == 1)
    result = pointing_game(saliency, masks, n_random=2000, n_bootstrap=500)
    assert result.hit_rate == 1.0 and (result.ci_low, result.ci_high) == (1.0, 1.0)
    assert result.baseline_expected == pytest.approx(0.25)
    assert result.baseline_monte_carlo == pytest.approx(0.25, abs=0.01)
    assert result.p_value_exact == pytest.approx(0.25**30)
    assert result.p_value_monte_carlo == pytest.approx(1 / 2001)
    assert result.n_tiles == 30 and result.n_excluded == 0


def test_saliency_peaked_outside_craters_never_hits() -> None:
    masks = crater_masks(10)
    saliency = (masks == 2).astype(float)
    result = pointing_game(saliency, masks, n_random=500, n_bootstrap=200)
    assert result.hit_rate == 0.0
    assert result.p_value_exact == pytest.approx(1.0)


def test_random_saliency_hits_at_about_the_crater_fraction() -> None:
    masks = crater_masks(400)
    saliency = np.random.default_rng(1).random(masks.shape)
    result = pointing_game(saliency, masks, n_random=2000, n_bootstrap=2000, seed=2)
    assert result.hit_rate == pytest.approx(0.25, abs=0.06)
    assert result.ci_low < 0.25 < result.ci_high
    assert result.p_value_monte_carlo > 0.01 and result.p_value_exact > 0.01


def test_tiles_without_craters_are_excluded_and_flat_maps_counted() -> None:
    masks = crater_masks(4)
    masks[1] = 2  # no crater: cannot be hit, must not count
    saliency = np.zeros(masks.shape)
    result = pointing_game(saliency, masks, n_random=100, n_bootstrap=100, names=list("abcd"))
    assert result.n_tiles == 3 and result.n_excluded == 1
    assert list(result.per_tile["tile"]) == ["a", "c", "d"]
    assert result.n_flat_maps == 3
    with pytest.raises(ValueError, match="no tile contains"):
        pointing_game(saliency[1:2], masks[1:2])


def test_tolerance_grows_the_target_for_saliency_and_baseline() -> None:
    mask = np.full((1, 32, 32), 2, dtype=np.uint8)
    mask[0, 10:20, 10:20] = 1
    saliency = np.zeros((1, 32, 32))
    saliency[0, 22, 15] = 1.0  # three pixels below the crater
    strict = pointing_game(saliency, mask, n_random=200, n_bootstrap=100)
    loose = pointing_game(saliency, mask, tolerance=3, n_random=200, n_bootstrap=100)
    assert strict.hit_rate == 0.0 and loose.hit_rate == 1.0
    assert loose.baseline_expected > strict.baseline_expected == pytest.approx(100 / 1024)


def test_top_n_scores_the_fraction_of_peaks_that_hit() -> None:
    mask = np.full((1, 32, 32), 2, dtype=np.uint8)
    mask[0, :8, :8] = 1
    saliency = np.zeros((1, 32, 32))
    saliency[0, 2, 2], saliency[0, 25, 25] = 2.0, 1.0
    result = pointing_game(saliency, mask, top_n=2, min_distance=4, n_random=200)
    assert result.hit_rate == 0.5 and result.p_value_exact is None


def test_polygon_regions_ignore_later_overlapping_shapes() -> None:
    square = np.array([[2, 2], [9, 2], [9, 9], [2, 9]], dtype=float)
    cover = np.array([[0, 0], [5, 0], [5, 5], [0, 5]], dtype=float)
    mask = np.zeros((12, 12), dtype=np.uint8)
    mask[2:10, 2:10] = 1
    mask[0:6, 0:6] = 2
    tile = SegTile("t", np.zeros((12, 12), np.uint8), mask, [(1, square), (2, cover)])
    from_mask = target_regions([tile])[0]
    from_polygons = target_regions([tile], source="polygons")[0]
    assert from_polygons.sum() == 64 and from_mask.sum() == 64 - 16
    assert (from_polygons >= from_mask).all()


def test_window_starts_cover_the_tile() -> None:
    assert window_starts(512, 227, 113) == [0, 113, 226, 285]
    assert window_starts(227, 227, 113) == [0]
    with pytest.raises(ValueError, match="larger than the tile"):
        window_starts(200, 227, 113)


def _first_channel(batch: torch.Tensor) -> torch.Tensor:
    return batch[:, 0]


def test_sliding_windows_stitch_back_exactly() -> None:
    image = np.random.default_rng(3).integers(0, 256, size=(2, 100, 100), dtype=np.uint8)
    maps = tile_saliency(image, _first_channel, window=40, stride=25, batch_size=3)
    expected = (image / 255.0 - 0.485) / 0.229  # the identity "attribution" survives averaging
    assert maps.shape == (2, 100, 100) and maps.dtype == np.float32
    np.testing.assert_allclose(maps, expected, atol=1e-5)


def test_low_resolution_maps_are_upsampled_and_resize_mode_keeps_the_layout() -> None:
    image = np.zeros((96, 96), dtype=np.uint8)
    image[:, 48:] = 255

    def coarse(batch: torch.Tensor) -> torch.Tensor:  # like Grad-CAM: a 4x4 map per input
        return torch.nn.functional.avg_pool2d(batch[:, :1], batch.shape[-1] // 4)

    for mode in ("window", "resize"):
        maps = tile_saliency(image, coarse, mode=mode, window=48)
        assert maps.shape == (1, 96, 96)
        assert maps[0, :, :40].mean() < maps[0, :, 56:].mean()
    with pytest.raises(ValueError, match="reduce channel attributions"):
        tile_saliency(image, lambda batch: batch, window=48)


def test_windows_are_resized_to_the_model_input_and_maps_back_to_the_window() -> None:
    image = np.full((2, 100, 100), 128, dtype=np.uint8)
    seen: list[tuple[int, ...]] = []

    def record(batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape))
        return batch[:, 0]

    maps = tile_saliency(image, record, window=40, stride=30, input_size=16, batch_size=4)
    assert maps.shape == (2, 100, 100)
    assert {shape[1:] for shape in seen} == {(3, 16, 16)}
    assert sum(shape[0] for shape in seen) == 2 * 9  # starts 0, 30, 60 in both directions
    np.testing.assert_allclose(maps, (128 / 255 - 0.485) / 0.229, atol=1e-5)
    resized = tile_saliency(image[:1], record, mode="resize", input_size=16)
    assert seen[-1] == (1, 3, 16, 16) and resized.shape == (1, 100, 100)


def test_edge_map_peaks_on_the_strongest_contrast() -> None:
    image = np.full((40, 40), 100, dtype=np.uint8)
    image[:, 25:] = 200  # a vertical step between columns 24 and 25
    edges = edge_map(image, sigma=1.5)
    assert edges.shape == (1, 40, 40) and edges.dtype == np.float32
    assert saliency_peaks(edges)[0, 0, 1] in (24, 25)
    np.testing.assert_allclose(edge_map(np.zeros((2, 8, 8), np.uint8)), 0.0)
    with pytest.raises(ValueError, match="sigma"):
        edge_map(image, sigma=0)


def test_grow_regions_equals_dilation_with_a_disc() -> None:
    from scipy import ndimage

    regions = np.random.default_rng(1).random((3, 40, 40)) > 0.995
    regions[2] = False  # an empty region stays empty
    for tolerance in (1, 4, 7):
        yy, xx = np.mgrid[-tolerance : tolerance + 1, -tolerance : tolerance + 1]
        disc = yy**2 + xx**2 <= tolerance**2
        expected = np.stack([ndimage.binary_dilation(r, structure=disc) for r in regions])
        np.testing.assert_array_equal(grow_regions(regions, tolerance), expected)
    np.testing.assert_array_equal(grow_regions(regions, 0), regions)
