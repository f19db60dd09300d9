"""Compute the explanation maps of a set of images once, save them, and reload them later.

A cache entry is a :class:`marsutils.core.cache.CacheEntry`: ``<name>.npz`` (the arrays) plus
``<name>.json`` holding the *identity*: the cache format, the caller's ``model_key`` (the
checkpoint's identity, e.g. its file hash), the :class:`AttributionSettings` identity, the image
ids, a SHA-1 of the input tensor and the requested targets. Any difference recomputes.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from marsutils.core.atomic import write_npz
from marsutils.core.cache import CacheEntry
from marsutils.xai.attribution import check_inputs, eval_mode
from marsutils.xai.methods import AttributionSettings, explain_with_delta

__all__ = [
    "AttributionSet",
    "cached_attribution_set",
    "compute_attribution_set",
    "inputs_digest",
]

#: Version of the cache entry; 2: the key is stored as ``"identity"`` (:mod:`marsutils.core.cache`).
CACHE_FORMAT = 2
_REQUIRED_ARRAYS = ("image_ids", "targets", "y_pred", "probabilities")


@dataclass
class AttributionSet:
    """Maps of several methods for ``N`` images, with the model's outputs.

    ``maps[method]`` is ``(N, H, W)`` float32: Grad-CAM in ``[0, 1]``, IG channel-summed and
    signed (see :meth:`saliency` for the shown map). ``deltas[method]`` is IG's convergence delta
    ``(N,)`` and ``output_gaps[method]`` its ``f(x) - f(baseline)``. ``targets`` are the explained
    classes, ``y_pred`` the predicted ones and ``probabilities`` the softmax outputs ``(N, K)``.
    """

    image_ids: list[str]
    targets: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    maps: dict[str, np.ndarray]
    deltas: dict[str, np.ndarray]
    output_gaps: dict[str, np.ndarray]
    settings: AttributionSettings
    seconds: float = 0.0
    loaded_from_cache: bool = field(default=False, compare=False)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods with maps, in settings order."""
        return tuple(m for m in self.settings.methods if m in self.maps)

    def saliency(self, method: str) -> np.ndarray:
        """The ``(N, H, W)`` saliency shown and compared for ``method`` (IG reduced)."""
        if method not in self.maps:
            raise KeyError(f"no maps for method {method!r}; have {list(self.maps)}")
        return self.settings.reduce(method, self.maps[method])

    def relative_delta(self, method: str) -> np.ndarray:
        """``|delta| / |f(x) - f(baseline)|`` per image for an IG method."""
        gap = np.abs(self.output_gaps[method])
        return np.abs(self.deltas[method]) / np.maximum(gap, 1e-12)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The named arrays of the set (the form :meth:`from_arrays` reads and the cache stores)."""
        arrays: dict[str, np.ndarray] = {
            "image_ids": np.asarray(self.image_ids, dtype=str),
            "targets": self.targets,
            "y_pred": self.y_pred,
            "probabilities": self.probabilities,
        }
        for prefix, group in (
            ("map", self.maps),
            ("delta", self.deltas),
            ("gap", self.output_gaps),
        ):
            arrays.update({f"{prefix}__{method}": values for method, values in group.items()})
        return arrays

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        settings: AttributionSettings,
        seconds: float = 0.0,
        loaded_from_cache: bool = True,
    ) -> AttributionSet:
        """The set whose :meth:`to_arrays` gave ``arrays``."""
        groups: dict[str, dict[str, np.ndarray]] = {"map": {}, "delta": {}, "gap": {}}
        for key, values in arrays.items():
            prefix, _, method = key.partition("__")
            if method:
                groups[prefix][method] = values
        return cls(
            image_ids=[str(v) for v in arrays["image_ids"]],
            targets=arrays["targets"],
            y_pred=arrays["y_pred"],
            probabilities=arrays["probabilities"],
            maps=groups["map"],
            deltas=groups["delta"],
            output_gaps=groups["gap"],
            settings=settings,
            seconds=seconds,
            loaded_from_cache=loaded_from_cache,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the arrays to ``path`` (an ``.npz``) atomically."""
        return write_npz(path, self.to_arrays())

    @classmethod
    def load(
        cls, path: str | os.PathLike, settings: AttributionSettings, seconds: float = 0.0
    ) -> AttributionSet:
        """Read a set written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls.from_arrays({key: data[key] for key in data.files}, settings, seconds)


def inputs_digest(inputs: Tensor) -> str:
    """SHA-1 of the input tensor's float32 bytes (identifies the images and their preprocessing)."""
    data = inputs.detach().to("cpu", torch.float32).contiguous().numpy()
    return hashlib.sha1(data.tobytes()).hexdigest()


