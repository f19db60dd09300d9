"""Inference cost on this CPU: the counterpart of the paper's Table 2.

For any ``nn.Module`` mapping ``(B, 3, H, W)`` images to a logits tensor:

* size: parameters and FLOPs/MACs at ``image_size`` (:func:`marsutils.models.model_cost`, which
  counts one multiply-add as 2 FLOPs; the paper's "~4 GFLOPs" for ResNet-50 is a MAC count);
* speed: batch-1 latency and batch-32 throughput, each the **median** of ``repeats`` timed runs
  after ``warmup`` untimed runs, for two inference paths:

  - *plain*: fp32 eager, ``model.eval()`` under ``torch.no_grad()``, NCHW input;
  - *optimised*: ``model.eval()``, ``torch.inference_mode()``, channels_last weights and input,
    Conv-BN folding, and bf16 autocast only where the CPU has native bf16
    (:func:`marsutils.train.runtime.cpu_supports_bf16`). Folding is done by one of
    :data:`OPTIMISATION_METHODS`: ``"jit_freeze"`` (TorchScript trace + ``torch.jit.freeze``,
    which folds Conv-BN and constants), ``"fx_fuse"`` (``torch.fx`` Conv-BN fusion, eager),
    ``"compile"`` (``torch.compile`` with inductor freezing; needs a C++ compiler and minutes of
    compile time) or ``"eager"`` (no folding). ``"auto"`` tries ``jit_freeze``, then ``fx_fuse``,
    then ``eager``, and records why a method was skipped.

The optimised path is checked against the plain one (same inputs, outputs within a tolerance)
before it is timed. Plain and optimised runs are interleaved so that both see the same load on a
shared machine; the load average is recorded with every result.
"""

from __future__ import annotations

import copy
import os
import statistics
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn

from marsutils.paper import EFFICIENCY
from marsutils.train.runtime import cpu_supports_bf16

__all__ = [
    "OPTIMISATION_METHODS",
    "EquivalenceError",
    "Timing",
    "CpuInference",
    "plain_inference",
    "optimise_for_cpu",
    "check_equivalence",
    "time_interleaved",
    "benchmark_model",
    "compare_efficiency_with_paper",
]

OPTIMISATION_METHODS: tuple[str, ...] = ("auto", "jit_freeze", "fx_fuse", "compile", "eager")
_FALLBACK_ORDER: tuple[str, ...] = ("jit_freeze", "fx_fuse", "eager")


