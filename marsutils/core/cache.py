"""Identity-keyed cache entries: named arrays in an ``.npz``, identity and record in a ``.json``.

The project's one cache format, used by the segmentation folds (:mod:`marsutils.seg.train`), the
pointing game (:mod:`marsutils.study.segmentation`) and the explanation maps
(:mod:`marsutils.xai.cache`). An entry is two files in one folder:

* ``<name><arrays_suffix>.npz``: the arrays, written atomically (:mod:`marsutils.core.atomic`);
* ``<name>.json``: ``{"identity": ..., **record}``, written atomically *after* the arrays, so its
  presence marks a complete entry.

The *identity* is a JSON object holding everything that decides the cached result (settings, data
fingerprints, seeds, the model's key). :meth:`CacheEntry.load` returns the entry only when the
stored identity equals the requested one; any difference, a missing or unreadable file, or a
missing array is a miss, and the caller recomputes and saves again: nothing stale is reused.
Saving first removes the old ``.json``, so an interrupted save leaves no entry, never a mix of old
and new files.

Examples
--------
>>> import numpy as np, tempfile
>>> entry = CacheEntry(tempfile.mkdtemp(), "fold0", arrays_suffix="_predictions")
>>> entry.load({"seed": 0}) is None
True
>>> entry.save({"seed": 0}, {"predictions": np.zeros(3)}, {"seconds": 1.5})
>>> record, arrays = entry.load({"seed": 0})
>>> record["seconds"], arrays["predictions"].shape
(1.5, (3,))
>>> entry.load({"seed": 1}) is None  # another identity: recompute
True
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marsutils.core.atomic import write_json, write_npz

__all__ = ["CacheEntry", "CacheWarning", "normalize_identity"]


class CacheWarning(UserWarning):
    """A cache entry could not be read; it is recomputed."""


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def normalize_identity(identity: Mapping[str, Any]) -> dict[str, Any]:
    """``identity`` as it reads back from JSON (tuples become lists, paths and other objects
    their ``str``, NumPy values their ``tolist()``), so that it compares equal to a stored one.

    Raises
    ------
    TypeError
        If ``identity`` is not a mapping.
    """
    if not isinstance(identity, Mapping):
        raise TypeError(f"a cache identity must be a mapping; got {type(identity).__name__}")
    return json.loads(json.dumps(dict(identity), default=_jsonable))


@dataclass(frozen=True)
class CacheEntry:
    """One identity-keyed cache entry (see the module docstring for the format).

    Parameters
    ----------
    folder : str or os.PathLike
        Folder of the entry (created on save).
    name : str
        Stem of the two files: ``<name>.json`` and ``<name><arrays_suffix>.npz``.
    arrays_suffix : str, default ""
        Added to ``name`` for the ``.npz``, e.g. ``"_predictions"``.
    """

    folder: str | os.PathLike
    name: str
    arrays_suffix: str = ""

    @property
    def record_path(self) -> Path:
        """The ``.json`` holding the identity and the record."""
        return Path(self.folder) / f"{self.name}.json"

    @property
    def arrays_path(self) -> Path:
        """The ``.npz`` holding the arrays."""
        return Path(self.folder) / f"{self.name}{self.arrays_suffix}.npz"

    def load(
        self, identity: Mapping[str, Any], *, arrays: Sequence[str] = ()
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """The stored record and arrays when the entry was saved with ``identity``, else None.

        Parameters
        ----------
        identity : mapping
            What decides the result; compared after :func:`normalize_identity`.
        arrays : sequence of str, optional
            Arrays the entry must hold; an entry without one of them is a miss.

        Returns
        -------
        (record, arrays) or None
            ``record`` is the stored JSON object without ``"identity"``; ``arrays`` maps every
            array name of the ``.npz`` to its values (read into memory). None when there is no
            complete entry, its identity differs, or it cannot be read (with a
            :class:`CacheWarning` naming the file).
        """
        wanted = normalize_identity(identity)
        if not (self.record_path.is_file() and self.arrays_path.is_file()):
            return None
        try:
            stored = json.loads(self.record_path.read_text())
        except (OSError, ValueError) as error:
            warnings.warn(
                f"{self.record_path}: unreadable cache record ({error}); recomputing",
                CacheWarning,
                stacklevel=2,
            )
            return None
        if not isinstance(stored, dict) or stored.get("identity") != wanted:
            return None
        try:
            with np.load(self.arrays_path, allow_pickle=False) as archive:
                values = {key: archive[key] for key in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            warnings.warn(
                f"{self.arrays_path}: unreadable cache arrays ({error}); recomputing",
                CacheWarning,
                stacklevel=2,
            )
            return None
        if set(arrays) - set(values):
            return None
        record = {k: v for k, v in stored.items() if k != "identity"}
        return record, values

    def save(
        self,
        identity: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
        record: Mapping[str, Any] | None = None,
    ) -> None:
        """Write ``arrays`` then ``{"identity": identity, **record}``, each atomically.

        Parameters
        ----------
        identity : mapping
            What decides the result (stored after :func:`normalize_identity`).
        arrays : mapping of str to numpy.ndarray
            Saved with :func:`numpy.savez_compressed` (no pickled objects).
        record : mapping, optional
            Further JSON values stored beside the identity; it may not hold ``"identity"``.

        Raises
        ------
        ValueError
            If ``record`` holds the key ``"identity"``.
        """
        record = dict(record or {})
        if "identity" in record:
            raise ValueError("record may not hold the key 'identity' (it is the cache key)")
        stored_identity = normalize_identity(identity)
        self.record_path.unlink(missing_ok=True)  # an interrupted save leaves no entry
        write_npz(self.arrays_path, arrays)
        write_json(self.record_path, {"identity": stored_identity, **record})
