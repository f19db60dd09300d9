"""Device, precision and determinism settings shared by every training and inference loop."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

__all__ = [
    "resolve_device",
    "cpu_supports_bf16",
    "amp_dtype",
    "autocast",
    "to_channels_last",
    "seed_everything",
]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``"auto"``/None picks CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 support (AVX-512 BF16 or AMX)."""
    if os.environ.get("MARS_DISABLE_BF16"):
        return False
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # pragma: no cover - very old torch
        return False
    if "AVX512" not in capability.upper():
        return False
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:  # pragma: no cover - non-Linux
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``device``: bf16/fp16 on CUDA, bf16 on a bf16 CPU, else None."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_supports_bf16():
        return torch.bfloat16
    return None


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """Mixed precision: bf16 autocast on a capable CPU, fp16/bf16 AMP on CUDA, else a no-op.

    On a CPU without native bf16 (no AVX-512 BF16 / AMX) bf16 autocast is many times *slower*
    than fp32, so it is not used there; ``MARS_DISABLE_BF16=1`` forces fp32 everywhere.
    """
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def to_channels_last(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move ``model`` to ``device`` in channels_last memory format."""
    return model.to(device=device, memory_format=torch.channels_last)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic algorithms where it can."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
