"""The grid on Dask: the same results as a sequential run, and a killed worker loses nothing.

Both tests start a ``LocalCluster`` of worker processes and train on the real shared sample under
the ``smoke`` profile (240 images), so they are marked slow.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from marsutils.core.atomic import read_json
from marsutils.core.layout import RunLayout
from marsutils.core.profiles import get_profile
from marsutils.study.experiments import ClassifierSpec, grid
from marsutils.study.grid import Executor, train_grid

pytestmark = pytest.mark.slow

#: Metrics fields that describe how a run went, not what it computed: its wall time, and why the
#: precision was chosen ("probed ..." in the first process that measured it, "cached ..." in
#: every later one). The precision itself is compared.
TIMING_FIELDS = ("train_time_s", "wall_time_s", "precision_reason")


def _record(run_dir: Path, spec: ClassifierSpec) -> dict:
    """The result record of a spec: metrics (less timings), predictions and learning curve."""
    folder = RunLayout(run_dir).experiment_dir(spec.key, spec.seed)
    metrics = {
        k: v for k, v in read_json(folder / "metrics.json").items() if k not in TIMING_FIELDS
    }
    history = [
        {k: v for k, v in epoch.items() if k not in ("epoch_time_s", "images_per_s")}
        for epoch in read_json(folder / "history.json")
    ]
    return {
        "metrics": metrics,
        "history": history,
        "test": (folder / "predictions_test.csv").read_text(),
        "val": (folder / "predictions_val.csv").read_text(),
    }


def _quiet(_line: str) -> None:
    pass


@pytest.mark.parametrize("size", ["two-specs", "smoke-grid"])
def test_dask_grid_matches_the_sequential_grid(real_data_dir, tmp_path, size):
    """Same seeds, same threads per training: the same result records, whatever the executor."""
    profile = get_profile("smoke")
    specs = grid(profile, (0, 1))
    if size == "two-specs":
        specs = [specs[0], specs[10]]  # the main model under seeds 0 and 1
    sequential = Executor(threads_per_worker=1)
    dask = Executor("dask", workers=2, threads_per_worker=1, dashboard_address=":0")
    lines: list[str] = []
    train_grid(specs, profile, tmp_path / "seq", sequential, data_dir=real_data_dir, log=_quiet)
    records = train_grid(
        specs, profile, tmp_path / "dask", dask, data_dir=real_data_dir, log=lines.append
    )
    assert all(r["trained"] and r["threads"] == 1 for r in records)
    assert any(line.startswith("[grid] Dask dashboard: http") for line in lines)
    assert lines[-1] == f"[grid] {len(specs)}/{len(specs)} finished, 0 running, 0 waiting"
    for spec in specs:
        assert _record(tmp_path / "dask", spec) == _record(tmp_path / "seq", spec), spec.run_key


def test_a_killed_worker_resumes_from_its_checkpoint(real_data_dir, tmp_path):
    """SIGKILL the worker after its first epoch checkpoint: the task is retried, resumes, and
    ends with the result record of an uninterrupted run."""
    profile = get_profile("smoke", splits=("family",))  # 2-fold family CV: train on fold 0
    spec = ClassifierSpec("plain", "family-cv2-f0", weights="none", image_size=32, epochs=3)
    folder = RunLayout(tmp_path / "dask").experiment_dir(spec.key, spec.seed)
    killed: list[int] = []

    def kill_after_first_checkpoint(client) -> None:
        pids = list(client.run(os.getpid).values())

        def watch() -> None:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and not (folder / "done.json").exists():
                if (folder / "checkpoint.pt").exists():
                    for pid in pids:
                        os.kill(pid, signal.SIGKILL)
                    killed.extend(pids)
                    return
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()

    executor = Executor("dask", workers=1, threads_per_worker=1, dashboard_address=":0")
    (record,) = train_grid(
        [spec],
        profile,
        tmp_path / "dask",
        executor,
        data_dir=real_data_dir,
        log=_quiet,
        poll_s=0.5,
        cluster_hook=kill_after_first_checkpoint,
    )
    assert killed, "the worker finished before the test could kill it"
    assert record["trained"] and record["resumed_from_epoch"] >= 1
    train_grid(
        [spec],
        profile,
        tmp_path / "straight",
        Executor(threads_per_worker=1),
        data_dir=real_data_dir,
        log=_quiet,
    )
    assert _record(tmp_path / "dask", spec) == _record(tmp_path / "straight", spec)


def test_a_task_that_dask_runs_twice_at_once_trains_once(real_data_dir, tmp_path):
    """Dask runs a task at least once: a worker that only looked dead may still be training when
    the task is rescheduled. Two copies of one task on two workers at once: the experiment lock
    makes the second wait for the first and load its result, so there is one training and one
    result record."""
    import functools

    from marsutils.study.grid import _dask_client, _prepare_seeds, train_spec

    profile = get_profile("smoke", splits=("family",))
    spec = ClassifierSpec("plain", "family-cv2-f0", weights="none", image_size=32, epochs=2)
    run_dir = tmp_path / "run"
    _prepare_seeds([spec], profile, run_dir, real_data_dir, _quiet)
    task = functools.partial(
        train_spec, profile=profile, run_dir=str(run_dir), data_dir=real_data_dir, threads=1
    )
    executor = Executor("dask", workers=2, threads_per_worker=1, dashboard_address=":0")
    with _dask_client(executor) as client:
        first, again = (client.submit(task, spec, key=f"train-{k}", pure=False) for k in "ab")
        records = client.gather([first, again])
    assert sorted(r["trained"] for r in records) == [False, True]
    assert records[0]["macro_f1"] == records[1]["macro_f1"]
    folder = RunLayout(run_dir).experiment_dir(spec.key, spec.seed)
    assert [h["epoch"] for h in read_json(folder / "history.json")] == [1, 2]
    assert len(list(run_dir.rglob("done.json"))) == 1
