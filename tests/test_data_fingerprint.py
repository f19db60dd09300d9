"""Stale caches: saved splits and finished experiments are keyed by the data fingerprint."""

from __future__ import annotations

import pytest

from marsutils.data import DataError, load_split, prepare_data
from marsutils.data.prepare import split_path


def _relabel_first(root, new_label: int = 1) -> None:
    path = root / "labels.csv"
    lines = path.read_text().splitlines()
    name = lines[1].split(",")[0]
    lines[1] = f"{name},{new_label}"
    path.write_text("\n".join(lines) + "\n")


def _drop_last_rows(root, n: int) -> None:
    path = root / "labels.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-n]) + "\n")


@pytest.mark.parametrize("change", ["relabel", "drop"])
def test_saved_split_rebuilt_when_data_changes(
    make_sample_layout, isolated_cache, tmp_path, change
):
    root = make_sample_layout(n_per_class=8)
    run = tmp_path / "run"
    first = prepare_data(root, splits=("family",), run_dir=run, progress=False)
    path = split_path(run, "family", 0)
    assert load_split(path)["data_fingerprint"].iat[0] == first.fingerprint
    again = prepare_data(root, splits=("family",), run_dir=run, progress=False)
    assert again.messages == [] and again.splits["family"].equals(first.splits["family"])
    if change == "relabel":
        _relabel_first(root)
    else:
        _drop_last_rows(root, 10)
    changed = prepare_data(root, splits=("family",), run_dir=run, progress=False)
    assert changed.fingerprint != first.fingerprint
    assert any("rebuilding the saved split" in m and "data changed" in m for m in changed.messages)
    saved = load_split(path)
    assert saved["data_fingerprint"].iat[0] == changed.fingerprint
    assert len(saved) == len(changed.dataset)
    if change == "relabel":
        assert saved.loc[saved["row"] == 0, "label"].iat[0] == 1


def test_split_without_fingerprint_is_rebuilt(make_sample_layout, isolated_cache, tmp_path):
    root = make_sample_layout(n_per_class=8)
    run = tmp_path / "run"
    prepare_data(root, splits=("family",), run_dir=run, progress=False)
    path = split_path(run, "family", 0)
    old = load_split(path).drop(columns="data_fingerprint")
    old.to_csv(path, index=False)
    again = prepare_data(root, splits=("family",), run_dir=run, progress=False)
    assert any("records no data fingerprint" in m for m in again.messages)


@pytest.mark.parametrize("change", ["relabel", "drop"])
def test_finished_experiment_not_reused_on_other_data(
    make_sample_layout, isolated_cache, tmp_path, change
):
    from marsutils.core.profiles import get_profile
    from marsutils.study.experiments import ClassifierSpec, run_classifier

    profile = get_profile("smoke")
    spec = ClassifierSpec(
        "plain", "family", weights="none", image_size=32, epochs=1, samples_per_epoch=16
    )
    root = make_sample_layout(n_per_class=8)
    run = tmp_path / "run"
    data = prepare_data(root, splits=("family",), run_dir=run, progress=False)
    first = run_classifier(spec, data, profile, run, progress=False)
    assert first.trained_now and first.metrics["data_fingerprint"] == data.fingerprint
    same = run_classifier(
        spec,
        prepare_data(root, splits=("family",), run_dir=run, progress=False),
        profile,
        run,
        progress=False,
    )
    assert not same.trained_now  # same data: reused
    if change == "relabel":
        _relabel_first(root)
    else:
        _drop_last_rows(root, 10)
    changed = prepare_data(root, splits=("family",), run_dir=run, progress=False)
    with pytest.raises(DataError, match=r"trained on other data.*data fingerprint"):
        run_classifier(spec, changed, profile, run, progress=False)
