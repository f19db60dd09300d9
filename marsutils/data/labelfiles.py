"""One strict reader for every label, split and class-map file of the supported layouts.

Accepted everywhere: a UTF-8 byte-order mark, CRLF (or CR) line ends, blank lines, and fields
separated by a comma or by any run of spaces and tabs (a line holding a comma is split on commas,
any other line on whitespace). An optional first-line header is recognised when its label field
is a header word (``label``, ``class``, ``id``, ...: ``filename,label``, ``label,name``); any
other non-integer there is an error, so a bad first row is never mistaken for a header.

Refused with a :class:`~marsutils.data.errors.DataError` naming ``file:line``: a wrong number of
fields, a label that is not an integer (``2.7``, ``x``), and a file listed twice with different
labels or subsets (both lines are named). An exact duplicate row counts once; the number of such
rows is returned so callers can report it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from marsutils.data.errors import DataError

__all__ = [
    "LabelFile",
    "read_lines",
    "split_fields",
    "parse_int",
    "read_label_file",
    "read_classmap",
]

_INT_RE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class LabelFile:
    """A parsed label or split file.

    Attributes
    ----------
    path : Path
        The file read.
    table : pandas.DataFrame
        One row per distinct entry, in file order, with columns ``image`` (str), ``label``
        (int64), ``line`` (1-based line number of its first occurrence) and, for split files,
        ``subset`` (str).
    duplicate_rows : int
        Number of exact duplicate rows that were counted once.
    """

    path: Path
    table: pd.DataFrame
    duplicate_rows: int


def read_lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """Non-blank lines of a UTF-8 text file as ``(line_number, text)``, BOM and CR removed.

    Raises
    ------
    DataError
        The file is missing or not UTF-8 text.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is missing")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err})") from err
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]


def split_fields(line: str) -> list[str]:
    """Fields of one line: comma-separated when it holds a comma, else whitespace-separated."""
    if "," in line:
        return [f.strip().strip('"').strip() for f in line.split(",")]
    return line.split()


def parse_int(text: str, where: str) -> int:
    """``int(text)`` for a plain integer; :class:`DataError` naming ``where`` otherwise."""
    if not _INT_RE.fullmatch(text.strip()):
        raise DataError(f"{where}: label {text!r} is not an integer")
    return int(text)


_HEADER_WORDS = {"label", "labels", "class", "class_id", "classid", "id", "index", "y"}


def _is_header(label_field: str) -> bool:
    return label_field.strip().lower() in _HEADER_WORDS


def read_label_file(
    path: str | os.PathLike, *, with_subset: bool = False, subsets: tuple[str, ...] = ()
) -> LabelFile:
    """Read ``image label`` (or ``image label subset`` with ``with_subset``) rows strictly.

    Parameters
    ----------
    path : path-like
        The label or split file.
    with_subset : bool
        Expect a third field naming the subset (the JPL ``*_train_val_test.txt`` file).
    subsets : tuple of str
        Allowed subset names (checked when ``with_subset``).

    Returns
    -------
    LabelFile

    Raises
    ------
    DataError
        Wrong field count, non-integer label, unknown subset, or one file listed twice with
        different labels or subsets (both ``file:line`` named).
    """
    path = Path(path)
    n_fields = 3 if with_subset else 2
    seen: dict[str, tuple[int, tuple[int, str]]] = {}
    rows: list[tuple[str, int, int, str]] = []
    duplicates = 0
    for i, (line_no, line) in enumerate(read_lines(path)):
        fields = split_fields(line)
        where = f"{path}:{line_no}"
        if len(fields) != n_fields:
            raise DataError(f"{where}: expected {n_fields} fields, got {line!r}")
        if i == 0 and _is_header(fields[1]):
            continue
        label = parse_int(fields[1], where)
        subset = fields[2] if with_subset else ""
        if with_subset and subsets and subset not in subsets:
            raise DataError(f"{where}: unknown subset {subset!r}; expected one of {subsets}")
        name = fields[0]
        if name in seen:
            first_line, first_value = seen[name]
            if first_value == (label, subset):
                duplicates += 1
                continue
            raise DataError(
                f"{name} is listed twice with different labels: {path}:{first_line} says "
                f"{' '.join(str(v) for v in first_value if v != '')}, {where} says "
                f"{' '.join(str(v) for v in (label, subset) if v != '')}"
            )
        seen[name] = (line_no, (label, subset))
        rows.append((name, label, line_no, subset))
    table = pd.DataFrame(rows, columns=["image", "label", "line", "subset"])
    table["label"] = table["label"].astype("int64")
    if not with_subset:
        table = table.drop(columns="subset")
    return LabelFile(path, table, duplicates)


def read_classmap(path: str | os.PathLike) -> tuple[str, ...]:
    """Class names in id order from ``id,name`` rows (header optional).

    Returns
    -------
    tuple of str
        ``names[k]`` is the name of class id ``k``.

    Raises
    ------
    DataError
        Missing file, bad row, non-integer id, an id given twice, or ids that are not
        ``0..K-1`` (the message names the missing ids).
    """
    path = Path(path)
    names: dict[int, tuple[int, str]] = {}
    for i, (line_no, line) in enumerate(read_lines(path)):
        where = f"{path}:{line_no}"
        if "," in line:
            first, _, rest = line.partition(",")
            fields = [first.strip(), rest.strip().strip('"').strip()]
        else:
            fields = line.split(None, 1)
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise DataError(f"{where}: expected 'id,name', got {line!r}")
        if i == 0 and _is_header(fields[0]):
            continue
        k = parse_int(fields[0], where)
        if k in names:
            raise DataError(f"{where}: class id {k} was already given on line {names[k][0]}")
        names[k] = (line_no, fields[1])
    if not names:
        raise DataError(f"{path}: no classes")
    missing = sorted(set(range(max(names) + 1)) - set(names))
    if missing or min(names) != 0:
        raise DataError(
            f"{path}: class ids must run 0, 1, 2, ... without gaps; got {sorted(names)} "
            f"(missing {missing})"
        )
    return tuple(names[k][1] for k in range(len(names)))
