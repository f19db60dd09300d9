"""Device, precision and determinism settings shared by every training and inference loop.

Precision
---------
Every loop (training, :func:`~marsutils.train.predict_proba`, the efficiency chapter, the
segmentation experiment) takes its numeric precision from :func:`choose_precision` /
:func:`resolve_precision`, never from CPU flags of its own. The *requested* precision is, in this
order:

1. the ``precision`` argument (``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"auto"``);
2. the environment variable ``MARS_PRECISION`` (same values);
3. ``MARS_DISABLE_BF16=1`` (kept for compatibility): the same as ``MARS_PRECISION=fp32``;
4. ``"auto"``.

A forced ``"bf16"`` runs bf16 autocast on any CPU (on one without native bf16 it is correct but
slow), so tests can exercise that path everywhere; ``"fp16"`` is for CUDA only. ``"auto"``
resolves to:

* a CPU without native bf16 (AVX2 only): ``"fp32"`` (emulated bf16 is several times slower);
* a CPU with AVX-512 BF16 or AMX: the faster of ``"fp32"`` and ``"bf16"`` for the backbone, input
  size, batch size and thread count at hand, measured by a short probe of training steps
  (:func:`probe_training_speed`) and cached per machine in ``<cache dir>/precision_policy.json``
  (:func:`policy_cache_path`, with the load average during the probe; a probe on a busy
  machine says so in its reason, and deleting the file probes again). Without a probe
  (inference on its own) ``"bf16"``;
* CUDA: the faster of ``"bf16"`` and ``"fp16"`` where the GPU supports bf16 (``"bf16"`` without
  a probe), else ``"fp16"`` (fp16 training uses a gradient scaler);
* any other device: ``"fp32"``.

A reduced precision is chosen over a more precise one only when the probe measures it at least
:data:`PROBE_MARGIN` faster (the noise of a few timed steps on a shared machine). Measured on an
AMX CPU, ResNet-50 trains 1.9-2.5x faster in bf16, EfficientNet-Lite0 0.8x (its depthwise
convolutions have no fast bf16 kernels), hence a choice per backbone. On a 2-core AVX-512 BF16
CPU without AMX (``benchmarks/precision.py``, 64-128 px): ResNet-50 1.3-1.6x, EfficientNet-Lite0
0.7-0.8x.

Comparing two precisions
------------------------
:func:`comparison_tolerance` is the one tolerance for comparing outputs computed in two
precisions (see its docstring for the derivation).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import platform
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "PRECISIONS",
    "PRECISION_ENV",
    "PROBE_MARGIN",
    "PrecisionChoice",
    "Tolerance",
    "resolve_device",
    "cpu_supports_bf16",
    "requested_precision",
    "choose_precision",
    "resolve_precision",
    "amp_dtype",
    "autocast",
    "comparison_tolerance",
    "probe_key",
    "probe_training_speed",
    "time_interleaved_steps",
    "training_step",
    "policy_cache_path",
    "to_channels_last",
    "seed_everything",
    "torch_threads",
]


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``torch.set_num_threads(threads)`` (None: leave it), then restore.

    Yields the thread count in force inside the block.
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


#: Accepted precision settings.
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
#: Environment variable that forces a precision (``fp32``, ``bf16``, ``fp16`` or ``auto``).
PRECISION_ENV = "MARS_PRECISION"
#: A reduced precision must train at least this much faster than the more precise one to be
#: chosen by ``"auto"`` (ratio of images/s).
PROBE_MARGIN = 1.05
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``"auto"``/None picks CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX); detection only.

    Nothing decides a precision from this directly: :func:`choose_precision` does.
    """
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


