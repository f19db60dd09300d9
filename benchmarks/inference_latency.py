"""CPU inference speed of the proposed model: plain fp32 eager vs the optimised CPU path.

For each backbone: parameters, GMACs at 224, batch-1 latency and batch-32 throughput (medians of
``--repeats`` interleaved runs after ``--warmup`` untimed ones), then the paper's Table 2 for
comparison. The measurement is the efficiency chapter's own
(:func:`marsutils.efficiency.efficiency_table`, that is
:func:`marsutils.efficiency.measure.measure_speed`, with the same columns); ``--precision`` (or
``$MARS_PRECISION``) sets the optimised path's precision. The last line printed is the
optimised/plain speed ratio. Heavy: run it alone,

    flock /tmp/mars-cpu.lock python benchmarks/inference_latency.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import pandas as pd
import torch

from marsutils.core.atomic import json_records, write_json
from marsutils.core.paper import EFFICIENCY
from marsutils.efficiency import OPTIMISATION_METHODS, TimingPlan, efficiency_table
from marsutils.models import BACKBONE_NAMES, MODEL_NAMES
from marsutils.study.efficiency import paper_comparison
from marsutils.train.runtime import PRECISIONS

DEFAULT_OUT = Path("results/benchmarks/inference_latency.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backbone", choices=[*BACKBONE_NAMES, "all"], default="all", help="default: all"
    )
    parser.add_argument("--model", choices=MODEL_NAMES, default="full")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--latency-batch", type=int, default=1)
    parser.add_argument("--throughput-batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--method", choices=OPTIMISATION_METHODS, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="optimised path")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Benchmark, print, write the JSON record; return the exit code."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    backbones = BACKBONE_NAMES if args.backbone == "all" else (args.backbone,)
    plan = TimingPlan(
        image_size=args.image_size,
        latency_models=(args.model,),
        throughput_models=(args.model,),
        latency_repeats=args.repeats,
        throughput_repeats=args.repeats,
        warmup=args.warmup,
        latency_batch=args.latency_batch,
        throughput_batch=args.throughput_batch,
    )
    results = efficiency_table(
        plan,
        backbones=backbones,
        models=(args.model,),
        precision=args.precision,
        method=args.method,
    )
    paper = paper_comparison(results, model=args.model)
    write_json(
        args.out,
        {
            "results": json_records(results),
            "paper_comparison": json_records(paper),
            "plan": plan.as_dict(),
            "environment": {
                "torch": torch.__version__,
                "python": platform.python_version(),
                "cpu_count": os.cpu_count(),
                "argv": sys.argv[1:] if argv is None else argv,
            },
        },
    )
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        cols = [
            "backbone", "model", "params", "gmacs", "precision", "method", "latency_ms_plain",
            "latency_ms_optimised", "latency_ms_plain_min", "latency_ms_optimised_min",
            "throughput_plain", "throughput_optimised", "max_prob_diff", "loadavg_1min",
        ]  # fmt: skip
        table = results[cols].round(3)
        table["max_prob_diff"] = results["max_prob_diff"].map("{:.1e}".format)
        print(table.to_string(index=False))
        print()
        print(paper.round(2).to_string(index=False))
    target = float(EFFICIENCY["latency_ms_low"].value)
    print(f"\nwritten {args.out}")
    for _, r in results.iterrows():
        met = "met" if r["latency_ms_optimised"] <= target else "NOT met"
        print(
            f"{r['model']}/{r['backbone']}: optimised path {r['steps']}; "
            f"batch-{plan.latency_batch} {r['latency_ms_optimised']:.1f} ms/image vs paper GPU "
            f"{target:g} ms: {met}"
        )
    ratios = ", ".join(
        f"{r['model']}/{r['backbone']} batch-{plan.latency_batch} x{r['speedup_latency']:.2f}, "
        f"batch-{plan.throughput_batch} x{r['speedup_throughput']:.2f}"
        for _, r in results.iterrows()
    )
    print(f"optimised/plain speed: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
