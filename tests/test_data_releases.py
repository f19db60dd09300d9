"""The v1 release, class matching between releases, the official split as published, and
twins under other names."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from marsutils.cli.main import main
from marsutils.data import find_families, leakage_report, load_dataset, make_split, prepare_data
from marsutils.data.classes import V1_CLASS_NAMES, match_classes, normalise_class_name

V32_NAMES = (
    "other",
    "crater",
    "dark dune",
    "slope streak",
    "bright dune",
    "impact ejecta",
    "swiss cheese",
    "spider",
)


def test_v1_layout_detected_with_documented_classes(make_v1_layout):
    ds = load_dataset(make_v1_layout())
    assert ds.layout == "jpl-v1"
    assert ds.class_names == V1_CLASS_NAMES
    assert ds.class_names == (
        "other",
        "crater",
        "dark dune",
        "streak",
        "bright dune",
        "impact",
        "edge",
    )
    assert len(ds) == 20
    assert ds.image_dir.name == "map-proj"
    assert (ds.table["image"] != ds.table["base"]).sum() == 10


def test_v1_cannot_use_the_official_split(make_v1_layout, isolated_cache):
    from marsutils.data import DataError

    ds = load_dataset(make_v1_layout())
    with pytest.raises(DataError, match=r"only in the JPL v3\.2"):
        make_split(ds, "official", np.arange(len(ds)))


def test_names_normalised():
    assert normalise_class_name(" Dark_Dune ") == "dark dune"
    assert normalise_class_name("slope-streak") == "slope streak"


def test_v1_to_v32_matching_reports_unmatched_classes():
    match = match_classes(V1_CLASS_NAMES, V32_NAMES)
    assert match.mapping == {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
    assert match.data_only == ("edge",)
    assert match.model_only == ("swiss cheese", "spider")
    assert match.synonyms_used == {"streak": "slope streak", "impact": "impact ejecta"}
    back = match_classes(V32_NAMES, V1_CLASS_NAMES)
    assert back.data_only == ("swiss cheese", "spider") and back.model_only == ("edge",)


def test_matching_is_by_name_not_id():
    match = match_classes(("Crater", "OTHER", "edge"), ("other", "crater"))
    assert match.mapping == {0: 1, 1: 0}
    assert match.data_only == ("edge",)
    with pytest.raises(ValueError, match="no class"):
        match_classes(("edge",), ("other",))
    with pytest.raises(ValueError, match="same normalised name"):
        match_classes(("dark dune", "Dark_Dune"), ("other",))


def test_official_split_kept_or_dropped(jpl_layout, isolated_cache, tmp_path):
    ds = load_dataset(jpl_layout)
    fam = find_families(ds)
    kept = make_split(ds, "official", fam)
    assert kept["subset"].value_counts().to_dict() == {"train": 48, "val": 16, "test": 16}
    dropped = make_split(ds, "official", fam, official_drop_augmented=True)
    assert dropped["subset"].value_counts().to_dict() == {"train": 48, "val": 4, "test": 4}
    assert leakage_report(kept)["test_with_twin_in_train"] == 0.0
    prepared = prepare_data(
        jpl_layout, splits=("official",), run_dir=tmp_path / "run", progress=False
    )
    assert "12 augmented copies in val, 12 in test" in prepared.messages[0]
    prepared = prepare_data(
        jpl_layout,
        splits=("official",),
        run_dir=tmp_path / "run",
        progress=False,
        official_drop_augmented=True,
    )
    assert "dropped 12 augmented copies from val and 12 from test" in prepared.messages[0]
    assert (prepared.splits["official"]["subset"] == "val").sum() == 4
    assert (tmp_path / "run/splits/official-dropaug-seed0.csv").is_file()


def test_byte_identical_copy_under_new_name_joins_family(jpl_layout, isolated_cache):
    """A copy of a test image under an unrelated name, listed in train, is a twin."""
    ds = load_dataset(jpl_layout)
    test_orig = ds.table[(ds.table["official"] == "test") & (ds.table["image"] == ds.table["base"])]
    name, label = test_orig["image"].iat[0], int(test_orig["label"].iat[0])
    copy = "PSP_999999_1111_RED-0001.jpg"
    images = jpl_layout / "map-proj-v3_2"
    shutil.copyfile(images / name, images / copy)
    for fname, extra in (
        ("labels-map-proj_v3_2.txt", f"{copy} {label}\n"),
        ("labels-map-proj_v3_2_train_val_test.txt", f"{copy} {label} train\n"),
    ):
        path = jpl_layout / fname
        path.write_text(path.read_text() + extra)
    ds = load_dataset(jpl_layout)
    fam = find_families(ds)
    rows = ds.table.index[ds.table["image"].isin([name, copy])].tolist()
    assert fam[rows[0]] == fam[rows[1]]
    assert len(set(fam)) == 20
    split = make_split(ds, "official", fam)
    assert leakage_report(split)["test_with_twin_in_train"] > 0  # the copy is seen leaking
    family = make_split(ds, "family", fam)
    assert leakage_report(family)["test_with_twin_in_train"] == 0.0


def test_rotated_copy_under_new_name_joins_family(make_sample_layout, isolated_cache):
    """Content twins are found in the sample layout too, whatever the names."""
    root = make_sample_layout(n_per_class=3, twins=False)
    from PIL import Image

    with Image.open(root / "images" / "1.jpg") as img:
        img.transpose(Image.Transpose.ROTATE_180).save(root / "images" / "zz_other.jpg")
    (root / "labels.csv").write_text((root / "labels.csv").read_text() + "zz_other.jpg,0\n")
    ds = load_dataset(root)
    fam = find_families(ds)
    assert fam[0] == fam[-1]
    assert len(set(fam)) == len(ds) - 1


@pytest.mark.parametrize("layout", ["sample", "jpl", "v1"])
def test_cli_data_commands_on_every_layout(
    layout, make_sample_layout, jpl_layout, make_v1_layout, isolated_cache, capsys
):
    makers = {
        "sample": make_sample_layout,
        "jpl": lambda: jpl_layout,
        "v1": lambda: make_v1_layout(labels=tuple(k // 7 for k in range(49))),  # 7 per class
    }
    root = makers[layout]()
    assert main(["data", "validate", "--data-dir", str(root)]) == 0
    assert "images decoded" in capsys.readouterr().out
    assert main(["data", "report", "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "twin families" in out and "family" in out
    if layout == "jpl":
        assert "official" in out and "augmented copies in val" in out
        assert "3 exact duplicate rows" in out
    assert main(["data", "verify", "--data-dir", str(root)]) == 2
    assert "no MANIFEST" in capsys.readouterr().err
