"""Command line: ``python -m marsutils train``: one experiment of the grid by its key, or all.

::

    python -m marsutils train --list --profile smoke --seeds 0 1
    python -m marsutils train family-cv2-f0/full-efficientnet_lite0-imagenet-64px-1ep --seed 1 \\
        --profile smoke
    python -m marsutils train family-cv2-f0/full-efficientnet_lite0-imagenet-64px-1ep/seed1 \\
        --profile smoke
    python -m marsutils train --all --profile quick --seeds 0 1 --executor dask --workers 2 \\
        --threads-per-worker 1

A key is a spec's configuration key (``<split>/<model>-<backbone>-<weights>-<budget>``, with
``--seed``, default 0) or its run key (``<key>/seed<k>``); ``--list`` prints the grid's run keys.
The results land in ``<run-dir>/experiments/<run key>`` (see :mod:`marsutils.core.layout`), where
the notebooks find them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marsutils.book.notebook import default_run_dir
from marsutils.core.layout import RunLayout
from marsutils.core.profiles import Profile, ProfileError, get_profile
from marsutils.data.errors import DataError
from marsutils.study.grid import GRID_NOTEBOOKS, Executor, GridError, train_grid, train_spec

if TYPE_CHECKING:
    from marsutils.study.experiments import ClassifierSpec

__all__ = [
    "main",
    "add_grid_arguments",
    "executor_from_args",
    "find_spec",
    "grid_seeds",
    "pipeline_grid",
]


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--seeds``, ``--executor``, ``--workers``, ``--threads-per-worker``, ``--scheduler``."""
    group = parser.add_argument_group("experiment grid")
    group.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="seeds to train (default: the profile's)"
    )
    group.add_argument("--executor", choices=("sequential", "dask"), default="sequential")
    group.add_argument(
        "--workers", type=int, default=None, help="Dask LocalCluster worker processes"
    )
    group.add_argument(
        "--threads-per-worker",
        type=int,
        default=None,
        help="torch threads of each training (the result depends on it, not on the executor)",
    )
    group.add_argument(
        "--scheduler", default=None, help="address of an existing Dask scheduler (tcp://...)"
    )


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The :class:`~marsutils.study.grid.Executor` the grid flags describe."""
    return Executor(
        kind=args.executor,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        scheduler=args.scheduler,
    )


def grid_seeds(
    args: argparse.Namespace, profile: Profile, parameters: dict[str, Any]
) -> tuple[int, ...]:
    """The seeds the pipeline's grid trains: ``args.seeds`` (default: the profile's), then the
    notebooks' ``seed`` parameter (default 0) if it is not among them."""
    return tuple(dict.fromkeys([*(args.seeds or profile.seeds), int(parameters.get("seed", 0))]))


def pipeline_grid(
    args: argparse.Namespace, profile: str, run_dir: Path, parameters: dict[str, Any]
) -> list[dict[str, Any]]:
    """The pipeline's first step: train the whole grid on the chosen executor.

    Runs when a notebook that trains classifiers (:data:`~marsutils.study.grid.GRID_NOTEBOOKS`) is
    among those ``args.only`` selects, after checking that the selected notebooks declare every
    parameter (so a typo fails before any training). ``parameters`` are the pipeline's validated
    notebook parameters (:func:`marsutils.book.pipeline.pipeline_parameters`: folders absolute, the
    seed an int). The seeds are ``args.seeds`` (default: the profile's) plus the ``seed``
    parameter, the seed the notebooks then show in detail; the notebooks find every model
    finished.

    Raises
    ------
    PipelineError
        For an undeclared notebook parameter, a bad executor or a failed task.
    """
    from marsutils.book.chapters import (
        NOTEBOOK_DIR,
        NOTEBOOKS,
        PipelineError,
        declared_parameters,
        parameters_per_notebook,
    )
    from marsutils.study.experiments import grid

    selected = [n for n in NOTEBOOKS if not args.only or any(n.startswith(o) for o in args.only)]
    if not set(selected) & set(GRID_NOTEBOOKS):
        return []
    parameters_per_notebook(
        declared_parameters([NOTEBOOK_DIR / f"{n}.ipynb" for n in selected]), parameters
    )
    prof = get_profile(profile)
    seeds = grid_seeds(args, prof, parameters)
    try:
        return train_grid(
            grid(prof, seeds),
            prof,
            run_dir,
            executor_from_args(args),
            data_dir=parameters.get("data_dir"),
            device=parameters.get("device", "auto"),
        )
    except (GridError, ValueError) as err:
        raise PipelineError(f"training the experiment grid: {err}") from err


