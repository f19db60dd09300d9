"""Train a long run's classifier grid one experiment at a time, committing its small records after
each.

``python scripts/reference_run.py [--profile reference] [--threads 2] [--no-commit]
[--external-dir DIR | --no-external] [--restore-weights]``

The grid of the profile (:func:`marsutils.study.experiments.grid`) is trained seed by seed (seed 0
first) and, within a seed, group by group: the main models (which the later chapters load), then
the baselines (the slowest to converge), then the ablation configurations. After each experiment
the small records of every finished experiment (``metrics*.json``, ``history.json``,
``done.json``, ``predictions_*.csv``) and the split files are copied to ``results/<profile>/`` and
committed with git (only those paths), so a session that stops loses at most the experiment it
was training (and less when its run folder survives: training resumes from the last epoch's
checkpoint). A re-run first restores the committed records into the run folder (never
overwriting a file there): a restored experiment counts as finished. Chapter 02 later trains
again the models whose weights a later chapter loads (``run_classifier(..., need_weights=True)``),
and keeps the new weights only if they reproduce the recorded predictions, which on the same
CPU kind, recipe and thread count they do.

The run folder's weights do not outlive a session's machine, so every compared classifier is
scored on the external release (``hirise-v1``, :func:`marsutils.study.external.predict_external`)
right after it trains, and its ``external_<folder>.csv`` is committed with its other records.
An experiment finished in an earlier session whose weights are gone and which has no external
predictions is trained anew once the rest of the grid is done (with ``--restore-weights``, before
publishing, also the models whose weights a later chapter loads,
:func:`marsutils.study.experiments.loaded_by_later_chapters`): its log entry then says whether
the new training reproduced the committed test predictions (same CPU kind, threads and
precision: it should), and the new records replace the committed ones either way (the committed
folder is emptied first, so no record of the old model, such as its TTA predictions, survives),
so an experiment's in-release and external predictions always come from one model.

Each experiment's wall time goes to ``grid_log.json`` (in ``results/<profile>/`` and in the run
folder, :attr:`marsutils.core.layout.RunLayout.grid_log`) with its seed and
group, the torch thread count, the CPU (model name and torch's capability: the grid may span
machines) and the 1-minute load average when it ended (a group's wall time is the sum of its
experiments'; a high load average marks a time measured beside other work).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from marsutils.core.atomic import read_json, write_json  # noqa: E402
from marsutils.core.environment import environment_record  # noqa: E402
from marsutils.core.layout import RunLayout  # noqa: E402
from marsutils.core.profiles import get_profile  # noqa: E402
from marsutils.data.errors import DataError  # noqa: E402
from marsutils.study.experiments import (  # noqa: E402
    ClassifierSpec,
    grid,
    loaded_by_later_chapters,
)
from marsutils.study.external.predictions import WEIGHTS_NOT_KEPT  # noqa: E402
from marsutils.study.grid import Executor, GridError, check_threads, train_grid  # noqa: E402

RECORD_PATTERNS = (
    "metrics*.json",
    "history.json",
    "done.json",
    "predictions_*.csv",
    "external_*.csv",
)


def copy_records(run_dir: Path, dest: Path) -> list[Path]:
    """Copy the records of every finished experiment and the split files; returns the copies."""
    copied = []
    for _key, _seed, folder in RunLayout(run_dir).finished():
        for pattern in RECORD_PATTERNS:
            for src in folder.glob(pattern):
                target = dest / src.relative_to(run_dir)
                if target.is_file() and target.read_bytes() == src.read_bytes():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
                copied.append(target)
    for src in (run_dir / "splits").glob("*.csv"):
        target = dest / "splits" / src.name
        if not target.is_file() or target.read_bytes() != src.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            copied.append(target)
    return copied


def restore_records(records: Path, run_dir: Path) -> int:
    """Copy committed records into the run folder where it lacks them; returns the count."""
    count = 0
    for src in records.rglob("*"):
        if src.is_file() and src.name != "grid_log.json":
            target = run_dir / src.relative_to(records)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
                count += 1
    return count


def commit(records: Path, message: str) -> None:
    """``git add`` and commit the ``records`` folder alone when it holds uncommitted changes
    (retried while another git command holds the lock)."""
    rel = [str(records.relative_to(REPO))]
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", *rel], cwd=REPO, capture_output=True, text=True
    )
    if status.returncode == 0 and not status.stdout.strip():
        return
    for _attempt in range(30):
        add = subprocess.run(["git", "add", "--", *rel], cwd=REPO, capture_output=True)
        done = subprocess.run(
            ["git", "commit", "-q", "-m", message, "--", *rel], cwd=REPO, capture_output=True
        )
        if add.returncode == 0 and done.returncode == 0:
            print(f"[run] committed: {message}", flush=True)
            return
        why = (add.stderr or done.stderr or done.stdout).decode().strip()[-300:]
        print(f"[run] git could not commit yet ({why}); retrying in 20 s", flush=True)
        time.sleep(20)
    print("[run] gave up committing; the records stay in the working tree", flush=True)


def log_entry(spec: ClassifierSpec, wall_s: float, threads: int, **extra) -> dict:
    """The ``grid_log.json`` entry of an experiment that ended now (module docstring)."""
    machine = environment_record(include_packages=False)
    return {
        "seed": spec.seed,
        "group": spec.group,
        "run_key": spec.run_key,
        "wall_s": round(wall_s, 1),
        "threads": threads,
        "cpu_model": machine["cpu_model"],
        "cpu_capability": machine["cpu_capability"],
        "loadavg_1min": round(os.getloadavg()[0], 2),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **extra,
    }


def take_entries(log: list[dict], run_key: str) -> list[dict]:
    """Remove the entries of ``run_key`` from ``log`` (in place) and return them: one experiment
    has one entry, that of the training behind its records."""
    taken = [e for e in log if e.get("run_key") == run_key]
    log[:] = [e for e in log if e.get("run_key") != run_key]
    return taken


def weights_lost(predicted: dict) -> set[str]:
    """The experiment keys of :func:`~marsutils.study.external.predict_external`'s result that
    finished but kept no weights, so have no external predictions."""
    return {
        key
        for entry in predicted.values()
        for key, why in entry["missing"].items()
        if why == WEIGHTS_NOT_KEPT
    }


def same_predictions(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two ``predictions_test.csv`` frames agree: the same predicted classes, and
    probabilities within 1e-6 (the reproduction test of a retraining,
    :func:`marsutils.train.engine._retrain_weights`)."""
    if len(a) != len(b) or not a["y_pred"].equals(b["y_pred"]):
        return False
    pa, pb = a.filter(like="prob_").to_numpy(), b.filter(like="prob_").to_numpy()
    return pa.shape == pb.shape and bool(abs(pa - pb).max(initial=0.0) <= 1e-6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--profile", default="reference", help="the profile (default: reference)")
    parser.add_argument("--run-dir", default=None, help="default: runs/<profile>")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: the profile's torch_threads, else 2; one that contradicts "
        "the profile's is refused)",
    )
    parser.add_argument("--no-commit", action="store_true", help="copy records, do not commit")
    parser.add_argument(
        "--external-dir",
        default=None,
        help="the external release scored after each training (default: "
        "$MARS_EXTERNAL_DIR or ../shared/data/hirise-v1)",
    )
    parser.add_argument(
        "--no-external", action="store_true", help="do not score the external release"
    )
    parser.add_argument(
        "--restore-weights",
        action="store_true",
        help="also train anew the finished models whose weights the later chapters load "
        "(loaded_by_later_chapters) when the run folder lacks them: before publishing",
    )
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    try:
        check_threads(profile, args.threads, "--threads")
    except GridError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    threads = args.threads or profile.torch_threads or 2
    run_dir = (Path(args.run_dir) if args.run_dir else REPO / "runs" / profile.name).resolve()
    records = REPO / "results" / profile.name
    ext = None
    if not args.no_external:
        from marsutils.data import locate_external_dir
        from marsutils.study.external import external_folder

        try:
            ext = external_folder(
                locate_external_dir(args.external_dir), max_images=profile.max_images
            )
        except DataError as err:
            print(f"error: --external-dir: {err} (or pass --no-external)", file=sys.stderr)
            return 2
    restored = restore_records(records, run_dir) if records.is_dir() else 0
    print(f"[run] {profile.name}: run folder {run_dir}; {restored} committed files restored")
    log_path = records / "grid_log.json"  # the committed copy; the run folder holds the other
    log = read_json(log_path) if log_path.is_file() else []

    def save(spec: ClassifierSpec) -> None:
        records.mkdir(parents=True, exist_ok=True)
        write_json(log_path, log)
        write_json(RunLayout(run_dir).grid_log, log)  # published with the run
        copy_records(run_dir, records)
        if not args.no_commit:
            commit(records, f"{profile.name} run: {spec.run_key} records")

    def score_external() -> dict:
        from marsutils.study.external import predict_external

        return predict_external(run_dir, profile, ext) if ext is not None else {}

    # seed by seed; within a seed the main models first (the later chapters load them), then
    # the baselines (the slowest to converge: a budget too short for them shows early)
    order = {"main": 0, "baselines": 1, "ablation": 2, "scratch": 3}
    specs = sorted(grid(profile), key=lambda s: (s.seed, order.get(s.group, 9)))
    executor = Executor(threads_per_worker=threads)
    for spec in specs:  # one experiment at a time: its records are committed when it ends
        start = time.perf_counter()
        (result,) = train_grid([spec], profile, run_dir, executor)
        if result["trained"]:
            # an entry of an earlier training of this experiment (its records were removed, so
            # it trained again) no longer describes a record: kept inside the new one
            earlier = take_entries(log, spec.run_key)
            extra = {"earlier": earlier} if earlier else {}
            log.append(log_entry(spec, time.perf_counter() - start, threads, **extra))
        score_external()  # while its weights are here
        save(spec)
    # finished in an earlier session, weights gone, no external predictions (or, asked, the
    # weights a later chapter loads): train anew
    reasons = {
        key: "its weights were lost before the external release was scored"
        for key in weights_lost(score_external())
    }
    if args.restore_weights:
        for spec in specs:
            best = RunLayout(run_dir).files(spec.key, spec.seed).best
            if loaded_by_later_chapters(spec) and spec.key not in reasons and not best.is_file():
                reasons[spec.key] = "a later chapter loads its weights, which were lost"
    for spec in [s for s in specs if s.key in reasons and s.seed == 0]:
        files = RunLayout(run_dir).files(spec.key, spec.seed)
        recorded = pd.read_csv(files.predictions("test"))
        print(f"[run] {spec.run_key}: {reasons[spec.key]}; training anew")
        shutil.rmtree(files.folder)
        start = time.perf_counter()
        train_grid([spec], profile, run_dir, executor)
        reproduced = same_predictions(recorded, pd.read_csv(files.predictions("test")))
        earlier = take_entries(log, spec.run_key)
        log.append(
            log_entry(
                spec,
                time.perf_counter() - start,
                threads,
                retrained=reasons[spec.key],
                reproduced_record=reproduced,
                earlier=earlier,
            )
        )
        score_external()
        # the committed folder mirrors the new run: a record of the old model that the new run
        # has not written (its TTA predictions, made by chapter 02) must not be restored beside it
        shutil.rmtree(records / "experiments" / spec.run_key, ignore_errors=True)
        save(spec)
    print("[run] the whole grid is finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
