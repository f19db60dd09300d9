"""The long-run driver (scripts/reference_run.py): what it commits and what it restores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from marsutils.core.atomic import write_json

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reference_run.py"


@pytest.fixture(scope="module")
def driver():
    spec = importlib.util.spec_from_file_location("reference_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _finished(run: Path, key: str, seed: int) -> Path:
    folder = run / "experiments" / key / f"seed{seed}"
    folder.mkdir(parents=True)
    for name in ("metrics.json", "history.json", "done.json", "metrics_tta8.json"):
        write_json(folder / name, {"name": name})
    (folder / "predictions_test.csv").write_text("row,y_pred\n0,1\n")
    (folder / "best_model.pt").write_bytes(b"weights")
    (folder / "checkpoint.pt").write_bytes(b"state")
    return folder


def test_records_are_copied_without_weights_and_only_when_finished(driver, tmp_path):
    run, dest = tmp_path / "run", tmp_path / "records"
    _finished(run, "family/full-x", 0)
    unfinished = run / "experiments" / "family" / "plain-x" / "seed0"
    unfinished.mkdir(parents=True)
    write_json(unfinished / "history.json", [])
    (run / "splits").mkdir()
    (run / "splits" / "family-seed0.csv").write_text("row\n0\n")
    copied = {p.relative_to(dest).as_posix() for p in driver.copy_records(run, dest)}
    base = "experiments/family/full-x/seed0/"
    assert copied == {
        base + name
        for name in (
            "metrics.json",
            "history.json",
            "done.json",
            "metrics_tta8.json",
            "predictions_test.csv",
        )
    } | {"splits/family-seed0.csv"}
    assert driver.copy_records(run, dest) == []  # nothing changed, nothing copied again


def test_restore_never_overwrites_the_run_folder(driver, tmp_path):
    run, dest = tmp_path / "run", tmp_path / "records"
    folder = _finished(run, "family/full-x", 0)
    driver.copy_records(run, dest)
    write_json(folder / "metrics.json", {"name": "newer"})
    (folder / "history.json").unlink()
    assert driver.restore_records(dest, run) == 1
    assert (folder / "history.json").is_file()
    assert '"newer"' in (folder / "metrics.json").read_text()


def test_the_records_folder_is_committed_alone_and_only_when_it_changed(
    driver, tmp_path, monkeypatch
):
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True)

    git("init", "-q")
    git("config", "user.email", "ci@example.org")
    git("config", "user.name", "ci")
    (tmp_path / "other.txt").write_text("not a record")
    records = tmp_path / "results" / "reference"
    write_json(records / "grid_log.json", [{"run_key": "family/full-x/seed0"}])
    monkeypatch.setattr(driver, "REPO", tmp_path)
    driver.commit(records, "first records")
    driver.commit(records, "nothing new")  # no change: no commit
    log = git("log", "--format=%s").stdout.split("\n")
    assert [line for line in log if line] == ["first records"]
    assert git("status", "--porcelain").stdout.strip() == "?? other.txt"
