"""Choosing and loading backbone weights: ``"imagenet"``, ``"none"`` or a local state-dict file.

Every loader here fails loudly: an unreachable download raises :class:`WeightsUnavailableError`,
a state dict that does not fit the module raises :class:`WeightsMismatchError` naming the missing,
unexpected and wrongly shaped keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "WEIGHT_SOURCES",
    "WeightsMismatchError",
    "WeightsUnavailableError",
    "load_matching_state_dict",
    "load_state_dict_file",
    "resolve_weights",
]

#: Named weight sources; any other value must be the path of an existing state-dict file.
WEIGHT_SOURCES: tuple[str, ...] = ("imagenet", "none")

_MAX_KEYS_SHOWN = 8


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be obtained here (e.g. no network)."""


class WeightsMismatchError(ValueError):
    """A state dict does not fit the module it is loaded into."""


def resolve_weights(weights: str | Path) -> str:
    """Classify a weights argument as ``"imagenet"``, ``"none"`` or ``"file"``.

    Raises:
        ValueError: ``weights`` is neither a named source nor the path of an existing file.
    """
    if not isinstance(weights, str | Path):
        raise ValueError(
            f"weights must be a string, one of {WEIGHT_SOURCES} or a state-dict file path; "
            f"got {type(weights).__name__}"
        )
    if isinstance(weights, str) and weights in WEIGHT_SOURCES:
        return weights
    if Path(weights).is_file():
        return "file"
    raise ValueError(
        f"weights={str(weights)!r} is not valid: use one of {WEIGHT_SOURCES} or the path of an "
        "existing state-dict file (no such file)"
    )


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a plain ``{name: tensor}`` state dict with ``torch.load(..., weights_only=True)``."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors have many types; all mean "not a state dict"
        raise WeightsMismatchError(f"cannot read a state dict from {str(path)!r}: {exc}") from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise WeightsMismatchError(
            f"{str(path)!r} does not hold a plain state dict (a mapping of names to tensors)"
        )
    return dict(state)


def _shown(keys: list[str]) -> str:
    """At most a few keys, with a count of the rest."""
    head = ", ".join(keys[:_MAX_KEYS_SHOWN])
    rest = len(keys) - _MAX_KEYS_SHOWN
    return head + (f" ... (+{rest} more)" if rest > 0 else "")


def load_matching_state_dict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    source: str,
    optional_prefixes: tuple[str, ...] = (),
    ignored_prefixes: tuple[str, ...] = (),
) -> None:
    """Load ``state_dict`` into ``module``, requiring names and shapes to match exactly.

    Args:
        module: the module receiving the weights.
        state_dict: the weights.
        source: where the weights come from (used in error messages).
        optional_prefixes: module keys that may be absent from ``state_dict`` (e.g. a classifier
            the backbone does not use); they keep their current values.
        ignored_prefixes: ``state_dict`` keys that are dropped before loading (e.g. ``fc.``).

    Raises:
        WeightsMismatchError: naming the missing, unexpected and wrongly shaped keys.
    """
    own = module.state_dict()
    given = {k: v for k, v in state_dict.items() if not k.startswith(ignored_prefixes)}
    missing = [k for k in own if k not in given and not k.startswith(optional_prefixes)]
    unexpected = [k for k in given if k not in own]
    wrong_shape = [
        f"{k} {tuple(given[k].shape)} vs {tuple(own[k].shape)}"
        for k in given
        if k in own and given[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong_shape:
        problems = []
        if missing:
            problems.append(f"missing keys: {_shown(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_shown(unexpected)}")
        if wrong_shape:
            problems.append(f"shape mismatches (file vs model): {_shown(wrong_shape)}")
        raise WeightsMismatchError(
            f"weights from {source} do not fit {type(module).__name__}: " + "; ".join(problems)
        )
    module.load_state_dict(given, strict=False)
