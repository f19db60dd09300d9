"""Notebook parameters as papermill and users pass them; the run context; progress bars; the
check and clean-up of executed notebooks' outputs."""

from __future__ import annotations

import io
import os
import sys
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from marsutils.book import notebook
from marsutils.book.notebook import REPO_ROOT, display_path, setup
from marsutils.book.outputs import WIDGET_VIEW_MIME, clean_notebook, output_problems
from marsutils.core import progress
from marsutils.core.parameters import (
    PARAMETERS,
    ParameterError,
    coerce_parameter,
    resolve_parameters,
)
from marsutils.core.profiles import profile_names


@pytest.fixture(autouse=True)
def _fresh_progress_setting(monkeypatch):
    monkeypatch.delenv(progress.INTERACTIVE_ENV, raising=False)
    progress.set_interactive(None)
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # setup() installs a hook
    yield
    progress.set_interactive(None)


# --- coercion ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 1.0, "1", " 1 ", "1.0"])
def test_seed_one_in_every_spelling_is_the_int_1(value):
    seed = coerce_parameter("seed", value)
    assert seed == 1 and type(seed) is int


@pytest.mark.parametrize("value", [1.5, "1.5", "one", True, -1, None, float("nan"), 2**32])
def test_a_bad_seed_names_the_parameter(value):
    with pytest.raises(ParameterError, match="parameter 'seed' must be"):
        coerce_parameter("seed", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, True), (0, False), (1.0, True), ("1", True), ("0", False), ("true", True),
     ("True", True), ("yes", True), ("on", True), ("false", False), ("no", False),
     ("off", False), (True, True), (False, False), (None, None), ("None", None), ("", None)],
)  # fmt: skip
def test_interactive_accepts_the_usual_boolean_spellings(value, expected):
    assert coerce_parameter("interactive", value) is expected


@pytest.mark.parametrize("value", [2, "maybe", 0.5, [1]])
def test_a_bad_boolean_lists_the_accepted_spellings(value):
    with pytest.raises(ParameterError, match=r"parameter 'interactive' must be a boolean.*'yes'"):
        coerce_parameter("interactive", value)


def test_an_unknown_profile_lists_the_profiles():
    with pytest.raises(ParameterError) as err:
        coerce_parameter("profile", "fastest")
    message = str(err.value)
    assert "parameter 'profile'" in message and "'fastest'" in message
    assert all(repr(name) in message for name in profile_names())


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "", 0])
def test_a_bad_device_lists_the_choices(value):
    with pytest.raises(ParameterError, match=r"parameter 'device' must be one of \['auto', 'cpu'"):
        coerce_parameter("device", value)


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:1", " mps "])
def test_good_devices(value):
    assert coerce_parameter("device", value) == value.strip()


def test_an_unknown_parameter_is_rejected_with_the_known_ones():
    with pytest.raises(ParameterError, match=r"unknown notebook parameter\(s\) \['sed'\]") as err:
        resolve_parameters({"profile": "smoke", "sed": 1})
    assert all(name in str(err.value) for name in PARAMETERS)
    with pytest.raises(ParameterError, match="unknown notebook parameter 'sed'"):
        coerce_parameter("sed", 1)


def test_paths_are_absolute_and_none_spellings_mean_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert coerce_parameter("run_dir", "runs/x") == tmp_path / "runs" / "x"
    assert coerce_parameter("data_dir", None) is None
    assert coerce_parameter("figures_dir", "None") is None
    with pytest.raises(ParameterError, match="parameter 'run_dir' must be a folder path"):
        coerce_parameter("run_dir", 3)


def test_resolve_fills_the_schema_defaults():
    values = resolve_parameters({"seed": "2"})
    assert values == {name: spec.default for name, spec in PARAMETERS.items()} | {"seed": 2}


# --- setup() ----------------------------------------------------------------------------------


def test_setup_coerces_papermill_values(tmp_path):
    ctx = setup("smoke", seed=1.0, run_dir=str(tmp_path), device="cpu", interactive=1)
    assert ctx.seed == 1 and type(ctx.seed) is int
    assert ctx.run_dir == tmp_path and ctx.figures_dir == tmp_path / "figures"
    assert ctx.interactive is True and ctx.device == "cpu"
    assert setup("smoke", seed="1", run_dir=tmp_path).seed == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"seed": 1.5}, "parameter 'seed'"), ({"profile": "fastest"}, "parameter 'profile'"),
     ({"sed": 1}, "unknown notebook parameter"), ({"device": "gpu"}, "parameter 'device'")],
)  # fmt: skip
def test_setup_rejects_bad_parameters(tmp_path, kwargs, message):
    kwargs = {"profile": "smoke", "run_dir": tmp_path, **kwargs}
    with pytest.raises(ParameterError, match=message):
        setup(**kwargs)


