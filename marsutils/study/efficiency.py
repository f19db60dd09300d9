"""The efficiency chapter's study: what each profile times, the paper's Table 2, the verdict.

The measurement is the library's: :func:`marsutils.efficiency.efficiency_table` gives, for
every model of :data:`~marsutils.models.MODEL_NAMES` and every backbone (built with
``weights="none"``: weights do not change the cost), one row with the parameter count, GFLOPs and
GMACs at 224 x 224, and, for the models a :class:`~marsutils.efficiency.TimingPlan` selects,
the batch-1 latency and batch-32 throughput of the plain fp32 eager path and of the optimised CPU
path, with their ratio (:func:`marsutils.efficiency.measure.measure_speed`, in the precision of
:func:`marsutils.train.runtime.resolve_precision`; ``$MARS_PRECISION`` forces one). Its figure is
:func:`marsutils.figures.plots.plot_latency_bars`. This module is the chapter's part (study layer of
:mod:`marsutils.core.layers`): the plan per profile, the display tables, the comparison with the
paper, the verdict sentences and the written record.

Timing every model at 224 px costs minutes per repeat on 2 CPU cores, so :func:`timing_plan`
decides, per profile, what is timed (see :data:`TIMING_SELECTIONS`):

* ``smoke`` times only the two ``full`` models at 96 px (a check that the code runs, not a
  measurement to compare with the paper);
* ``quick`` times the batch-1 latency of every model at 224 px, the batch-32 throughput of the
  ``full`` models only;
* ``reference``, ``reference-cv``, ``reference-v1`` and ``paper`` time everything at 224 px.

Batch-1 latency is the median of ``profile.timing_repeats`` runs. Batch-32 runs last seconds
each, so in ``quick`` and ``reference`` their median is taken over at most 3 runs. Untimed cells
are NaN, never estimated. Parameters and FLOPs are always counted at 224 px for every model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from marsutils.core.atomic import atomic_write, json_records
from marsutils.core.paper import EFFICIENCY
from marsutils.core.profiles import Profile
from marsutils.core.records import EfficiencyRecord
from marsutils.efficiency import (
    BACKBONE_LABELS,
    COST_IMAGE_SIZE,
    DETAIL_COLUMNS,
    RESULT_COLUMNS,
    TimingPlan,
    compare_efficiency_with_paper,
)
from marsutils.models import MODEL_NAMES
from marsutils.stats import rules

__all__ = [
    "TIMING_SELECTIONS",
    "timing_plan",
    "size_table",
    "speed_table",
    "paper_comparison",
    "efficiency_verdict",
    "write_efficiency_results",
]

#: The published runs' selection: every model at 224 px, at batch 1 and at batch 32 (at most 3
#: batch-32 repeats).
_PUBLISHED_TIMING: dict[str, Any] = {
    "image_size": 224,
    "latency_models": MODEL_NAMES,
    "throughput_models": MODEL_NAMES,
    "max_throughput_repeats": 3,
}

#: What each profile times: image size, models timed at batch 1 and at batch 32, and the cap on
#: the number of batch-32 repeats (None: ``profile.timing_repeats``).
TIMING_SELECTIONS: dict[str, dict[str, Any]] = {
    "smoke": {
        "image_size": 96,
        "latency_models": ("full",),
        "throughput_models": ("full",),
        "max_throughput_repeats": None,
    },
    "quick": {
        "image_size": 224,
        "latency_models": MODEL_NAMES,
        "throughput_models": ("full",),
        "max_throughput_repeats": 3,
    },
    "reference": _PUBLISHED_TIMING,
    "reference-cv": _PUBLISHED_TIMING,
    "reference-v1": _PUBLISHED_TIMING,
    "paper": {
        "image_size": 224,
        "latency_models": MODEL_NAMES,
        "throughput_models": MODEL_NAMES,
        "max_throughput_repeats": None,
    },
}


def timing_plan(profile: Profile) -> TimingPlan:
    """The :class:`TimingPlan` of ``profile`` (from :data:`TIMING_SELECTIONS` and its repeats)."""
    if profile.name not in TIMING_SELECTIONS:
        raise ValueError(
            f"no timing selection for profile {profile.name!r}; known: {list(TIMING_SELECTIONS)}"
        )
    selection = TIMING_SELECTIONS[profile.name]
    repeats = profile.timing_repeats
    cap = selection["max_throughput_repeats"]
    return TimingPlan(
        image_size=selection["image_size"],
        latency_models=tuple(selection["latency_models"]),
        throughput_models=tuple(selection["throughput_models"]),
        latency_repeats=repeats,
        throughput_repeats=repeats if cap is None else min(repeats, cap),
    )


def size_table(table: pd.DataFrame) -> pd.DataFrame:
    """Parameters (also in millions), GMACs and GFLOPs per (backbone, model), for display."""
    out = table.set_index(["backbone", "model"])[["params", "gmacs", "gflops"]]
    return out.assign(params_millions=out["params"] / 1e6).round(2)


def speed_table(table: pd.DataFrame) -> pd.DataFrame:
    """Plain and optimised speed side by side with their ratio, best runs and timing details.

    Speeds are rounded to 0.01; ``max_abs_diff`` (logits) and ``max_prob_diff`` (probabilities)
    of the equivalence check are shown in scientific notation.
    """
    columns = [
        *RESULT_COLUMNS[5:],
        "latency_ms_plain_min",
        "latency_ms_optimised_min",
        "timing_image_size",
        "precision",
        "method",
    ]
    out = table.set_index(["backbone", "model"])[columns].round(2)
    for column in ("max_abs_diff", "max_prob_diff"):
        out[column] = ["" if np.isnan(v) else f"{v:.1e}" for v in table[column].to_numpy(float)]
    return out


def _at_cost_size(table: pd.DataFrame, column: str) -> pd.Series:
    """``column`` where it was timed at the paper's input size, else NaN."""
    return table[column].where(table["timing_image_size"] == COST_IMAGE_SIZE)


