"""Execution profiles: defined once, overridable, loud on mistakes."""

from __future__ import annotations

import pytest

from marsutils.core.profiles import PROFILES, ProfileError, get_profile, profile_names


def test_the_four_profiles_exist():
    assert profile_names() == [
        "smoke",
        "quick",
        "reference",
        "reference-v1",
        "reference-cv",
        "paper",
    ]
    assert get_profile("paper").backbone == "resnet50"
    assert get_profile("paper").image_size == 224
    assert get_profile("quick").max_images is None  # quick runs on full data


def test_cross_validation_profiles_fix_one_precision():
    """Issue point 2: the profiles that compare models fix their precision (fp32 on CPU, the
    faster for Lite0 where it was measured) and, for the next published run, a thread count."""
    from marsutils.core.profiles import split_names

    for name in ("smoke", "quick", "reference-cv"):
        profile = get_profile(name)
        assert profile.cv_folds >= 2 and profile.precision == "fp32"
    assert get_profile("reference-cv").torch_threads == 2
    assert split_names(get_profile("quick"))[:2] == ("family-cv5-f0", "family-cv5-f1")
    assert split_names(get_profile("reference")) == ("family", "paper")


def test_overrides():
    p = get_profile("smoke", epochs=2, splits=["family"])
    assert p.epochs == 2 and p.splits == ("family",)
    assert PROFILES["smoke"].epochs == 1  # the registry is not modified


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("fast", {}, "unknown profile 'fast'"),
        ("smoke", {"epochz": 3}, "unknown profile field"),
        ("smoke", {"image_size": 100}, "multiple of 32"),
        ("smoke", {"splits": ("random",)}, "unknown split"),
        ("smoke", {"name": "x"}, "cannot be overridden"),
        ("smoke", {"cv_folds": 1}, "cv_folds must be 0"),
        ("smoke", {"cv_folds": 5, "splits": ("official",)}, "without the official split"),
        ("smoke", {"precision": "half"}, "precision must be None or one of"),
        ("smoke", {"torch_threads": 0}, "torch_threads"),
        ("smoke", {"n_boot": 100}, "n_boot must be >= 1000"),
        ("smoke", {"plateau_lr_fraction": 1.0}, "plateau_lr_fraction"),
    ],
)
def test_errors(name, overrides, message):
    with pytest.raises(ProfileError, match=message):
        get_profile(name, **overrides)


def test_renaming_a_profile_keeps_its_grid():
    """The next publication renames ``reference-cv`` to ``reference`` once its grid is finished
    (book/using/profiles.md, "The next publication"): the experiments, their folders and every
    setting that enters a training fingerprint must not depend on the profile's name, or the
    finished grid would be trained again under the new name."""
    import dataclasses

    from marsutils.study.experiments import grid
    from marsutils.train import FitConfig

    cv = get_profile("reference-cv")
    renamed = dataclasses.replace(cv, name="reference", purpose="the published book")
    assert grid(renamed) == grid(cv) and len(grid(cv)) == 40
    assert FitConfig.from_profile(renamed, seed=0) == FitConfig.from_profile(cv, seed=0)
