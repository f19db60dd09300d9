"""Top-k IoU and Spearman agreement on hand-made maps with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marsutils.xai.consistency import (
    chance_top_k_iou,
    consistency_table,
    iou_column,
    random_top_k_iou,
    spearman_maps,
    summarize_consistency,
    to_common_resolution,
    top_k_iou,
    top_k_mask,
)


def ramp(n: int = 8) -> torch.Tensor:
    return torch.arange(float(n * n)).reshape(1, n, n)


def test_top_k_mask_selects_exactly_k_of_the_largest():
    mask = top_k_mask(ramp(), 0.25)
    assert mask.sum() == 16
    assert mask.reshape(-1)[-16:].all(), "the 16 largest values are the last 16 of the ramp"
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        top_k_mask(ramp(), 0.0)


def test_identical_maps_agree_perfectly():
    maps = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(top_k_iou(maps, maps.clone(), 0.1), 1.0)
    np.testing.assert_allclose(spearman_maps(maps, maps * 5 + 2), 1.0)


def test_disjoint_and_reversed_maps():
    a = ramp()
    b = -a  # top pixels of b are the bottom pixels of a
    np.testing.assert_allclose(top_k_iou(a, b, 0.2), 0.0)
    np.testing.assert_allclose(spearman_maps(a, b), -1.0)


def test_half_overlap_has_the_hand_computed_iou():
    a = torch.zeros(1, 4, 4)
    b = torch.zeros(1, 4, 4)
    a[0, 0, :] = torch.tensor([4.0, 3.0, 2.0, 1.0])  # top-4 = row 0
    b[0, 0, :2] = torch.tensor([4.0, 3.0])  # top-4 = two of row 0 + two of row 1
    b[0, 1, :2] = torch.tensor([2.0, 1.0])
    # intersection 2, union 6
    np.testing.assert_allclose(top_k_iou(a, b, 0.25), 2 / 6)


def test_spearman_matches_scipy_with_ties():
    from scipy.stats import spearmanr

    generator = torch.Generator().manual_seed(3)
    a = torch.randint(0, 4, (2, 6, 6), generator=generator).float()
    b = torch.rand(2, 6, 6, generator=generator)
    ours = spearman_maps(a, b)
    for i in range(2):
        expected = spearmanr(a[i].reshape(-1), b[i].reshape(-1)).statistic
        assert ours[i] == pytest.approx(expected)


def test_constant_maps_give_nan_not_a_made_up_value():
    a = torch.zeros(2, 8, 8)
    b = ramp().expand(2, -1, -1)
    assert np.isnan(top_k_iou(a, b, 0.1)).all()
    assert np.isnan(spearman_maps(a, b)).all()


def test_chance_level_formula_matches_random_maps():
    for fraction in (0.05, 0.1, 0.2):
        measured = random_top_k_iou((32, 32), fraction, n_samples=300, seed=1)
        assert measured == pytest.approx(chance_top_k_iou(fraction), abs=0.01)
    assert chance_top_k_iou(1.0) == 1.0


def test_common_resolution_pools_by_area_and_checks_sizes():
    maps = torch.ones(1, 8, 8)
    maps[0, :4, :4] = 5.0
    pooled = to_common_resolution(maps, 2)
    torch.testing.assert_close(pooled, torch.tensor([[[5.0, 1.0], [1.0, 1.0]]]))
    with pytest.raises(ValueError, match="map sizes differ"):
        spearman_maps(torch.rand(1, 8, 8), torch.rand(1, 4, 4))
    assert spearman_maps(torch.rand(1, 8, 8), torch.rand(1, 4, 4), resolution=4).shape == (1,)


def test_consistency_table_and_summary():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(6, 16, 16, generator=generator)
    b = a.clone()
    b[3:] = torch.rand(3, 16, 16, generator=generator)  # last three: unrelated maps
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 2]
    table = consistency_table(
        a, b, y_true=y_true, y_pred=y_pred, class_names=["crater", "dune", "other"], resolution=8
    )
    assert list(table.columns) == [
        "image",
        "y_true",
        "y_pred",
        "correct",
        "class",
        "spearman",
        "iou_top5",
        "iou_top10",
        "iou_top20",
    ]
    np.testing.assert_allclose(table["spearman"][:3], 1.0)
    assert (table["spearman"][3:].abs() < 0.5).all()
    assert table["correct"].tolist() == [True, False, True, True, False, True]

    summary = summarize_consistency(table)
    assert set(summary["group_by"]) == {"all", "class", "outcome"}
    overall = summary[(summary["group_by"] == "all") & (summary["metric"] == "spearman")]
    assert overall["n"].item() == 6
    assert overall["mean"].item() == pytest.approx(table["spearman"].mean())
    wrong = summary[(summary["group"] == "wrong") & (summary["metric"] == iou_column(0.1))]
    assert wrong["n"].item() == 2
    assert wrong["chance"].item() == pytest.approx(0.1 / 1.9)
    crater = summary[(summary["group"] == "crater") & (summary["metric"] == "spearman")]
    np.testing.assert_allclose(crater["mean"], 1.0)


def test_consistency_table_checks_lengths():
    with pytest.raises(ValueError, match="y_true/y_pred"):
        consistency_table(torch.rand(2, 4, 4), torch.rand(2, 4, 4), y_true=[0], y_pred=[0, 1])
    with pytest.raises(ValueError, match="maps_b has 3"):
        consistency_table(torch.rand(2, 4, 4), torch.rand(3, 4, 4), y_true=[0, 1], y_pred=[0, 1])
