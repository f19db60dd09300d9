"""Seeds as a study axis and the experiment grid: layout, specs, aggregation, command line."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from marsutils.cli.train import find_spec
from marsutils.cli.train import main as train_main
from marsutils.core.atomic import read_json, write_json
from marsutils.core.layout import RunLayout
from marsutils.core.profiles import ProfileError, get_profile
from marsutils.study import experiments
from marsutils.study.experiments import ClassifierSpec, collect_results, grid, plan, summarize_seeds
from marsutils.study.grid import Executor, GridError, grid_status_line, train_grid

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- specs and the grid -------------------------------------------------------------------------


def test_the_seed_is_part_of_the_identity_and_the_run_folder():
    zero = ClassifierSpec("full", "family", image_size=64, epochs=1)
    one = ClassifierSpec("full", "family", image_size=64, epochs=1, seed=1)
    assert zero.key == one.key  # the configuration
    assert zero.run_key == f"{zero.key}/seed0" and one.run_key == f"{one.key}/seed1"
    assert zero.identity()["seed"] == 0 and one.identity()["seed"] == 1
    assert zero.identity() != one.identity()
    with pytest.raises(ValueError, match="non-negative integer"):
        ClassifierSpec("full", "family", seed=-1)


def test_the_grid_is_every_notebook_plan_for_every_seed():
    profile = get_profile("smoke", cv_folds=0, precision_effect=False)
    specs = grid(profile, (0, 1))
    per_seed = {
        s.run_key
        for notebook in experiments.NOTEBOOK_PLANS
        for s in plan(profile, notebook, seed=0)
    }
    assert len(per_seed) == 10  # smoke: main, paper-split and family ablations, baselines, scratch
    assert len(specs) == 2 * len(per_seed) == len({s.run_key for s in specs})
    assert {s.run_key for s in specs if s.seed == 0} == per_seed
    assert [s.seed for s in specs] == [0] * 10 + [1] * 10
    # under 2-fold CV every plan trains once per fold, plus the plain fine-tune in bf16
    folds = grid(get_profile("smoke"), (0,))
    assert len(folds) == 2 * (10 + 1)
    assert {s.fold for s in folds} == {0, 1} and {s.precision for s in folds} == {None, "bf16"}
    assert grid(profile) == grid(profile, profile.seeds)
    with pytest.raises(ValueError, match="distinct"):
        grid(profile, (0, 0))
    with pytest.raises(ValueError, match="non-empty"):
        grid(profile, ())


def test_profile_seeds_field():
    assert get_profile("smoke").seeds == (0,) and get_profile("quick").seeds == (0,)
    assert get_profile("quick", seeds=[0, 1]).seeds == (0, 1)
    for bad in ((), (0, 0), (-1,), (0.5,), (True,)):
        with pytest.raises(ProfileError, match="seeds must be"):
            get_profile("smoke", seeds=bad)


# --- the run folder's layout, the pre-seed layout and aggregation over seeds --------------------


def _metrics(spec: ClassifierSpec, accuracy: float, macro_f1: float) -> dict:
    """A metrics.json in the shape of marsutils.core.records.ClassifierMetrics (legacy form)."""
    return {
        "n_images": 10,
        "class_names": ["a", "b"],
        "overall": {"accuracy": accuracy, "macro_f1": macro_f1, "mean_iou": macro_f1 - 0.1},
        "per_class": [],
        "confusion_matrix": [[5, 0], [0, 5]],
        "confusion_matrix_normalized": [[1.0, 0.0], [0.0, 1.0]],
        "ci": {"accuracy": {"low": accuracy - 0.01, "high": accuracy + 0.01}},
        "settings": {},
        "spec": spec.identity(),
        "train_time_s": 1.0,
    }


def test_a_pre_seed_run_folder_reads_as_seed_zero(tmp_path):
    spec = ClassifierSpec("full", "family", image_size=64, epochs=1)
    legacy = tmp_path / "experiments" / spec.key
    write_json(legacy / "metrics.json", _metrics(spec, 0.5, 0.4))
    layout = RunLayout(tmp_path)
    assert layout.result_dir(spec.key, 0) == legacy
    assert experiments.load_result(tmp_path, spec)["overall"]["accuracy"] == 0.5
    assert (
        experiments.load_result(tmp_path, ClassifierSpec(**{**spec.identity(), "seed": 1})) is None
    )
    assert collect_results(tmp_path)[["key", "seed"]].values.tolist() == [[spec.key, 0]]
    # training writes to seed0/, and from then on seed0/ is what is read
    assert layout.experiment_dir(spec.key, 0) == legacy / "seed0"
    write_json(legacy / "seed0" / "metrics.json", _metrics(spec, 0.6, 0.5))
    assert experiments.load_result(tmp_path, spec)["overall"]["accuracy"] == 0.6
    assert len(collect_results(tmp_path)) == 1


def test_the_committed_first_reference_results_stay_loadable():
    run = REPO_ROOT / "results" / "reference-v1"
    profile = get_profile("reference-v1")
    for spec in plan(profile, "training"):
        assert experiments.load_result(run, spec) is not None, spec.key
        assert experiments.load_headline(run, spec, profile)["tta_views"] == profile.tta_views
    table = collect_results(run)
    assert len(table) >= 10 and set(table["seed"]) == {0}


def test_results_aggregate_over_seeds(tmp_path):
    full = ClassifierSpec("full", "family", image_size=64, epochs=1)
    plain = ClassifierSpec("plain", "family", image_size=64, epochs=1)
    accuracies = {0: 0.80, 1: 0.84, 2: 0.88}
    for seed, acc in accuracies.items():
        spec = ClassifierSpec(**{**full.identity(), "seed": seed})
        write_json(
            RunLayout(tmp_path).experiment_dir(spec.key, seed) / "metrics.json",
            _metrics(spec, acc, acc - 0.2),
        )
    write_json(
        RunLayout(tmp_path).experiment_dir(plain.key, 0) / "metrics.json", _metrics(plain, 0.7, 0.6)
    )
    results = collect_results(tmp_path)
    assert sorted(results["seed"]) == [0, 0, 1, 2]
    assert set(results["run_key"]) == {f"{full.key}/seed{k}" for k in (0, 1, 2)} | {
        f"{plain.key}/seed0"
    }
    table = summarize_seeds(results).set_index("key")
    assert table.loc[full.key, "n_seeds"] == 3 and table.loc[full.key, "seeds"] == "0,1,2"
    assert table.loc[full.key, "accuracy_mean"] == pytest.approx(0.84)
    assert table.loc[full.key, "accuracy_sd"] == pytest.approx(0.04)  # sample SD of .80 .84 .88
    assert table.loc[full.key, "macro_f1_mean"] == pytest.approx(0.64)
    assert table.loc[plain.key, "n_seeds"] == 1 and math.isnan(table.loc[plain.key, "accuracy_sd"])
    shown = experiments.results_over_seeds(tmp_path, [plain, full])
    assert shown["key"].tolist() == [plain.key, full.key]  # in the order of the specs
    assert experiments.results_over_seeds(tmp_path / "empty", [full]).empty
    with pytest.raises(ValueError, match="lack column"):
        summarize_seeds(results.drop(columns="seed"))


# --- seed 1 beside seed 0: a tiny training ------------------------------------------------------


def _toy_data(n: int = 48):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 3
    images = (rng.integers(0, 60, (n, 40, 40)) + 80 * labels[:, None, None]).astype(np.uint8)
    subset = np.array(["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - 3 * n // 4))
    split = pd.DataFrame(
        {
            "row": np.arange(n),
            "image": [f"{i}.jpg" for i in range(n)],
            "label": labels,
            "subset": subset,
        }
    )
    return SimpleNamespace(
        images=images,
        splits={"family": split},
        class_names=("a", "b", "c"),
        families=np.arange(n) // 2,  # pairs of twins
        fingerprint="toy",
    )


def test_seed_one_trains_beside_seed_zero_in_one_run_folder(tmp_path):
    data = _toy_data()
    profile = get_profile("smoke", batch_size=12)
    spec0 = ClassifierSpec(
        "plain", "family", weights="none", image_size=32, epochs=1, samples_per_epoch=24
    )
    spec1 = ClassifierSpec(**{**spec0.identity(), "seed": 1})

    def run(spec):
        return experiments.run_classifier(spec, data, profile, tmp_path, progress=False)

    first = run(spec0)
    second = run(spec1)  # neither reuses seed 0's model nor refuses its checkpoint
    assert first.trained_now and second.trained_now
    assert first.out_dir == tmp_path / "experiments" / spec0.key / "seed0"
    assert second.out_dir == tmp_path / "experiments" / spec0.key / "seed1"
    done = [read_json(r.out_dir / "done.json") for r in (first, second)]
    assert done[0]["fingerprint"] != done[1]["fingerprint"]
    assert [d["config"]["seed"] for d in done] == [0, 1]
    assert [r.metrics["spec"]["seed"] for r in (first, second)] == [0, 1]
    again = run(spec0)  # a finished seed is found, not retrained
    assert not again.trained_now and again.metrics == first.metrics
    assert sorted(collect_results(tmp_path)["seed"]) == [0, 1]
    with pytest.raises(ValueError, match="seed 0"):
        experiments.run_classifier(spec0, data, profile, tmp_path, seed=1, progress=False)


# --- executors and the command line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "spark"}, "unknown executor 'spark'"),
        ({"workers": 2}, "needs --executor dask"),
        ({"kind": "dask", "workers": 0}, "--workers must be >= 1"),
        ({"kind": "dask", "threads_per_worker": 0}, "--threads-per-worker must be >= 1"),
        ({"scheduler": "tcp://127.0.0.1:8786", "workers": 2}, "existing scheduler"),
    ],
)
def test_bad_executor_options_are_clear_errors(kwargs, message):
    with pytest.raises(GridError, match=message):
        Executor(**kwargs)


def test_executor_defaults():
    assert Executor(scheduler="tcp://h:8786").kind == "dask"
    local = Executor("dask", workers=2).resolved()
    assert local.workers == 2 and local.threads_per_worker >= 1
    assert Executor("dask", workers=2, threads_per_worker=1).describe() == (
        "Dask LocalCluster, 2 workers x 1 threads"
    )
    line = grid_status_line(3, ["a/seed0", "b/seed1"], 7, 12)
    assert line == "[grid] 3/12 finished, 2 running, 7 waiting: a/seed0, b/seed1"


def test_a_profile_that_fixes_the_thread_count_refuses_another_and_sizes_the_cluster(
    tmp_path, monkeypatch
):
    """reference-cv trains every model with 2 torch threads: an executor asking for 1 would be
    overridden while the logs named 1, so it is refused before anything trains."""
    from marsutils.study import grid as grid_module

    profile = get_profile("smoke", torch_threads=2)
    spec = plan(profile, "training")[0]
    with pytest.raises(GridError, match=r"threads_per_worker=1 contradicts .*torch_threads=2"):
        train_grid([spec], profile, tmp_path, Executor("dask", workers=1, threads_per_worker=1))
    assert not (tmp_path / "experiments").exists()
    seen = {}

    def run_dask(specs, task, prepare, executor, log, poll_s, hook):
        seen["executor"] = executor
        return []

    monkeypatch.setattr(grid_module, "_run_dask", run_dask)
    train_grid([spec], profile, tmp_path, Executor("dask", workers=1), log=lambda _: None)
    assert seen["executor"].threads_per_worker == 2  # the profile's, not cores // workers


def test_workers_of_an_existing_scheduler_must_offer_the_train_resource(tmp_path):
    from distributed import LocalCluster

    spec = plan(get_profile("smoke"), "training")[0]
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        executor = Executor(scheduler=cluster.scheduler_address)
        with pytest.raises(GridError, match="--resources train=1"):
            train_grid([spec], get_profile("smoke"), tmp_path, executor, log=lambda _: None)
    assert not (tmp_path / "experiments").exists()


def test_train_list_prints_the_grid(capsys, tmp_path):
    from marsutils.cli.main import main as package_main

    argv = [
        "train",
        "--list",
        "--profile",
        "smoke",
        "--seeds",
        "0",
        "1",
        "--run-dir",
        str(tmp_path),
    ]
    assert package_main(argv) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == len(grid(get_profile("smoke"), (0, 1)))
    assert all(line.endswith("to train") for line in lines)
    assert str(tmp_path) in out.err  # which run folder was inspected
    assert lines[0].split("\t")[0] == grid(get_profile("smoke"), (0, 1))[0].run_key


def test_train_finds_a_spec_by_its_key():
    profile = get_profile("smoke")
    spec = plan(profile, "ablation", seed=2)[1]
    assert find_spec(profile, spec.key, 2) == find_spec(profile, spec.run_key)
    assert find_spec(profile, spec.run_key).run_key == spec.run_key
    assert find_spec(profile, spec.key).seed == 0
    with pytest.raises(GridError, match="names seed 2 but --seed 1"):
        find_spec(profile, spec.run_key, 1)


def test_train_unknown_key_lists_the_keys(capsys, tmp_path):
    code = train_main(["family/nope", "--profile", "smoke", "--run-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "has no experiment 'family/nope'" in err
    assert plan(get_profile("smoke"), "training")[0].key in err
    with pytest.raises(SystemExit):
        train_main(["--profile", "smoke"])  # neither a key, --list nor --all


def test_pipeline_rejects_workers_without_dask_before_training(capsys, tmp_path):
    from marsutils.book.pipeline import main as pipeline_main

    argv = ["--profile", "smoke", "--run-dir", str(tmp_path), "--workers", "2", "--no-build"]
    assert pipeline_main(argv) == 2
    assert "--workers 2 needs --executor dask" in capsys.readouterr().err
    assert not (tmp_path / "experiments").exists()


def test_pipeline_checks_notebook_parameters_before_training(capsys, tmp_path):
    from marsutils.book.pipeline import main as pipeline_main

    argv = ["--profile", "smoke", "--run-dir", str(tmp_path), "-p", "epochz", "3", "--no-build"]
    assert pipeline_main(argv) == 2
    assert "no notebook declares the parameter(s) ['epochz']" in capsys.readouterr().err
    assert not (tmp_path / "experiments").exists()


def test_the_pipeline_trains_no_grid_for_notebooks_that_train_no_classifier(tmp_path):
    import argparse

    from marsutils.cli.train import pipeline_grid

    args = argparse.Namespace(only=["05", "08"])
    assert pipeline_grid(args, "smoke", tmp_path, {"seed": 0}) == []
    assert not (tmp_path / "experiments").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "2"], "--workers 2 needs --executor dask"),
        (["-p", "epochz", "3"], "no notebook declares the parameter(s) ['epochz']"),
    ],
)
def test_pipeline_errors_are_clean_under_python_m(tmp_path, argv, message):
    """``python -m marsutils.book.pipeline`` runs this module as ``__main__``; its errors must still
    be one line and exit status 2, not a traceback, and nothing is written."""
    import subprocess
    import sys

    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "marsutils.book.pipeline", *("--profile", "smoke", "--run-dir"),
         str(run), "--no-build", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not run.exists()


def test_a_local_cluster_leaves_this_process_environment_and_threads_as_they_were():
    """The notebooks run after the grid inherit the pipeline's environment: a LocalCluster must
    not leave OMP_NUM_THREADS=1 (or one torch thread) behind."""
    import os

    import torch

    from marsutils.study.grid import Executor, _dask_client

    before = (os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads())
    executor = Executor("dask", workers=1, threads_per_worker=1, dashboard_address=":0")
    with _dask_client(executor):
        pass
    assert (os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()) == before
