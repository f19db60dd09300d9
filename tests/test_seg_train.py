"""Supervised dense training: determinism, learning, evaluation contract and cross-validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from marsutils.seg.classes import IGNORE_INDEX, to_model_targets
from marsutils.seg.tiles import SegTile
from marsutils.seg.train import (
    SegConfig,
    cross_validate,
    evaluate_segmentation,
    fit_segmentation,
)


class TinyDense(nn.Module):
    """A two-layer conv net with the proposed model's ``forward_dense`` entry point."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, num_classes, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("fit_segmentation must call forward_dense when the model has it")

    def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def synthetic_tiles(n: int, seed: int, size: int = 64) -> list[SegTile]:
    """Blocky tiles whose class is readable from the intensity; 20% of pixels unlabelled."""
    rng = np.random.default_rng(seed)
    tiles = []
    for i in range(n):
        blocks = rng.integers(1, 5, size=(size // 8, size // 8))
        mask = np.kron(blocks, np.ones((8, 8), dtype=int)).astype(np.uint8)
        gray = (mask.astype(int) * 50 + rng.integers(-5, 6, size=mask.shape)).astype(np.uint8)
        mask[rng.random(mask.shape) < 0.2] = 0
        tiles.append(SegTile(f"s{seed}_{i}", gray, mask))
    return tiles


def _fit(seed: int, epochs: int = 2, **kwargs):
    torch.manual_seed(seed)
    return fit_segmentation(
        TinyDense(),
        synthetic_tiles(4, 0),
        synthetic_tiles(2, 1),
        epochs=epochs,
        crop=32,
        batch_size=4,
        lr=5e-2,
        seed=seed,
        device="cpu",
        image_size=None,
        **kwargs,
    )


def test_same_seed_gives_identical_run_and_another_seed_does_not() -> None:
    first, second, other = _fit(0), _fit(0), _fit(1)
    assert first.history == second.history
    np.testing.assert_array_equal(first.iou.confusion, second.iou.confusion)
    assert first.per_class_iou == second.per_class_iou
    assert first.history[0]["train_loss"] != other.history[0]["train_loss"]


def test_the_recipe_is_checked_and_unknown_keywords_are_refused() -> None:
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        _fit(0, epochs=0)
    with pytest.raises(TypeError, match="crop_size"):
        _fit(0, crop_size=32)
    config = SegConfig(batch_size=2, crop=16, seed=3)
    loader = config.crop_loader(synthetic_tiles(3, 0))
    assert len(loader) == 2 and next(iter(loader))[0].shape == (2, 3, 16, 16)
    assert config.predict_kwargs(torch.device("cpu"), "fp32")["batch_size"] == 2


def test_training_learns_an_easy_task() -> None:
    fit = _fit(0, epochs=8, crops_per_tile=4)
    losses = [row["train_loss"] for row in fit.history]
    assert losses[-1] < 0.6 * losses[0]
    assert fit.history[0]["lr"] == pytest.approx(5e-2) and fit.history[-1]["lr"] < 5e-2
    assert fit.iou.miou > 0.45  # four balanced classes: chance level is about 0.14
    assert fit.iou.confusion.sum() == sum((t.mask > 0).sum() for t in synthetic_tiles(2, 1))


def test_evaluation_ignores_unlabelled_pixels_and_resizes_scores() -> None:
    tiles = synthetic_tiles(2, 3)
    torch.manual_seed(0)
    scores = evaluate_segmentation(TinyDense(), tiles, image_size=32)
    labelled = sum(int((to_model_targets(t.mask) != IGNORE_INDEX).sum()) for t in tiles)
    assert scores.confusion.sum() == labelled
    finite = scores.per_class[np.isfinite(scores.per_class)]
    assert ((finite >= 0) & (finite <= 1)).all()


def test_dense_contract_errors_and_adapter() -> None:
    tiles = synthetic_tiles(1, 4)
    wrong_classes = nn.Conv2d(3, 5, 1)
    with pytest.raises(ValueError, match=r"\(1, 4, 64, 64\).*got \(1, 5, 64, 64\)"):
        evaluate_segmentation(wrong_classes, tiles)
    downsampling = nn.Conv2d(3, 4, 2, stride=2)
    with pytest.raises(ValueError, match="input height, input width"):
        evaluate_segmentation(downsampling, tiles)
    calls = []

    def adapter(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return model.net(x)

    evaluate_segmentation(TinyDense(), tiles, forward=adapter)
    assert calls == [(1, 3, 64, 64)]


@pytest.mark.slow
def test_smp_unet_trains_through_the_same_loop() -> None:
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(0)
    model = smp.Unet(encoder_name="resnet18", encoder_weights=None, classes=4)
    fit = fit_segmentation(
        model,
        synthetic_tiles(2, 5),
        synthetic_tiles(1, 6),
        epochs=1,
        crop=32,
        batch_size=2,
        lr=1e-3,
        seed=0,
        device="cpu",
        image_size=None,
    )
    assert np.isfinite(fit.history[0]["train_loss"])
    assert fit.iou.confusion.sum() == (synthetic_tiles(1, 6)[0].mask > 0).sum()


def test_cross_validate_reports_every_fold_and_class(tmp_path: Path) -> None:
    tiles = synthetic_tiles(6, 7)
    result = cross_validate(
        TinyDense, folds=3, tiles=tiles, seed=0, epochs=1, crop=32, batch_size=4, lr=5e-2
    )
    assert len(result.per_fold) == 3 * 5  # four classes plus mIoU per fold
    assert set(result.per_fold["fold"]) == {0, 1, 2}
    val = [stem for fold in result.folds for stem in fold["val"]]
    assert sorted(val) == sorted(t.stem for t in tiles)
    for fold in result.folds:
        assert not set(fold["train"]) & set(fold["val"])
    crater = result.per_fold.query("`class` == 'crater'")["iou"]
    row = result.summary.set_index("class").loc["crater"]
    assert row["mean"] == pytest.approx(crater.mean())
    assert row["std"] == pytest.approx(crater.std(ddof=1))
    summed = sum(fit.iou.confusion for fit in result.fits)
    np.testing.assert_array_equal(result.pooled.confusion, summed)
    result.save(tmp_path / "cv.json")
    saved = json.loads((tmp_path / "cv.json").read_text())
    assert len(saved["per_fold"]) == 15 and saved["pooled"]["mIoU"] == result.pooled.miou


def test_cross_validate_cache_resumes_and_notices_changes(tmp_path: Path) -> None:
    tiles = synthetic_tiles(4, 8)
    kwargs = dict(folds=2, tiles=tiles, seed=0, crop=32, batch_size=4, lr=5e-2, cache_dir=tmp_path)
    first = cross_validate(TinyDense, epochs=1, cache_key={"model": "tiny"}, **kwargs)
    assert not any(fit.cached for fit in first.fits)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fold0.json",
        "fold0_predictions.npz",
        "fold1.json",
        "fold1_predictions.npz",
    ]

    def must_not_build() -> nn.Module:
        raise AssertionError("a cached fold was retrained")

    again = cross_validate(must_not_build, epochs=1, cache_key={"model": "tiny"}, **kwargs)
    assert all(fit.cached for fit in again.fits)
    pd.testing.assert_frame_equal(again.per_fold, first.per_fold)
    predictions = again.out_of_fold_predictions()
    assert sorted(predictions) == sorted(t.stem for t in tiles)
    for stem, pred in first.out_of_fold_predictions().items():
        np.testing.assert_array_equal(predictions[stem], pred)
        assert pred.shape == (64, 64) and pred.dtype == np.uint8

    (tmp_path / "fold1.json").unlink()  # an interrupted run: only fold 1 is trained again
    resumed = cross_validate(TinyDense, epochs=1, cache_key={"model": "tiny"}, **kwargs)
    assert [fit.cached for fit in resumed.fits] == [True, False]
    changed = cross_validate(TinyDense, epochs=2, cache_key={"model": "tiny"}, **kwargs)
    assert not any(fit.cached for fit in changed.fits)
    other_model = cross_validate(TinyDense, epochs=2, cache_key={"model": "other"}, **kwargs)
    assert not any(fit.cached for fit in other_model.fits)