class EquivalenceError(AssertionError):
    """The optimised path's outputs differ from the plain path's beyond the tolerance."""


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of each timed run of one batch (warm-up runs excluded)."""

    batch_size: int
    seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """Median seconds per batch."""
        return statistics.median(self.seconds)

    @property
    def ms_per_image(self) -> float:
        """Median milliseconds per image."""
        return 1000.0 * self.median_s / self.batch_size

    @property
    def images_per_s(self) -> float:
        """Images per second at the median batch time."""
        return self.batch_size / self.median_s


@dataclass
class CpuInference:
    """An inference callable: images in, fp32 logits out, with how it was built."""

    module: Callable[[torch.Tensor], torch.Tensor]
    method: str
    channels_last: bool = False
    bf16: bool = False
    inference_mode: bool = False
    steps: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of ``images`` (fp32, no autograd)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        grad_off = torch.inference_mode() if self.inference_mode else torch.no_grad()
        with grad_off, _bf16_autocast(self.bf16):
            out = self.module(images)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"model must return a logits tensor; got {type(out).__name__}")
        return out.float()


def _bf16_autocast(enabled: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def plain_inference(model: nn.Module) -> CpuInference:
    """fp32 eager inference: a copy of ``model`` in eval mode under ``torch.no_grad()``."""
    module = copy.deepcopy(model).eval()
    return CpuInference(module, "plain", steps=("eval", "no_grad", "fp32", "NCHW"))


def optimise_for_cpu(
    model: nn.Module,
    *,
    example: torch.Tensor,
    method: str = "auto",
    channels_last: bool = True,
    bf16: bool | None = None,
) -> CpuInference:
    """Build the optimised CPU inference path of a copy of ``model`` (``model`` is untouched).

    Args:
        model: maps images to a logits tensor.
        example: an input batch used for tracing/compiling (its values do not matter).
        method: one of :data:`OPTIMISATION_METHODS` (see the module docstring).
        channels_last: convert weights and inputs to channels_last.
        bf16: bf16 autocast; ``None`` = only when the CPU supports bf16 natively. With bf16,
            ``"auto"`` skips ``jit_freeze`` (TorchScript does not trace autocast reliably).

    Raises:
        ValueError: unknown ``method``.
        RuntimeError: the requested (non-auto) method fails on this model.
    """
    if method not in OPTIMISATION_METHODS:
        raise ValueError(f"unknown method {method!r}; valid choices: {OPTIMISATION_METHODS}")
    use_bf16 = cpu_supports_bf16() if bf16 is None else bool(bf16)
    base = copy.deepcopy(model).eval()
    if channels_last:
        base = base.to(memory_format=torch.channels_last)
        example = example.contiguous(memory_format=torch.channels_last)
    candidates = _FALLBACK_ORDER if method == "auto" else (method,)
    notes: list[str] = []
    if use_bf16 and method == "auto":
        candidates = tuple(c for c in candidates if c != "jit_freeze")
        notes.append("bf16: jit_freeze skipped")
    for candidate in candidates:
        try:
            module = _BUILDERS[candidate](base, example, use_bf16)
        except Exception as exc:  # a model a method cannot handle: try the next one
            if method != "auto":
                raise RuntimeError(f"{candidate} failed on this model: {exc}") from exc
            notes.append(f"{candidate} failed: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        steps = ["eval", "inference_mode"]
        steps += ["channels_last"] if channels_last else []
        steps += [_STEP_NAMES[candidate]] if candidate != "eager" else []
        steps += ["bf16_autocast"] if use_bf16 else ["fp32"]
        return CpuInference(
            module,
            candidate,
            channels_last=channels_last,
            bf16=use_bf16,
            inference_mode=True,
            steps=tuple(steps),
            notes=notes,
        )
    raise RuntimeError(f"no optimisation method worked: {notes}")  # pragma: no cover - eager


def _build_jit_freeze(model: nn.Module, example: torch.Tensor, bf16: bool) -> nn.Module:
    with warnings.catch_warnings(), torch.no_grad(), _bf16_autocast(bf16):
        warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings
        traced = torch.jit.trace(model, example)
        return torch.jit.freeze(traced)


def _build_fx_fuse(model: nn.Module, example: torch.Tensor, bf16: bool) -> nn.Module:
    from torch.fx.experimental.optimization import fuse

    fused = fuse(model, inplace=False)
    if example.is_contiguous(memory_format=torch.channels_last):
        fused = fused.to(memory_format=torch.channels_last)  # fused convs get new weights
    return fused


def _build_compile(model: nn.Module, example: torch.Tensor, bf16: bool) -> Callable:
    compiled = torch.compile(model, backend="inductor", options={"freezing": True})
    with torch.inference_mode(), _bf16_autocast(bf16):
        compiled(example)  # compile now, not inside the first timed run
    return compiled


def _build_eager(model: nn.Module, example: torch.Tensor, bf16: bool) -> nn.Module:
    return model


_BUILDERS: dict[str, Callable[[nn.Module, torch.Tensor, bool], Callable]] = {
    "jit_freeze": _build_jit_freeze,
    "fx_fuse": _build_fx_fuse,
    "compile": _build_compile,
    "eager": _build_eager,
}
_STEP_NAMES = {
    "jit_freeze": "torchscript_freeze(conv_bn_fold)",
    "fx_fuse": "fx_conv_bn_fuse",
    "compile": "torch_compile(inductor,freezing)",
}


def check_equivalence(
    reference: Callable[[torch.Tensor], torch.Tensor],
    candidate: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    *,
    atol: float = 1e-3,
    rtol: float = 1e-3,
) -> dict[str, float]:
    """Compare two inference paths on ``images``; raise :class:`EquivalenceError` if they differ.

    Returns ``max_abs_diff`` (of the logits) and ``top1_agreement`` (fraction of equal argmax).
    """
    expected = reference(images)
    got = candidate(images)
    if expected.shape != got.shape:
        raise EquivalenceError(
            f"output shapes differ: {tuple(expected.shape)} vs {tuple(got.shape)}"
        )
    max_abs = float((expected - got).abs().max())
    agreement = float((expected.argmax(1) == got.argmax(1)).float().mean())
    if not torch.allclose(expected, got, atol=atol, rtol=rtol):
        raise EquivalenceError(
            f"optimised outputs differ from plain ones: max |diff| = {max_abs:.3g} "
            f"(atol={atol}, rtol={rtol}); top-1 agreement {agreement:.3f}"
        )
    return {"max_abs_diff": max_abs, "top1_agreement": agreement}


def time_interleaved(
    runners: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    images: torch.Tensor,
    *,
    repeats: int = 10,
    warmup: int = 3,
) -> dict[str, Timing]:
    """Time every runner on ``images``, alternating runners within each repeat.

    Each runner first gets ``warmup`` untimed runs; then ``repeats`` rounds time one run of each
    runner in turn, so that load changes on a shared machine affect all runners alike.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0; got {repeats}, {warmup}")
    for run in runners.values():
        for _ in range(warmup):
            run(images)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run(images)
            seconds[name].append(time.perf_counter() - start)
    return {name: Timing(len(images), tuple(s)) for name, s in seconds.items()}


