"""Exclusive locks, so that two writers never interleave one experiment or one run folder.

Atomic writes (:mod:`marsutils.core.atomic`) keep each file whole; they do not keep two trainings of
one experiment (two ``make book`` in one clone, a papermill re-execution beside the pipeline, or
a task that Dask runs a second time: its execution is at least once) from interleaving their
epochs, checkpoints and ``done.json``. :func:`exclusive` holds a lock file beside what it guards:

* the lock is a POSIX advisory ``flock`` on the file (``fcntl``, the standard library). It was
  chosen over a lock library because the kernel drops it the moment its holder dies, however it
  dies (SIGKILL, the out-of-memory killer), so a lock is never stale: there is no timeout to
  guess. ``flock`` is local to one machine's file system view; Dask workers on several machines
  need a shared file system whose ``flock`` is coherent (NFSv4, Lustre), or one run folder each;
* the lock file holds its holder (host, pid, start time, what) as JSON while it is held, so a
  second writer can say who holds it, and is emptied on release. A holder record left by a
  process that died is reported ("taking over from ...") when the next writer gets the lock;
* a second writer either waits, saying once whom it waits for (``wait=True``: an experiment,
  whose second writer then finds the first one's ``done.json`` and trains nothing), or stops at
  once with :class:`LockHeld` naming the holder (``wait=False``: a run folder's pipeline).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["LOCK_NAME", "LockHeld", "exclusive", "holder_text"]

#: The lock file's name inside the folder it guards.
LOCK_NAME = ".lock"


class LockHeld(RuntimeError):
    """The lock is held by another writer (its holder is named in the message)."""


def _read(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 4096):
        raw += chunk
    if not raw.strip():
        return None
    try:
        holder = json.loads(raw)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _write(fd: int, holder: dict[str, Any] | None) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    if holder is not None:
        os.write(fd, json.dumps(holder).encode())
    os.fsync(fd)


def holder_text(holder: dict[str, Any] | None) -> str:
    """``"pid 123 on host h since 2026-12-07 01:02:03 (training family/plain...)"``."""
    if not holder:
        return "another process (it left no holder record)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    what = f" ({holder['what']})" if holder.get("what") else ""
    return f"pid {holder.get('pid')} on host {holder.get('host')} since {since}{what}"


@contextmanager
def exclusive(
    folder: str | os.PathLike,
    *,
    what: str = "",
    wait: bool = True,
    announce: Callable[[str], None] = print,
) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (``folder/.lock``) for the ``with`` block.

    Parameters
    ----------
    folder : path
        The folder to guard (created if missing).
    what : str
        What the holder does, for the messages of other writers (``"training family/plain..."``).
    wait : bool
        True: block until the holder releases the lock, after announcing whom it waits for.
        False: raise :class:`LockHeld` at once.
    announce : callable
        Receives the one-line messages (waiting for a holder, taking over from a dead one).

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    LockHeld
        With ``wait=False``, when another process holds the lock; the message names it.
    """
    path = Path(folder) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = holder_text(_read(fd))
            if not wait:
                raise LockHeld(
                    f"{path.parent} is locked by {holder}; wait for it to finish, or stop it"
                ) from None
            announce(f"{path.parent} is locked by {holder}; waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        left = _read(fd)
        if left is not None:  # the holder ended without releasing: it died holding the lock
            announce(f"taking over the lock of {path.parent} from {holder_text(left)}, which ended")
        _write(fd, {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
                    "what": what})  # fmt: skip
        try:
            yield path
        finally:
            _write(fd, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
