"""Atomic writes: write to a temporary file beside the target, then rename over it.

Also :func:`json_records`, the one conversion of a table into JSON-ready rows.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "atomic_write",
    "json_records",
    "pid_alive",
    "read_json",
    "write_json",
    "write_npz",
    "write_text",
]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0, which delivers nothing).

    Used to tell a writer's leftovers (temporary files and folders named after its pid) from
    those of a writer that is still at work. A pid of another user's process counts as alive.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result onto ``path``; nothing is left half-done.

    Raises
    ------
    OSError
        When the disk is full (``ENOSPC``, ``EDQUOT``): the message names ``path`` and says that
        its previous version, if any, is intact. Other OS errors pass through.
    RuntimeError
        When ``writer`` raises another error (``torch.save`` reports a full disk as an
        "unexpected pos" RuntimeError): the message names ``path``; the previous version is
        intact and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        os.replace(tmp_path, path)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(
                err.errno,
                f"no space left to write {path}; its previous version, if any, is intact: "
                "free some space and run again (a resumed run continues from its last checkpoint)",
            ) from err
        raise
    except RuntimeError as err:
        raise RuntimeError(
            f"writing {path} failed ({err}); its previous version, if any, is intact (a full "
            "disk is the usual cause)"
        ) from err
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def write_npz(path: str | os.PathLike, arrays: Mapping[str, Any]) -> Path:
    """Atomically write ``arrays`` (name to array) with :func:`numpy.savez_compressed`."""
    import numpy as np

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez_compressed(handle, **arrays)

    return atomic_write(path, write)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text``."""
    return atomic_write(path, lambda p: p.write_text(text))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts, missing values (NaN, NA, NaT) as None: valid JSON.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    list of dict
        One dict per row, column name to value (Python scalars).
    """
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
