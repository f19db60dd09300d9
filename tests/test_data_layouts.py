"""Locating and reading both data layouts, and rejecting bad input."""

from __future__ import annotations

import pytest

from marsutils.data import DataError, load_dataset, locate_data_dir
from marsutils.data.layouts import augmented_base, safe_relative_name

PROVENANCE_COUNTS = [4829, 1405, 285, 443, 789, 68, 295, 87]


def test_locate_order(tmp_path, monkeypatch, real_data_dir):
    monkeypatch.delenv("MARS_DATA_DIR", raising=False)
    assert locate_data_dir() == real_data_dir.resolve()
    monkeypatch.setenv("MARS_DATA_DIR", str(tmp_path))
    assert locate_data_dir() == tmp_path.resolve()
    explicit = tmp_path / "x"
    explicit.mkdir()
    assert locate_data_dir(explicit) == explicit.resolve()


def test_missing_data_dir_message(tmp_path, monkeypatch):
    monkeypatch.setenv("MARS_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="MARS_DATA_DIR"):
        locate_data_dir()


def test_folder_without_layout(tmp_path):
    with pytest.raises(DataError, match=r"neither labels\.csv"):
        load_dataset(tmp_path)


def test_real_sample_matches_provenance(real_data_dir):
    ds = load_dataset(real_data_dir)
    assert ds.layout == "sample"
    assert len(ds) == 8201
    assert ds.class_names[:2] == ("other", "crater") and len(ds.class_names) == 8
    counts = ds.table["label"].value_counts().sort_index().tolist()
    assert counts == PROVENANCE_COUNTS


@pytest.mark.parametrize("name", ["../x.jpg", "/etc/passwd", "a/../../b.jpg", ""])
def test_escaping_names_rejected(name):
    with pytest.raises(DataError, match="escapes the data directory"):
        safe_relative_name(name, "labels.csv")


def test_escaping_name_in_labels_rejected(make_sample_layout):
    root = make_sample_layout(n_per_class=2, twins=False)
    text = (root / "labels.csv").read_text().replace("1.jpg", "../1.jpg")
    (root / "labels.csv").write_text(text)
    with pytest.raises(DataError, match="escapes"):
        load_dataset(root)


def test_label_outside_classmap(make_sample_layout):
    root = make_sample_layout(n_per_class=2, twins=False)
    (root / "labels.csv").write_text("filename,label\n1.jpg,7\n")
    with pytest.raises(DataError, match="not in the class map"):
        load_dataset(root)


def test_jpl_layout_official_split_as_published(jpl_layout):
    ds = load_dataset(jpl_layout)
    assert ds.layout == "jpl-v3.2"
    assert len(ds) == 80
    assert ds.class_names == ("other", "crater", "dark dune")
    aug = ds.table["image"] != ds.table["base"]
    assert aug.sum() == 60
    # the split is kept as published: augmented copies stay in val and test, and are counted
    assert ds.table["official"].value_counts().to_dict() == {"train": 48, "val": 16, "test": 16}
    assert ds.notes["official_augmented"] == {"train": 36, "val": 12, "test": 12}
    # the published file repeats rows; each counts once and the repeats are reported
    assert ds.notes["duplicate_rows"]["labels-map-proj_v3_2_train_val_test.txt"] == 3


def test_augmented_base_names():
    assert augmented_base("ESP_1_RED-0001-r90.jpg") == "ESP_1_RED-0001.jpg"
    assert augmented_base("ESP_1_RED-0001-brt.jpg") == "ESP_1_RED-0001.jpg"
    assert augmented_base("ESP_1_RED-0001.jpg") == "ESP_1_RED-0001.jpg"
