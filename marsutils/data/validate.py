"""Check images and the ``MANIFEST.sha256`` of a data folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from marsutils.data.errors import DataError
from marsutils.data.layouts import safe_relative_name

__all__ = ["EXPECTED_SIZE", "EXPECTED_MODE", "decode_image", "verify_manifest", "sha256_file"]

#: HiRISE landmark crops are 227x227 single-channel 8-bit images.
EXPECTED_SIZE = (227, 227)
EXPECTED_MODE = "L"


def decode_image(
    path: Path, size: tuple[int, int] = EXPECTED_SIZE, mode: str = EXPECTED_MODE
) -> np.ndarray:
    """Decode one image to a ``uint8`` array, raising :class:`DataError` naming the file."""
    if not path.is_file():
        raise DataError(f"image {path} is listed in the labels but missing on disk")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode != mode:
                raise DataError(f"image {path} has mode {img.mode}, expected {mode}")
            if img.size != size:
                raise DataError(f"image {path} is {img.size[0]}x{img.size[1]}, expected {size}")
            return np.asarray(img, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"image {path} is corrupt or unreadable: {err}") from err


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_manifest(root: Path) -> dict[str, int]:
    """Check every file listed in ``root/MANIFEST.sha256``.

    Returns counts ``{"checked": n}``; raises :class:`DataError` listing the missing or changed
    files (up to 20 named) when any fails, or when there is no manifest.
    """
    manifest = root / "MANIFEST.sha256"
    if not manifest.is_file():
        raise DataError(f"{root} has no MANIFEST.sha256 to verify against")
    problems: list[str] = []
    checked = 0
    for line_no, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise DataError(f"{manifest}:{line_no}: not a sha256sum line: {line!r}")
        rel = safe_relative_name(name.removeprefix("./"), str(manifest))
        path = root / rel
        checked += 1
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif sha256_file(path) != digest:
            problems.append(f"changed: {rel}")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise DataError(f"{len(problems)} of {checked} files fail {manifest}:\n  {shown}{more}")
    return {"checked": checked}
