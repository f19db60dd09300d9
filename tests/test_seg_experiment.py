"""The chapter's studies end to end on tiny synthetic tiles, their caches, tables and figures."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from marsutils.core.profiles import ProfileError, get_profile
from marsutils.figures import segmentation as segfig
from marsutils.models import build_model
from marsutils.seg.classes import class_share_table, example_tiles
from marsutils.seg.pointing import pointing_game
from marsutils.seg.tiles import SegTile
from marsutils.study import segmentation as experiment
from marsutils.study.segmentation import (
    PointingStudy,
    run_pointing_study,
    run_seg_study,
    select_tiles,
)

matplotlib.use("Agg")

SIZE = 64


def crater_tiles(n: int, seed: int = 0) -> list[SegTile]:
    """Tiles with rough/smooth halves and one bright square crater drawn as a polygon."""
    rng = np.random.default_rng(seed)
    tiles = []
    for i in range(n):
        mask = np.full((SIZE, SIZE), 3, dtype=np.uint8)
        mask[:, : SIZE // 2] = 2
        image = (mask * 40 + rng.integers(0, 10, size=mask.shape)).astype(np.uint8)
        top, left = 8 + (7 * i) % 30, 8 + (11 * i) % 30
        mask[top : top + 16, left : left + 16] = 1
        image[top : top + 16, left : left + 16] = 250
        mask[:4] = 0  # an unlabelled strip
        square = np.array(
            [[left, top], [left + 15, top], [left + 15, top + 15], [left, top + 15]], float
        )
        tiles.append(SegTile(f"t_{i}", image, mask, [(1, square)]))
    return tiles


@pytest.fixture(scope="module")
def profile():
    return get_profile(
        "smoke",
        weights="none",
        image_size=64,
        ig_steps=2,
        seg_epochs=1,
        seg_folds=2,
        seg_crop=32,
        seg_image_size=64,
        seg_max_tiles=4,
        seg_saliency_mode="resize",
    )


def test_new_profile_fields_are_checked() -> None:
    with pytest.raises(ProfileError, match="seg_saliency_mode"):
        get_profile("smoke", seg_saliency_mode="tiles")
    with pytest.raises(ProfileError, match="seg_max_tiles"):
        get_profile("smoke", seg_max_tiles=3, seg_folds=2)


def test_select_tiles_keeps_the_first_in_order() -> None:
    tiles = crater_tiles(5)
    assert [t.stem for t in select_tiles(tiles, 3)] == ["t_0", "t_1", "t_2"]
    assert select_tiles(tiles, None) == tiles
    with pytest.raises(ValueError, match="max_tiles"):
        select_tiles(tiles, 1)


def test_seg_study_trains_every_model_once_then_loads(tmp_path: Path, profile, monkeypatch):
    tiles = crater_tiles(6)
    study = run_seg_study(
        profile, tmp_path, tiles=tiles, models=("full", "unet"), device="cpu", progress=False
    )
    assert [t.stem for t in study.tiles] == ["t_0", "t_1", "t_2", "t_3"]  # seg_max_tiles
    per_fold = study.per_fold()
    assert set(per_fold["model"]) == {"proposed (dense head)", "U-Net"}
    assert len(per_fold) == 2 * 2 * 5  # models x folds x (4 classes + mIoU)
    wide = study.wide_summary()
    assert list(wide.index) == ["proposed (dense head)", "U-Net"]
    assert list(wide.columns) == ["crater", "rough", "smooth", "alluvial fan", "mIoU"]
    sentences = study.comparison_sentences()
    assert sentences[0].startswith("Ranked by mean held-out mIoU over 2 folds")
    assert "proposed (dense head) scores a higher mIoU than U-Net in" in sentences[1]
    predictions = study.predictions("unet")
    assert sorted(predictions) == ["t_0", "t_1", "t_2", "t_3"]
    saved = json.loads((tmp_path / "results" / "seg_study.json").read_text())
    assert set(saved["models"]) == {"full", "unet"} and saved["config"]["folds"] == 2

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model was rebuilt")

    monkeypatch.setattr("marsutils.models.build_model", no_training)
    again = run_seg_study(
        profile, tmp_path, tiles=tiles, models=("full", "unet"), device="cpu", progress=False
    )
    assert all(fit.cached for cv in again.results.values() for fit in cv.fits)
    assert again.per_fold().equals(per_fold)


def test_pointing_study_with_control_and_cache(tmp_path: Path, profile, monkeypatch) -> None:
    torch.manual_seed(0)
    classifier = build_model("full", num_classes=8, weights="none")
    tiles = crater_tiles(5)
    kwargs = dict(target_class=1, classifier_key="tiny", tiles=tiles, device="cpu", progress=False)
    study = run_pointing_study(classifier, profile, tmp_path, n_examples=2, **kwargs)
    table = study.table()
    assert set(table["method"]) == {"gradcam", "ig_black", "ig_blur", "edges"}
    assert set(table["tolerance_px"]) == {0, 15}
    assert (table["n_tiles"] == 4).all()  # seg_max_tiles = 4, all with craters
    # the bright squares' borders are the strongest edges (the peak may sit just outside)
    edges = table.query("method == 'edges' and tolerance_px == 15").iloc[0]
    assert edges["hit_rate"] == 1.0 > edges["random_baseline"]
    assert study.example_stems and all(m.shape == (2, SIZE, SIZE) for m in study.examples.values())
    assert len(study.verdicts()) == 8 and len(study.control_sentences()) == 6
    saved = json.loads((tmp_path / "results" / "seg_pointing.json").read_text())
    assert len(saved["results"]) == 8 and saved["config"]["classifier"] == "tiny"

    def no_saliency(*args, **kwargs):
        raise AssertionError("a cached method was recomputed")

    monkeypatch.setattr(experiment, "_saliency", no_saliency)
    again = run_pointing_study(classifier, profile, tmp_path, n_examples=2, **kwargs)
    assert again.table().equals(table)
    with torch.no_grad():
        next(classifier.parameters()).add_(1.0)  # other weights: a new identity, recomputed
    with pytest.raises(AssertionError, match="recomputed"):
        run_pointing_study(classifier, profile, tmp_path, n_examples=2, **kwargs)


def test_against_control_counts_discordant_tiles() -> None:
    masks = np.zeros((10, 20, 20), dtype=bool)
    masks[:, 5:10, 5:10] = True
    on_target = np.zeros(masks.shape)
    on_target[:, 7, 7] = 1.0
    off_target = np.zeros(masks.shape)
    off_target[:, 15, 15] = 1.0
    results = {
        ("good", 0): pointing_game(on_target, masks, n_random=200, n_bootstrap=200),
        ("edges", 0): pointing_game(off_target, masks, n_random=200, n_bootstrap=200),
    }
    study = PointingStudy(results, [], {}, {})
    row = study.against_control().iloc[0]
    assert (row["only_method"], row["only_control"]) == (10, 0)
    assert row["p_value"] == pytest.approx(2 * 0.5**10)
    assert "good hits more tiles than edges" in study.control_sentences()[0]
    verdicts = study.verdicts()
    assert "above the random baseline" in verdicts[0]
    assert "not distinguishable" in verdicts[1]


def test_tables_and_figures() -> None:
    tiles = crater_tiles(3)
    shares = class_share_table(tiles)
    assert shares["pixels"].sum() == 3 * SIZE * SIZE
    assert shares["share_%"].sum() == pytest.approx(100)
    assert shares.loc["crater", "tiles"] == 3 and shares.loc["alluvial fan", "tiles"] == 0
    rich = crater_tiles(3)
    rich[2].mask[40:, 40:] = 4  # the only tile with four classes
    assert example_tiles(rich, 1)[0].stem == "t_2"
    fig = segfig.tile_gallery(tiles, n=2)
    assert len(fig.axes) == 4
    prediction = {"a": np.zeros((SIZE, SIZE), np.uint8), "b": np.ones((SIZE, SIZE), np.uint8)}
    fig = segfig.prediction_figure(tiles[0], prediction)
    assert [ax.get_title() for ax in fig.axes] == ["tile t_0", "ground truth", "a", "b"]
    maps = {"m": np.random.default_rng(0).random((2, SIZE, SIZE))}
    fig = segfig.pointing_figure(tiles[:2], maps)
    assert len(fig.axes) == 4
    per_fold = {
        "model": ["x", "x", "y", "y"],
        "fold": [0, 1, 0, 1],
        "class": ["mIoU"] * 4,
        "iou": [0.2, 0.3, 0.4, float("nan")],
    }
    fig = segfig.iou_figure(pd.DataFrame(per_fold))
    assert fig.axes[0].get_ylabel() == "held-out pixel IoU"
