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


def _fake_grid(driver, tmp_path, monkeypatch, spec, *, external_kept: bool):
    """A committed record of ``spec`` (no weights in the run folder), a fake training that gives
    other predictions (another CPU kind) and a fake external scorer; returns the record folder
    and the list of trained run keys."""
    import types

    import marsutils.data
    import marsutils.study.external as external

    records = tmp_path / "results" / "p"
    recorded = "row,y_true,y_pred,prob_0,prob_1\n0,1,1,0.25,0.75\n"
    folder = records / "experiments" / spec.key / "seed0"
    folder.mkdir(parents=True)
    (folder / "predictions_test.csv").write_text(recorded)
    write_json(folder / "done.json", {"epochs_run": 1})
    write_json(folder / "metrics.json", {"macro_f1": 0.5})
    write_json(
        folder / "metrics_tta8.json", {"of": "the old model"}
    )  # chapter 02's, not the grid's
    write_json(records / "grid_log.json", [{"run_key": spec.run_key, "wall_s": 9.0}])
    trained = []

    def train_grid(specs, profile, run_dir, executor):
        (s,) = specs
        out = Path(run_dir) / "experiments" / s.key / "seed0"
        if not (out / "done.json").is_file():  # a real training, here of another CPU kind
            out.mkdir(parents=True, exist_ok=True)
            (out / "predictions_test.csv").write_text(recorded.replace("0.25,0.75", "0.3,0.7"))
            write_json(out / "done.json", {"epochs_run": 1})
            write_json(out / "metrics.json", {"macro_f1": 0.4})
            (out / "best_model.pt").write_bytes(b"weights")
            trained.append(s.run_key)
        return [{"trained": bool(trained)}]

    def predict_external(run_dir, profile, ext):
        weights = (Path(run_dir) / "experiments" / spec.key / "seed0" / "best_model.pt").is_file()
        why = {} if weights or external_kept else {spec.key: driver.WEIGHTS_NOT_KEPT}
        return {spec.model: {"specs": [spec], "frames": [], "predicted": [], "missing": why}}

    monkeypatch.setattr(driver, "REPO", tmp_path)
    monkeypatch.setattr(
        driver,
        "get_profile",
        lambda name: types.SimpleNamespace(name="p", max_images=None, torch_threads=None),
    )
    monkeypatch.setattr(driver, "grid", lambda profile: [spec])
    monkeypatch.setattr(driver, "train_grid", train_grid)
    monkeypatch.setattr(marsutils.data, "locate_external_dir", lambda d: tmp_path)
    monkeypatch.setattr(external, "external_folder", lambda d, max_images: object())
    monkeypatch.setattr(external, "predict_external", predict_external)
    return folder, trained


def test_a_finished_experiment_without_weights_is_trained_anew_for_the_external_release(
    driver, tmp_path, monkeypatch
):
    """The second pass: weights lost, no external predictions -> trained anew once, its log
    entry replaced (the earlier one kept inside it) and marked reproduced or not."""
    from marsutils.study.experiments import ClassifierSpec

    spec = ClassifierSpec(model="plain", split="family-cv5-f0", group="ablation")
    folder, trained = _fake_grid(driver, tmp_path, monkeypatch, spec, external_kept=False)
    assert driver.main(["--profile", "p", "--no-commit"]) == 0
    assert trained == [spec.run_key]  # once: the restored record counted as finished first
    (entry,) = driver.read_json(folder.parents[3] / "grid_log.json")
    assert entry["run_key"] == spec.run_key and entry["reproduced_record"] is False
    assert entry["earlier"] == [{"run_key": spec.run_key, "wall_s": 9.0}]
    assert "external release" in entry["retrained"]
    assert {"cpu_model", "cpu_capability", "threads"} <= entry.keys()
    # the new model's records replace the committed ones: one model behind both releases
    assert "0.3,0.7" in (folder / "predictions_test.csv").read_text()
    assert not (folder / "metrics_tta8.json").exists()  # the old model's TTA: not kept beside it


def test_restore_weights_trains_anew_only_what_a_later_chapter_loads(driver, tmp_path, monkeypatch):
    from marsutils.study.experiments import ClassifierSpec

    spec = ClassifierSpec(model="full", split="family-cv5-f0")
    folder, trained = _fake_grid(driver, tmp_path, monkeypatch, spec, external_kept=True)
    assert driver.main(["--profile", "p", "--no-commit"]) == 0
    assert trained == []  # its external predictions are kept: nothing to train
    assert driver.main(["--profile", "p", "--no-commit", "--restore-weights"]) == 0
    assert trained == [spec.run_key]
    (entry,) = driver.read_json(folder.parents[3] / "grid_log.json")
    assert "later chapter loads its weights" in entry["retrained"]
    assert (tmp_path / "runs" / "p" / "experiments" / spec.run_key / "best_model.pt").is_file()


def test_the_later_chapters_load_the_explained_folds_of_the_proposed_model_only():
    from marsutils.core.profiles import get_profile
    from marsutils.study.experiments import EXPLAINED_FOLDS, grid, loaded_by_later_chapters

    kept = [s for s in grid(get_profile("reference-cv")) if loaded_by_later_chapters(s)]
    assert sorted((s.model, s.split) for s in kept) == [
        ("full", f"family-cv5-f{k}") for k in EXPLAINED_FOLDS
    ]
    held_out = [s for s in grid(get_profile("reference")) if loaded_by_later_chapters(s)]
    assert {(s.model, s.split_kind) for s in held_out} == {("full", "family")}


def test_a_retraining_reproduces_only_with_the_same_classes_and_probabilities(driver):
    import pandas as pd

    a = pd.DataFrame({"y_pred": [1, 0], "prob_0": [0.2, 0.9], "prob_1": [0.8, 0.1]})
    assert driver.same_predictions(a, a.copy())
    assert driver.same_predictions(a, a.assign(prob_0=a["prob_0"] + 5e-7))
    assert not driver.same_predictions(a, a.assign(prob_0=a["prob_0"] + 1e-5))
    assert not driver.same_predictions(a, a.assign(y_pred=[1, 1]))
    assert not driver.same_predictions(a, a.iloc[:1])


def test_a_missing_external_release_stops_the_run_naming_the_option(driver, tmp_path, capsys):
    status = driver.main(["--profile", "smoke", "--external-dir", str(tmp_path / "nowhere")])
    assert status == 2
    err = capsys.readouterr().err
    assert "--external-dir" in err and "nowhere" in err


def test_a_thread_count_against_the_profiles_is_refused_before_anything_runs(driver, capsys):
    assert driver.main(["--profile", "reference-cv", "--threads", "1", "--no-external"]) == 2
    err = capsys.readouterr().err
    assert "--threads=1" in err and "torch_threads=2" in err and "reference-cv" in err


def test_an_experiment_trained_again_has_one_log_entry_the_earlier_kept_inside(driver):
    log = [{"run_key": "a/seed0", "wall_s": 319.4}, {"run_key": "b/seed0", "wall_s": 5.0}]
    assert driver.take_entries(log, "a/seed0") == [{"run_key": "a/seed0", "wall_s": 319.4}]
    assert log == [{"run_key": "b/seed0", "wall_s": 5.0}]
    assert driver.take_entries(log, "c/seed0") == [] and len(log) == 1
