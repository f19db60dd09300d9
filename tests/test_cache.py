"""The one identity-keyed cache: round trip, stale identities refused, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from marsutils.core import cache as cache_module
from marsutils.core.cache import CacheEntry, CacheWarning, normalize_identity

IDENTITY = {"model": "tiny", "seed": 0, "tiles": ("n_1", "n_2"), "weights": Path("w.pt")}


def _entry(folder: Path) -> CacheEntry:
    return CacheEntry(folder, "fold0", arrays_suffix="_predictions")


def test_round_trip_and_file_names(tmp_path: Path) -> None:
    entry = _entry(tmp_path)
    assert entry.load(IDENTITY) is None  # nothing saved yet
    predictions = np.arange(12, dtype=np.uint8).reshape(3, 4)
    entry.save(IDENTITY, {"predictions": predictions}, {"seconds": 2.5, "history": [1, 2]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fold0.json", "fold0_predictions.npz"]
    stored = json.loads((tmp_path / "fold0.json").read_text())
    # the identity is stored as JSON reads it back: tuples as lists, paths as strings
    assert stored["identity"] == {
        "model": "tiny",
        "seed": 0,
        "tiles": ["n_1", "n_2"],
        "weights": "w.pt",
    }
    record, arrays = entry.load(IDENTITY)
    assert record == {"seconds": 2.5, "history": [1, 2]}
    np.testing.assert_array_equal(arrays["predictions"], predictions)
    assert arrays["predictions"].dtype == np.uint8


@pytest.mark.parametrize(
    "change",
    [{"seed": 1}, {"model": "other"}, {"tiles": ("n_1",)}, {"extra": True}],
    ids=["seed", "model", "tiles", "new-field"],
)
def test_a_stale_identity_is_refused(tmp_path: Path, change: dict) -> None:
    entry = _entry(tmp_path)
    entry.save(IDENTITY, {"predictions": np.zeros(2)})
    assert entry.load({**IDENTITY, **change}) is None
    assert entry.load(IDENTITY) is not None  # the entry itself is intact


def test_a_missing_array_or_file_is_a_miss(tmp_path: Path) -> None:
    entry = _entry(tmp_path)
    entry.save(IDENTITY, {"other": np.zeros(2)})
    assert entry.load(IDENTITY, arrays=("predictions",)) is None
    entry.save(IDENTITY, {"predictions": np.zeros(2)})
    entry.arrays_path.unlink()
    assert entry.load(IDENTITY) is None


def test_an_unreadable_entry_is_recomputed_with_a_warning(tmp_path: Path) -> None:
    entry = _entry(tmp_path)
    entry.save(IDENTITY, {"predictions": np.zeros(2)})
    entry.record_path.write_text("{not json")
    with pytest.warns(CacheWarning, match="fold0.json"):
        assert entry.load(IDENTITY) is None
    entry.save(IDENTITY, {"predictions": np.zeros(2)})
    entry.arrays_path.write_bytes(b"truncated")
    with pytest.warns(CacheWarning, match="fold0_predictions.npz"):
        assert entry.load(IDENTITY) is None


def test_an_interrupted_save_leaves_no_entry(tmp_path: Path, monkeypatch) -> None:
    entry = _entry(tmp_path)
    entry.save(IDENTITY, {"predictions": np.zeros(2)}, {"seconds": 1.0})

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # the arrays of a new result fail to write: the old record must not survive beside them
    monkeypatch.setattr(cache_module, "write_npz", fail)
    with pytest.raises(OSError, match="disk full"):
        entry.save({**IDENTITY, "seed": 1}, {"predictions": np.ones(2)})
    assert not entry.record_path.exists()
    assert entry.load(IDENTITY) is None and entry.load({**IDENTITY, "seed": 1}) is None
    assert not list(tmp_path.glob("*.tmp")), "no temporary file is left behind"


def test_the_arrays_are_written_atomically(tmp_path: Path, monkeypatch) -> None:
    entry = _entry(tmp_path)
    entry.save(IDENTITY, {"predictions": np.zeros(2)})
    before = entry.arrays_path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"half")
        raise OSError("killed mid-write")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="killed"):
        entry.save(IDENTITY, {"predictions": np.ones(2)})
    assert entry.arrays_path.read_bytes() == before  # the old file is untouched, not half-written
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'identity'"):
        _entry(tmp_path).save(IDENTITY, {"predictions": np.zeros(2)}, {"identity": 1})
    with pytest.raises(TypeError, match="mapping"):
        normalize_identity(["not", "a", "mapping"])
