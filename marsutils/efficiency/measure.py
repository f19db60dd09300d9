"""Inference speed on this CPU: the counterpart of the paper's Table 2 timings.

For any ``nn.Module`` mapping ``(B, 3, H, W)`` images to a logits tensor, :func:`measure_speed`
times batch-1 latency and batch-32 throughput, each the **median** of ``repeats`` timed runs
after ``warmup`` untimed runs, for the two inference paths of
:mod:`marsutils.efficiency.inference` (plain and optimised). Size (parameters and FLOPs/MACs) is
:func:`marsutils.models.model_cost`, which counts one multiply-add as 2 FLOPs; the paper's
"~4 GFLOPs" for ResNet-50 is a MAC count.

:func:`measure_speed` is the one measurement (the efficiency chapter and
``benchmarks/inference_latency.py`` both use it, with one column schema). The optimised path is
first checked against the plain one by
:func:`~marsutils.efficiency.equivalence.check_equivalence` (top-1 agreement and softmax
probabilities within :func:`marsutils.train.runtime.comparison_tolerance` of its precision)
before it is timed. Plain and optimised runs are interleaved
(:func:`~marsutils.efficiency.timing.time_interleaved`) so that both see the same load on a
shared machine; the load average is recorded with every result.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from marsutils.efficiency.equivalence import check_equivalence
from marsutils.efficiency.inference import CpuInference, optimise_for_cpu, plain_inference
from marsutils.efficiency.timing import Timing, time_interleaved

__all__ = ["SPEED_COLUMNS", "measure_speed"]


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
    throughput_repeats = latency_repeats if throughput_repeats is None else throughput_repeats
    throughput_warmup = warmup if throughput_warmup is None else throughput_warmup
    row = _untimed_row(image_size, latency, throughput, latency_batch, throughput_batch)
    row["latency_repeats"] = latency_repeats if latency else 0
    row["throughput_repeats"] = throughput_repeats if throughput else 0
    if not (latency or throughput):
        return row
    generator = torch.Generator().manual_seed(seed)
    small = torch.randn(latency_batch, 3, image_size, image_size, generator=generator)
    plain = plain_inference(model)
    optimised = optimise_for_cpu(
        model, example=small, method=method, channels_last=channels_last, precision=precision
    )
    check = torch.randn(check_images, 3, image_size, image_size, generator=generator)
    row.update(_optimised_columns(plain, optimised, check))
    load = os.getloadavg()[0]
    runners = {"plain": plain, "optimised": optimised}
    if latency:
        times = time_interleaved(runners, small, repeats=latency_repeats, warmup=warmup)
        row.update(_latency_columns(times, latency_batch))
    if throughput:
        large = torch.randn(throughput_batch, 3, image_size, image_size, generator=generator)
        times = time_interleaved(
            runners, large, repeats=throughput_repeats, warmup=throughput_warmup
        )
        row.update(_throughput_columns(times))
    row["loadavg_1min"] = max(load, os.getloadavg()[0])
    return row


def _untimed_row(
    image_size: int, latency: bool, throughput: bool, latency_batch: int, throughput_batch: int
) -> dict[str, Any]:
    """A row of :data:`SPEED_COLUMNS` with the settings and this CPU, nothing measured (NaN)."""
    row: dict[str, Any] = dict.fromkeys(SPEED_COLUMNS, float("nan"))
    row.update(
        {
            "timing_image_size": image_size if latency or throughput else None,
            "latency_batch": latency_batch,
            "throughput_batch": throughput_batch,
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
    return row


def _optimised_columns(
    plain: CpuInference, optimised: CpuInference, check: torch.Tensor
) -> dict[str, Any]:
    """How the optimised path was built, and its equivalence to the plain one on ``check``."""
    columns = check_equivalence(plain, optimised, check, precision=optimised.precision)
    columns.pop("prob_atol")
    return {
        **columns,
        "precision": optimised.precision,
        "method": optimised.method,
        "steps": " + ".join(optimised.steps),
        "notes": "; ".join(optimised.notes),
    }


def _latency_columns(times: dict[str, Timing], batch: int) -> dict[str, Any]:
    """Latency columns of interleaved timings of the plain and optimised paths."""
    columns: dict[str, Any] = {
        "latency_ms_plain": times["plain"].ms_per_image,
        "latency_ms_optimised": times["optimised"].ms_per_image,
        "speedup_latency": times["plain"].median_s / times["optimised"].median_s,
    }
    for path, timing in times.items():
        columns[f"latency_ms_{path}_min"] = 1000 * min(timing.seconds) / batch
    columns["latency_seconds"] = {k: list(t.seconds) for k, t in times.items()}
    return columns


def _throughput_columns(times: dict[str, Timing]) -> dict[str, Any]:
    """Throughput columns of interleaved timings of the plain and optimised paths."""
    return {
        "throughput_plain": times["plain"].images_per_s,
        "throughput_optimised": times["optimised"].images_per_s,
        "speedup_throughput": times["plain"].median_s / times["optimised"].median_s,
        "throughput_seconds": {k: list(t.seconds) for k, t in times.items()},
    }