def paper_comparison(table: pd.DataFrame, *, model: str = "full") -> pd.DataFrame:
    """Table 2 next to ``model`` on each backbone (via
    :func:`~marsutils.efficiency.compare_efficiency_with_paper`).

    Latencies not measured at 224 px are left out (NaN, ``meets_paper_latency`` NA): the paper's
    figure is for 224 x 224 inputs.
    """
    rows = table[table["model"] == model]
    if rows.empty:
        raise ValueError(f"no {model!r} rows in the table")
    bench = pd.DataFrame(
        {
            "model": rows["model"] + "/" + rows["backbone"],
            "params": rows["params"],
            "gmacs": rows["gmacs"],
            "gflops": rows["gflops"],
            "latency_ms_plain": _at_cost_size(rows, "latency_ms_plain"),
            "latency_ms_optimised": _at_cost_size(rows, "latency_ms_optimised"),
        }
    )
    out = compare_efficiency_with_paper(bench)
    out.loc[out["ours"].isna(), "meets_paper_latency"] = pd.NA
    return out


def _full_row(table: pd.DataFrame, backbone: str) -> pd.Series:
    rows = table[(table["model"] == "full") & (table["backbone"] == backbone)]
    if len(rows) != 1:
        raise ValueError(f"the table needs exactly one full/{backbone} row; found {len(rows)}")
    return rows.iloc[0]


