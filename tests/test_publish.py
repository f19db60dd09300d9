"""Publishing a run replaces the published notebooks, figures and records as a whole."""

from __future__ import annotations

import json

import pytest

from marsutils.pipeline import NOTEBOOKS, PipelineError, publish


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
