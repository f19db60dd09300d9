"""What machine and software a run used: the record behind the book's "compute" section.

:func:`environment_record` gathers, without timing anything:

* the machine: CPU model name, logical cores, memory, torch's CPU capability (``AVX2``,
  ``AVX512``, ...), whether the CPU advertises native bf16 (``avx512_bf16`` or ``amx_bf16`` in
  ``/proc/cpuinfo``), the CUDA device name where one is used;
* the software: Python and torch versions, torch's intra-op thread count, and the version of every
  installed distribution (a package lock of the run, from :mod:`importlib.metadata`).

The precision each experiment actually trained with is recorded by the experiment itself; this
record says what the machine offered.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["environment_record", "package_lock"]


def package_lock() -> dict[str, str]:
    """Name -> version of every installed distribution, sorted by lower-case name.

    Returns
    -------
    dict of str to str
        As :func:`importlib.metadata.distributions` reports them; a distribution without a name
        is skipped.
    """
    lock: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            lock[name] = dist.version
    return dict(sorted(lock.items(), key=lambda kv: kv[0].lower()))


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        return None
    return None


def environment_record(*, include_packages: bool = True) -> dict[str, Any]:
    """The machine and software of the current process, as a JSON-ready dict.

    Parameters
    ----------
    include_packages : bool, default=True
        Add ``"packages"``, the :func:`package_lock` of the environment.

    Returns
    -------
    dict
        Keys ``python``, ``platform``, ``cpu_model``, ``logical_cores``, ``memory_gib``,
        ``torch``, ``torch_threads``, ``cpu_capability``, ``cpu_native_bf16``, ``cuda_device``
        and, if asked, ``packages``.
    """
    import torch

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    flags = set(cpuinfo.split())
    record: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": _cpu_model(cpuinfo),
        "logical_cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if include_packages:
        record["packages"] = package_lock()
    return record
