"""Execution profiles: defined once, overridable, loud on mistakes."""

from __future__ import annotations

import pytest

from marsutils.profiles import PROFILES, ProfileError, get_profile, profile_names


def test_the_four_profiles_exist():
    assert profile_names() == ["smoke", "quick", "reference", "reference-v1", "paper"]
    assert get_profile("paper").backbone == "resnet50"
    assert get_profile("paper").image_size == 224
    assert get_profile("quick").max_images is None  # quick runs on full data


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
    ],
)
def test_errors(name, overrides, message):
    with pytest.raises(ProfileError, match=message):
        get_profile(name, **overrides)
