"""The table of every model: size and speed per (backbone, model)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from marsutils.efficiency.measure import SPEED_COLUMNS, measure_speed
from marsutils.models import BACKBONE_NAMES, MODEL_NAMES, build_model, model_cost

__all__ = [
    "BACKBONE_LABELS",
    "COST_IMAGE_SIZE",
    "DETAIL_COLUMNS",
    "RESULT_COLUMNS",
    "TimingPlan",
    "efficiency_table",
]


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
            (:data:`marsutils.efficiency.inference.OPTIMISATION_METHODS`).
        progress: called with one line per model (None: silent).

    The ``latency_seconds`` and ``throughput_seconds`` columns hold every timed run.
    """
    rows = []
    for backbone in BACKBONE_NAMES if backbones is None else backbones:
        for name in MODEL_NAMES if models is None else models:
            torch.manual_seed(seed)
            model = build_model(name, backbone=backbone, weights="none").eval()
            cost = model_cost(model, cost_image_size)
            options = _speed_options(plan, name)
            speed = measure_speed(model, **options, precision=precision, method=method, seed=seed)
            size = {k: cost[k] for k in ("params", "gflops", "gmacs")}
            rows.append({"backbone": backbone, "model": name, **size, **speed})
            if progress is not None:
                progress(_progress_line(rows[-1]))
    table = pd.DataFrame(rows)
    extra = [c for c in table.columns if c not in RESULT_COLUMNS + DETAIL_COLUMNS]
    return table[[*RESULT_COLUMNS, *DETAIL_COLUMNS, *extra]]


def _speed_options(plan: TimingPlan, model: str) -> dict[str, Any]:
    """The :func:`measure_speed` arguments that ``plan`` gives ``model`` (its sizes, repeats,
    warm-up runs, and whether latency and throughput are timed)."""
    options = plan.as_dict()
    del options["latency_models"], options["throughput_models"]
    options["latency"], options["throughput"] = plan.timed(model)
    options["throughput_warmup"] = min(plan.warmup, 1)
    return options


def _progress_line(row: dict[str, Any]) -> str:
    """One line on a measured model: its size, and its latency and throughput if timed."""
    text = f"{row['backbone']}/{row['model']}: {row['params'] / 1e6:.2f}M params"
    text += f", {row['gmacs']:.2f} GMACs"
    if not np.isnan(row["latency_ms_plain"]):
        text += f"; latency {row['latency_ms_plain']:.1f} -> {row['latency_ms_optimised']:.1f} ms"
    if not np.isnan(row["throughput_plain"]):
        plain, fast = row["throughput_plain"], row["throughput_optimised"]
        text += f"; throughput {plain:.1f} -> {fast:.1f} img/s"
    return text
