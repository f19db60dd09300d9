"""Attribution sets: computed once, saved atomically, reloaded, invalidated by any key change."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from marsutils.xai.cache import AttributionSet, cached_attribution_set, compute_attribution_set
from marsutils.xai.methods import AttributionSettings
from marsutils.xai.testing import TinyCNN

SETTINGS = AttributionSettings(n_steps=16, blur_sigma=3.0)
FAST = AttributionSettings(n_steps=2, blur_sigma=3.0)


@pytest.fixture
def model() -> TinyCNN:
    torch.manual_seed(0)
    return TinyCNN(num_classes=3).eval()


@pytest.fixture
def inputs() -> torch.Tensor:
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))


IDS = ["a.jpg", "b.jpg", "c.jpg"]


def test_compute_attribution_set_contents(model, inputs):
    result = compute_attribution_set(model, inputs, image_ids=IDS, settings=SETTINGS, batch_size=2)
    assert result.methods == ("gradcam", "ig_black", "ig_blur")
    assert all(result.maps[m].shape == (3, 32, 32) for m in result.methods)
    assert result.maps["gradcam"].min() >= 0 and result.maps["gradcam"].max() <= 1
    with torch.no_grad():
        predicted = model(inputs).argmax(1).numpy()
    np.testing.assert_array_equal(result.targets, predicted)
    np.testing.assert_array_equal(result.y_pred, predicted)
    assert set(result.deltas) == {"ig_black", "ig_blur"}
    assert (result.relative_delta("ig_black") < 0.05).all()
    # IG maps are stored signed; the saliency view applies the settings' reduction ("abs")
    assert (result.maps["ig_black"] < 0).any()
    np.testing.assert_array_equal(result.saliency("ig_black"), np.abs(result.maps["ig_black"]))
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_explicit_targets_are_explained(model, inputs):
    result = compute_attribution_set(
        model, inputs, image_ids=IDS, targets=[2, 2, 2], settings=AttributionSettings(("gradcam",))
    )
    np.testing.assert_array_equal(result.targets, [2, 2, 2])
    assert result.methods == ("gradcam",)
    with pytest.raises(ValueError, match="targets has 1"):
        compute_attribution_set(model, inputs, image_ids=IDS, targets=[1])


def test_cache_round_trip_and_invalidation(model, inputs, tmp_path):
    first = cached_attribution_set(
        tmp_path, model_key="ckpt-1", model=model, inputs=inputs, image_ids=IDS, settings=FAST
    )
    assert not first.loaded_from_cache
    assert (tmp_path / "attributions.npz").is_file()
    meta = json.loads((tmp_path / "attributions.json").read_text())
    identity = meta["identity"]
    assert identity["model_key"] == "ckpt-1" and identity["settings"]["n_steps"] == 2
    assert not list(tmp_path.glob("*.tmp")), "no temporary file is left behind"

    again = cached_attribution_set(
        tmp_path, model_key="ckpt-1", model=model, inputs=inputs, image_ids=IDS, settings=FAST
    )
    assert again.loaded_from_cache
    assert again.image_ids == IDS
    for method in FAST.methods:
        np.testing.assert_array_equal(again.maps[method], first.maps[method])
    for method in first.deltas:
        np.testing.assert_array_equal(again.deltas[method], first.deltas[method])
    np.testing.assert_array_equal(again.targets, first.targets)

    changes = [
        {"model_key": "ckpt-2"},
        {"settings": AttributionSettings(n_steps=3, blur_sigma=3.0)},
        {"settings": AttributionSettings(n_steps=2, blur_sigma=5.0)},
        {"inputs": inputs + 0.01},
        {"image_ids": ["x", "y", "z"]},
        {"targets": [0, 1, 2]},
    ]
    base = {"model_key": "ckpt-1", "inputs": inputs, "image_ids": IDS, "settings": FAST}
    for n, change in enumerate(changes):
        # each change is tested against a fresh copy of the original entry
        folder = tmp_path / f"copy{n}"
        folder.mkdir()
        for name in ("attributions.npz", "attributions.json"):
            shutil.copy(tmp_path / name, folder / name)
        redone = cached_attribution_set(folder, model=model, **{**base, **change})
        assert not redone.loaded_from_cache, f"{sorted(change)} must invalidate the cache"
        assert cached_attribution_set(folder, model=model, **{**base, **change}).loaded_from_cache

    memory_only = AttributionSettings(n_steps=2, blur_sigma=3.0, internal_batch_size=4)
    reused = cached_attribution_set(tmp_path, model=model, **{**base, "settings": memory_only})
    assert reused.loaded_from_cache, "internal_batch_size only bounds memory: same maps"


def test_cache_requires_a_model_key(model, inputs, tmp_path):
    with pytest.raises(ValueError, match="model_key"):
        cached_attribution_set(tmp_path, model_key="", model=model, inputs=inputs, image_ids=IDS)


def test_save_load_preserves_everything(model, inputs, tmp_path):
    result = compute_attribution_set(model, inputs, image_ids=IDS, settings=SETTINGS)
    path = result.save(tmp_path / "set.npz")
    loaded = AttributionSet.load(path, SETTINGS)
    assert loaded.image_ids == IDS and loaded.loaded_from_cache
    for method in result.maps:
        np.testing.assert_array_equal(loaded.maps[method], result.maps[method])
    for method in result.output_gaps:
        np.testing.assert_array_equal(loaded.output_gaps[method], result.output_gaps[method])
    np.testing.assert_array_equal(loaded.probabilities, result.probabilities)


def test_the_cached_call_takes_exactly_the_arguments_of_compute(model, inputs, tmp_path):
    """``cached_attribution_set`` forwards ``compute_attribution_set``'s arguments, checked even
    when the entry is read back."""
    options = {"model_key": "k", "model": model, "inputs": inputs, "image_ids": IDS}
    first = cached_attribution_set(tmp_path, **options, settings=FAST, batch_size=2)
    assert not first.loaded_from_cache
    assert cached_attribution_set(tmp_path, **options, settings=FAST).loaded_from_cache
    with pytest.raises(TypeError, match="image_ids"):
        cached_attribution_set(tmp_path, model_key="k", model=model, inputs=inputs)
    with pytest.raises(TypeError, match="batchsize"):
        cached_attribution_set(tmp_path, **options, settings=FAST, batchsize=2)