def requested_precision(precision: str | None = None) -> tuple[str, str]:
    """The requested precision and where it came from (see the module docstring).

    Returns
    -------
    (precision, source) : tuple of str
        ``precision`` in :data:`PRECISIONS`; ``source`` is ``"argument"``, ``"MARS_PRECISION"``,
        ``"MARS_DISABLE_BF16"`` or ``"default"``.

    Raises
    ------
    ValueError
        An unknown value, naming the parameter or environment variable that held it. A set
        ``$MARS_PRECISION`` is checked even when ``precision`` overrides it (a profile that fixes
        its precision), so a misspelt variable is never silently ignored.
    """
    env = os.environ.get(PRECISION_ENV, "").strip().lower()
    if env and env not in PRECISIONS:
        raise ValueError(f"${PRECISION_ENV} is {env!r}; valid choices: {', '.join(PRECISIONS)}")
    if precision is not None:
        value, source = str(precision).strip().lower(), "argument"
    elif os.environ.get(PRECISION_ENV, "").strip():
        value, source = os.environ[PRECISION_ENV].strip().lower(), PRECISION_ENV
    elif os.environ.get("MARS_DISABLE_BF16", "").strip() not in ("", "0"):
        value, source = "fp32", "MARS_DISABLE_BF16"
    else:
        value, source = "auto", "default"
    if value not in PRECISIONS:
        where = "the precision parameter" if source == "argument" else f"${source}"
        raise ValueError(f"{where} is {value!r}; valid choices: {', '.join(PRECISIONS)}")
    return value, source


@dataclass(frozen=True)
class PrecisionChoice:
    """A resolved precision and why it was chosen.

    Attributes
    ----------
    precision : str
        ``"fp32"``, ``"bf16"`` or ``"fp16"``: what the loops run.
    requested : str
        The request it was resolved from (``"auto"`` or a forced precision).
    source : str
        Where the request came from (see :func:`requested_precision`).
    reason : str
        One sentence for logs and result files.
    timings : dict or None
        Training images/s per candidate precision when a probe decided (measured now or read
        from the cache), else None.
    """

    precision: str
    requested: str
    source: str
    reason: str
    timings: dict[str, float] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        """All fields, for a JSON record."""
        return asdict(self)


def _candidates(device: torch.device) -> tuple[str, ...]:
    """The precisions ``"auto"`` chooses from on ``device``, the most precise first."""
    if device.type == "cuda":
        return ("bf16", "fp16") if torch.cuda.is_bf16_supported() else ("fp16",)
    if device.type == "cpu" and cpu_supports_bf16():
        return ("fp32", "bf16")
    return ("fp32",)


def _pick(timings: Mapping[str, float], candidates: Sequence[str]) -> str:
    """The fastest candidate; a less precise one must beat the choice so far by PROBE_MARGIN."""
    best = candidates[0]
    for name in candidates[1:]:
        if timings[name] >= PROBE_MARGIN * timings[best]:
            best = name
    return best


def _forced(requested: str, source: str, device: torch.device) -> PrecisionChoice:
    """A forced precision (not ``"auto"``); fp16 only on CUDA."""
    if requested == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision 'fp16' (from {source}) is for CUDA; this loop runs on {device.type}: "
            "use 'bf16' or 'fp32'"
        )
    return PrecisionChoice(requested, requested, source, f"forced by {source}")


def _unmeasured(candidates: tuple[str, ...], source: str, device: torch.device) -> PrecisionChoice:
    """``"auto"`` without a measurement: the only candidate, or bf16 (native) without a probe."""
    if len(candidates) == 1:
        why = {
            "cpu": "the CPU has no native bf16 (AVX-512 BF16/AMX), so bf16 would be slower",
            "cuda": "the GPU has no bf16, so fp16 with a gradient scaler",
        }.get(device.type, f"no reduced precision is used on {device.type}")
        return PrecisionChoice(candidates[0], "auto", source, f"auto: {why}")
    # bf16 needs no gradient scaler and has fp32's range
    chosen = "bf16" if "bf16" in candidates else candidates[-1]
    return PrecisionChoice(
        chosen, "auto", source, f"auto: no probe for this loop, {chosen} (native on {device})"
    )