def compute_attribution_set(
    model: nn.Module,
    inputs: Tensor,
    *,
    image_ids: Sequence[str],
    targets: Sequence[int] | np.ndarray | None = None,
    settings: AttributionSettings | None = None,
    batch_size: int = 8,
) -> AttributionSet:
    """Run every method of ``settings`` on ``inputs`` in batches of ``batch_size``.

    ``targets`` are the classes to explain, default the model's predictions.
    """
    check_inputs(inputs)
    settings = settings or AttributionSettings()
    n = inputs.shape[0]
    if len(image_ids) != n:
        raise ValueError(f"image_ids has {len(image_ids)} entries for {n} images")
    if targets is not None and len(targets) != n:
        raise ValueError(f"targets has {len(targets)} entries for {n} images")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    start = time.perf_counter()
    with torch.no_grad(), eval_mode(model):
        logits = torch.cat([model(chunk) for chunk in inputs.split(batch_size)])
    probabilities = logits.float().softmax(dim=1).cpu().numpy()
    y_pred = probabilities.argmax(axis=1)
    chosen = y_pred if targets is None else np.asarray(targets, dtype=np.int64)
    maps: dict[str, list[np.ndarray]] = {m: [] for m in settings.methods}
    deltas: dict[str, list[np.ndarray]] = {m: [] for m in settings.methods if m != "gradcam"}
    for lo in range(0, n, batch_size):
        batch = inputs[lo : lo + batch_size]
        batch_targets = torch.tensor(chosen[lo : lo + batch_size], device=inputs.device)
        for method in settings.methods:
            result, delta = explain_with_delta(model, batch, batch_targets, method, settings)
            maps[method].append(result.cpu().numpy().astype(np.float32))
            if delta is not None:
                deltas[method].append(delta.cpu().numpy())
    full_maps = {m: np.concatenate(v) for m, v in maps.items()}
    full_deltas = {m: np.concatenate(v) for m, v in deltas.items()}
    gaps = {m: full_maps[m].sum(axis=(1, 2), dtype=np.float64) - full_deltas[m] for m in deltas}
    return AttributionSet(
        image_ids=[str(i) for i in image_ids],
        targets=np.asarray(chosen, dtype=np.int64),
        y_pred=y_pred.astype(np.int64),
        probabilities=probabilities.astype(np.float32),
        maps=full_maps,
        deltas=full_deltas,
        output_gaps=gaps,
        settings=settings,
        seconds=time.perf_counter() - start,
    )


#: What :func:`cached_attribution_set` checks its ``request`` against.
_COMPUTE_SIGNATURE = inspect.signature(compute_attribution_set)


def cached_attribution_set(
    cache_dir: str | os.PathLike,
    *,
    model_key: str,
    name: str = "attributions",
    **request: Any,
) -> AttributionSet:
    """Load the set for this key from ``cache_dir``, or compute, save and return it.

    Parameters
    ----------
    cache_dir : path
        The folder of the entry ``<name>.npz`` / ``<name>.json``.
    model_key : str
        Names the model checkpoint (e.g. its SHA-256); it must be non-empty.
    name : str, default="attributions"
        The entry's file stem.
    **request
        The keyword arguments of :func:`compute_attribution_set`: ``model``, ``inputs`` and
        ``image_ids`` (required), ``targets``, ``settings``, ``batch_size``. All but ``model``
        and ``batch_size`` are part of the entry's identity.

    Returns
    -------
    AttributionSet
        ``loaded_from_cache`` says whether it was read back.

    Raises
    ------
    ValueError
        For an empty ``model_key`` (and as :func:`compute_attribution_set`).
    TypeError
        For a missing ``model``, ``inputs`` or ``image_ids``, or another argument.
    """
    if not model_key:
        raise ValueError("model_key must be a non-empty string identifying the checkpoint")
    call = _COMPUTE_SIGNATURE.bind(**request)  # the TypeError a call would raise
    call.apply_defaults()
    settings = call.arguments["settings"] = call.arguments["settings"] or AttributionSettings()
    targets = call.arguments["targets"]
    key = {
        "format": CACHE_FORMAT,
        "model_key": model_key,
        "settings": settings.identity(),
        "image_ids": [str(i) for i in call.arguments["image_ids"]],
        "inputs_sha1": inputs_digest(call.arguments["inputs"]),
        "targets": "predicted" if targets is None else [int(t) for t in targets],
    }
    entry = CacheEntry(cache_dir, name)
    cached = entry.load(key, arrays=_REQUIRED_ARRAYS)
    if cached is not None:
        record, arrays = cached
        return AttributionSet.from_arrays(arrays, settings, float(record.get("seconds", 0)))
    result = compute_attribution_set(*call.args, **call.kwargs)
    entry.save(key, result.to_arrays(), {"seconds": result.seconds})
    return result
