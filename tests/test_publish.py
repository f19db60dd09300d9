"""Publishing a run replaces the published notebooks, figures and records as a whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marsutils.book.pipeline import NOTEBOOKS, PipelineError, publish


def _run(path, figure="new.jpg", record="experiments/family/full-new/seed0/metrics.json"):
    (path / "notebooks").mkdir(parents=True)
    for name in NOTEBOOKS:
        (path / "notebooks" / f"{name}.ipynb").write_text("{}")
    (path / "figures").mkdir()
    (path / "figures" / figure).write_bytes(b"jpg")
    target = path / record
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"accuracy": 0.9}))
    (target.parent / "checkpoint.pt").write_bytes(b"weights")  # never published
    (path / "grid_log.json").write_text("[]")
    return path


def test_publish_replaces_figures_and_records_whole(tmp_path):
    root = tmp_path / "repo"
    old = _run(tmp_path / "old", "old.jpg", "experiments/family/full-old/seed0/metrics.json")
    publish(old, "reference", root=root)
    assert (root / "results/reference/experiments/family/full-old/seed0/metrics.json").is_file()
    publish(_run(tmp_path / "new"), "reference", root=root)
    results = root / "results" / "reference"
    assert (results / "experiments/family/full-new/seed0/metrics.json").is_file()
    assert not (results / "experiments/family/full-old").exists()  # no stale record survives
    assert (results / "grid_log.json").is_file()
    assert not list(results.rglob("*.pt"))
    assert [p.name for p in (root / "figures").iterdir()] == ["new.jpg"]
    assert sorted(p.stem for p in (root / "book" / "notebooks").iterdir()) == sorted(NOTEBOOKS)


def test_publish_refuses_a_run_without_its_notebooks_and_replaces_nothing(tmp_path):
    root = tmp_path / "repo"
    publish(_run(tmp_path / "old"), "reference", root=root)
    broken = _run(tmp_path / "broken")
    (broken / "notebooks" / "05_explainability.ipynb").unlink()
    with pytest.raises(PipelineError, match="05_explainability"):
        publish(broken, "reference", root=root)
    assert (root / "results/reference/experiments/family/full-new/seed0/metrics.json").is_file()


# --- pipeline.json: a partial re-execution keeps the full run's chapter times -------------


def _full_record(path: Path) -> dict:
    from marsutils.book.pipeline import pipeline_record

    record = pipeline_record(
        path, profile="reference", seeds=[0, 1, 2], executor="sequential",
        timings=[{"notebook": "02_training", "seconds": 108.0},
                 {"notebook": "08_findings", "seconds": 11.0}],
        seconds=905.0, only=None,
    )  # fmt: skip
    path.write_text(json.dumps(record))
    return record


def test_a_partial_execution_is_appended_to_the_full_record(tmp_path):
    from marsutils.book.pipeline import pipeline_record

    path = tmp_path / "pipeline.json"
    full = _full_record(path)
    timings = [{"notebook": "08_findings", "seconds": 12.0}]
    record = pipeline_record(
        path, profile="reference", seeds=[0, 1, 2], executor="sequential", timings=timings,
        seconds=13.0, only=["08"],
    )  # fmt: skip
    assert record["notebooks"] == full["notebooks"] and record["execute_seconds"] == 905.0
    assert record["partial_runs"] == [
        {"only": ["08"], "notebooks": timings, "execute_seconds": 13.0}
    ]
    assert "only" not in record


def test_a_partial_execution_of_another_profile_starts_its_own_record(tmp_path):
    from marsutils.book.pipeline import pipeline_record

    path = tmp_path / "pipeline.json"
    _full_record(path)
    timings = [{"notebook": "08_findings", "seconds": 1.0}]
    record = pipeline_record(
        path, profile="smoke", seeds=[0], executor="sequential", timings=timings, seconds=2.0,
        only=["08"],
    )  # fmt: skip
    assert record["profile"] == "smoke" and record["only"] == ["08"]
    assert record["notebooks"] == timings and "partial_runs" not in record


def test_a_corrupt_pipeline_record_is_named(tmp_path):
    from marsutils.book.pipeline import PipelineError, pipeline_record

    path = tmp_path / "pipeline.json"
    path.write_text("{not json")
    with pytest.raises(PipelineError, match=r"pipeline\.json: not valid JSON"):
        pipeline_record(
            path, profile="reference", seeds=[0], executor="sequential", timings=[],
            seconds=1.0, only=["08"],
        )  # fmt: skip


def test_each_staged_chapter_tips_the_profile_it_was_executed_with(tmp_path):
    """Issue 26: every published chapter's "Re-run this chapter" tip named ``-p profile quick``
    and ``runs/quick`` while the page showed the ``reference`` run. Staging rewrites the tip
    for the profile of the notebook's injected parameters; the notebook itself is unchanged."""
    import nbformat

    from marsutils.book.pipeline import NOTEBOOKS, RERUN_TIP, _stage_notebook

    root = Path(__file__).resolve().parents[1]
    for name in NOTEBOOKS:
        src = root / "book" / "notebooks" / f"{name}.ipynb"
        before = src.read_bytes()
        _stage_notebook(src, tmp_path / f"{name}.ipynb")
        staged = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        tips = [c.source for c in staged.cells if RERUN_TIP in c.source]
        assert len(tips) == 1, name
        assert "-p profile reference" in tips[0] and "runs/reference" in tips[0], name
        assert "quick" not in tips[0], name
        assert src.read_bytes() == before
    # a notebook executed under smoke gets the smoke tip
    nb = nbformat.read(root / "notebooks" / "02_training.ipynb", as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell('profile = "smoke"\n', metadata={
        "tags": ["injected-parameters"]}))  # fmt: skip
    nbformat.write(nb, tmp_path / "smoke.ipynb")
    _stage_notebook(tmp_path / "smoke.ipynb", tmp_path / "smoke-staged.ipynb")
    staged = nbformat.read(tmp_path / "smoke-staged.ipynb", as_version=4)
    tip = next(c.source for c in staged.cells if RERUN_TIP in c.source)
    assert "--profile smoke --run-dir runs/smoke" in tip