def _probe_timings(
    key: Mapping[str, Any],
    probe: Callable[[tuple[str, ...]], Mapping[str, float]],
    candidates: tuple[str, ...],
    cache_dir: str | os.PathLike | None,
) -> tuple[dict[str, float], str]:
    """The training images/s of each candidate, from the policy cache or measured now (and
    cached), and where they came from (``"cached probe"``, ``"probe"``, with a note when the
    machine was busy)."""
    path = policy_cache_path(cache_dir)
    entry = json.dumps(dict(key), sort_keys=True, default=str)
    cache = _read_cache(path)
    record = cache.get(entry)
    timings = record.get("timings") if isinstance(record, dict) else None
    origin = "cached probe"
    if not isinstance(timings, dict) or not set(candidates) <= set(timings):
        timings = {k: float(v) for k, v in probe(candidates).items()}
        missing = set(candidates) - set(timings)
        if missing:
            raise ValueError(f"the precision probe returned no timing for {sorted(missing)}")
        record = {"timings": timings, **_load()}
        cache[entry] = record
        from marsutils.core.atomic import write_json  # deferred: keeps this module import-light

        write_json(path, cache)
        origin = "probe"
    busy = record.get("loadavg_1min") is not None and record["loadavg_1min"] > record["cpus"]
    if busy:  # the choice stays cached (the same machine keeps one choice), but says so
        origin += (
            f" under load: 1-min load average {record['loadavg_1min']:.1f} on {record['cpus']} "
            f"CPUs; delete {path} to probe again"
        )
    return timings, origin


def _measured(
    timings: Mapping[str, float], origin: str, candidates: tuple[str, ...], source: str
) -> PrecisionChoice:
    """``"auto"`` decided by the timings (:func:`_pick`), with the reason."""
    chosen = _pick(timings, candidates)
    speeds = ", ".join(f"{k} {timings[k]:.1f}" for k in candidates)
    return PrecisionChoice(
        chosen,
        "auto",
        source,
        f"auto: {chosen} measured faster ({origin}, training images/s: {speeds})"
        if chosen != candidates[0]
        else f"auto: {chosen}, {' or '.join(candidates[1:])} not {PROBE_MARGIN:g}x faster "
        f"({origin}, training images/s: {speeds})",
        dict(timings),
    )


