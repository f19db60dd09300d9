"""The one strict parser behind every label, split and class-map file, on every layout."""

from __future__ import annotations

import pytest

from marsutils.data import DataError, load_dataset
from marsutils.data.labelfiles import read_classmap, read_label_file

BOM = "\ufeff"


def test_bom_crlf_tabs_blank_lines_accepted(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(f"{BOM}a.jpg\t1\r\n\r\n  b.jpg   2\r\n\n".encode())
    parsed = read_label_file(path)
    assert parsed.table[["image", "label"]].values.tolist() == [["a.jpg", 1], ["b.jpg", 2]]
    assert parsed.table["line"].tolist() == [1, 3]
    assert parsed.duplicate_rows == 0


def test_csv_header_optional(tmp_path):
    with_header = tmp_path / "h.csv"
    with_header.write_text("filename,label\n1.jpg,0\n")
    without = tmp_path / "n.csv"
    without.write_text("1.jpg,0\n")
    assert read_label_file(with_header).table["image"].tolist() == ["1.jpg"]
    assert read_label_file(without).table["image"].tolist() == ["1.jpg"]


def test_exact_duplicate_counts_once(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a.jpg 1\nb.jpg 2\na.jpg 1\na.jpg 1\n")
    parsed = read_label_file(path)
    assert parsed.table["image"].tolist() == ["a.jpg", "b.jpg"]
    assert parsed.duplicate_rows == 2


def test_conflicting_labels_name_both_lines(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a.jpg 1\nb.jpg 2\na.jpg 3\n")
    with pytest.raises(DataError, match=r"a\.jpg is listed twice.*labels\.txt:1.*labels\.txt:3"):
        read_label_file(path)


def test_conflicting_subsets_name_both_lines(tmp_path):
    path = tmp_path / "split.txt"
    path.write_text("a.jpg 1 train\na.jpg 1 test\n")
    with pytest.raises(DataError, match=r"split\.txt:1 says 1 train.*split\.txt:2 says 1 test"):
        read_label_file(path, with_subset=True, subsets=("train", "val", "test"))


@pytest.mark.parametrize("bad", ["2.7", "x2", "1e3", "two"])
def test_non_integer_label_named(tmp_path, bad):
    path = tmp_path / "labels.txt"
    path.write_text(f"a.jpg 1\nb.jpg {bad}\n")
    with pytest.raises(DataError, match=rf"labels\.txt:2: label '{bad}' is not an integer"):
        read_label_file(path)


def test_wrong_field_count_named(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a.jpg 1\nb.jpg\n")
    with pytest.raises(DataError, match=r"labels\.txt:2: expected 2 fields"):
        read_label_file(path)


@pytest.mark.parametrize(
    "text",
    [
        "label,name\n0,other\n1,crater\n",
        "0,other\n1,crater\n",
        f"{BOM}label,name\r\n0,other\r\n\r\n1,crater\r\n",
        f"{BOM}0,other\r\n1,crater\r\n",
        "0\tother\n1\tcrater\n",
    ],
)
def test_classmap_with_or_without_header_bom_crlf(tmp_path, text):
    path = tmp_path / "classmap.csv"
    path.write_bytes(text.encode())
    assert read_classmap(path) == ("other", "crater")


def test_classmap_gap_and_repeat(tmp_path):
    path = tmp_path / "classmap.csv"
    path.write_text("0,other\n2,crater\n")
    with pytest.raises(DataError, match=r"missing \[1\]"):
        read_classmap(path)
    path.write_text("1,other\n2,crater\n")  # ids must start at 0
    with pytest.raises(
        DataError, match=r"run 0, 1, 2, \.\.\. without gaps; got \[1, 2\] \(missing \[0\]\)"
    ):
        read_classmap(path)
    path.write_text("0,other\n0,crater\n")
    with pytest.raises(DataError, match=r"classmap\.csv:2: class id 0 was already given on line 1"):
        read_classmap(path)
    path.write_text("0,other\n1.5,crater\n")
    with pytest.raises(DataError, match=r"classmap\.csv:2: label '1\.5' is not an integer"):
        read_classmap(path)


# --- the same rules through each layout ---------------------------------------------------


def test_sample_layout_rejects_float_label(make_sample_layout):
    root = make_sample_layout(n_per_class=2, twins=False)
    (root / "labels.csv").write_text("filename,label\n1.jpg,0\n2.jpg,2.7\n")
    with pytest.raises(DataError, match=r"labels\.csv:3: label '2\.7' is not an integer"):
        load_dataset(root)


def test_sample_layout_bom_classmap_and_crlf_labels(make_sample_layout):
    root = make_sample_layout(n_per_class=2, twins=False)
    (root / "classmap.csv").write_bytes(f"{BOM}label,name\r\n0,a\r\n1,b\r\n2,c\r\n".encode())
    text = (root / "labels.csv").read_text().replace("\n", "\r\n")
    (root / "labels.csv").write_bytes((BOM + text + "\r\n1.jpg,0\r\n").encode())
    ds = load_dataset(root)
    assert ds.class_names == ("a", "b", "c")
    assert len(ds) == 6
    assert ds.notes["duplicate_rows"] == {"labels.csv": 1}


def test_jpl_layout_conflicting_labels_named(jpl_layout):
    path = jpl_layout / "labels-map-proj_v3_2.txt"
    first = path.read_text().splitlines()[0]
    name = first.split()[0]
    path.write_text(path.read_text() + f"{name} 2\n")
    with pytest.raises(
        DataError, match=rf"{name} is listed twice.*v3_2\.txt:1 says 0.*v3_2\.txt:81"
    ):
        load_dataset(jpl_layout)


def test_jpl_split_disagreeing_label_named(jpl_layout):
    path = jpl_layout / "labels-map-proj_v3_2_train_val_test.txt"
    lines = path.read_text().splitlines()
    name, label, subset = lines[4].split()
    lines[4] = f"{name} {(int(label) + 1) % 3} {subset}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"label of {name} disagrees.*v3_2\.txt:5 says"):
        load_dataset(jpl_layout)


def test_v1_layout_float_label_named(make_v1_layout):
    root = make_v1_layout()
    path = root / "labels-map-proj.txt"
    path.write_text(path.read_text() + "extra.jpg 6.0\n")
    with pytest.raises(DataError, match=r"labels-map-proj\.txt:21: label '6\.0'"):
        load_dataset(root)


def test_bad_first_row_is_not_taken_for_a_header(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("a.jpg two\nb.jpg 2\n")
    with pytest.raises(DataError, match=r"labels\.txt:1: label 'two' is not an integer"):
        read_label_file(path)
