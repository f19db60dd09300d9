"""One command end to end: execute the notebooks in order, collect them, build the book.

``python -m marsutils.pipeline --profile quick`` (``make book PROFILE=quick``):

1. executes ``notebooks/*.ipynb`` in order with papermill into ``runs/<profile>/notebooks``;
2. stages a copy of ``book/`` with the executed notebooks and the run's figures;
3. builds the Jupyter Book (v1, Sphinx) with warnings as errors into ``book/_build/html``.

Each notebook trains only what its run directory lacks, so re-running after an interruption
continues where it stopped. ``--publish`` (used for the reference run) also copies the executed
notebooks to ``book/notebooks``, the figures to ``figures/`` and the small result files to
``results/<profile>``; ``--build-only`` builds the book from those committed files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .atomic import write_json
from .cli_train import add_grid_arguments, pipeline_grid
from .data.errors import DataError
from .notebook import REPO_ROOT, default_run_dir
from .profiles import ProfileError, get_profile

__all__ = [
    "NOTEBOOKS",
    "PipelineError",
    "notebook_parameters",
    "execute_notebooks",
    "stage_book",
    "build_book",
    "publish",
    "main",
]

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BOOK_DIR = REPO_ROOT / "book"
NOTEBOOKS = (
    "01_data",
    "02_training",
    "03_ablation",
    "04_baselines",
    "05_explainability",
    "06_efficiency",
    "07_segmentation",
    "08_findings",
)
#: Small result files a published run commits (never checkpoints or data).
RESULT_PATTERNS = ("*.json", "*.csv")


class PipelineError(RuntimeError):
    """A notebook failed, a parameter is unknown, or the book did not build."""


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its ``parameters``-tagged cell (papermill)."""
    import papermill

    return {name: info for name, info in papermill.inspect_notebook(str(path)).items()}


def _check_parameters(paths: Sequence[Path], parameters: dict[str, Any]) -> None:
    for path in paths:
        declared = notebook_parameters(path)
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise PipelineError(
                f"{path.name} has no parameter(s) {unknown}; it declares {sorted(declared)}"
            )


