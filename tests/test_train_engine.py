"""The training engine: outputs, exact resume, refusal of foreign checkpoints."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from marsutils.train import (
    CheckpointError,
    FitConfig,
    TrainingInterrupted,
    fit,
    seed_everything,
)
from marsutils.train.checkpoint import load_checkpoint
from marsutils.train.schedule import warmup_cosine


@pytest.fixture(scope="module")
def toy():
    """96 random 'images' whose class is visible in their mean brightness."""
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 3
    images = (rng.integers(0, 60, (96, 227, 227)) + 80 * labels[:, None, None]).astype(np.uint8)
    subset = np.array(["train"] * 60 + ["val"] * 18 + ["test"] * 18)
    split = pd.DataFrame(
        {
            "row": np.arange(96),
            "image": [f"{i}.jpg" for i in range(96)],
            "label": labels,
            "subset": subset,
        }
    )
    return images, split


def tiny_model() -> torch.nn.Module:
    seed_everything(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, 2, 1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 3),
    )


CONFIG = FitConfig(epochs=3, batch_size=12, image_size=32, num_workers=0, patience=5, lr=3e-3)


def test_outputs(toy, tmp_path):
    images, split = toy
    result = fit(tiny_model(), images, split, CONFIG, tmp_path, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert {"train_loss", "val_macro_f1", "lr", "images_per_s", "epoch_time_s"} <= set(
        result.history[0]
    )
    preds = pd.read_csv(tmp_path / "predictions_test.csv")
    assert list(preds.columns[:4]) == ["image", "row", "y_true", "y_pred"]
    assert np.allclose(preds[[f"prob_{k}" for k in range(3)]].sum(axis=1), 1, atol=1e-5)
    assert len(preds) == 18
    # brightness encodes the class: the toy task is learnable
    assert result.best_val_macro_f1 > 0.5
    for name in ("checkpoint.pt", "best_model.pt", "history.json", "done.json"):
        assert (tmp_path / name).is_file()


def test_interrupted_run_resumes_to_the_same_result(toy, tmp_path):
    images, split = toy
    straight = tiny_model()
    reference = fit(straight, images, split, CONFIG, tmp_path / "a", progress=False)
    interrupted = tiny_model()
    with pytest.raises(TrainingInterrupted):
        fit(interrupted, images, split, CONFIG, tmp_path / "b", progress=False, stop_after_epoch=2)
    resumed_model = tiny_model()  # a fresh process would start from a fresh model
    resumed = fit(resumed_model, images, split, CONFIG, tmp_path / "b", progress=False)
    assert resumed.resumed_from_epoch == 2
    for (name, a), b in zip(
        straight.state_dict().items(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert reference.test_predictions.equals(resumed.test_predictions)
    assert [h["val_macro_f1"] for h in reference.history] == [
        h["val_macro_f1"] for h in resumed.history
    ]


def test_finished_run_is_loaded_not_retrained(toy, tmp_path):
    images, split = toy
    first = fit(tiny_model(), images, split, CONFIG, tmp_path, progress=False)
    again_model = tiny_model()
    again = fit(again_model, images, split, CONFIG, tmp_path, progress=False)
    assert first.trained and not again.trained
    assert again.test_predictions.equals(first.test_predictions)


def test_same_seed_same_metrics(toy, tmp_path):
    images, split = toy
    a = fit(tiny_model(), images, split, CONFIG, tmp_path / "a", progress=False)
    b = fit(tiny_model(), images, split, CONFIG, tmp_path / "b", progress=False)
    assert a.test_predictions.equals(b.test_predictions)
    other = fit(
        tiny_model(),
        images,
        split,
        FitConfig(**{**CONFIG.__dict__, "seed": 1}),
        tmp_path / "c",
        progress=False,
    )
    assert not other.test_predictions.equals(a.test_predictions)


def test_foreign_checkpoint_refused(toy, tmp_path):
    images, split = toy
    with pytest.raises(TrainingInterrupted):
        fit(tiny_model(), images, split, CONFIG, tmp_path, progress=False, stop_after_epoch=1)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    other = FitConfig(**{**CONFIG.__dict__, "lr": 1e-2})
    with pytest.raises(CheckpointError, match="different configuration"):
        fit(tiny_model(), images, split, other, tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before, "nothing may be lost"


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)


def test_empty_subset_rejected(toy, tmp_path):
    images, split = toy
    with pytest.raises(ValueError, match="no test images"):
        fit(
            tiny_model(), images, split[split["subset"] != "test"], CONFIG, tmp_path, progress=False
        )


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, total_steps=100, warmup_steps=10)
    lrs = []
    for _ in range(100):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[5] < lrs[9] <= 1.0
    assert max(lrs) == pytest.approx(1.0, abs=0.02)
    assert lrs[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))
