"""Model selection (``FitConfig.selection``) and runs restored from their records alone: the final
weights under ``"last"``, early stopping under ``"best_val_macro_f1"``, and a lost weights file
trained again only when asked and kept only when it reproduces the recorded predictions."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from marsutils.core.atomic import read_json, write_json
from marsutils.core.profiles import ProfileError, get_profile
from marsutils.study.experiments import grid
from marsutils.train import CheckpointError, FitConfig, fit, seed_everything
from marsutils.train.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def toy():
    """72 random 'images' whose class is visible in their mean brightness."""
    rng = np.random.default_rng(1)
    labels = np.arange(72) % 3
    images = (rng.integers(0, 60, (72, 64, 64)) + 80 * labels[:, None, None]).astype(np.uint8)
    split = pd.DataFrame(
        {
            "row": np.arange(72),
            "image": [f"{i}.jpg" for i in range(72)],
            "label": labels,
            "subset": ["train"] * 48 + ["val"] * 12 + ["test"] * 12,
        }
    )
    return images, split


def tiny_model() -> torch.nn.Module:
    seed_everything(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, 2, 1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )


CONFIG = FitConfig(epochs=3, batch_size=12, image_size=32, num_workers=0, lr=3e-3)


def test_unknown_selection_is_refused():
    with pytest.raises(ValueError, match="selection must be one of"):
        FitConfig(selection="best_val_accuracy")
    with pytest.raises(ProfileError, match="selection"):
        get_profile("smoke", selection="best")


def test_last_keeps_the_final_weights_and_trains_the_whole_budget(toy, tmp_path):
    images, split = toy
    model = tiny_model()
    result = fit(model, images, split, CONFIG, tmp_path, progress=False)
    assert CONFIG.selection == "last"
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.best_epoch == 3
    assert result.best_val_macro_f1 == result.history[-1]["val_macro_f1"]
    saved = load_checkpoint(tmp_path / "best_model.pt")["model"]
    final = load_checkpoint(tmp_path / "checkpoint.pt")["model"]
    for name, value in saved.items():
        assert torch.equal(value, final[name]), name
    done = read_json(tmp_path / "done.json")
    assert done["selection"] == "last" and done["final_predict_s"] >= 0
    assert done["torch_threads"] == torch.get_num_threads()


def test_best_val_macro_f1_stops_early(toy, tmp_path):
    images, split = toy
    # lr 0 never improves after epoch 1: patience 1 stops after epoch 2
    config = FitConfig(
        epochs=4, batch_size=12, image_size=32, num_workers=0, lr=0.0, patience=1,
        selection="best_val_macro_f1",
    )  # fmt: skip
    result = fit(tiny_model(), images, split, config, tmp_path, progress=False)
    assert len(result.history) == 2 and result.best_epoch == 1


def _records_only(source, target):
    """A run folder as a published run commits it: records, no weights or checkpoint."""
    target.mkdir(parents=True)
    for name in ("done.json", "history.json", "predictions_test.csv", "predictions_val.csv"):
        shutil.copy2(source / name, target / name)


def test_records_without_weights_are_read_not_retrained(toy, tmp_path):
    images, split = toy
    first = fit(tiny_model(), images, split, CONFIG, tmp_path / "a", progress=False)
    _records_only(tmp_path / "a", tmp_path / "b")
    again = fit(tiny_model(), images, split, CONFIG, tmp_path / "b", progress=False,
                need_weights=False)  # fmt: skip
    assert not again.trained
    assert again.test_predictions.equals(first.test_predictions)
    assert not (tmp_path / "b" / "best_model.pt").exists()


def test_lost_weights_are_trained_again_when_needed(toy, tmp_path):
    images, split = toy
    first_model = tiny_model()
    fit(first_model, images, split, CONFIG, tmp_path / "a", progress=False)
    _records_only(tmp_path / "a", tmp_path / "b")
    model = tiny_model()
    fit(model, images, split, CONFIG, tmp_path / "b", progress=False, need_weights=True)
    assert (tmp_path / "b" / "best_model.pt").is_file()
    assert not (tmp_path / "b" / "retrain").exists()
    for (name, a), b in zip(
        first_model.state_dict().items(), model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name


def test_lost_weights_are_trained_again_with_the_recorded_thread_count(toy, tmp_path):
    images, split = toy
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        first = fit(tiny_model(), images, split, CONFIG, tmp_path / "a", progress=False)
        _records_only(tmp_path / "a", tmp_path / "b")
        assert read_json(tmp_path / "b" / "done.json")["torch_threads"] == 1
        torch.set_num_threads(2)  # the caller's count differs from the record's
        again = fit(tiny_model(), images, split, CONFIG, tmp_path / "b", progress=False,
                    need_weights=True)  # fmt: skip
        assert torch.get_num_threads() == 2  # restored after the retraining
        assert again.test_predictions.equals(first.test_predictions)
        assert (tmp_path / "b" / "best_model.pt").is_file()
    finally:
        torch.set_num_threads(before)


def test_retrained_weights_that_differ_are_refused(toy, tmp_path):
    images, split = toy
    fit(tiny_model(), images, split, CONFIG, tmp_path / "a", progress=False)
    _records_only(tmp_path / "a", tmp_path / "b")
    recorded = pd.read_csv(tmp_path / "b" / "predictions_test.csv")
    recorded["prob_0"] = recorded["prob_0"] + 0.01  # as if trained elsewhere
    recorded.to_csv(tmp_path / "b" / "predictions_test.csv", index=False)
    write_json(tmp_path / "b" / "done.json", read_json(tmp_path / "b" / "done.json"))
    with pytest.raises(CheckpointError, match="did not reproduce"):
        fit(tiny_model(), images, split, CONFIG, tmp_path / "b", progress=False)
    assert not (tmp_path / "b" / "best_model.pt").exists()


def test_paper_split_seeds_limits_the_leaky_reference():
    profile = get_profile("quick", seeds=(0, 1, 2), paper_split_seeds=1)
    specs = grid(profile)
    assert {s.seed for s in specs if s.split_kind == "paper"} == {0}
    assert {s.seed for s in specs if s.split_kind == "family"} == {0, 1, 2}
    every = grid(get_profile("quick", seeds=(0, 1)))
    assert {s.seed for s in every if s.split_kind == "paper"} == {0, 1}
    with pytest.raises(ProfileError, match="paper_split_seeds"):
        get_profile("quick", paper_split_seeds=0)


def test_reference_trains_every_compared_model_under_one_budget():
    specs = grid(get_profile("reference"))
    family = [s for s in specs if s.split == "family"]
    assert {(s.image_size, s.epochs, s.samples_per_epoch) for s in specs} == {(128, 10, 2400)}
    assert {s.model for s in family} == {"full", "plain", "head", "attention", "unet",
                                          "deeplabv3plus"}  # fmt: skip
    assert {s.seed for s in family} == {0, 1, 2}
    assert not any(s.backbone == "resnet50" for s in specs)