def choose_precision(
    precision: str | None = None,
    device: str | torch.device | None = None,
    *,
    key: Mapping[str, Any] | None = None,
    probe: Callable[[tuple[str, ...]], Mapping[str, float]] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> PrecisionChoice:
    """Resolve the requested precision (argument, then environment) for ``device``.

    Parameters
    ----------
    precision : str, optional
        ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``; None reads ``MARS_PRECISION``.
    device : str or torch.device, optional
        Where the loop runs (None: CUDA when available, else CPU).
    key : mapping, optional
        What the measured policy depends on (:func:`probe_key`); with ``probe`` it makes
        ``"auto"`` measure, or read from the cache, the faster precision.
    probe : callable, optional
        ``probe(candidates) -> {precision: images_per_s}``, called on a cache miss
        (:func:`probe_training_speed` in practice; tests inject fake timings).
    cache_dir : path, optional
        Folder of ``precision_policy.json`` (default: ``$MARS_CACHE_DIR``, then
        ``~/.cache/marsutils``).

    Returns
    -------
    PrecisionChoice

    Raises
    ------
    ValueError
        An unknown precision, or ``"fp16"`` on a CPU (CPU autocast is for bf16).
    """
    device = resolve_device(device)
    requested, source = requested_precision(precision)
    if requested != "auto":
        return _forced(requested, source, device)
    candidates = _candidates(device)
    if len(candidates) == 1 or key is None or probe is None:
        return _unmeasured(candidates, source, device)
    timings, origin = _probe_timings(key, probe, candidates, cache_dir)
    return _measured(timings, origin, candidates, source)


def resolve_precision(
    precision: str | None = None, device: str | torch.device | None = None
) -> str:
    """The precision a loop without a probe runs: :func:`choose_precision` ``.precision``."""
    return choose_precision(precision, device).precision


def _load() -> dict[str, Any]:
    """The machine's load when a probe ran (recorded beside its timings)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - no load average on this platform
        load = None
    return {"loadavg_1min": load, "cpus": os.cpu_count() or 1}


def _read_cache(path: Path) -> dict[str, Any]:
    """The policy cache; an unreadable or foreign file counts as empty (it is only a cache)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def policy_cache_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir>/precision_policy.json`` (default ``$MARS_CACHE_DIR``, then
    ``~/.cache/marsutils``)."""
    folder = Path(cache_dir or os.environ.get("MARS_CACHE_DIR") or Path.home() / ".cache/marsutils")
    return folder / "precision_policy.json"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - non-Linux
        pass
    return platform.processor() or platform.machine()


def probe_key(
    backbone: str, image_size: int, batch_size: int, device: str | torch.device | None = None
) -> dict[str, Any]:
    """What the measured precision policy depends on, as the cache key.

    CPU model and capability (or the GPU's name), torch version, thread count, ``backbone`` (the
    model's label: :func:`~marsutils.train.fit` passes ``"<model name>/<backbone>"``), input size
    and batch size.
    """
    device = resolve_device(device)
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"{_cpu_model()} ({torch.backends.cpu.get_cpu_capability()})"
    return {
        "device": device.type,
        "hardware": hardware,
        "bf16_native": cpu_supports_bf16() if device.type == "cpu" else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "backbone": backbone,
        "image_size": int(image_size),
        "batch_size": int(batch_size),
    }


def probe_training_speed(
    model: torch.nn.Module,
    candidates: Sequence[str],
    *,
    image_size: int,
    batch_size: int,
    device: str | torch.device | None = None,
    rounds: int = 3,
    warmup: int = 1,
) -> dict[str, float]:
    """Training images/s of a copy of ``model`` under each precision, timed side by side.

    Each candidate trains its own deep copy (``model`` is untouched) with AdamW on one random
    batch ``(batch_size, 3, image_size, image_size)``; after ``warmup`` untimed steps each,
    ``rounds`` rounds time one step of every candidate in turn (so load changes hit all alike)
    and the fastest step gives images/s: on a shared machine the least disturbed run is the
    best estimate of what the precision itself costs (the rationale of :mod:`timeit`'s
    ``min``). The global RNG state is restored afterwards.
    """
    device = resolve_device(device)
    rng_state = torch.get_rng_state()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, 3, image_size, image_size, generator=generator)
    x = x.to(device).contiguous(memory_format=torch.channels_last)
    target = torch.zeros(batch_size, dtype=torch.long, device=device)
    try:
        steps = {
            name: training_step(copy.deepcopy(model), x, target, name, device)
            for name in candidates
        }
        seconds = time_interleaved_steps(steps, rounds=max(1, rounds), warmup=warmup)
    finally:
        torch.set_rng_state(rng_state)
    return {name: batch_size / min(s) for name, s in seconds.items()}


def training_step(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    precision: str,
    device: torch.device,
) -> Callable[[], None]:
    """One AdamW step (lr 1e-5, cross-entropy) of ``model`` on the fixed batch ``(x, y)``.

    What the precision probe (:func:`probe_training_speed`) and ``benchmarks/precision.py`` time:
    ``model`` is moved to ``device`` in channels-last and train mode (in place); the forward runs
    under :func:`autocast` in ``precision``; fp16 gets a gradient scaler; on CUDA the step waits
    for the device, so that its wall time is the step's.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place (pass a copy to keep the original).
    x : torch.Tensor, shape (B, 3, H, W)
        The images, already on ``device``.
    y : torch.Tensor of int64, shape (B,)
        Class ids, on ``device``.
    precision : {"fp32", "bf16", "fp16"}
    device : torch.device

    Returns
    -------
    callable
        ``step()`` runs one training step.
    """
    net = model.to(device=device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step() -> None:
        with autocast(device, precision):
            logits = net(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def time_interleaved_steps(
    steps: Mapping[str, Callable[[], object]], *, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Wall seconds of every run of each step, the steps alternating within each round.

    Each step first runs ``warmup`` times untimed; then ``rounds`` rounds time one run of every
    step in turn, so that load changes on a shared machine affect all alike. The project's one
    side-by-side timing loop (:func:`marsutils.efficiency.time_interleaved`, the precision
    probe and the benchmarks use it).

    Parameters
    ----------
    steps : mapping of str to callable
        Name to a no-argument callable.
    rounds : int
        Timed rounds (>= 1).
    warmup : int
        Untimed runs of each step first (>= 0).

    Returns
    -------
    dict of str to list of float
        ``rounds`` durations in seconds per name (:func:`time.perf_counter`).

    Raises
    ------
    ValueError
        If ``rounds < 1`` or ``warmup < 0``.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds (repeats) >= 1 and warmup >= 0; got {rounds}, {warmup}")
    for step in steps.values():
        for _ in range(warmup):
            step()
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def amp_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision: bf16/fp16, or None for fp32."""
    if precision not in _DTYPES:
        raise ValueError(f"precision must be one of fp32, bf16, fp16; got {precision!r}")
    return None if precision == "fp32" else _DTYPES[precision]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to the resolved ``precision`` on ``device`` (a no-op for ``"fp32"``)."""
    dtype = amp_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@dataclass(frozen=True)
class Tolerance:
    """``atol``/``rtol`` for ``numpy.testing.assert_allclose`` and ``torch.allclose``."""

    atol: float
    rtol: float

    def as_dict(self) -> dict[str, float]:
        """``{"atol": ..., "rtol": ...}``, for ``**`` into the comparison functions."""
        return {"atol": self.atol, "rtol": self.rtol}


#: Unit roundoff u = 2**-p of each precision with p significand bits (implicit bit included):
#: bf16 keeps 8 bits (u = 2**-8 = 0.0039), fp16 11 bits (u = 2**-11), fp32 24 bits (u = 2**-24).
UNIT_ROUNDOFF = {"bf16": 2.0**-8, "fp16": 2.0**-11, "fp32": 2.0**-24}
#: fp32 computed two ways (another kernel, summation order, Conv-BN folding) is compared at
#: this floor: about 2**-17, i.e. the last 7 of fp32's 24 bits may differ.
_FP32_FLOOR = 1e-5


def comparison_tolerance(precision: str | torch.dtype) -> Tolerance:
    """The one tolerance for comparing outputs of a ``precision`` run with an fp32 run.

    For softmax **probabilities** (in [0, 1]) and for **logits** of order one:
    ``rtol = atol = 4 u`` with ``u`` the unit roundoff of ``precision`` (:data:`UNIT_ROUNDOFF`),
    but at least 1e-5: bf16 ``4 * 2**-8 = 0.0156``, fp16 ``4 * 2**-11 = 0.00195``,
    fp32 1e-5.

    Why 4 u: autocast rounds the inputs and weights of every matrix product to ``precision`` and
    accumulates in fp32, so each layer adds relative errors of about ``u``; over a network they
    partly cancel, and a softmax probability ``p`` moves by ``p (1 - p) <= 1/4`` times the logit
    error. Four roundings' worth bounds what we measured, bf16 autocast against fp32, largest
    difference over 8 random images (``full`` models, 8 classes, this repository's models):
    probabilities 6.7e-3 for ResNet-50 (random weights, 64 px) and 6e-4 for EfficientNet-Lite0
    (96 px); logits 0.038 where the logits reach 3.6 (ResNet-50), within ``atol + rtol |logit|``.
    An error of one unit in a logit, or a probability off by 0.05, still fails. Two fp32 paths
    differ only by summation order (Conv-BN folding, channels_last: measured <= 5e-6 in logits,
    <= 1e-6 in probabilities), hence the 1e-5 floor.

    Parameters
    ----------
    precision : str or torch.dtype
        ``"fp32"``, ``"bf16"``, ``"fp16"`` or the matching dtype.

    Returns
    -------
    Tolerance
    """
    names = {v: k for k, v in _DTYPES.items()}
    name = names.get(precision, precision) if isinstance(precision, torch.dtype) else precision
    if name not in UNIT_ROUNDOFF:
        raise ValueError(f"precision must be one of fp32, bf16, fp16; got {precision!r}")
    tol = max(4 * UNIT_ROUNDOFF[name], _FP32_FLOOR)
    return Tolerance(atol=tol, rtol=tol)


def to_channels_last(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move ``model`` to ``device`` in channels_last memory format."""
    return model.to(device=device, memory_format=torch.channels_last)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic algorithms where it can."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
