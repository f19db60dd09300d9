"""Grid throughput (images/s): one Dask worker with 2 threads vs 2 workers with 1 thread each.

A representative subset of the ``quick`` grid (``--specs`` configurations, one per chapter first:
main model, ablation, baselines), each with a short budget (``--epochs`` of ``--samples``
class-balanced draws), is trained into a fresh temporary run folder by
:func:`marsutils.study.grid.train_grid` on a ``LocalCluster`` of

* ``1x2``: 1 worker process, 2 torch threads per training (one training at a time);
* ``2x1``: 2 worker processes, 1 torch thread each (two trainings at a time).

Images/s counts every image a training processes (training draws, validation after each epoch,
the final validation and test predictions) over the wall time of the whole grid, cluster start
included. ``--rounds`` alternates the two settings so that load changes on a shared machine hit
both; the median round is reported, and the last line is the ratio 2x1 / 1x2. ``--output`` writes
the settings, the machine (:func:`marsutils.core.environment.environment_record`) and the timings as
JSON; the README quotes ``results/benchmarks/grid_throughput.json``. Heavy: run it on an otherwise
idle machine, e.g.::

    python benchmarks/grid_throughput.py --specs 4 --samples 256 --epochs 1 \
        --output results/benchmarks/grid_throughput.json
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from marsutils.core.atomic import write_json
from marsutils.core.environment import environment_record
from marsutils.core.profiles import get_profile
from marsutils.data.prepare import prepare_data
from marsutils.study.experiments import grid
from marsutils.study.grid import Executor, train_grid

SETTINGS = {"1x2": (1, 2), "2x1": (2, 1)}


def representative(specs: list, n: int) -> list:
    """The first ``n`` specs, taking one of each chapter (group) before any second one."""
    order, seen = [], set()
    for spec in specs:
        if spec.group not in seen:
            order.append(spec)
            seen.add(spec.group)
    order += [s for s in specs if s not in order]
    return order[:n]


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print images/s per setting and the ratio 2x1 / 1x2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--specs", type=int, default=4, help="configurations of the grid")
    parser.add_argument("--samples", type=int, default=256, help="draws per epoch")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="alternating timed rounds")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output", type=Path, default=None, help="optional JSON result file")
    args = parser.parse_args(argv)
    if min(args.specs, args.samples, args.epochs, args.rounds) < 1:
        parser.error("--specs, --samples, --epochs and --rounds must be >= 1")
    profile = get_profile(args.profile)
    specs = [
        dataclasses.replace(s, epochs=args.epochs, samples_per_epoch=args.samples)
        for s in representative(grid(profile, (0,)), args.specs)
    ]
    data = prepare_data(
        args.data_dir, splits=profile.splits, seed=0, max_images=profile.max_images, progress=True
    )
    images = 0
    for spec in specs:
        split = data.splits[spec.split]
        n_val, n_test = (int((split["subset"] == s).sum()) for s in ("val", "test"))
        images += spec.epochs * (args.samples + n_val) + n_val + n_test
    print(f"profile {profile.name}: {len(specs)} specs, {args.epochs} x {args.samples} draws each")
    for spec in specs:
        print(f"  {spec.run_key}")
    print(f"images per grid (training draws + validation + test predictions): {images}")
    seconds: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for round_ in range(args.rounds):
        for name, (workers, threads) in SETTINGS.items():
            with tempfile.TemporaryDirectory(prefix="grid-throughput-") as tmp:
                executor = Executor("dask", workers, threads, dashboard_address=":0")
                start = time.perf_counter()
                train_grid(specs, profile, Path(tmp), executor, data_dir=args.data_dir, log=_quiet)
                seconds[name].append(time.perf_counter() - start)
            print(f"round {round_ + 1}: {name} {seconds[name][-1]:.1f} s", flush=True)
    rates = {name: images / statistics.median(s) for name, s in seconds.items()}
    for name, (workers, threads) in SETTINGS.items():
        median = statistics.median(seconds[name])
        print(
            f"{workers} worker(s) x {threads} thread(s): median {median:.1f} s, "
            f"{rates[name]:.1f} images/s"
        )
    ratio = rates["2x1"] / rates["1x2"]
    print(f"ratio 2 workers x 1 thread / 1 worker x 2 threads: {ratio:.2f}")
    result = {
        "seconds": seconds,
        "images": images,
        "images_per_s": rates,
        "ratio": ratio,
        "run_keys": [spec.run_key for spec in specs],
    }
    if args.output:
        settings = vars(args) | {"output": str(args.output)}
        record = {"settings": settings, "environment": environment_record(include_packages=False)}
        write_json(args.output, record | result)
    return result


def _quiet(_line: str) -> None:
    pass


if __name__ == "__main__":
    main()
