"""The committed notebooks: clean, parameterised the same way, and free of logic of their own."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from marsutils.book.outputs import output_problems
from marsutils.book.pipeline import (
    NOTEBOOKS,
    PipelineError,
    build_parser,
    command_line_parameters,
    declared_parameters,
    main,
    notebook_parameters,
    parameters_per_notebook,
    pipeline_parameters,
)
from marsutils.core.atomic import read_json
from marsutils.core.parameters import PARAMETERS, ParameterError
from marsutils.core.profiles import get_profile

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
COMMON = {"profile", "seed", "data_dir", "run_dir", "device", "figures_dir"}
PATHS = [NOTEBOOK_DIR / f"{name}.ipynb" for name in NOTEBOOKS]


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


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell_follows_the_schema_and_setup_receives_every_parameter(name):
    """The schema (marsutils.core.parameters) is the one definition; the cell repeats its defaults
    for papermill, and the setup call passes on every declared parameter."""
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    declared = notebook_parameters(path)
    assert set(declared) <= set(PARAMETERS), sorted(set(declared) - set(PARAMETERS))
    for param, info in declared.items():
        assert ast.literal_eval(info["default"]) == PARAMETERS[param].default, param
    nb = nbformat.read(path, as_version=4)
    setup_cells = [c for c in nb.cells if c.cell_type == "code" and "setup(" in c.source]
    assert len(setup_cells) == 1
    call = next(
        n for n in ast.walk(ast.parse(setup_cells[0].source))
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "setup"
    )  # fmt: skip
    passed = {a.id for a in call.args if isinstance(a, ast.Name)} | {
        k.arg for k in call.keywords if isinstance(k.value, ast.Name) and k.value.id == k.arg
    }
    assert passed == set(declared)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_cell_after_setup_reads_a_raw_parameter(name):
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if "setup(" in c.source) + 1
    for cell in code[first:]:
        raw = {
            n.id for n in ast.walk(ast.parse(cell.source))
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in PARAMETERS
        }  # fmt: skip
        assert not raw, f"{name}: use ctx.<name> instead of {sorted(raw)} in {cell.source[:80]!r}"


# --- the pipeline's parameter handling (no notebook is executed) -------------------------------


def test_pipeline_parameters_coerce_and_resolve_folders_against_the_caller(tmp_path):
    values = {"seed": 1.0, "interactive": 1, "run_dir": "runs/x", "data_dir": "../d",
              "figures_dir": str(tmp_path / "abs"), "profile": "smoke"}  # fmt: skip
    params = pipeline_parameters(values, cwd=tmp_path / "caller")
    assert params["seed"] == 1 and type(params["seed"]) is int
    assert params["interactive"] is True and params["profile"] == "smoke"
    assert params["run_dir"] == str(tmp_path / "caller" / "runs" / "x")
    assert params["data_dir"] == os.path.abspath(tmp_path / "caller" / ".." / "d")
    assert params["figures_dir"] == str(tmp_path / "abs")
    assert pipeline_parameters({"data_dir": "None", "run_dir": None}) == {
        "data_dir": None,
        "run_dir": None,
    }
    with pytest.raises(ParameterError, match="parameter 'seed'"):
        pipeline_parameters({"seed": 1.5})


def test_command_line_folders_are_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(
        ["--profile", "smoke", "--run-dir", "out", "--data-dir", "data", "--seed", "1.0",
         "-p", "interactive", "true", "-p", "figures_dir", "\"figs\""]
    )  # fmt: skip
    params = pipeline_parameters(command_line_parameters(args))
    assert params == {
        "profile": "smoke", "seed": 1, "run_dir": str(tmp_path / "out"),
        "data_dir": str(tmp_path / "data"), "figures_dir": str(tmp_path / "figs"),
        "interactive": True,
    }  # fmt: skip
    args = build_parser().parse_args(["--seed", "1", "-p", "seed", "2"])
    with pytest.raises(PipelineError, match=r"\['seed'\] given both"):
        command_line_parameters(args)


def test_each_notebook_gets_only_the_parameters_it_declares():
    declared = declared_parameters(PATHS)
    assert [n for n, names in declared.items() if "interactive" in names] == ["05_explainability"]
    per = parameters_per_notebook(declared, {"profile": "smoke", "seed": 1, "interactive": False})
    assert per["05_explainability"] == {"profile": "smoke", "seed": 1, "interactive": False}
    assert per["01_data"] == {"profile": "smoke", "seed": 1}
    assert set(per) == set(NOTEBOOKS)


def test_a_parameter_no_notebook_declares_is_named_with_the_declared_ones():
    declared = {"a": {"profile", "seed"}, "b": {"profile", "interactive"}}
    with pytest.raises(PipelineError) as err:
        parameters_per_notebook(declared, {"profile": "smoke", "epochz": 3, "sed": 1})
    assert "['epochz', 'sed']" in str(err.value)
    assert "['interactive', 'profile', 'seed']" in str(err.value)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_published_notebook_shows_no_traceback_absolute_path_or_widget(name):
    """The committed reference run (book/notebooks) as a reader sees it; the book build test
    checks the rendered HTML too."""
    nb = nbformat.read(NOTEBOOK_DIR.parent / "book" / "notebooks" / f"{name}.ipynb", as_version=4)
    problems = output_problems(nb, name)
    assert not problems, "\n".join(problems[:10])
    assert "widgets" not in nb.metadata, "saved widget state renders as dead views"


def test_unknown_profile_is_a_clear_error(capsys):
    assert main(["--profile", "fastest", "--no-build"]) == 2
    err = capsys.readouterr().err
    assert "parameter 'profile'" in err and "'fastest'" in err and "'smoke'" in err


def test_bad_seed_is_a_clear_error_before_anything_runs(capsys, tmp_path):
    assert main(["--profile", "smoke", "--run-dir", str(tmp_path), "--seed", "1.5"]) == 2
    assert "parameter 'seed'" in capsys.readouterr().err
    assert not (tmp_path / "notebooks").exists()


def test_missing_data_dir_is_a_clear_error(capsys, tmp_path):
    assert main(["--profile", "smoke", "--data-dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_parameter_is_a_clear_error(capsys, tmp_path):
    code = main(["--profile", "smoke", "--run-dir", str(tmp_path), "-p", "epochz", "3"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no notebook declares the parameter(s) ['epochz']" in err
    assert "'figures_dir'" in err and "'interactive'" in err  # the declared ones
    assert not (tmp_path / "notebooks").exists() or not any((tmp_path / "notebooks").iterdir())


#: The notebooks that train or run a model (01 prepares their data).
MODEL_NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07")


@pytest.mark.book
@pytest.mark.parametrize("precision", ["bf16"])
def test_model_notebooks_run_under_a_forced_precision(precision, tmp_path):
    """The smoke notebooks that use a model run with $MARS_PRECISION forced to bf16, whatever
    this CPU has. The profile's precision (fp32 in smoke) beats the environment for every
    trained experiment, so one comparison never mixes precisions; the precision-effect
    experiment (``plain-bf16``) trains in bf16. Both training paths therefore run in one
    execution, and each experiment records the precision it ran in. The efficiency table, a
    benchmark of this CPU, follows $MARS_PRECISION. (Forcing fp32 as well ran the same two
    training paths a second time, 3 to 4 minutes of ``make test``; the efficiency table's fp32
    path is forced by ``tests/test_efficiency.py``.)"""
    env = {**os.environ, "MARS_PRECISION": precision}
    env.pop("MARS_DISABLE_BF16", None)
    done = subprocess.run(
        [sys.executable, "-m", "marsutils.book.pipeline", "--profile", "smoke", "--run-dir",
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
    runs = sorted((tmp_path / "experiments").rglob("done.json"))  # <split>/<key>/seed<k>/
    assert runs, "the smoke notebooks trained nothing"
    profile = get_profile("smoke")
    assert profile.precision == "fp32" and profile.precision_effect
    seen = set()
    for path in runs:
        expected = "bf16" if path.parent.parent.name.startswith("plain-bf16-") else "fp32"
        seen.add(read_json(path)["precision"])
        assert read_json(path)["precision"] == expected, path
    assert seen == {"fp32", "bf16"}, seen
    efficiency = read_json(tmp_path / "results" / "efficiency.json")
    timed = [row for row in efficiency["rows"] if row["precision"] is not None]
    assert timed and {row["precision"] for row in timed} == {precision}


def test_a_kernel_imports_this_checkouts_package_whatever_the_environment_installed(
    tmp_path, monkeypatch
):
    """Two checkouts may share one environment, whose editable install points at one of them:
    the notebooks run in notebooks/, so without PYTHONPATH a kernel would import that one."""
    import papermill

    from marsutils.book.notebook import REPO_ROOT
    from marsutils.book.pipeline import _static_kernels

    other = tmp_path / "other-checkout"
    (other / "marsutils").mkdir(parents=True)
    (other / "marsutils" / "__init__.py").write_text("WHERE = 'the other checkout'\n")
    monkeypatch.setenv("PYTHONPATH", str(other))  # what an editable install elsewhere amounts to
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import marsutils\nprint(marsutils.__file__)")]
    nbformat.write(nb, tmp_path / "probe.ipynb")
    with _static_kernels():
        assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(REPO_ROOT), str(other)]
        papermill.execute_notebook(
            str(tmp_path / "probe.ipynb"),
            str(tmp_path / "out.ipynb"),
            cwd=str(tmp_path),
            kernel_name="python3",
            progress_bar=False,
        )
    assert os.environ["PYTHONPATH"] == str(other)  # restored
    printed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0]["text"]
    assert Path(printed.strip()) == REPO_ROOT / "marsutils" / "__init__.py"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_profile_comment_of_the_parameters_cell_lists_every_profile(name):
    """The comment is what a reader of the notebook sees: it must not lag a renamed profile."""
    from marsutils.core.profiles import PROFILES

    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    line = next(x for x in cell.source.splitlines() if x.startswith("profile ="))
    listed = [p.strip() for p in line.split("#", 1)[1].split("|")]
    assert sorted(listed) == sorted(PROFILES), line
