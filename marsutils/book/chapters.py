"""The book's chapters and their parameters: the notebook list, what each declares, and the
checks every command line applies before a notebook runs.

Shared by :mod:`marsutils.book.pipeline` (which re-exports these names) and
:mod:`marsutils.cli.train`, so neither imports the other's module to learn the notebook list.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from marsutils.book.notebook import REPO_ROOT
from marsutils.core.parameters import PARAMETERS, coerce_parameter

__all__ = [
    "NOTEBOOK_DIR",
    "NOTEBOOKS",
    "PipelineError",
    "declared_parameters",
    "notebook_parameters",
    "parameters_per_notebook",
    "pipeline_parameters",
]

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = (
    "01_data",
    "02_training",
    "03_ablation",
    "04_baselines",
    "05_explainability",
    "06_efficiency",
    "07_segmentation",
    "08_findings",
    "09_external",
)


class PipelineError(RuntimeError):
    """A notebook failed, a parameter is unknown, or the book did not build."""


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters a notebook declares in its ``parameters``-tagged cell (papermill)."""
    import papermill

    return {name: info for name, info in papermill.inspect_notebook(str(path)).items()}


def declared_parameters(paths: Sequence[Path]) -> dict[str, set[str]]:
    """``{notebook name: names its parameters cell declares}`` for the notebooks at ``paths``."""
    return {path.stem: set(notebook_parameters(path)) for path in paths}


def pipeline_parameters(
    values: Mapping[str, Any], cwd: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Validate the pipeline's notebook parameters before any notebook runs.

    Parameters
    ----------
    values : mapping
        Parameter name -> value as given on the command line (``-p`` values JSON-decoded).
    cwd : path-like, optional
        The folder relative paths are taken from; default: the current working directory (the
        caller's), never the ``notebooks/`` folder the kernels run in.

    Returns
    -------
    dict
        Values coerced with :func:`~marsutils.core.parameters.coerce_parameter` (``seed`` ``1.0`` ->
        ``1``); folders (``data_dir``, ``run_dir``, ``figures_dir``) as absolute path strings.
        Names outside :data:`~marsutils.core.parameters.PARAMETERS` pass through unchanged (they
        are checked against the notebooks' declarations by :func:`parameters_per_notebook`).

    Raises
    ------
    marsutils.core.parameters.ParameterError
        For an invalid value, naming the parameter and its allowed values.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = PARAMETERS.get(name)
        if spec is None:
            out[name] = value
            continue
        coerced = coerce_parameter(name, value)
        if spec.kind == "path" and coerced is not None:  # relative to cwd, not the process's
            coerced = Path(os.path.abspath(base / os.path.expanduser(os.fspath(value))))
        out[name] = str(coerced) if isinstance(coerced, Path) else coerced
    return out


def parameters_per_notebook(
    declared: Mapping[str, Collection[str]], parameters: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The parameters each notebook receives: only those its ``parameters`` cell declares.

    Raises :class:`PipelineError` naming every parameter that no notebook declares, with the
    names the notebooks do declare.
    """
    known = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise PipelineError(
            f"no notebook declares the parameter(s) {unknown}; "
            f"the notebooks declare {sorted(known)}"
        )
    return {
        name: {k: v for k, v in parameters.items() if k in names}
        for name, names in declared.items()
    }
