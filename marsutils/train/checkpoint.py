"""Atomic training checkpoints that refuse to resume a different run."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from marsutils.core.atomic import atomic_write

__all__ = ["CheckpointError", "config_fingerprint", "save_checkpoint", "load_checkpoint"]


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable or belongs to another model or configuration."""


def config_fingerprint(config: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` to a temporary file, then rename it onto ``path``."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | os.PathLike, fingerprint: str | None = None) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; check its fingerprint when given."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises several types for corrupt files
        raise CheckpointError(f"checkpoint {path} is unreadable: {err}") from err
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"checkpoint {path} was written by a different configuration "
            f"(fingerprint {state.get('fingerprint')!r}, expected {fingerprint!r}); "
            "delete it or use another run directory"
        )
    return state
