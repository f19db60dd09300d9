"""Inference cost on this CPU: the counterpart of the paper's Table 2.

For any ``nn.Module`` mapping ``(B, 3, H, W)`` images to a logits tensor:

* size: parameters and FLOPs/MACs at ``image_size`` (:func:`marsutils.models.model_cost`, which
  counts one multiply-add as 2 FLOPs; the paper's "~4 GFLOPs" for ResNet-50 is a MAC count);
* speed: batch-1 latency and batch-32 throughput, each the **median** of ``repeats`` timed runs
  after ``warmup`` untimed runs, for two inference paths:

  - *plain*: fp32 eager, ``model.eval()`` under ``torch.no_grad()``, NCHW input;
  - *optimised*: ``model.eval()``, ``torch.inference_mode()``, channels_last weights and input,
    Conv-BN folding, and the precision of :func:`marsutils.train.runtime.resolve_precision`
    (``precision`` argument, then ``$MARS_PRECISION``; ``"auto"`` is bf16 autocast on a CPU with
    native bf16, fp32 elsewhere). Folding is done by one of
    :data:`OPTIMISATION_METHODS`: ``"jit_freeze"`` (TorchScript trace + ``torch.jit.freeze``,
    which folds Conv-BN and constants), ``"fx_fuse"`` (``torch.fx`` Conv-BN fusion, eager),
    ``"compile"`` (``torch.compile`` with inductor freezing; needs a C++ compiler and minutes of
    compile time) or ``"eager"`` (no folding). ``"auto"`` tries ``jit_freeze``, then ``fx_fuse``,
    then ``eager``, and records why a method was skipped. With bf16 the trace runs under
    autocast, so the frozen graph holds bf16 convolutions (the copy's weights are frozen with
    ``requires_grad=False`` first: TorchScript cannot freeze autocast's casts of trainable
    weights).

:func:`measure_speed` is the one measurement (the efficiency chapter and
``benchmarks/inference_latency.py`` both use it, with one column schema). The optimised path is
first checked against the plain one by :func:`check_equivalence` (top-1 agreement and softmax
probabilities within :func:`marsutils.train.runtime.comparison_tolerance` of its precision)
before it is timed. Plain and optimised runs are interleaved so that both see the same load on a
shared machine; the load average is recorded with every result.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import statistics
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from marsutils.core.paper import EFFICIENCY
from marsutils.models import BACKBONE_NAMES, MODEL_NAMES, build_model, model_cost
from marsutils.train.runtime import (
    autocast,
    comparison_tolerance,
    resolve_precision,
    time_interleaved_steps,
)

__all__ = [
    "OPTIMISATION_METHODS",
    "EquivalenceError",
    "Timing",
    "CpuInference",
    "plain_inference",
    "optimise_for_cpu",
    "check_equivalence",
    "time_interleaved",
    "SPEED_COLUMNS",
    "measure_speed",
    "compare_efficiency_with_paper",
    "COST_IMAGE_SIZE",
    "RESULT_COLUMNS",
    "DETAIL_COLUMNS",
    "BACKBONE_LABELS",
    "TimingPlan",
    "efficiency_table",
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
    """An inference callable: images in, fp32 logits out, with how it was built.

    ``precision`` is the resolved precision it runs under (``"fp32"`` or ``"bf16"``).
    """

    module: Callable[[torch.Tensor], torch.Tensor]
    method: str
    channels_last: bool = False
    precision: str = "fp32"
    inference_mode: bool = False
    steps: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of ``images`` (fp32, no autograd)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        grad_off = torch.inference_mode() if self.inference_mode else torch.no_grad()
        with grad_off, autocast(torch.device("cpu"), self.precision):
            out = self.module(images)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"model must return a logits tensor; got {type(out).__name__}")
        return out.float()


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
    precision: str | None = None,
) -> CpuInference:
    """Build the optimised CPU inference path of a copy of ``model`` (``model`` is untouched).

    Args:
        model: maps images to a logits tensor.
        example: an input batch used for tracing/compiling (its values do not matter).
        method: one of :data:`OPTIMISATION_METHODS` (see the module docstring).
        channels_last: convert weights and inputs to channels_last.
        precision: ``"fp32"``, ``"bf16"`` or ``"auto"``; None reads ``$MARS_PRECISION``
            (:func:`marsutils.train.runtime.resolve_precision`). Both precisions try the same
            methods in the same order, so ``notes`` (why a method was skipped) do not depend on
            the CPU.

    Raises:
        ValueError: unknown ``method`` or ``precision``.
        RuntimeError: the requested (non-auto) method fails on this model.
    """
    if method not in OPTIMISATION_METHODS:
        raise ValueError(f"unknown method {method!r}; valid choices: {OPTIMISATION_METHODS}")
    precision = resolve_precision(precision, "cpu")
    use_bf16 = precision == "bf16"
    base = copy.deepcopy(model).eval().requires_grad_(False)  # inference only
    if channels_last:
        base = base.to(memory_format=torch.channels_last)
        example = example.contiguous(memory_format=torch.channels_last)
    candidates = _FALLBACK_ORDER if method == "auto" else (method,)
    notes: list[str] = []
    for candidate in candidates:
        try:
            module = _BUILDERS[candidate](base, example, precision)
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
            precision=precision,
            inference_mode=True,
            steps=tuple(steps),
            notes=notes,
        )
    raise RuntimeError(f"no optimisation method worked: {notes}")  # pragma: no cover - eager


def _build_jit_freeze(model: nn.Module, example: torch.Tensor, precision: str) -> nn.Module:
    with warnings.catch_warnings(), torch.no_grad(), autocast(torch.device("cpu"), precision):
        warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings
        traced = torch.jit.trace(model, example)
        return torch.jit.freeze(traced)


def _build_fx_fuse(model: nn.Module, example: torch.Tensor, precision: str) -> nn.Module:
    from torch.fx.experimental.optimization import fuse

    fused = fuse(model, inplace=False)
    if example.is_contiguous(memory_format=torch.channels_last):
        fused = fused.to(memory_format=torch.channels_last)  # fused convs get new weights
    return fused


def _build_compile(model: nn.Module, example: torch.Tensor, precision: str) -> Callable:
    compiled = torch.compile(model, backend="inductor", options={"freezing": True})
    with torch.inference_mode(), autocast(torch.device("cpu"), precision):
        compiled(example)  # compile now, not inside the first timed run
    return compiled


def _build_eager(model: nn.Module, example: torch.Tensor, precision: str) -> nn.Module:
    return model


_BUILDERS: dict[str, Callable[[nn.Module, torch.Tensor, str], Callable]] = {
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
    precision: str = "fp32",
) -> dict[str, float]:
    """Compare two inference paths on ``images``; raise :class:`EquivalenceError` if they differ.

    The candidate, run in ``precision``, is judged on its logits with
    :func:`~marsutils.train.runtime.comparison_tolerance` ``(precision)`` (bf16: 0.0156, fp32:
    1e-5), relative to each image's logit scale ``s = max_j |reference logit_j|``:

    * every logit lies within ``atol + rtol x s`` of the reference's, once a constant per image
      is removed (softmax does not see one: the difference minus its mean over the classes is
      compared). A low precision rounds
      every activation relative to its size (bf16 keeps 8 significant bits), and a logit is a
      sum of such terms, so its error scales with the image's largest logits, not with its own
      value: an untrained ResNet-50 whose logits reach 50 moves them by up to about 0.3
      (measured at 224 px), which can move a softmax probability near a tie by 0.05 or more.
      Probabilities are therefore reported (``max_prob_diff``) but not judged;
    * its top-1 class equals the reference's on every image whose two best reference logits are
      more than ``2 (atol + rtol x s)`` apart. Closer than that, the tolerance itself allows the
      two to swap, so such a near-tie is not a disagreement (``top1_decisive`` counts the images
      judged).

    A broken optimisation (a wrongly folded batch norm, a dropped layer) moves logits by far more
    than these relative errors and fails.

    Returns:
        ``max_abs_diff`` (of the logits), ``max_prob_diff`` (for information),
        ``top1_agreement`` (fraction of equal argmax over all images), ``top1_decisive``
        (images whose top-1 was judged) and ``prob_atol`` (the tolerance's ``atol``).
    """
    expected = reference(images).float()
    got = candidate(images).float()
    if expected.shape != got.shape:
        raise EquivalenceError(
            f"output shapes differ: {tuple(expected.shape)} vs {tuple(got.shape)}"
        )
    tol = comparison_tolerance(precision)
    shift = got - expected
    diff = (shift - shift.mean(dim=1, keepdim=True)).abs()  # a constant per image is no change
    max_abs = float(diff.max())
    max_prob = float((torch.softmax(expected, 1) - torch.softmax(got, 1)).abs().max())
    allowed = tol.atol + tol.rtol * expected.abs().amax(dim=1, keepdim=True)  # per image
    same = expected.argmax(1) == got.argmax(1)
    agreement = float(same.float().mean())
    if expected.shape[1] > 1:
        top2 = expected.topk(2, dim=1).values
        decisive = (top2[:, 0] - top2[:, 1]) > 2 * allowed[:, 0]
    else:
        decisive = torch.ones(len(expected), dtype=torch.bool)
    summary = (
        f"max |logit diff| = {max_abs:.3g} (allowed atol + rtol x the image's largest |logit|, "
        f"atol = rtol = {tol.atol:.3g} for {precision}); top-1 agreement {agreement:.3f}; "
        f"max |probability diff| = {max_prob:.3g}"
    )
    if bool((diff > allowed).any()):
        raise EquivalenceError(f"optimised outputs differ from plain ones: {summary}")
    if not bool(same[decisive].all()):
        wrong = int((~same & decisive).sum())
        raise EquivalenceError(
            f"optimised outputs differ from plain ones: top-1 class changed on {wrong} of "
            f"{int(decisive.sum())} images without a near-tie; {summary}"
        )
    return {
        "max_abs_diff": max_abs,
        "max_prob_diff": max_prob,
        "top1_agreement": agreement,
        "top1_decisive": int(decisive.sum()),
        "prob_atol": tol.atol,
    }


def time_interleaved(
    runners: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    images: torch.Tensor,
    *,
    repeats: int = 10,
    warmup: int = 3,
) -> dict[str, Timing]:
    """Time every runner on ``images``, alternating runners within each repeat.

    Each runner first gets ``warmup`` untimed runs; then ``repeats`` rounds time one run of each
    runner in turn, so that load changes on a shared machine affect all runners alike
    (:func:`marsutils.train.runtime.time_interleaved_steps`).
    """
    steps = {name: (lambda run=run: run(images)) for name, run in runners.items()}
    seconds = time_interleaved_steps(steps, rounds=repeats, warmup=warmup)
    return {name: Timing(len(images), tuple(s)) for name, s in seconds.items()}


#: The columns of :func:`measure_speed`, in this order (``*_seconds`` hold every timed run).
SPEED_COLUMNS: tuple[str, ...] = (
    "latency_ms_plain",
    "latency_ms_optimised",
    "throughput_plain",
    "throughput_optimised",
    "speedup_latency",
    "speedup_throughput",
    "latency_ms_plain_min",
    "latency_ms_optimised_min",
    "timing_image_size",
    "latency_batch",
    "throughput_batch",
    "latency_repeats",
    "throughput_repeats",
    "precision",
    "method",
    "steps",
    "notes",
    "max_abs_diff",
    "max_prob_diff",
    "top1_agreement",
    "top1_decisive",
    "threads",
    "cpu_capability",
    "loadavg_1min",
    "latency_seconds",
    "throughput_seconds",
)


def measure_speed(
    model: nn.Module,
    *,
    image_size: int,
    latency: bool = True,
    throughput: bool = True,
    latency_batch: int = 1,
    throughput_batch: int = 32,
    latency_repeats: int = 10,
    throughput_repeats: int | None = None,
    warmup: int = 3,
    throughput_warmup: int | None = None,
    method: str = "auto",
    channels_last: bool = True,
    precision: str | None = None,
    check_images: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Plain vs optimised CPU speed of ``model``: one row of :data:`SPEED_COLUMNS`.

    Args:
        model: maps ``(B, 3, image_size, image_size)`` images to logits; it is not modified.
        image_size: side of the random input images, in pixels.
        latency, throughput: whether to time the batch-``latency_batch`` latency and the
            batch-``throughput_batch`` throughput; what is not timed is NaN, never estimated.
        latency_repeats, throughput_repeats: timed runs of each path (medians are reported;
            ``throughput_repeats`` defaults to ``latency_repeats``).
        warmup, throughput_warmup: untimed runs of each path first (``throughput_warmup``
            defaults to ``warmup``).
        method, channels_last, precision: the optimised path (:func:`optimise_for_cpu`).
        check_images: random images on which :func:`check_equivalence` judges the optimised
            path before anything is timed.
        seed: seeds the random images.

    Returns:
        ``latency_ms_*`` (median ms per image at batch ``latency_batch``; ``*_min``: best run),
        ``throughput_*`` (images/s at the median batch ``throughput_batch`` time),
        ``speedup_*`` (optimised speed / plain speed), the optimised path's ``precision``,
        ``method``, ``steps`` and ``notes``, the equivalence check, ``threads``,
        ``cpu_capability``, the highest 1-minute ``loadavg_1min`` seen, and every timed run in
        ``latency_seconds``/``throughput_seconds`` (``{"plain": [...], "optimised": [...]}``).

    Raises:
        EquivalenceError: the optimised outputs differ from the plain ones.
    """
    nan = float("nan")
    throughput_repeats = latency_repeats if throughput_repeats is None else throughput_repeats
    throughput_warmup = warmup if throughput_warmup is None else throughput_warmup
    row: dict[str, Any] = dict.fromkeys(SPEED_COLUMNS, nan)
    row.update(
        {
            "timing_image_size": image_size if latency or throughput else None,
            "latency_batch": latency_batch,
            "throughput_batch": throughput_batch,
            "latency_repeats": latency_repeats if latency else 0,
            "throughput_repeats": throughput_repeats if throughput else 0,
            "precision": None,
            "method": None,
            "steps": None,
            "notes": None,
            "top1_decisive": None,
            "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "latency_seconds": {},
            "throughput_seconds": {},
        }
    )
    if not (latency or throughput):
        return row
    generator = torch.Generator().manual_seed(seed)
    size = image_size
    small = torch.randn(latency_batch, 3, size, size, generator=generator)
    plain = plain_inference(model)
    optimised = optimise_for_cpu(
        model, example=small, method=method, channels_last=channels_last, precision=precision
    )
    check = torch.randn(check_images, 3, size, size, generator=generator)
    row.update(check_equivalence(plain, optimised, check, precision=optimised.precision))
    row.pop("prob_atol")
    row["precision"] = optimised.precision
    row["method"] = optimised.method
    row["steps"] = " + ".join(optimised.steps)
    row["notes"] = "; ".join(optimised.notes)
    load = os.getloadavg()[0]
    runners = {"plain": plain, "optimised": optimised}
    if latency:
        times = time_interleaved(runners, small, repeats=latency_repeats, warmup=warmup)
        row["latency_ms_plain"] = times["plain"].ms_per_image
        row["latency_ms_optimised"] = times["optimised"].ms_per_image
        row["speedup_latency"] = times["plain"].median_s / times["optimised"].median_s
        for path, timing in times.items():
            row[f"latency_ms_{path}_min"] = 1000 * min(timing.seconds) / latency_batch
        row["latency_seconds"] = {k: list(t.seconds) for k, t in times.items()}
    if throughput:
        large = torch.randn(throughput_batch, 3, size, size, generator=generator)
        times = time_interleaved(
            runners, large, repeats=throughput_repeats, warmup=throughput_warmup
        )
        row["throughput_plain"] = times["plain"].images_per_s
        row["throughput_optimised"] = times["optimised"].images_per_s
        row["speedup_throughput"] = times["plain"].median_s / times["optimised"].median_s
        row["throughput_seconds"] = {k: list(t.seconds) for k, t in times.items()}
    row["loadavg_1min"] = max(load, os.getloadavg()[0])
    return row


def compare_efficiency_with_paper(results: pd.DataFrame) -> pd.DataFrame:
    """Table 2 next to each benchmarked model.

    ``results`` has one row per model with ``model`` (its label), ``params``, ``gmacs``,
    ``gflops`` and the :func:`measure_speed` columns ``latency_ms_plain`` and
    ``latency_ms_optimised`` (the efficiency chapter's table, see
    :func:`marsutils.study.efficiency.paper_comparison`).

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
             r["params"] / 1e6, "Table 2: ~25M"),
            (r["model"], "GMACs at input size", EFFICIENCY["gflops"].value, r["gmacs"],
             "Table 2: ~4 GFLOPs (a multiply-add count)"),
            (r["model"], "GFLOPs (multiply-add = 2)", None, r["gflops"], "not in the paper"),
            (r["model"], "batch-1 ms/image, plain fp32 (CPU)", f"{low:g}-{high:g} (GPU)",
             r["latency_ms_plain"], "Table 2"),
            (r["model"], "batch-1 ms/image, optimised (CPU)", f"{low:g}-{high:g} (GPU)",
             r["latency_ms_optimised"], "Table 2"),
        ]  # fmt: skip
    out = pd.DataFrame(rows, columns=["model", "metric", "paper", "ours", "paper_source"])
    is_latency = out["metric"].str.startswith("batch-1")
    out["meets_paper_latency"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    out.loc[is_latency, "meets_paper_latency"] = out.loc[is_latency, "ours"] <= low
    return out


# --------------------------------------------------------------------------------------------
# the table of every model: size and speed per (backbone, model)
# --------------------------------------------------------------------------------------------

#: Input size of the parameter/FLOP counts, and of the paper's Table 2.
COST_IMAGE_SIZE = 224

#: The columns of :func:`efficiency_table`, in this order, then :data:`DETAIL_COLUMNS`.
RESULT_COLUMNS: tuple[str, ...] = (
    "backbone",
    "model",
    "params",
    "gflops",
    "gmacs",
    *SPEED_COLUMNS[:6],  # latency, throughput and speed-up, plain and optimised
)
#: The timing details that follow :data:`RESULT_COLUMNS`.
DETAIL_COLUMNS: tuple[str, ...] = (
    "latency_ms_plain_min",
    "latency_ms_optimised_min",
    "timing_image_size",
    "latency_repeats",
    "throughput_repeats",
    "precision",
    "method",
    "steps",
    "max_abs_diff",
    "max_prob_diff",
    "top1_agreement",
    "threads",
    "loadavg_1min",
)

#: Readable names of the backbones, for sentences and figure titles.
BACKBONE_LABELS = {"resnet50": "ResNet-50", "efficientnet_lite0": "EfficientNet-Lite0"}


@dataclass(frozen=True)
class TimingPlan:
    """What is timed, at which size, how often.

    ``latency_models`` get the batch-``latency_batch`` latency (median of ``latency_repeats``),
    ``throughput_models`` the batch-``throughput_batch`` throughput (median of
    ``throughput_repeats``), both after ``warmup`` untimed runs of each path.
    """

    image_size: int
    latency_models: tuple[str, ...]
    throughput_models: tuple[str, ...]
    latency_repeats: int
    throughput_repeats: int
    warmup: int = 2
    latency_batch: int = 1
    throughput_batch: int = 32

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32; got {self.image_size}")
        if min(self.latency_repeats, self.throughput_repeats, self.latency_batch) < 1:
            raise ValueError("repeats and batch sizes must be >= 1")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0; got {self.warmup}")
        unknown = (set(self.latency_models) | set(self.throughput_models)) - set(MODEL_NAMES)
        if unknown:
            raise ValueError(f"unknown model(s) {sorted(unknown)}; valid choices: {MODEL_NAMES}")

    def timed(self, model: str) -> tuple[bool, bool]:
        """Whether ``model`` gets its latency and its throughput timed."""
        return model in self.latency_models, model in self.throughput_models

    def as_dict(self) -> dict[str, Any]:
        """All fields, for the JSON record."""
        return dataclasses.asdict(self)


def efficiency_table(
    plan: TimingPlan,
    *,
    backbones: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    cost_image_size: int = COST_IMAGE_SIZE,
    seed: int = 0,
    precision: str | None = None,
    method: str = "auto",
    progress: Callable[[str], None] | None = print,
) -> pd.DataFrame:
    """One row per (backbone, model): :data:`RESULT_COLUMNS`, then timing details.

    Args:
        plan: what to time (the efficiency chapter takes it from the profile:
            :func:`marsutils.study.efficiency.timing_plan`).
        backbones: default: every backbone of :data:`~marsutils.models.BACKBONE_NAMES`.
        models: default: every model of :data:`~marsutils.models.MODEL_NAMES`.
        cost_image_size: input size of the parameter and FLOP counts.
        seed: seeds the random weights and the random input images.
        precision: of the optimised path (None: ``$MARS_PRECISION``, then auto; see
            :func:`marsutils.train.runtime.resolve_precision`).
        method: the optimised path's folding method
            (:data:`marsutils.efficiency.measure.OPTIMISATION_METHODS`).
        progress: called with one line per model (None: silent).

    The ``latency_seconds`` and ``throughput_seconds`` columns hold every timed run.
    """
    rows = []
    for backbone in BACKBONE_NAMES if backbones is None else backbones:
        for name in MODEL_NAMES if models is None else models:
            torch.manual_seed(seed)
            model = build_model(name, backbone=backbone, weights="none").eval()
            cost = model_cost(model, cost_image_size)
            latency, throughput = plan.timed(name)
            speed = measure_speed(
                model,
                image_size=plan.image_size,
                latency=latency,
                throughput=throughput,
                latency_batch=plan.latency_batch,
                throughput_batch=plan.throughput_batch,
                latency_repeats=plan.latency_repeats,
                throughput_repeats=plan.throughput_repeats,
                warmup=plan.warmup,
                throughput_warmup=min(plan.warmup, 1),
                precision=precision,
                method=method,
                seed=seed,
            )
            rows.append(
                {
                    "backbone": backbone,
                    "model": name,
                    "params": cost["params"],
                    "gflops": cost["gflops"],
                    "gmacs": cost["gmacs"],
                    **speed,
                }
            )
            if progress is not None:
                progress(_progress_line(rows[-1]))
    table = pd.DataFrame(rows)
    extra = [c for c in table.columns if c not in RESULT_COLUMNS + DETAIL_COLUMNS]
    return table[[*RESULT_COLUMNS, *DETAIL_COLUMNS, *extra]]


def _progress_line(row: dict[str, Any]) -> str:
    text = f"{row['backbone']}/{row['model']}: {row['params'] / 1e6:.2f}M params"
    text += f", {row['gmacs']:.2f} GMACs"
    if not np.isnan(row["latency_ms_plain"]):
        text += f"; latency {row['latency_ms_plain']:.1f} -> {row['latency_ms_optimised']:.1f} ms"
    if not np.isnan(row["throughput_plain"]):
        plain, fast = row["throughput_plain"], row["throughput_optimised"]
        text += f"; throughput {plain:.1f} -> {fast:.1f} img/s"
    return text
