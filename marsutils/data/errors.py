"""The one exception type of the data layer."""

from __future__ import annotations


class DataError(RuntimeError):
    """A data problem the user can fix: a missing directory, a corrupt or missing file, a bad row.

    The message always names the file or setting involved.
    """
