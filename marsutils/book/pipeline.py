"""One command end to end: execute the notebooks in order, collect them, build the book.

``python -m marsutils.book.pipeline --profile quick`` (``make book PROFILE=quick``):

1. executes ``notebooks/*.ipynb`` in order with papermill into ``runs/<profile>/notebooks``;
2. stages a copy of ``book/`` with the executed notebooks and the run's figures;
3. builds the Jupyter Book (v1, Sphinx) with warnings as errors into ``book/_build/html``.

Each notebook trains only what its run directory lacks, so re-running after an interruption
continues where it stopped. ``--publish`` (used for the reference run) also copies the executed
notebooks to ``book/notebooks``, the figures to ``figures/`` and the small result files to
``results/<profile>``; ``--build-only`` builds the book from those committed files.

Parameters: ``--profile``, ``--seed``, ``--device``, ``--data-dir``, ``--run-dir``,
``--figures-dir`` and ``-p NAME VALUE`` are validated up front with the notebooks' own rules
(:func:`marsutils.core.parameters.coerce_parameter`); relative folders are taken from the caller's
working directory (the notebooks themselves run with ``notebooks/`` as theirs). Each notebook
receives only the parameters its ``parameters`` cell declares; a ``-p`` name that no notebook
declares is an error. The kernels run with ``MARS_INTERACTIVE=0``: text progress, static
figures in place of widgets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from marsutils.book.chapters import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    PipelineError,
    declared_parameters,
    notebook_parameters,
    parameters_per_notebook,
    pipeline_parameters,
)
from marsutils.book.notebook import REPO_ROOT, default_run_dir
from marsutils.cli.train import add_grid_arguments, grid_seeds, pipeline_grid
from marsutils.core.atomic import pid_alive, write_json
from marsutils.core.layout import RunLayout
from marsutils.core.locks import LockHeld, exclusive
from marsutils.core.parameters import PARAMETERS, ParameterError
from marsutils.core.profiles import ProfileError, get_profile
from marsutils.core.progress import INTERACTIVE_ENV
from marsutils.data.errors import DataError
from marsutils.study.grid import GridError

__all__ = [
    "NOTEBOOKS",
    "PipelineError",
    "notebook_parameters",
    "declared_parameters",
    "pipeline_parameters",
    "parameters_per_notebook",
    "execute_notebooks",
    "stage_book",
    "build_book",
    "publish",
    "command_line_parameters",
    "build_parser",
    "main",
]

BOOK_DIR = REPO_ROOT / "book"
#: Small result files a published run commits (never checkpoints or data).
RESULT_PATTERNS = ("*.json", "*.csv")


@contextlib.contextmanager
def _static_kernels() -> Iterator[None]:
    """Kernels started inside inherit ``MARS_INTERACTIVE=0`` (text progress, no widgets) and
    import this checkout's ``marsutils``.

    A kernel runs in ``notebooks/``, where ``marsutils`` is not importable from the working
    folder: it would import the package the environment has installed, which is another
    checkout's when two checkouts share one environment (an editable install points at the one
    that installed it). ``PYTHONPATH`` starts with this checkout's root while they run.
    """
    saved = {name: os.environ.get(name) for name in (INTERACTIVE_ENV, "PYTHONPATH")}
    os.environ[INTERACTIVE_ENV] = "0"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [saved["PYTHONPATH"]])]
    )
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute_notebooks(
    profile: str,
    run_dir: Path,
    *,
    parameters: dict[str, Any] | None = None,
    only: Sequence[str] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Execute the notebooks in order into ``run_dir/notebooks``; returns per-notebook timings.

    Stops at the first failing notebook with a :class:`PipelineError` naming it (a cell's
    error, or a kernel that died, as the out-of-memory killer leaves it); the notebooks and
    results that already succeeded are kept.
    """
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    names = [n for n in NOTEBOOKS if not only or any(n.startswith(o) for o in only)]
    if only and not names:
        raise PipelineError(f"--only {list(only)} matches none of {list(NOTEBOOKS)}")
    paths = [NOTEBOOK_DIR / f"{n}.ipynb" for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise PipelineError(f"notebook(s) missing: {[str(p) for p in missing]}")
    params = pipeline_parameters(
        {"profile": profile, "run_dir": str(run_dir), **(parameters or {})}
    )
    # checked against every notebook, so `--only 01 -p interactive true` is not an error
    everyone = [NOTEBOOK_DIR / f"{n}.ipynb" for n in NOTEBOOKS]
    per_notebook = parameters_per_notebook(
        declared_parameters([p for p in everyone if p.is_file()]), params
    )
    out_dir = RunLayout(run_dir).notebooks
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = []
    for name, path in zip(names, paths, strict=True):
        start = time.perf_counter()
        if progress:
            print(f"[pipeline] executing {name} (profile {profile})", flush=True)
        try:
            with _static_kernels():
                papermill.execute_notebook(
                    str(path),
                    str(out_dir / path.name),
                    parameters=per_notebook[name],
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
        except DeadKernelError as err:
            raise PipelineError(
                f"notebook {name}: its kernel died ({err}). The usual cause is the out-of-memory "
                "killer (see `dmesg`); a smaller profile, batch size or --workers count needs "
                f"less memory. Earlier chapters and finished experiments are kept in {run_dir}: "
                f"`--only {name[:2]}` executes this chapter again, and it reuses what they saved"
            ) from err
        seconds = time.perf_counter() - start
        timings.append({"notebook": name, "seconds": round(seconds, 1)})
        if progress:
            print(f"[pipeline] {name} done in {seconds:.0f} s", flush=True)
    return timings


def _stage_notebook(src: Path, dest: Path) -> None:
    """Copy an executed notebook for the book, hiding papermill's injected-parameters cell.

    That cell holds the absolute folders of the machine that ran it; the setup cell's output
    shows the same run (profile, seed, device, run dir) with the folders relative. The executed
    notebook itself is not changed.
    """
    import nbformat

    nb = nbformat.read(src, as_version=4)
    profile = None
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            found = re.search(r"^profile = [\"']([\w-]+)[\"']", cell.source, re.MULTILINE)
            profile = found.group(1) if found else profile
            if "remove-cell" not in tags:
                cell.metadata["tags"] = [*tags, "remove-cell"]
    if profile is not None:
        for cell in nb.cells:
            if cell.cell_type == "markdown" and RERUN_TIP in cell.source:
                cell.source = rerun_tip_for(cell.source, profile)
    nbformat.write(nb, dest)


#: The heading of every chapter's re-run tip (``notebooks/*.ipynb``), written for ``quick``.
RERUN_TIP = ":::{tip} Re-run this chapter"


def rerun_tip_for(text: str, profile: str) -> str:
    """A chapter's re-run tip for the profile its page was executed with: ``-p profile quick``,
    ``--profile quick`` and ``runs/quick`` become ``profile``'s (issue 26: published pages
    showed the ``reference`` run with a tip for ``quick``)."""
    text = re.sub(r"(-p profile |--profile )quick\b", rf"\g<1>{profile}", text)
    return re.sub(r"\bruns/quick\b", f"runs/{profile}", text)


def stage_book(
    notebooks: Path, figures: Path, staging: Path, *, summary_from: Path | None = None
) -> Path:
    """Copy ``book/`` (without builds) plus executed notebooks and figures into ``staging``.

    With ``summary_from`` (a run folder), the front page ``summary.md`` is generated from that
    run's records (:mod:`marsutils.book.summary`) in place of the committed one, which belongs to
    the published run.
    """
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
        _stage_notebook(src, staging / "notebooks" / src.name)
    if figures.is_dir():
        shutil.copytree(figures, staging / "figures")
    else:
        (staging / "figures").mkdir()
    if summary_from is not None:
        from marsutils.book.summary import load_records, summary_markdown

        try:
            text = summary_markdown(load_records(summary_from))
        except FileNotFoundError as err:
            raise PipelineError(f"cannot write the summary page: {err}") from err
        (staging / "summary.md").write_text(text)
    return staging


def _dead_partial_builds(output: Path) -> list[Path]:
    """``.build-<pid>`` and ``_build.old-<pid>`` folders in ``output`` whose process is gone."""
    out = []
    for path in [*output.glob(".build-*"), *output.glob("_build.old-*")]:
        pid = path.name.rpartition("-")[2]
        if pid.isdigit() and not pid_alive(int(pid)):
            out.append(path)
    return out


def build_book(staging: Path, output: Path = BOOK_DIR) -> Path:
    """``jupyter-book build`` with warnings as errors; returns the built ``index.html``.

    The book is built into ``output/.build-<pid>/_build`` and swapped in for
    ``output/_build`` only once it has built, so a build that fails or is killed (SIGKILL,
    the out-of-memory killer) leaves the previous book whole and readable; the next build
    removes the partial folders of processes that are gone.

    Raises
    ------
    PipelineError
        The build failed (its output's last 6,000 characters are in the message) or wrote no
        ``index.html``; the previous ``output/_build`` is untouched then.
    """
    output.mkdir(parents=True, exist_ok=True)
    for stale in _dead_partial_builds(output):
        shutil.rmtree(stale, ignore_errors=True)
    partial = output / f".build-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe), "build", str(staging), "--path-output", str(partial), "-W", "-n", "-q"]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise PipelineError(
                "the book did not build (warnings are errors):\n"
                + (done.stdout + done.stderr)[-6000:]
            )
        if not (partial / "_build" / "html" / "index.html").is_file():
            raise PipelineError(
                f"jupyter-book reported success but {partial}/_build/html/index.html is missing"
            )
        target, old = output / "_build", output / f"_build.old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)  # two renames: the window without a book is microseconds
        os.replace(partial / "_build", target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return output / "_build" / "html" / "index.html"


def publish(
    run_dir: Path, profile: str, figures: Path | None = None, *, root: Path = REPO_ROOT
) -> None:
    """Copy a run's executed notebooks, figures and small results into the repository.

    ``figures/`` and ``results/<profile>/`` are replaced as a whole, so that no figure or record
    of an earlier run survives beside the new run's (an earlier published run stays in git's
    history, or under another name such as ``results/reference-v1``, when it was moved first).

    Parameters
    ----------
    run_dir : Path
        The executed run (``notebooks/``, ``figures/``, ``experiments/``, ``results/`` ...).
    profile : str
        The profile name: the records go to ``<root>/results/<profile>``.
    figures : Path, optional
        The figures folder, when not ``<run_dir>/figures``.
    root : Path
        The repository (tests give a temporary one).

    Raises
    ------
    PipelineError
        If an executed notebook is missing from the run; nothing is replaced then.
    """
    layout = RunLayout(run_dir)
    missing = [n for n in NOTEBOOKS if not (layout.notebooks / f"{n}.ipynb").is_file()]
    if missing:
        raise PipelineError(f"{layout.notebooks} lacks the executed notebooks {missing}")
    dest_nb = root / "book" / "notebooks"
    dest_nb.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        shutil.copy2(layout.notebooks / f"{name}.ipynb", dest_nb / f"{name}.ipynb")
    figures = figures or layout.figures
    if figures.is_dir():  # replaced whole: no figure of an earlier run stays behind
        shutil.rmtree(root / "figures", ignore_errors=True)
        shutil.copytree(figures, root / "figures")
    results = root / "results" / profile
    shutil.rmtree(results, ignore_errors=True)  # replaced whole, like the figures
    for pattern in RESULT_PATTERNS:
        for src in run_dir.rglob(pattern):
            rel = src.relative_to(run_dir)
            if rel.parts[0] in ("notebooks", "book", "figures"):
                continue
            (results / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, results / rel)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def command_line_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The notebook parameters of a parsed command line: the options, then the ``-p`` pairs.

    ``-p`` values are JSON-decoded when they parse (``-p seed 1`` -> ``1``), else kept as text.
    Raises :class:`PipelineError` for a parameter given both as an option and with ``-p``.
    """
    options = {
        "profile": args.profile,
        "seed": args.seed,
        "device": args.device,
        "data_dir": args.data_dir,
        "run_dir": args.run_dir,
        "figures_dir": args.figures_dir,
    }
    extra = {name: _parse_value(value) for name, value in args.parameter}
    twice = sorted(k for k, v in options.items() if v is not None and k in extra)
    if twice:
        raise PipelineError(f"{twice} given both as an option and with -p; give each once")
    values = {**extra, **{k: v for k, v in options.items() if v is not None}}
    values.setdefault("profile", PARAMETERS["profile"].default)
    return values


def pipeline_record(
    path: Path,
    *,
    profile: str,
    seeds: list[int],
    executor: str,
    timings: list[dict],
    seconds: float,
    only: Sequence[str] | None,
) -> dict[str, Any]:
    """The run's ``pipeline.json`` after this execution (the summary page reads it).

    A full execution (``only`` empty) replaces the record. A partial one (``--only``) keeps the
    record of the last full execution of the same profile, so its chapter-by-chapter wall times
    survive, and appends ``{"only", "notebooks", "execute_seconds"}`` to its ``partial_runs``;
    without such a record it writes a record of its own that says ``only``.

    Parameters
    ----------
    path : Path
        The run's ``pipeline.json`` (:attr:`marsutils.core.layout.RunLayout.pipeline_record`).
    profile, executor : str
        The profile and executor of this execution.
    seeds : list of int
        The seeds whose experiments the grid trained or found.
    timings : list of dict
        ``{"notebook", "seconds"}`` per executed notebook (:func:`execute_notebooks`).
    seconds : float
        Wall time of this execution, grid and notebooks, in seconds.
    only : sequence of str or None
        The ``--only`` notebook prefixes.

    Returns
    -------
    dict
        The record to write.

    Raises
    ------
    PipelineError
        If the existing record is not valid JSON (it names the file).
    """
    fresh = {
        "profile": profile,
        "seeds": seeds,
        "executor": executor,
        "notebooks": timings,
        "execute_seconds": round(seconds, 1),
    }
    if not only:
        return fresh
    previous = None
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise PipelineError(
                f"{path}: not valid JSON ({err}); delete it to start a new record"
            ) from err
    full = isinstance(previous, dict) and not previous.get("only")
    if not full or previous.get("profile") != profile:
        return fresh | {"only": list(only)}
    partial = {"only": list(only), "notebooks": timings, "execute_seconds": round(seconds, 1)}
    return previous | {"partial_runs": [*previous.get("partial_runs", []), partial]}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m marsutils.book.pipeline``."""
    parser = argparse.ArgumentParser(prog="python -m marsutils.book.pipeline", description=__doc__)
    parser.add_argument("--profile", default=None, help="default: quick")
    parser.add_argument("--seed", default=None, help="default: 0")
    parser.add_argument("--data-dir", default=None, help="relative to the working directory")
    parser.add_argument("--run-dir", default=None, help="default: runs/<profile>")
    parser.add_argument("--figures-dir", default=None, help="default: <run dir>/figures")
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--only", nargs="*", help="notebook prefixes to run, e.g. 01 02")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a notebook parameter (JSON value), passed to the notebooks that declare it",
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
    parser.add_argument(
        "--book-output",
        default=None,
        help="build the book into DIR/_build/html instead of book/_build/html (the tests "
        "build the smoke book there, so that book/_build/html keeps the published one)",
    )
    add_grid_arguments(parser)  # --seeds --executor --workers --threads-per-worker --scheduler
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.build_only:
            staging = stage_book(
                BOOK_DIR / "notebooks",
                REPO_ROOT / "figures",
                REPO_ROOT / "runs" / "_published_book",
            )
            print(f"[pipeline] built {build_book(staging)}")
            return 0
        # validated, relative folders resolved against this (the caller's) working directory
        params = pipeline_parameters(command_line_parameters(args))
        profile = get_profile(params.pop("profile")).name
        run_dir = Path(params.pop("run_dir", None) or default_run_dir(profile))
        layout = RunLayout(run_dir)
        figures = Path(params.get("figures_dir") or layout.figures)
        from marsutils.data.locate import locate_data_dir

        locate_data_dir(
            params.get("data_dir")
        )  # fail early, with the message that says what to set
        # nothing is written before the executor options and every parameter are checked
        from marsutils.cli.train import executor_from_args

        executor_from_args(args)
        only = args.only or ()
        selected = [n for n in NOTEBOOKS if not only or any(n.startswith(o) for o in only)]
        parameters_per_notebook(
            declared_parameters([NOTEBOOK_DIR / f"{n}.ipynb" for n in selected]), params
        )
        # one pipeline per run folder: a second one stops, naming the first (marsutils.core.locks)
        with exclusive(
            run_dir, what=f"python -m marsutils.book.pipeline --profile {profile}", wait=False
        ):
            start = time.perf_counter()
            from marsutils.core.environment import environment_record

            write_json(layout.result("environment"), environment_record())
            # the experiment grid (every seed) first, on the chosen executor; the notebooks then
            # find every classifier finished (see marsutils.study.grid and book/using/executors.md)
            pipeline_grid(args, profile, run_dir, params)
            timings = execute_notebooks(profile, run_dir, parameters=params, only=args.only)
            record = pipeline_record(
                layout.pipeline_record,
                profile=profile,
                seeds=sorted(grid_seeds(args, get_profile(profile), params)),
                executor=args.executor,
                timings=timings,
                seconds=time.perf_counter() - start,
                only=args.only,
            )
            write_json(layout.pipeline_record, record)  # the summary page reads it
            if not args.no_build and not args.only:
                staging = stage_book(layout.notebooks, figures, layout.book, summary_from=run_dir)
                output = Path(args.book_output).resolve() if args.book_output else BOOK_DIR
                index = build_book(staging, output=output)
                record["total_seconds"] = round(time.perf_counter() - start, 1)  # a full run's
                print(f"[pipeline] built {index}")
            write_json(layout.pipeline_record, record)
            if args.publish:
                publish(run_dir, profile, figures)
                print(f"[pipeline] published the {profile} run into the repository")
            print(f"[pipeline] wall time {time.perf_counter() - start:.0f} s")
    except (ProfileError, ParameterError, DataError, PipelineError, GridError, LockHeld) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # Run the module's canonical copy: under ``python -m`` this file is also ``__main__``, whose
    # PipelineError would be another class than the one marsutils.cli.train raises.
    from marsutils.book.pipeline import main as _main

    sys.exit(_main())
