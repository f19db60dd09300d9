"""Train the experiment grid on an executor: in this process, a Dask ``LocalCluster`` or an
existing Dask scheduler.

The grid is data: :func:`marsutils.study.experiments.grid` lists every classifier experiment of a
profile, seeds included, and :func:`train_spec` trains one of them (or finds it finished) into the
run folder's layout (:mod:`marsutils.core.layout`). :func:`train_grid` runs :func:`train_spec` for
every spec on the executor an :class:`Executor` describes:

* ``sequential`` (default): one spec after another in this process;
* ``dask`` with ``scheduler=None``: a ``LocalCluster`` of ``workers`` processes, each training
  one spec at a time with ``threads_per_worker`` torch threads;
* ``dask`` with ``scheduler="tcp://host:8786"``: the workers of an existing scheduler (for
  example one started by dask-jobqueue on SLURM or PBS; see book/using/executors.md).

Every task sets ``torch.set_num_threads(threads_per_worker)`` before training, so a spec's result
depends on the thread count, never on the executor. A Dask task is retried (``retries``) when it
fails, and rescheduled by the scheduler when its worker dies (up to the scheduler's
``distributed.scheduler.allowed-failures``); the retry resumes from the spec's last epoch
checkpoint (:func:`marsutils.train.fit`), so a killed worker loses at most one epoch of work.

Dask workers may only run one training at a time: a ``LocalCluster`` gives each worker one unit
of the resource ``train`` and every task asks for it; workers of an existing scheduler must be
started with ``--resources train=1``. A training's ``DataLoader`` starts a child process, which
daemonic worker processes may not: workers need ``distributed.worker.daemon: False``
(``DASK_DISTRIBUTED__WORKER__DAEMON=False``); a ``LocalCluster`` started here sets it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marsutils.core.profiles import Profile, split_names
from marsutils.train.runtime import torch_threads

if TYPE_CHECKING:
    from marsutils.study.experiments import ClassifierSpec

__all__ = [
    "GRID_NOTEBOOKS",
    "Executor",
    "GridError",
    "train_spec",
    "train_grid",
    "grid_status_line",
]

#: The notebooks whose experiments :func:`marsutils.study.experiments.grid` lists.
GRID_NOTEBOOKS = ("02_training", "03_ablation", "04_baselines")
#: The Dask resource one training holds on its worker.
TRAIN_RESOURCE = "train"
#: Environment of LocalCluster worker processes (Dask's default less MALLOC_TRIM_THRESHOLD_).
ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}

Log = Callable[[str], None]


class GridError(RuntimeError):
    """A grid task failed, or an executor is misconfigured."""


@dataclass(frozen=True)
class Executor:
    """Where :func:`train_grid` runs the grid.

    Parameters
    ----------
    kind : {"sequential", "dask"}
        In this process, or on Dask.
    workers : int, optional
        Worker processes of a ``LocalCluster`` (default: CPU cores // ``threads_per_worker``).
    threads_per_worker : int, optional
        Torch intra-op threads of each training. Default: sequential, torch's current setting;
        ``LocalCluster``, CPU cores // ``workers``; existing scheduler, each worker's ``nthreads``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); implies ``kind="dask"``.
    retries : int
        Dask retries of a failed task (a task whose worker died is rescheduled anyway).
    dashboard_address : str
        Where a ``LocalCluster`` serves its dashboard (``":0"``: any free port).

    Raises
    ------
    GridError
        For an unknown kind, a non-positive count, or options that do not fit the kind.
    """

    kind: str = "sequential"
    workers: int | None = None
    threads_per_worker: int | None = None
    scheduler: str | None = None
    retries: int = 2
    dashboard_address: str = ":8787"

    def __post_init__(self) -> None:
        if self.scheduler and self.kind != "dask":
            object.__setattr__(self, "kind", "dask")
        if self.kind not in ("sequential", "dask"):
            raise GridError(f"unknown executor {self.kind!r}; use sequential or dask")
        for name in ("workers", "threads_per_worker"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise GridError(f"--{name.replace('_', '-')} must be >= 1; got {value}")
        if self.kind == "sequential" and self.workers not in (None, 1):
            raise GridError(
                f"--workers {self.workers} needs --executor dask (sequential runs one at a time)"
            )
        if self.scheduler and self.workers is not None:
            raise GridError(
                "--workers sets the size of a LocalCluster; an existing scheduler (--scheduler) "
                "has the workers it has"
            )
        if self.retries < 0:
            raise GridError(f"retries must be >= 0; got {self.retries}")

    def describe(self) -> str:
        """One line: the executor and its sizes."""
        if self.kind == "sequential":
            threads = self.threads_per_worker or "torch's default"
            return f"sequential, {threads} threads"
        if self.scheduler:
            return f"Dask scheduler {self.scheduler}"
        return f"Dask LocalCluster, {self.workers} workers x {self.threads_per_worker} threads"

    def resolved(self) -> Executor:
        """The executor with the LocalCluster's default sizes filled in."""
        if self.kind != "dask" or self.scheduler:
            return self
        cores = os.cpu_count() or 1
        workers = self.workers or max(1, cores // (self.threads_per_worker or 1))
        threads = self.threads_per_worker or max(1, cores // workers)
        return Executor("dask", workers, threads, None, self.retries, self.dashboard_address)


@functools.lru_cache(maxsize=2)
def _prepared(data_dir: str | None, splits: tuple, seed: int, max_images, run_dir: str):
    from marsutils.data.prepare import prepare_data

    return prepare_data(
        data_dir,
        splits=splits,
        seed=seed,
        max_images=max_images,
        run_dir=run_dir,
        progress=False,
    )


def _dask_worker_threads() -> int | None:
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def check_threads(profile: Profile, threads: int | None, name: str = "threads") -> None:
    """Refuse a thread count that contradicts the profile's fixed ``torch_threads``.

    The thread count changes the order of floating-point sums, so a profile that fixes it
    (:attr:`marsutils.core.profiles.Profile.torch_threads`, e.g. ``reference-cv``) trains every
    model with it; a different count asked for would be ignored while the logs named it.

    Raises
    ------
    GridError
        ``threads`` is set and differs from the profile's ``torch_threads``.
    """
    fixed = profile.torch_threads
    if fixed is not None and threads is not None and threads != fixed:
        raise GridError(
            f"{name}={threads} contradicts profile {profile.name!r}, which trains every model "
            f"with torch_threads={fixed}: ask for {fixed} or leave it out"
        )


def _training_threads(profile: Profile, threads: int | None) -> int | None:
    """The torch threads of one training: the profile's fixed ``torch_threads`` (which
    :func:`~marsutils.study.experiments.run_classifier` sets, so the record says what it used),
    else ``threads``, else inside a Dask worker its ``nthreads`` (torch's setting: None)."""
    check_threads(profile, threads)
    worker_threads = _dask_worker_threads()
    if worker_threads is not None:
        _fork_loader_workers()
    return profile.torch_threads or threads or worker_threads


def train_spec(
    spec: ClassifierSpec,
    profile: Profile,
    run_dir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train one grid spec into ``run_dir`` (or find it finished): the task of every executor.

    Parameters
    ----------
    spec : ClassifierSpec
        The experiment, seed included; its data are prepared with ``spec.seed``.
    profile : Profile
        The profile that sets the recipe.
    run_dir : path
        The run folder; the files go to ``experiments/<spec.run_key>``.
    data_dir : path, optional
        The HiRISE landmark folder (default: ``$MARS_DATA_DIR``, then ``../shared``).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    threads : int, optional
        Torch intra-op threads for this training (restored afterwards). Default: the profile's
        ``torch_threads`` when it fixes them, else inside a Dask worker its ``nthreads``, else
        torch's current setting.
    progress : bool
        Show the epoch bars and lines.

    Returns
    -------
    dict
        ``run_key``, ``trained`` (False: found finished), ``resumed_from_epoch``,
        ``macro_f1`` and ``accuracy`` (test, single view), ``threads``, ``seconds``.

    Raises
    ------
    GridError
        In a daemonic process (a Dask worker without ``distributed.worker.daemon: False``),
        where the training's ``DataLoader`` cannot start its worker process; or when
        ``threads`` contradicts the profile's ``torch_threads``.
    """
    from marsutils.study.experiments import run_classifier
    from marsutils.train import FitConfig

    if FitConfig.from_profile(profile).num_workers and multiprocessing.current_process().daemon:
        raise GridError(
            "this Dask worker is a daemonic process, which cannot start the DataLoader's "
            "worker process: start the workers with DASK_DISTRIBUTED__WORKER__DAEMON=False"
        )
    threads = _training_threads(profile, threads)
    start = time.perf_counter()
    with torch_threads(threads) as used:
        data = _prepared(
            None if data_dir is None else str(data_dir),
            split_names(profile),
            spec.seed,
            profile.max_images,
            str(run_dir),
        )
        result = run_classifier(spec, data, profile, run_dir, device=device, progress=progress)
    record = {
        "run_key": spec.run_key,
        "trained": bool(result.trained_now),
        "resumed_from_epoch": int(result.resumed_from_epoch),
        "macro_f1": float(result.metrics["overall"]["macro_f1"]),
        "accuracy": float(result.metrics["overall"]["accuracy"]),
        "threads": used,
        "seconds": round(time.perf_counter() - start, 1),
    }
    if os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        record["note"] = (
            "MALLOC_TRIM_THRESHOLD_ is set in this process (Dask's nanny sets it by default): "
            "training runs several times slower; see book/using/executors.md"
        )
    return record


def _fork_loader_workers() -> None:
    """Let the ``DataLoader`` fork its worker, as in a plain Linux process.

    A Dask worker process is started with ``spawn``, and inherits it as its default start
    method: every epoch's ``DataLoader`` would then start a fresh interpreter and import torch
    (tens of seconds per epoch on a busy machine). The loader's batches carry their own seeds,
    so the start method does not change the result.
    """
    if (
        multiprocessing.get_start_method(allow_none=True) != "fork"
        and "fork" in multiprocessing.get_all_start_methods()
    ):
        multiprocessing.set_start_method("fork", force=True)


def _worker_executing(dask_worker: Any) -> list[str]:
    """Keys of the tasks a worker is executing now (not those queued for its resource)."""
    state = getattr(dask_worker, "state", None)
    return [str(ts.key) for ts in getattr(state, "executing", ())]


def _executing_keys(client: Any) -> set[str]:
    """Keys being executed on any worker. The scheduler's ``processing()`` also lists tasks that
    wait on a worker for its ``train`` resource, so it would count every queued spec as running.
    """
    try:
        return {k for keys in client.run(_worker_executing).values() for k in keys}
    except Exception:  # a worker that died between polls: report from the scheduler instead
        return {str(k) for keys in client.processing().values() for k in keys}


def grid_status_line(finished: int, running: Sequence[str], waiting: int, total: int) -> str:
    """``[grid] 3/12 finished, 2 running, 7 waiting: <running run keys>``."""
    line = f"[grid] {finished}/{total} finished, {len(running)} running, {waiting} waiting"
    return line + (": " + ", ".join(running) if running else "")


def _record_line(record: dict[str, Any]) -> str:
    how = "trained" if record["trained"] else "found finished"
    if record["resumed_from_epoch"]:
        how += f" (resumed after epoch {record['resumed_from_epoch']})"
    line = (
        f"[grid] {record['run_key']}: {how}, test macro F1 {record['macro_f1']:.4f}, "
        f"{record['threads']} threads, {record['seconds']:.0f} s"
    )
    return line + (f"\n[grid] note: {record['note']}" if record.get("note") else "")


def _prepare_seeds(
    specs: Sequence[ClassifierSpec], profile: Profile, run_dir: Path, data_dir, log: Log
) -> None:
    """Build the image cache and every seed's splits once, before any worker starts."""
    from marsutils.data.prepare import prepare_data

    for seed in sorted({s.seed for s in specs}):
        log(f"[grid] preparing the data and splits of seed {seed}")
        prepare_data(
            data_dir,
            splits=split_names(profile),
            seed=seed,
            max_images=profile.max_images,
            run_dir=run_dir,
        )


def train_grid(
    specs: Sequence[ClassifierSpec],
    profile: Profile,
    run_dir: str | os.PathLike,
    executor: Executor | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    device: str = "auto",
    log: Log = print,
    poll_s: float = 2.0,
    cluster_hook: Callable[[Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every spec of ``specs`` into ``run_dir`` on ``executor``; returns their records.

    Parameters
    ----------
    specs : sequence of ClassifierSpec
        Usually :func:`marsutils.study.experiments.grid`; run keys must be distinct.
    profile : Profile
        The profile of the run.
    run_dir : path
        The run folder.
    executor : Executor, optional
        Default: sequential in this process.
    data_dir : path, optional
        The HiRISE landmark folder; resolved here, and passed to workers as an absolute path.
    device : str
        Passed to every training.
    log : callable
        Receives the progress lines (finished, running and waiting specs; the dashboard link).
    poll_s : float
        Seconds between two progress checks on Dask.
    cluster_hook : callable, optional
        Called with the Dask ``Client`` once the tasks are submitted (tests use it to kill a
        worker mid-training).

    Returns
    -------
    list of dict
        :func:`train_spec`'s record of each spec, in the order of ``specs``.

    Raises
    ------
    GridError
        When run keys repeat, or a task failed after its retries (the specs that finished are
        kept in ``run_dir``; a re-run continues from them).
    """
    from marsutils.data.locate import locate_data_dir

    executor = executor or Executor()
    check_threads(profile, executor.threads_per_worker, "the executor's threads_per_worker")
    if executor.threads_per_worker is None and profile.torch_threads is not None:
        # a LocalCluster sizes its workers by the threads each training will use
        executor = dataclasses.replace(executor, threads_per_worker=profile.torch_threads)
    executor = executor.resolved()
    keys = [s.run_key for s in specs]
    if len(set(keys)) != len(keys):
        raise GridError(
            f"the grid repeats run keys: {sorted(k for k in keys if keys.count(k) > 1)}"
        )
    run_dir = Path(run_dir).resolve()
    data_dir = str(locate_data_dir(data_dir))
    log(f"[grid] {len(specs)} experiments of profile {profile.name!r} on {executor.describe()}")
    if not specs:
        return []
    prepare = functools.partial(_prepare_seeds, specs, profile, run_dir, data_dir, log)
    task = functools.partial(
        train_spec,
        profile=profile,
        run_dir=str(run_dir),
        data_dir=data_dir,
        device=device,
        threads=executor.threads_per_worker,
    )
    if executor.kind == "sequential":
        prepare()
        return _run_sequential(specs, task, run_dir, log)
    return _run_dask(specs, task, prepare, executor, log, poll_s, cluster_hook)


def _run_sequential(
    specs: Sequence[ClassifierSpec], task: Callable[..., dict[str, Any]], run_dir: Path, log: Log
) -> list[dict[str, Any]]:
    """The sequential executor: each spec's task in turn, in this process."""
    records = []
    for i, spec in enumerate(specs):
        log(grid_status_line(i, [spec.run_key], len(specs) - i - 1, len(specs)))
        try:
            records.append(task(spec, progress=True))
        except Exception as err:
            raise GridError(
                f"{spec.run_key} failed: {type(err).__name__}: {err}; the finished "
                f"experiments are kept in {run_dir}, and a re-run continues from them"
            ) from err
        log(_record_line(records[-1]))
    log(grid_status_line(len(specs), [], 0, len(specs)))
    return records


@contextlib.contextmanager
def _parent_environment_kept() -> Iterator[None]:
    """Undo what starting a LocalCluster does to *this* process.

    Starting the nannies writes the workers' ``pre-spawn-environ`` (``OMP_NUM_THREADS=1`` ...)
    into this process's environment too, and torch then uses one thread here. The notebooks that
    the pipeline runs after the grid inherit this environment, so without this they would run
    (and time the efficiency chapter) on one thread.
    """
    import torch

    keys = (*ENVIRON, "MALLOC_TRIM_THRESHOLD_")
    saved = {key: os.environ.get(key) for key in keys}
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _dask_client(executor: Executor) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    # workers must be able to start the DataLoader's child process (see the module docstring),
    # and run without Dask's default MALLOC_TRIM_THRESHOLD_=65536, which makes every large tensor
    # allocation a fresh mmap (training ran 3x slower with it); the settings are read whenever a
    # nanny (re)starts a worker, so they stay on while we run
    settings = {"distributed.worker.daemon": False, "distributed.nanny.pre-spawn-environ": ENVIRON}
    with dask.config.set(settings), _parent_environment_kept():
        if executor.scheduler:
            with Client(executor.scheduler) as client:
                yield client
            return
        with (
            LocalCluster(
                n_workers=executor.workers,
                threads_per_worker=executor.threads_per_worker,
                processes=True,
                resources={TRAIN_RESOURCE: 1},
                dashboard_address=executor.dashboard_address,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def _check_workers(client: Any, executor: Executor, log: Log) -> None:
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        log("[grid] the scheduler has no workers yet; the tasks wait for them")
        return
    if not any(w.get("resources", {}).get(TRAIN_RESOURCE) for w in workers.values()):
        raise GridError(
            f"no worker of {executor.scheduler} offers the resource {TRAIN_RESOURCE!r}; start "
            f"the workers with --resources {TRAIN_RESOURCE}=1 (one training per worker)"
        )


def _run_dask(
    specs: Sequence[ClassifierSpec],
    task: Callable[..., dict[str, Any]],
    prepare: Callable[[], None],
    executor: Executor,
    log: Log,
    poll_s: float,
    cluster_hook: Callable[[Any], None] | None,
) -> list[dict[str, Any]]:
    with _dask_client(executor) as client:
        log(f"[grid] Dask dashboard: {client.dashboard_link}")
        if executor.scheduler:
            _check_workers(client, executor, log)
        prepare()
        tag = uuid.uuid4().hex[:8]
        futures = {
            spec.run_key: client.submit(
                task,
                spec,
                key=f"train-{spec.run_key}-{tag}",
                resources={TRAIN_RESOURCE: 1},
                retries=executor.retries,
                pure=False,
            )
            for spec in specs
        }
        if cluster_hook is not None:
            cluster_hook(client)
        records, failures, last, last_time = {}, {}, None, 0.0
        while len(records) + len(failures) < len(futures):
            processing = _executing_keys(client)
            running = []
            for run_key, future in futures.items():
                if run_key in records or run_key in failures:
                    continue
                if future.status == "finished":
                    records[run_key] = future.result()
                    log(_record_line(records[run_key]))
                elif future.status in ("error", "cancelled"):
                    failures[run_key] = future.exception()
                    log(f"[grid] {run_key} failed: {failures[run_key]!r}")
                elif future.key in processing:
                    running.append(run_key)
            done = len(records) + len(failures)
            line = grid_status_line(done, running, len(futures) - done - len(running), len(futures))
            if line != last or time.monotonic() - last_time > 60:
                log(line)
                last, last_time = line, time.monotonic()
            if done < len(futures):
                time.sleep(poll_s)
        if failures:
            raise GridError(
                f"{len(failures)} of {len(futures)} experiments failed: "
                + "; ".join(f"{k}: {type(e).__name__}: {e}" for k, e in failures.items())
                + "; the finished ones are kept in the run folder, and a re-run continues"
            )
        return [records[spec.run_key] for spec in specs]