def test_setup_prints_no_absolute_path(tmp_path, capsys):
    setup("smoke", run_dir=tmp_path / "run", data_dir=tmp_path / "data")
    out = capsys.readouterr().out
    assert str(tmp_path) not in out and "/tmp/" not in out
    assert "run dir .../run" in out and "data .../data" in out


def test_interactive_comes_from_the_parameter_then_the_environment_then_run_dir(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(notebook, "default_run_dir", lambda name: tmp_path / name)
    assert setup("smoke", run_dir=tmp_path, interactive="true").interactive is True
    assert setup("smoke", run_dir=tmp_path).interactive is False  # papermill-style run
    assert setup("smoke").interactive is True  # opened by hand: run_dir not given
    monkeypatch.setenv(progress.INTERACTIVE_ENV, "0")
    assert setup("smoke").interactive is False
    assert progress.interactive_setting() is False  # progress bars follow the context
    assert setup("smoke", interactive=True).interactive is True
    monkeypatch.setenv(progress.INTERACTIVE_ENV, "maybe")
    with pytest.raises(ParameterError, match=r"\$MARS_INTERACTIVE"):
        setup("smoke")


def test_display_path_is_never_absolute(tmp_path):
    assert display_path(REPO_ROOT / "runs" / "smoke") == "runs/smoke"
    assert display_path(REPO_ROOT) == "."
    assert display_path(REPO_ROOT.parent / "shared" / "data") == "../shared/data"
    assert display_path(tmp_path / "x") == ".../x"


# --- progress bars ----------------------------------------------------------------------------


def test_text_progress_prints_whole_lines(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(progress, "TEXT_INTERVAL_S", 0.0)
    for _ in progress.progress_bar(range(3), desc="epoch 1/1", interactive=False, leave=True):
        pass
    lines = stream.getvalue().splitlines()
    assert lines and "\r" not in stream.getvalue()
    assert lines[-1].startswith("epoch 1/1: 100%") and "3/3" in lines[-1]


def test_text_progress_is_silent_for_short_loops(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    bar = progress.progress_bar(range(3), desc="epoch 1/1", interactive=False, leave=False)
    for _ in bar:
        bar.set_postfix(loss="0.5")  # as the training loop does every step
        bar.set_description("epoch 1/1")
    assert stream.getvalue() == ""


class _Stream(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_bars_are_for_terminals_only():
    assert progress.use_bars(_Stream(tty=True)) is True
    assert progress.use_bars(_Stream(tty=False)) is False
    assert progress.use_bars(object()) is False  # no isatty at all
    closed = io.StringIO()
    closed.close()  # isatty() of a closed file raises ValueError
    assert progress.use_bars(closed) is False


def test_outside_a_terminal_progress_is_whole_lines_never_redraws(monkeypatch):
    """No explicit setting (``python -m marsutils train`` or the grid under nohup): a stream that
    is not a terminal gets whole lines, a terminal keeps tqdm's redrawn bar."""
    monkeypatch.setattr(progress, "TEXT_INTERVAL_S", 0.0)  # a line per step, to see them
    log = _Stream(tty=False)
    for _ in progress.progress_bar(range(5), desc="epoch 1/2", file=log, leave=True):
        pass
    text = log.getvalue()
    assert "\r" not in text
    assert text.splitlines()[-1].startswith("epoch 1/2: 100%") and "5/5" in text
    terminal = _Stream(tty=True)
    for _ in progress.progress_bar(range(5), desc="epoch 1/2", file=terminal):
        pass
    assert "\r" in terminal.getvalue()
    # without file=, the bar's own stream (sys.stderr) decides; the lines go to sys.stdout
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    for _ in progress.progress_bar(range(3), desc="decoding images", leave=True):
        pass
    assert sys.stderr.getvalue() == "" and "\r" not in sys.stdout.getvalue()
    assert "3/3" in sys.stdout.getvalue()


def test_progress_bar_kind_follows_the_explicit_setting(monkeypatch):
    from tqdm.notebook import tqdm_notebook

    progress.set_interactive(False)
    bar = progress.progress_bar(range(2), disable=True)
    assert not isinstance(bar, tqdm_notebook)
    progress.set_interactive(None)
    monkeypatch.setenv(progress.INTERACTIVE_ENV, "no")
    assert not isinstance(progress.progress_bar(range(2), disable=True), tqdm_notebook)
    bar = progress.progress_bar(range(2), disable=True, interactive=True)
    assert isinstance(bar, tqdm_notebook)


# --- the forked DataLoader-worker message -----------------------------------------------------


def _unraisable(exc: BaseException, qualname: str) -> SimpleNamespace:
    obj = SimpleNamespace(__qualname__=qualname)
    return SimpleNamespace(exc_type=type(exc), exc_value=exc, object=obj, exc_traceback=None)


def test_only_the_forked_worker_message_is_dropped(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    notebook.quiet_forked_loader_cleanup()
    notebook.quiet_forked_loader_cleanup()  # installed once
    hook = sys.unraisablehook
    noise = _unraisable(
        AssertionError("can only test a child process"), "_MultiProcessingDataLoaderIter.__del__"
    )
    other = _unraisable(ValueError("real problem"), "Foo.__del__")
    hook(noise)  # in the process that installed it: passed on
    hook(other)
    assert seen == [noise, other]
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a forked worker
    hook(noise)
    hook(other)
    assert seen == [noise, other, other]


# --- executed notebooks' outputs --------------------------------------------------------------


def _executed_notebook() -> nbformat.NotebookNode:
    widget = new_output(
        "display_data",
        data={WIDGET_VIEW_MIME: {"model_id": "ab", "version_major": 2}, "text/plain": "0%"},
    )
    noise = (
        "Exception ignored in: <function _MultiProcessingDataLoaderIter.__del__ at 0x7fdb0a>\n"
        "Traceback (most recent call last):\n"
        '  File "/root/venv/lib/python3.11/site-packages/torch/utils/data/dataloader.py", '
        "line 1706, in __del__\n"
        "    self._shutdown_workers()\n"
        '  File "/root/venv/lib/python3.11/site-packages/torch/utils/data/dataloader.py", '
        "line 1675, in _shutdown_workers\n"
        "    if w.is_alive():\n"
        "       ^^^^^^^^^^^^\n"
        '  File "/root/py/lib/python3.11/multiprocessing/process.py", line 160, in is_alive\n'
        "    assert self._parent_pid == os.getpid(), 'can only test a child process'\n"
        "AssertionError: can only test a child process\n"
    )
    chunks = [noise[:40], noise[40:200], noise[200:]]
    cell = new_code_cell(
        "train()",
        outputs=[
            new_output("stream", name="stdout", text="run dir /work/main/runs/reference\n"),
            widget,
            *[new_output("stream", name="stderr", text=chunk) for chunk in chunks],
            new_output("stream", name="stdout", text="epoch 1: loss 0.5\n"),
            new_output("stream", name="stderr", text="UserWarning: something real\n"),
        ],
    )
    nb = new_notebook(cells=[cell])
    nb.metadata["widgets"] = {"state": {}}
    return nb


def test_output_problems_finds_widgets_tracebacks_and_paths():
    problems = "\n".join(output_problems(_executed_notebook(), "x.ipynb"))
    assert "widget view" in problems and "'Traceback'" in problems
    assert "'/work/'" in problems and "'/root/'" in problems
    error = new_notebook(cells=[new_code_cell("1/0", outputs=[new_output("error", ename="E")])])
    assert output_problems(error)


def test_clean_notebook_removes_only_widgets_worker_noise_and_absolute_paths():
    nb = _executed_notebook()
    counts = clean_notebook(nb, [("/work/main/", "")])
    assert counts == {"widget_views": 1, "loader_messages": 1, "paths": 1, "widget_state": 1}
    texts = [(o.name, o.text) for o in nb.cells[0].outputs]
    assert texts == [
        ("stdout", "run dir runs/reference\n"),
        ("stdout", "epoch 1: loss 0.5\n"),
        ("stderr", "UserWarning: something real\n"),
    ]
    assert output_problems(nb) == [] and "widgets" not in nb.metadata


def test_clean_notebook_keeps_a_traceback_that_is_not_the_worker_message():
    nb = new_notebook(
        cells=[
            new_code_cell(
                "x",
                outputs=[
                    new_output(
                        "stream",
                        name="stderr",
                        text="Traceback (most recent call last):\nValueError: real\n",
                    )
                ],
            )
        ]
    )
    assert clean_notebook(nb)["loader_messages"] == 0
    assert len(nb.cells[0].outputs) == 1 and output_problems(nb)