def benchmark_model(
    model: nn.Module,
    *,
    name: str,
    image_size: int = 224,
    latency_batch: int = 1,
    throughput_batch: int = 32,
    repeats: int = 10,
    warmup: int = 3,
    method: str = "auto",
    channels_last: bool = True,
    bf16: bool | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Size and CPU speed of ``model``, plain vs optimised: a one-row DataFrame.

    Columns: ``model``, ``params``, ``params_millions``, ``gflops``, ``gmacs``, ``image_size``,
    ``method``, ``steps``, ``notes``, ``plain_ms_per_image`` and ``optimised_ms_per_image``
    (batch ``latency_batch``), ``plain_images_per_s`` and ``optimised_images_per_s`` (batch
    ``throughput_batch``), ``latency_speedup`` and ``throughput_speedup`` (optimised / plain
    speed), ``*_min_ms_per_image`` (best run, less sensitive to load), ``max_abs_diff``,
    ``top1_agreement``, ``threads``, ``cpu_capability``, ``repeats``, ``warmup``, ``loadavg_1min``.

    Raises :class:`EquivalenceError` when the optimised outputs differ from the plain ones (the
    default tolerance is 1e-3, or 5e-2 with bf16).
    """
    from marsutils.models import model_cost  # deferred: importing the model zoo takes seconds

    generator = torch.Generator().manual_seed(seed)
    small = torch.randn(latency_batch, 3, image_size, image_size, generator=generator)
    large = torch.randn(throughput_batch, 3, image_size, image_size, generator=generator)
    cost = model_cost(model, image_size)
    plain = plain_inference(model)
    optimised = optimise_for_cpu(
        model, example=small, method=method, channels_last=channels_last, bf16=bf16
    )
    tolerance = 5e-2 if optimised.bf16 else 1e-3
    equivalence = check_equivalence(
        plain,
        optimised,
        large[: min(len(large), 8)],
        atol=tolerance if atol is None else atol,
        rtol=tolerance if rtol is None else rtol,
    )
    loadavg = os.getloadavg()[0]
    runners = {"plain": plain, "optimised": optimised}
    latency = time_interleaved(runners, small, repeats=repeats, warmup=warmup)
    throughput = time_interleaved(runners, large, repeats=repeats, warmup=warmup)
    row = {
        "model": name,
        "params": cost["params"],
        "params_millions": cost["params"] / 1e6,
        "gflops": cost["gflops"],
        "gmacs": cost["gmacs"],
        "image_size": image_size,
        "method": optimised.method,
        "steps": " + ".join(optimised.steps),
        "notes": "; ".join(optimised.notes),
        "latency_batch": latency_batch,
        "throughput_batch": throughput_batch,
        "plain_ms_per_image": latency["plain"].ms_per_image,
        "optimised_ms_per_image": latency["optimised"].ms_per_image,
        "plain_min_ms_per_image": 1000 * min(latency["plain"].seconds) / latency_batch,
        "optimised_min_ms_per_image": 1000 * min(latency["optimised"].seconds) / latency_batch,
        "plain_images_per_s": throughput["plain"].images_per_s,
        "optimised_images_per_s": throughput["optimised"].images_per_s,
        "latency_speedup": latency["plain"].median_s / latency["optimised"].median_s,
        "throughput_speedup": throughput["plain"].median_s / throughput["optimised"].median_s,
        **equivalence,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "repeats": repeats,
        "warmup": warmup,
        "loadavg_1min": max(loadavg, os.getloadavg()[0]),
    }
    return pd.DataFrame([row])


def compare_efficiency_with_paper(results: pd.DataFrame) -> pd.DataFrame:
    """Table 2 next to each benchmarked model (rows of :func:`benchmark_model`).

    The paper's timing is on an unnamed GPU, ours on this CPU, so the latency rows compare
    different hardware; ``meets_paper_latency`` says whether our batch-1 latency is at or below
    the lower end (25 ms/image) of the paper's range.
    """
    low = float(EFFICIENCY["latency_ms_low"].value)
    high = float(EFFICIENCY["latency_ms_high"].value)
    rows = []
    for _, r in results.iterrows():
        rows += [
            (r["model"], "parameters (M)", EFFICIENCY["parameters_millions"].value,
             r["params_millions"], "Table 2: ~25M"),
            (r["model"], "GMACs at input size", EFFICIENCY["gflops"].value, r["gmacs"],
             "Table 2: ~4 GFLOPs (a multiply-add count)"),
            (r["model"], "GFLOPs (multiply-add = 2)", None, r["gflops"], "not in the paper"),
            (r["model"], "batch-1 ms/image, plain fp32 (CPU)", f"{low:g}-{high:g} (GPU)",
             r["plain_ms_per_image"], "Table 2"),
            (r["model"], "batch-1 ms/image, optimised (CPU)", f"{low:g}-{high:g} (GPU)",
             r["optimised_ms_per_image"], "Table 2"),
        ]  # fmt: skip
    out = pd.DataFrame(rows, columns=["model", "metric", "paper", "ours", "paper_source"])
    is_latency = out["metric"].str.startswith("batch-1")
    out["meets_paper_latency"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    out.loc[is_latency, "meets_paper_latency"] = out.loc[is_latency, "ours"] <= low
    return out
