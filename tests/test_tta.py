"""Dihedral test-time augmentation: the eight views, and predict_proba's average over them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from marsutils.data.batches import dihedral_view, to_model_input
from marsutils.train import comparison_tolerance, predict_proba


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


def test_views_average_the_softmax_over_the_transformed_inputs(forced_precision):
    images, model = _setup()
    rows = np.array([4, 0, 2])
    x = to_model_input(torch.from_numpy(images[rows]), 32)
    with torch.no_grad():  # the fp32 reference, whatever precision predict_proba runs in
        manual = sum(torch.softmax(model(dihedral_view(x, i)), 1) for i in range(4)) / 4
    probs = predict_proba(model, images, rows, image_size=32, batch_size=2, views=4)
    tolerance = comparison_tolerance(forced_precision)
    np.testing.assert_allclose(probs, manual.numpy(), **tolerance.as_dict())
    explicit = predict_proba(
        model, images, rows, image_size=32, batch_size=2, views=4, precision=forced_precision
    )
    np.testing.assert_array_equal(explicit, probs)  # the argument and $MARS_PRECISION agree
    single = predict_proba(model, images, rows, image_size=32, batch_size=2)
    assert np.abs(single - probs).max() > 10 * tolerance.atol  # the views matter
    # probabilities are computed in fp32 from the logits: they sum to one in either precision
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_bf16_really_runs_when_forced():
    images, model = _setup()
    rows = np.arange(5)
    fp32 = predict_proba(model, images, rows, image_size=32, precision="fp32")
    bf16 = predict_proba(model, images, rows, image_size=32, precision="bf16")
    assert not np.array_equal(fp32, bf16)
    np.testing.assert_allclose(bf16, fp32, **comparison_tolerance("bf16").as_dict())


def test_an_invariant_model_is_unchanged_by_the_views(forced_precision):
    images, _ = _setup()
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4)).eval()
    rows = np.arange(5)
    single = predict_proba(model, images, rows, image_size=32)
    np.testing.assert_allclose(
        predict_proba(model, images, rows, image_size=32, views=8),
        single,
        **comparison_tolerance(forced_precision).as_dict(),
    )


def test_views_out_of_range_are_refused():
    images, model = _setup()
    with pytest.raises(ValueError, match="1-8"):
        predict_proba(model, images, np.arange(2), image_size=32, views=9)


def test_evaluate_tta_writes_and_then_reuses_its_result(tmp_path, monkeypatch, forced_precision):
    from types import SimpleNamespace

    import pandas as pd

    from marsutils.core.profiles import get_profile
    from marsutils.models import build_model
    from marsutils.study import experiments
    from marsutils.train.checkpoint import save_checkpoint

    profile = get_profile("smoke")
    spec = experiments.ClassifierSpec("plain", "family", weights="none", image_size=32, epochs=1)
    out_dir = tmp_path / "experiments" / spec.key
    torch.manual_seed(0)
    model = build_model("plain", num_classes=3, weights="none", pooling=profile.pooling)
    save_checkpoint(out_dir / "best_model.pt", {"model": model.state_dict()})
    images = np.random.default_rng(1).integers(0, 256, (6, 40, 40), dtype=np.uint8)
    test = pd.DataFrame(
        {"image": [f"im{i}" for i in range(6)], "row": range(6), "y_true": [0, 1, 2] * 2}
    )
    test["y_pred"] = 0
    result = experiments.ExperimentResult(spec, {}, test, [], out_dir, trained_now=False)
    data = SimpleNamespace(images=images, class_names=("a", "b", "c"), families=np.arange(6) // 2)

    metrics = experiments.evaluate_tta(result, data, profile, views=2)
    assert metrics["tta_views"] == 2 and metrics["n_images"] == 6
    assert metrics["precision"] == forced_precision  # no precision recorded: $MARS_PRECISION
    saved = pd.read_csv(out_dir / "predictions_test_tta2.csv")
    assert list(saved["image"]) == list(test["image"]) and len(saved.filter(like="prob_")) == 6
    probs = saved.filter(like="prob_").to_numpy()
    np.testing.assert_array_equal(saved["y_pred"], probs.argmax(1))

    def no_recompute(*args, **kwargs):
        raise AssertionError("a cached TTA result must not be recomputed")

    monkeypatch.setattr("marsutils.train.predict_proba", no_recompute)
    assert experiments.evaluate_tta(result, data, profile, views=2) == metrics
    assert experiments.load_headline(tmp_path, spec, get_profile("smoke")) == metrics


def test_the_headline_over_seeds_runs_each_seed_on_its_own_data(monkeypatch):
    import dataclasses
    from types import SimpleNamespace

    from marsutils.core.profiles import get_profile
    from marsutils.study import experiments

    calls = []

    def fake_run(spec, data, profile, run_dir, **kwargs):
        calls.append(("run", spec.seed, spec.split, data, kwargs["need_weights"]))
        return SimpleNamespace(spec=spec, metrics={"single": spec.seed})

    def fake_tta(result, data, profile, *, views, seed, device=None):
        calls.append(("tta", seed, views, data))
        return {"tta": seed, "views": views}

    monkeypatch.setattr(experiments, "run_classifier", fake_run)
    monkeypatch.setattr(experiments, "evaluate_tta", fake_tta)
    profile = dataclasses.replace(get_profile("smoke"), seeds=(2, 0), tta_views=4, cv_folds=0)
    out = experiments.headline_over_seeds(profile, "run", lambda s: f"data of seed {s}")
    assert list(out) == [2, 0] and out[2] == {"tta": 2, "views": 4}
    assert ("run", 2, "family", "data of seed 2", True) in calls  # lost weights: retrained
    assert ("tta", 0, 4, "data of seed 0") in calls
    single = experiments.headline_over_seeds(
        dataclasses.replace(profile, tta_views=1), "run", lambda s: None
    )
    assert single == {2: {"single": 2}, 0: {"single": 0}}
    with pytest.raises(ValueError, match="no main model on the moon split"):
        experiments.headline_over_seeds(profile, "run", lambda s: None, split="moon")


def test_the_headline_over_seeds_table_ends_with_mean_and_sd():
    from marsutils.book.reporting import headline_over_seeds_table

    def metrics(accuracy):
        return {"overall": {"accuracy": accuracy}, "ci": {}, "n_images": 10}

    table = headline_over_seeds_table({0: metrics(0.9), 1: metrics(0.8)}, metrics=("accuracy",))
    assert list(table.index) == ["seed 0", "seed 1", "mean ± SD"]
    assert table.loc["mean ± SD", "accuracy"] == "85.0 ± 7.1"
    one = headline_over_seeds_table({0: metrics(0.9)}, metrics=("accuracy",))
    assert one.loc["mean ± SD", "accuracy"] == "90.0 ± n/a (one seed)"
    with pytest.raises(ValueError, match="at least one seed"):
        headline_over_seeds_table({})
