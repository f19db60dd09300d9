"""CPU inference speed of the proposed model: plain fp32 eager vs the optimised CPU path.

For each backbone: parameters, GMACs at 224, batch-1 latency and batch-32 throughput (medians of
``--repeats`` interleaved runs after ``--warmup`` untimed ones), then the paper's Table 2 for
comparison. The last line printed is the optimised/plain speed ratio. Heavy: run it alone,

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

from marsutils.atomic import write_json
from marsutils.efficiency import (
    OPTIMISATION_METHODS,
    benchmark_model,
    compare_efficiency_with_paper,
)
from marsutils.models import BACKBONE_NAMES, MODEL_NAMES, build_model
from marsutils.paper import EFFICIENCY

DEFAULT_OUT = Path("results/benchmarks/inference_latency.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backbone", choices=[*BACKBONE_NAMES, "all"], default="all", help="default: all"
    )
    parser.add_argument("--model", choices=MODEL_NAMES, default="full")
    parser.add_argument("--weights", default="none", help="'none' (speed does not depend on it)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--latency-batch", type=int, default=1)
    parser.add_argument("--throughput-batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--method", choices=OPTIMISATION_METHODS, default="auto")
    parser.add_argument("--no-channels-last", action="store_true")
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
    rows = []
    for backbone in backbones:
        torch.manual_seed(0)
        model = build_model(args.model, backbone=backbone, weights=args.weights)
        print(f"benchmarking {args.model}/{backbone} ...", flush=True)
        rows.append(
            benchmark_model(
                model,
                name=f"{args.model}/{backbone}",
                image_size=args.image_size,
                latency_batch=args.latency_batch,
                throughput_batch=args.throughput_batch,
                repeats=args.repeats,
                warmup=args.warmup,
                method=args.method,
                channels_last=not args.no_channels_last,
            )
        )
    results = pd.concat(rows, ignore_index=True)
    paper = compare_efficiency_with_paper(results)
    write_json(
        args.out,
        {
            "results": results.to_dict(orient="records"),
            "paper_comparison": paper.astype(object).where(paper.notna(), None).to_dict("records"),
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
            "model", "params_millions", "gmacs", "method", "plain_ms_per_image",
            "optimised_ms_per_image", "plain_min_ms_per_image", "optimised_min_ms_per_image",
            "plain_images_per_s", "optimised_images_per_s", "max_abs_diff", "loadavg_1min",
        ]  # fmt: skip
        table = results[cols].round(3)
        table["max_abs_diff"] = results["max_abs_diff"].map("{:.1e}".format)
        print(table.to_string(index=False))
        print()
        print(paper.round(2).to_string(index=False))
    target = float(EFFICIENCY["latency_ms_low"].value)
    print(f"\nwritten {args.out}")
    for _, r in results.iterrows():
        met = "met" if r["optimised_ms_per_image"] <= target else "NOT met"
        print(
            f"{r['model']}: optimised path {r['steps']}; batch-{r['latency_batch']} "
            f"{r['optimised_ms_per_image']:.1f} ms/image vs paper GPU {target:g} ms: {met}"
        )
    ratios = ", ".join(
        f"{r['model']} batch-{r['latency_batch']} x{r['latency_speedup']:.2f}, "
        f"batch-{r['throughput_batch']} x{r['throughput_speedup']:.2f}"
        for _, r in results.iterrows()
    )
    print(f"optimised/plain speed: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