def efficiency_verdict(
    table: pd.DataFrame, *, gpu_available: bool, cpu_count: int | None = None
) -> list[str]:
    """Sentences comparing the ``full`` models with the paper's Table 2, computed from ``table``.

    Parameters and GMACs of the full ResNet-50 model "match" the paper by the book's one size
    rule, :func:`marsutils.stats.rules.matches` (within 10% of ~25 M and ~4 G); the latency is
    tested against the lower end of the paper's range (25 ms/image), on this CPU only and only when
    timed at 224 px. A last sentence reports the highest 1-minute load average seen while timing:
    above ``cpu_count + 1`` (default ``os.cpu_count()``) other work competed for the CPU and the
    latencies are upper bounds.
    """
    paper_params = float(EFFICIENCY["parameters_millions"].value)
    paper_g = float(EFFICIENCY["gflops"].value)
    target = float(EFFICIENCY["latency_ms_low"].value)
    high = float(EFFICIENCY["latency_ms_high"].value)
    resnet = _full_row(table, "resnet50")
    params_m = resnet["params"] / 1e6

    def agreement(ours: float, paper: float) -> str:
        return "matches" if rules.matches(ours, paper) else "does not match"

    sentences = [
        f"Size: the full ResNet-50 model has {params_m:.1f} M parameters, which "
        f"{agreement(params_m, paper_params)} the paper's ~{paper_params:g} M; it needs "
        f"{resnet['gmacs']:.2f} GMACs ({resnet['gflops']:.2f} GFLOPs counting a multiply-add as 2) "
        f"at {COST_IMAGE_SIZE} px, which {agreement(resnet['gmacs'], paper_g)} the paper's "
        f'~{paper_g:g} "GFLOPs" read as multiply-adds.',
    ]
    gpu = (
        "a GPU is present, but this chapter times the CPU only"
        if gpu_available
        else "no GPU is available here"
    )
    sentences.append(
        f"GPU latency: the paper's {target:g}-{high:g} ms/image were measured on an unnamed GPU; "
        f"{gpu}, so that figure cannot be tested."
    )
    for backbone in ("resnet50", "efficientnet_lite0"):
        row = _full_row(table, backbone)
        label = BACKBONE_LABELS.get(backbone, backbone)
        ms = row["latency_ms_optimised"]
        if np.isnan(ms):
            sentences.append(f"CPU latency of the full {label} model: not timed in this profile.")
        elif row["timing_image_size"] != COST_IMAGE_SIZE:
            sentences.append(
                f"CPU latency of the full {label} model: timed at {row['timing_image_size']:.0f} "
                f"px in this profile ({ms:.1f} ms/image optimised), so it is not compared with "
                f"the paper's {COST_IMAGE_SIZE} px figure."
            )
        else:
            met = "meets" if ms <= target else "does not meet"
            sentences.append(
                f"CPU latency of the full {label} model at batch 1, {COST_IMAGE_SIZE} px, "
                f"{row['threads']:.0f} threads (medians): {row['latency_ms_plain']:.1f} ms/image "
                f"plain fp32, {ms:.1f} ms/image optimised ({row['speedup_latency']:.2f}x faster), "
                f"which {met} the paper's {target:g} ms/image (a GPU figure); best optimised run "
                f"{row['latency_ms_optimised_min']:.1f} ms."
            )
    load = table["loadavg_1min"].max() if "loadavg_1min" in table else float("nan")
    if not np.isnan(load):
        cpus = os.cpu_count() if cpu_count is None else cpu_count
        if load > cpus + 1:
            sentences.append(
                f"Load: while timing, the 1-minute load average reached {load:.1f} on {cpus} "
                "CPUs, so other work competed for the CPU; the latencies above are upper bounds."
            )
        else:
            sentences.append(
                f"Load: the 1-minute load average stayed at or below {load:.1f} on {cpus} CPUs "
                "while timing (this run's own threads included)."
            )
    return sentences


def write_efficiency_results(
    table: pd.DataFrame,
    results_dir: str | os.PathLike,
    *,
    plan: TimingPlan,
    comparison: pd.DataFrame | None = None,
    verdict: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``efficiency.csv`` (:data:`RESULT_COLUMNS` and details) and ``efficiency.json``
    (every row with its timed runs, the plan, the environment, the paper ``comparison``, the
    ``verdict`` sentences and ``extra``) atomically; the JSON goes through
    :class:`marsutils.core.records.EfficiencyRecord`, so ``extra`` may hold only its ``profile`` and
    ``seed`` fields (another key raises :class:`marsutils.core.records.RecordError`).
    """
    folder = Path(results_dir)
    csv_columns = [*RESULT_COLUMNS, *DETAIL_COLUMNS]
    csv_path = atomic_write(
        folder / "efficiency.csv", lambda p: table[csv_columns].to_csv(p, index=False)
    )
    record = {
        "rows": json_records(table),
        "plan": plan.as_dict(),
        "cost_image_size": COST_IMAGE_SIZE,
        "environment": {
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(),
        },
        "paper_comparison": [] if comparison is None else json_records(comparison),
        "verdict": list(verdict),
        **(extra or {}),
    }
    json_path = EfficiencyRecord.from_dict(record).to_json(folder / EfficiencyRecord.FILE)
    return csv_path, json_path
