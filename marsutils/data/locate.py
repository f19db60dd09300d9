"""Find the HiRISE landmark data on disk."""

from __future__ import annotations

import os
from pathlib import Path

from marsutils.data.errors import DataError

__all__ = ["ENV_VAR", "default_data_dir", "locate_data_dir", "locate_seg_dir"]

ENV_VAR = "MARS_DATA_DIR"
#: The repository's parent folder holds ``shared/data`` in the development layout.
_REPO_ROOT = Path(__file__).resolve().parents[2]
_SHARED = _REPO_ROOT.parent / "shared" / "data"


def default_data_dir() -> Path:
    """``../shared/data/hirise-landmarks`` relative to the repository."""
    return _SHARED / "hirise-landmarks"


def _check(path: Path, source: str) -> Path:
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise DataError(
            f"data directory {path} (from {source}) does not exist. Pass data_dir=..., set "
            f"{ENV_VAR}, or place the sample at {default_data_dir()}."
        )
    return path


def locate_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the dataset directory.

    Looked up in order: the explicit ``data_dir`` argument, the ``MARS_DATA_DIR`` environment
    variable, then ``../shared/data/hirise-landmarks``. Raises :class:`DataError` saying what to
    set when none exists.
    """
    if data_dir not in (None, ""):
        return _check(Path(data_dir), "the data_dir argument")
    env = os.environ.get(ENV_VAR)
    if env:
        return _check(Path(env), f"${ENV_VAR}")
    default = default_data_dir()
    if default.is_dir():
        return default.resolve()
    raise DataError(
        f"no HiRISE landmark data found: pass data_dir=..., or set {ENV_VAR} to a folder holding "
        f"either labels.csv + images/ (the shared sample) or the JPL v3.2 release "
        f"(labels-map-proj_v3_2.txt + map-proj-v3_2/); looked for {default}."
    )


def locate_seg_dir(seg_dir: str | os.PathLike | None = None) -> Path:
    """Return the mars-orbital-seg-53 directory (argument, ``MARS_SEG_DIR``, or the shared copy)."""
    if seg_dir not in (None, ""):
        return _check(Path(seg_dir), "the seg_dir argument")
    env = os.environ.get("MARS_SEG_DIR")
    if env:
        return _check(Path(env), "$MARS_SEG_DIR")
    return _check(_SHARED / "mars-orbital-seg-53", "the default location")


def locate_external_dir(external_dir: str | os.PathLike | None = None) -> Path:
    """Return the external release's directory (argument, ``MARS_EXTERNAL_DIR``, or the shared
    ``../shared/data/hirise-v1``); :class:`DataError` naming the source when it is missing."""
    if external_dir not in (None, ""):
        path, source = Path(external_dir), "the external_dir argument"
    elif os.environ.get("MARS_EXTERNAL_DIR"):
        path, source = Path(os.environ["MARS_EXTERNAL_DIR"]), "$MARS_EXTERNAL_DIR"
    else:
        path, source = _SHARED / "hirise-v1", "the default location"
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise DataError(
            f"external data directory {path} (from {source}) does not exist. Pass "
            f"external_dir=..., set MARS_EXTERNAL_DIR, or place the v1 release at "
            f"{_SHARED / 'hirise-v1'}."
        )
    return path
