"""The committed notebooks: clean, parameterised the same way, and free of logic of their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from marsutils.atomic import read_json
from marsutils.pipeline import NOTEBOOKS, main, notebook_parameters

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
COMMON = {"profile", "seed", "data_dir", "run_dir", "device", "figures_dir"}


def test_the_ordered_notebooks_exist():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == list(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_clean_and_parameterised(name):
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit it clean"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert set(notebook_parameters(path)) >= COMMON
    # no logic lives only in a notebook: functions and classes belong in marsutils
    for cell in code:
        assert not re.search(r"^\s*(def|class) ", cell.source, re.M), cell.source[:80]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_unknown_profile_is_a_clear_error(capsys):
    assert main(["--profile", "fastest", "--no-build"]) == 2
    assert "unknown profile 'fastest'" in capsys.readouterr().err


def test_missing_data_dir_is_a_clear_error(capsys, tmp_path):
    assert main(["--profile", "smoke", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_parameter_is_a_clear_error(capsys, tmp_path):
    code = main(["--profile", "smoke", "--run-dir", str(tmp_path), "-p", "epochz", "3"])
    assert code == 2
    assert "has no parameter(s) ['epochz']" in capsys.readouterr().err
    assert not (tmp_path / "notebooks").exists() or not any((tmp_path / "notebooks").iterdir())


#: The notebooks that train or run a model (01 prepares their data).
MODEL_NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07")


@pytest.mark.book
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_model_notebooks_run_under_a_forced_precision(precision, tmp_path):
    """The smoke notebooks that use a model run in fp32 and in bf16 whatever this CPU has
    ($MARS_PRECISION reaches the notebooks' kernels through the environment), and every
    trained experiment and the efficiency table record the precision they ran in."""
    env = {**os.environ, "MARS_PRECISION": precision}
    env.pop("MARS_DISABLE_BF16", None)
    done = subprocess.run(
        [sys.executable, "-m", "marsutils.pipeline", "--profile", "smoke", "--run-dir",
         str(tmp_path), "--no-build", "--only", *MODEL_NOTEBOOKS],
        capture_output=True,
        text=True,
        timeout=3600,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for path in sorted((tmp_path / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.output_type == "error"]  # fmt: skip
        assert not errors, f"{path.stem}: {errors[0]['ename']}: {errors[0]['evalue']}"
    runs = sorted(tmp_path.glob("experiments/*/*/done.json"))
    assert runs, "the smoke notebooks trained nothing"
    for path in runs:
        assert read_json(path)["precision"] == precision, path
    efficiency = read_json(tmp_path / "results" / "efficiency.json")
    timed = [row for row in efficiency["rows"] if row["precision"] is not None]
    assert timed and {row["precision"] for row in timed} == {precision}