def find_spec(profile: Profile, key: str, seed: int | None = None) -> ClassifierSpec:
    """The grid spec named ``key`` (a configuration key with ``seed``, default 0, or a run key).

    Raises
    ------
    GridError
        When no spec of the profile has that key (the message lists the keys), or a run key's
        seed disagrees with ``seed``.
    """
    head, _, tail = key.strip("/").rpartition("/")
    if tail.startswith("seed") and tail[4:].isdigit():
        if seed is not None and seed != int(tail[4:]):
            raise GridError(f"{key} names seed {tail[4:]} but --seed {seed} was given")
        key, seed = head, int(tail[4:])
    from marsutils.study.experiments import grid

    seed = 0 if seed is None else seed
    specs = {s.key: s for s in grid(profile, (seed,))}
    if key not in specs:
        raise GridError(
            f"profile {profile.name!r} has no experiment {key!r}; its keys are:\n  "
            + "\n  ".join(specs)
        )
    return specs[key]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m marsutils train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("key", nargs="?", help="configuration key or run key (see --list)")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=None, help="seed of KEY (default 0)")
    parser.add_argument("--run-dir", default=None, help="default: runs/<profile>")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--list", action="store_true", help="print the grid's run keys")
    parser.add_argument("--all", action="store_true", help="train the whole grid")
    add_grid_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m marsutils train``; returns the exit status (2 for bad input)."""
    from marsutils.study.experiments import grid
    from marsutils.train.checkpoint import CheckpointError

    parser = _parser()
    args = parser.parse_args(argv)
    if sum([bool(args.key), args.list, args.all]) != 1:
        parser.error("give exactly one of KEY, --list or --all")
    try:
        profile = get_profile(args.profile)
        run_dir = RunLayout(args.run_dir or default_run_dir(profile.name)).root
        seeds = tuple(args.seeds) if args.seeds else profile.seeds
        if args.list:
            layout = RunLayout(run_dir)
            print(f"# run folder {run_dir}: finished or to train", file=sys.stderr)
            for spec in grid(profile, seeds):
                done = layout.metrics(spec.key, spec.seed).is_file()
                print(f"{spec.run_key}\t{spec.group}\t{'finished' if done else 'to train'}")
            return 0
        executor = executor_from_args(args)
        if args.all:
            train_grid(
                grid(profile, seeds),
                profile,
                run_dir,
                executor,
                data_dir=args.data_dir,
                device=args.device,
            )
            return 0
        if args.seeds:
            parser.error("--seeds goes with --list or --all; one KEY takes --seed")
        spec = find_spec(profile, args.key, args.seed)
        if executor.kind != "sequential":
            train_grid(
                [spec], profile, run_dir, executor, data_dir=args.data_dir, device=args.device
            )
            return 0
        from marsutils.data.locate import locate_data_dir

        record = train_spec(
            spec,
            profile,
            run_dir,
            data_dir=locate_data_dir(args.data_dir),
            device=args.device,
            threads=args.threads_per_worker,
            progress=True,
        )
        print(
            f"{record['run_key']}: {'trained' if record['trained'] else 'found finished'}, "
            f"test macro F1 {record['macro_f1']:.4f} in {run_dir / 'experiments'}"
        )
    except (ProfileError, DataError, GridError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