def execute_notebooks(
    profile: str,
    run_dir: Path,
    *,
    parameters: dict[str, Any] | None = None,
    only: Sequence[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Execute the notebooks in order into ``run_dir/notebooks``; returns per-notebook timings.

    Stops at the first failing notebook with a :class:`PipelineError` naming it; the notebooks
    and results that already succeeded are kept.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    names = [n for n in NOTEBOOKS if not only or any(n.startswith(o) for o in only)]
    if only and not names:
        raise PipelineError(f"--only {list(only)} matches none of {list(NOTEBOOKS)}")
    paths = [NOTEBOOK_DIR / f"{n}.ipynb" for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise PipelineError(f"notebook(s) missing: {[str(p) for p in missing]}")
    params = {"profile": profile, "run_dir": str(run_dir), **(parameters or {})}
    # each notebook declares the common parameters; overrides must exist in every notebook run
    _check_parameters(paths, params)
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = []
    for name, path in zip(names, paths, strict=True):
        start = time.perf_counter()
        if progress:
            print(f"[pipeline] executing {name} (profile {profile})", flush=True)
        try:
            papermill.execute_notebook(
                str(path),
                str(out_dir / path.name),
                parameters=params,
                cwd=str(NOTEBOOK_DIR),
                kernel_name="python3",
                progress_bar=False,
                log_output=False,
            )
        except PapermillExecutionError as err:
            raise PipelineError(
                f"notebook {name} failed in cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                f"the partly executed notebook is {out_dir / path.name}; results of earlier "
                f"notebooks are kept in {run_dir}, and a re-run continues from them"
            ) from err
        seconds = time.perf_counter() - start
        timings.append({"notebook": name, "seconds": round(seconds, 1)})
        if progress:
            print(f"[pipeline] {name} done in {seconds:.0f} s", flush=True)
    return timings


def stage_book(notebooks: Path, figures: Path, staging: Path) -> Path:
    """Copy ``book/`` (without builds) plus executed notebooks and figures into ``staging``."""
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(
        BOOK_DIR, staging, ignore=shutil.ignore_patterns("_build", "notebooks", ".ipynb*")
    )
    (staging / "notebooks").mkdir()
    for name in NOTEBOOKS:
        src = notebooks / f"{name}.ipynb"
        if not src.is_file():
            raise PipelineError(f"executed notebook {src} is missing; run the pipeline first")
        shutil.copy2(src, staging / "notebooks" / src.name)
    if figures.is_dir():
        shutil.copytree(figures, staging / "figures")
    else:
        (staging / "figures").mkdir()
    return staging


def build_book(staging: Path, output: Path = BOOK_DIR) -> Path:
    """``jupyter-book build`` with warnings as errors; returns the built ``index.html``."""
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe), "build", str(staging), "--path-output", str(output), "-W", "-n", "-q"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise PipelineError(
            "the book did not build (warnings are errors):\n" + (done.stdout + done.stderr)[-6000:]
        )
    index = output / "_build" / "html" / "index.html"
    if not index.is_file():
        raise PipelineError(f"jupyter-book reported success but {index} is missing")
    return index


def publish(run_dir: Path, profile: str) -> None:
    """Copy a run's executed notebooks, figures and small results into the repository."""
    dest_nb = BOOK_DIR / "notebooks"
    dest_nb.mkdir(exist_ok=True)
    for name in NOTEBOOKS:
        shutil.copy2(run_dir / "notebooks" / f"{name}.ipynb", dest_nb / f"{name}.ipynb")
    figures = REPO_ROOT / "figures"
    if (run_dir / "figures").is_dir():
        shutil.copytree(run_dir / "figures", figures, dirs_exist_ok=True)
    results = REPO_ROOT / "results" / profile
    for pattern in RESULT_PATTERNS:
        for src in run_dir.rglob(pattern):
            rel = src.relative_to(run_dir)
            if rel.parts[0] in ("notebooks", "book"):
                continue
            (results / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, results / rel)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m marsutils.pipeline", description=__doc__)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--run-dir", default=None, help="default: runs/<profile>")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", help="notebook prefixes to run, e.g. 01 02")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="extra notebook parameter (JSON value)",
    )
    parser.add_argument("--no-build", action="store_true", help="execute only")
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="build the book from the committed notebooks and figures",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="copy notebooks, figures and results into the repository",
    )
    add_grid_arguments(parser)  # --seeds --executor --workers --threads-per-worker --scheduler
    args = parser.parse_args(argv)
    try:
        if args.build_only:
            staging = stage_book(
                BOOK_DIR / "notebooks",
                REPO_ROOT / "figures",
                REPO_ROOT / "runs" / "_published_book",
            )
            print(f"[pipeline] built {build_book(staging)}")
            return 0
        profile = get_profile(args.profile).name
        from .data.locate import locate_data_dir

        locate_data_dir(args.data_dir)  # fail early, with the message that says what to set
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(profile)
        extra = {name: _parse_value(value) for name, value in args.parameter}
        extra.update({"seed": args.seed, "device": args.device})
        if args.data_dir:
            extra["data_dir"] = args.data_dir
        start = time.perf_counter()
        # the experiment grid (every seed) first, on the chosen executor; the notebooks then
        # find every classifier finished (see marsutils.grid and the README, "Executors")
        pipeline_grid(args, run_dir, extra)
        timings = execute_notebooks(profile, run_dir, parameters=extra, only=args.only)
        record = {
            "profile": profile,
            "notebooks": timings,
            "execute_seconds": round(time.perf_counter() - start, 1),
        }
        if not args.no_build and not args.only:
            index = build_book(
                stage_book(run_dir / "notebooks", run_dir / "figures", run_dir / "book")
            )
            record["total_seconds"] = round(time.perf_counter() - start, 1)
            print(f"[pipeline] built {index}")
        write_json(run_dir / "pipeline.json", record)
        if args.publish:
            publish(run_dir, profile)
            print(f"[pipeline] published the {profile} run into the repository")
        print(f"[pipeline] wall time {time.perf_counter() - start:.0f} s")
    except (ProfileError, DataError, PipelineError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
