"""The experiments of the study: which classifier, on which split, under which budget.

An :class:`ClassifierSpec` names a model configuration, a split, a training budget and a seed;
its :attr:`~ClassifierSpec.key` names the configuration's folder in the run directory and
:attr:`~ClassifierSpec.run_key` the seed's folder inside it (see :mod:`marsutils.core.layout`), so
the same spec asked for by two notebooks is trained once (``fit`` finds the finished run and loads
it), and seeds of one configuration never share a file. :func:`plan` lists the specs each notebook
needs under a profile, :func:`grid` all of them for a list of seeds; only the profile decides how
long things take. :func:`collect_results` and :func:`summarize_seeds` aggregate over seeds.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from marsutils.core.atomic import atomic_write, read_json
from marsutils.core.layout import ExperimentFiles, RunLayout, seed_folder
from marsutils.core.locks import exclusive
from marsutils.core.profiles import PRECISIONS, Profile, split_names
from marsutils.core.records import ClassifierMetrics
from marsutils.data.prepare import PreparedData
from marsutils.data.splits import parse_split
from marsutils.models import ABLATION_NAMES as ABLATION_MODELS
from marsutils.models import BASELINE_NAMES as BASELINE_MODELS
from marsutils.train import FitConfig, fit, seed_everything
from marsutils.train.runtime import torch_threads

__all__ = [
    "ClassifierSpec",
    "ExperimentResult",
    "plan",
    "grid",
    "NOTEBOOK_PLANS",
    "run_classifier",
    "load_result",
    "load_headline",
    "load_trained",
    "EXPLAINED_FOLDS",
    "loaded_by_later_chapters",
    "evaluate_tta",
    "pool_folds",
    "pooled_split",
    "test_split",
    "headline_over_seeds",
    "collect_results",
    "summarize_seeds",
    "summarize_folds",
    "results_over_seeds",
    "ABLATION_MODELS",
    "BASELINE_MODELS",
]

#: The plans of :func:`plan`, in the order the notebooks run them.
NOTEBOOK_PLANS = ("training", "scratch", "ablation", "baselines")

#: Resamples of each experiment's own metric intervals (``metrics.json``). The comparisons and
#: verdicts use the profile's ``n_boot`` instead; ``book/methods.md`` quotes both.
EXPERIMENT_N_BOOT = 1000


@dataclass(frozen=True)
class ClassifierSpec:
    """One classifier experiment: a configuration trained under one ``seed``.

    The seed fixes the split (see :func:`marsutils.data.prepare_data`), the initialisation of
    the new layers, the class-balanced sampling order and the augmentation.
    """

    model: str
    split: str
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    image_size: int = 160
    epochs: int = 3
    samples_per_epoch: int | None = None
    group: str = "main"
    seed: int = 0
    precision: str | None = None

    def __post_init__(self) -> None:
        seed_folder(self.seed)  # raises ValueError for a negative or non-integer seed
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ValueError(f"precision must be None or one of {PRECISIONS}; got {self.precision}")

    @property
    def key(self) -> str:
        """The configuration's folder name: changes whenever anything but the seed that changes
        the result changes (the seed's folder is :attr:`run_key`)."""
        budget = f"{self.image_size}px-{self.epochs}ep"
        if self.samples_per_epoch:
            budget += f"-{self.samples_per_epoch}spe"
        weights = Path(self.weights).stem if os.sep in str(self.weights) else self.weights
        precision = f"-{self.precision}" if self.precision else ""
        return f"{self.split}/{self.model}{precision}-{self.backbone}-{weights}-{budget}"

    @property
    def run_key(self) -> str:
        """The experiment's folder under ``<run_dir>/experiments``: ``<key>/seed<k>``."""
        return f"{self.key}/{seed_folder(self.seed)}"

    def identity(self) -> dict[str, Any]:
        """Everything that changes the result, the seed included (``group`` only says which
        chapter asked)."""
        out = dataclasses.asdict(self)
        del out["group"]
        if out["precision"] is None:  # the profile's precision: as in records made before it
            del out["precision"]
        return out

    @property
    def label(self) -> str:
        """A short human-readable name for tables."""
        extra = "" if self.weights == "imagenet" else f", {self.weights}"
        extra += f", {self.precision}" if self.precision else ""
        return f"{self.model} ({self.backbone}{extra}, {self.image_size}px, {self.epochs} ep)"

    @property
    def split_kind(self) -> str:
        """``"family"``, ``"paper"`` or ``"official"``: the split, or the kind of a CV fold."""
        return parse_split(self.split).kind

    @property
    def fold(self) -> int | None:
        """The cross-validation fold the spec is tested on (None for a hold-out split)."""
        return parse_split(self.split).fold


@dataclass
class ExperimentResult:
    """A finished experiment: its spec, metrics, predictions, history and folder."""

    spec: ClassifierSpec
    metrics: dict[str, Any]
    test_predictions: pd.DataFrame
    history: list[dict[str, float]]
    out_dir: Path
    trained_now: bool
    resumed_from_epoch: int = 0
    #: The fold results a pooled result was made of (:func:`pool_folds`); empty otherwise.
    folds: list[ExperimentResult] = dataclasses.field(default_factory=list)


#: The family-split folds whose proposed model the later chapters load: chapter 05 explains the
#: fold-0 model and repeats its tests on the fold-1 model, chapter 07 points with the fold-0 model.
EXPLAINED_FOLDS = (0, 1)


def loaded_by_later_chapters(spec: ClassifierSpec) -> bool:
    """Whether a later chapter loads the weights of ``spec`` (so chapter 02 must keep them).

    True for the proposed model on the family split's :data:`EXPLAINED_FOLDS` (or its hold-out
    split). Every other experiment is read from its records alone: its test-time-augmented
    predictions are cached beside its single-view ones (:func:`evaluate_tta`), and its external
    predictions are written when it trains (``scripts/reference_run.py``), so a run folder that
    lost its weights trains only these again.

    Parameters
    ----------
    spec : ClassifierSpec
        A spec of :func:`plan`.

    Returns
    -------
    bool
    """
    return (
        spec.model == "full"
        and spec.split_kind == "family"
        and (spec.fold is None or spec.fold in EXPLAINED_FOLDS)
    )


def plan(profile: Profile, notebook: str, seed: int = 0) -> list[ClassifierSpec]:
    """The classifier experiments ``notebook`` (training, ablation, baselines, scratch) needs
    under ``seed``.

    Raises
    ------
    ValueError
        For an unknown ``notebook`` or an invalid ``seed``.
    """
    main = dict(
        seed=seed,
        backbone=profile.backbone,
        weights=profile.weights,
        image_size=profile.image_size,
        epochs=profile.epochs,
        samples_per_epoch=profile.samples_per_epoch,
    )
    side = dict(
        main,
        image_size=profile.ablation_image_size or profile.image_size,
        epochs=profile.ablation_epochs or profile.epochs,
        samples_per_epoch=profile.ablation_samples or profile.samples_per_epoch,
    )
    names = split_names(profile)
    family = [n for n in names if parse_split(n).kind == "family"]
    paper = [n for n in names if parse_split(n).kind == "paper"]
    if notebook == "training":
        return [ClassifierSpec("full", split, **main) for split in names]
    if notebook == "ablation":
        specs = [
            ClassifierSpec(m, split, group="ablation", **side)
            for split in family
            for m in ABLATION_MODELS
        ]
        if profile.precision_effect:
            specs += [
                ClassifierSpec("plain", split, group="precision", precision="bf16", **side)
                for split in family
            ]
        if paper and profile.paper_split_ablation:
            specs += [
                ClassifierSpec(m, split, group="ablation", **side)
                for split in paper
                for m in (*profile.paper_split_ablation, "full")
            ]
        return specs
    if notebook == "baselines":
        return [
            ClassifierSpec(m, split, group="baselines", **side)
            for split in family
            for m in (*BASELINE_MODELS, "full")
        ]
    if notebook == "scratch":
        if not profile.scratch_epochs:
            return []
        return [
            ClassifierSpec(
                m,
                split,
                backbone="resnet50",
                weights="none",
                image_size=profile.scratch_image_size,
                epochs=profile.scratch_epochs,
                samples_per_epoch=profile.scratch_samples or None,
                group="scratch",
                seed=seed,
            )
            for split in family
            for m in ("plain", "full")
        ]
    raise ValueError(f"unknown notebook {notebook!r}; use training, ablation, baselines, scratch")


def grid(
    profile: Profile, seeds: tuple[int, ...] | list[int] | None = None
) -> list[ClassifierSpec]:
    """Every classifier experiment of ``profile``: all notebooks' plans, for every seed.

    Parameters
    ----------
    profile : Profile
        The profile that sets every budget.
    seeds : sequence of int, optional
        The seeds (default ``profile.seeds``), each a non-negative integer.

    Returns
    -------
    list of ClassifierSpec
        One spec per distinct :attr:`~ClassifierSpec.run_key`, seed by seed in the order the
        notebooks ask for them; a spec two notebooks share appears once (with the ``group`` of
        the first notebook that asks for it). Paper-split specs appear for the first
        ``profile.paper_split_seeds`` seeds only (all when None).

    Raises
    ------
    ValueError
        For an empty, repeated or negative seed list.
    """
    seeds = tuple(profile.seeds if seeds is None else seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers; got {seeds}")
    n_paper = len(seeds) if profile.paper_split_seeds is None else profile.paper_split_seeds
    specs: dict[str, ClassifierSpec] = {}
    for index, seed in enumerate(seeds):
        for notebook in NOTEBOOK_PLANS:
            for spec in plan(profile, notebook, seed=seed):
                if spec.split_kind == "paper" and index >= n_paper:
                    continue  # the leaky reference split: the first paper_split_seeds seeds only
                specs.setdefault(spec.run_key, spec)
    return list(specs.values())


def _evaluate(predictions: pd.DataFrame, data: PreparedData, seed: int) -> dict:
    """Metrics of test predictions with intervals that resample twin families (not images)."""
    from marsutils.stats.metrics import evaluate_predictions

    return evaluate_predictions(
        predictions["y_true"].to_numpy(),
        predictions["y_pred"].to_numpy(),
        class_names=list(data.class_names),
        n_boot=EXPERIMENT_N_BOOT,
        random_state=seed,
        groups=data.families[predictions["row"].to_numpy()],
    )


def _read_metrics(path: Path) -> dict[str, Any] | None:
    """The :class:`~marsutils.core.records.ClassifierMetrics` in ``path`` as a dict, or None if
    absent; RecordError names the file and field of one that does not read."""
    record = ClassifierMetrics.read(path)
    return None if record is None else record.as_dict()


def _clustered(metrics: dict) -> bool:
    """Whether cached metrics were computed with the twin-family bootstrap."""
    return "twin families" in str(metrics.get("settings", {}).get("interval", ""))


def _check_same_data(out_dir: Path, data: PreparedData, spec: ClassifierSpec) -> None:
    """Refuse to reuse a finished experiment trained on other data (another data fingerprint)."""
    from marsutils.data.errors import DataError

    done = ExperimentFiles(out_dir).done
    if not done.is_file():
        return
    recorded = (read_json(done).get("model") or {}).get("data_fingerprint")
    if recorded is None:
        raise DataError(
            f"{out_dir} holds {spec.label} trained before runs recorded their data fingerprint, "
            "so it cannot be shown to match the current data. Delete that folder or use a new "
            "run directory."
        )
    if recorded != data.fingerprint:
        raise DataError(
            f"{out_dir} holds {spec.label} trained on other data (data fingerprint {recorded}, "
            f"now {data.fingerprint}): a label, image or row changed since it ran. Delete that "
            "folder or use a new run directory to train on the current data."
        )


def run_classifier(
    spec: ClassifierSpec,
    data: PreparedData,
    profile: Profile,
    run_dir: str | os.PathLike,
    *,
    seed: int | None = None,
    device: str | None = None,
    progress: bool = True,
    need_weights: bool = False,
) -> ExperimentResult:
    """Train ``spec`` (or load it when already finished), evaluate its test predictions.

    ``need_weights=True`` makes sure the weights are in the run folder: a finished run restored
    from its committed records alone is trained again (see :func:`marsutils.train.fit`), so a
    lost run folder costs only the models a later chapter loads.

    The files go to ``<run_dir>/experiments/<spec.run_key>`` (see :mod:`marsutils.core.layout`).
    ``data`` must have been prepared with ``spec.seed`` (its splits are the seed's); ``seed``,
    when given, must equal ``spec.seed`` (a spec carries its seed; see :func:`plan`).

    Raises
    ------
    ValueError
        When ``seed`` disagrees with ``spec.seed``, or ``spec.split`` was not prepared.

    Notes
    -----
    One process at a time trains an experiment: the folder's lock
    (:func:`marsutils.core.locks.exclusive`) makes a second writer print who holds it and wait; it
    then finds the first writer's ``done.json`` and loads the result instead of training.
    """
    if seed is not None and seed != spec.seed:
        raise ValueError(
            f"run_classifier got seed={seed} for a spec of seed {spec.seed}; "
            "ask plan(profile, notebook, seed=...) for the seed's specs"
        )
    seed = spec.seed
    if spec.split not in data.splits:
        raise ValueError(f"split {spec.split!r} was not prepared; have {sorted(data.splits)}")
    out_dir = RunLayout(run_dir).experiment_dir(spec.key, seed)
    # one writer per experiment (marsutils.core.locks): a second one, such as a task that Dask runs
    # twice, waits for the first and then finds its done.json, so it trains nothing
    with exclusive(out_dir, what=f"training {spec.run_key}"):
        return _run_locked(spec, data, profile, out_dir, seed, device, progress, need_weights)


def _run_locked(spec, data, profile, out_dir, seed, device, progress, need_weights):
    from marsutils.models import build_model

    _check_same_data(out_dir, data, spec)
    seed_everything(seed)
    model = build_model(
        spec.model,
        num_classes=len(data.class_names),
        backbone=spec.backbone,
        weights=spec.weights,
        pooling=profile.pooling,
    )
    config = FitConfig.from_profile(
        profile,
        seed=seed,
        epochs=spec.epochs,
        image_size=spec.image_size,
        samples_per_epoch=spec.samples_per_epoch,
        precision=spec.precision or profile.precision,
    )
    with torch_threads(profile.torch_threads):
        result = _fit(model, data, spec, config, out_dir, device, progress, need_weights)
        return _finish(spec, data, result, out_dir)


def _fit(model, data, spec, config, out_dir, device, progress, need_weights):
    """:func:`marsutils.train.fit` of ``spec``'s model with the run's model record."""
    return fit(
        model,
        data.images,
        data.splits[spec.split],
        config,
        out_dir,
        model_config={
            **getattr(model, "config", {}),
            "spec": spec.identity(),
            "data_fingerprint": data.fingerprint,
            "class_names": list(data.class_names),
        },
        device=device,
        progress=progress,
        need_weights=need_weights,
    )


def _finish(spec, data, result, out_dir: Path) -> ExperimentResult:
    """Evaluate (or read the evaluation of) a finished run and write its ``metrics.json``."""
    import torch

    seed = spec.seed
    metrics_path = ExperimentFiles(out_dir).metrics
    metrics = _read_metrics(metrics_path) if not result.trained else None
    if metrics is None or not _clustered(metrics):
        done = read_json(ExperimentFiles(out_dir).done)
        train_time_s = float(sum(h["epoch_time_s"] for h in result.history))
        record = ClassifierMetrics.from_evaluation(
            _evaluate(result.test_predictions, data, seed),
            spec=spec.identity(),
            data_fingerprint=data.fingerprint,
            best_epoch=result.best_epoch,
            epochs_run=len(result.history),
            train_time_s=train_time_s,
            # the experiment's wall time: its epochs (training + validation), final predictions
            wall_time_s=train_time_s + float(done.get("final_predict_s", 0)),
            selection=done.get("selection", "best_val_macro_f1"),
            torch_threads=torch.get_num_threads(),
            precision=result.precision,  # what fit() trained and predicted in
            precision_reason=result.precision_reason,
        )
        record.to_json(metrics_path)
        metrics = record.as_dict()
    return ExperimentResult(
        spec,
        metrics,
        result.test_predictions,
        result.history,
        out_dir,
        result.trained,
        result.resumed_from_epoch if result.trained else 0,
    )


def load_result(run_dir: str | os.PathLike, spec: ClassifierSpec) -> dict[str, Any] | None:
    """The saved metrics of ``spec`` (under ``spec.seed``) in ``run_dir``, or None."""
    return _read_metrics(RunLayout(run_dir).metrics(spec.key, spec.seed))


def collect_results(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per finished experiment and seed in ``run_dir``: its spec and headline metrics.

    Columns: the spec's fields, ``seed``, ``key`` (the configuration, the same for every seed),
    ``run_key``, each overall metric, its interval (``<name>_low``, ``<name>_high``),
    ``train_time_s`` and ``precision`` (None in files written before it was recorded). A
    pre-seed run folder's experiments count as seed 0
    (see :mod:`marsutils.core.layout`).
    """
    rows = []
    for key, seed, folder in RunLayout(run_dir).finished():
        metrics = _read_metrics(ExperimentFiles(folder).metrics)
        row = dict(metrics.get("spec", {}))
        row["seed"] = seed
        row["key"] = key
        row["run_key"] = f"{key}/{seed_folder(seed)}"
        for name, value in metrics.get("overall", {}).items():
            if isinstance(value, (int, float)):
                row[name] = value
        for name, ci in (metrics.get("ci") or {}).items():
            row[f"{name}_low"], row[f"{name}_high"] = ci["low"], ci["high"]
        row["train_time_s"] = metrics.get("train_time_s")
        row["precision"] = metrics.get("precision")
        rows.append(row)
    return pd.DataFrame(rows)


def summarize_seeds(
    results: pd.DataFrame,
    metrics: tuple[str, ...] = ("accuracy", "macro_f1", "mean_iou"),
) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each configuration's test metrics.

    Parameters
    ----------
    results : DataFrame
        Rows of :func:`collect_results` (one per configuration and seed), possibly filtered.
    metrics : tuple of str
        Overall metric columns to aggregate (fractions in [0, 1]).

    Returns
    -------
    DataFrame
        One row per ``key`` (configuration), in first-seen order, with ``model``, ``split``,
        ``n_seeds``, ``seeds`` (sorted, comma-separated) and ``<metric>_mean``,
        ``<metric>_sd`` for each metric. The SD is the sample standard deviation over seeds
        (``ddof=1``, NaN for a single seed): it measures seed-to-seed spread, not the uncertainty
        from the finite test set (that is the bootstrap interval of each seed's metrics).
    """
    from marsutils.stats.significance import seed_table

    missing = sorted({"key", "seed", *metrics} - set(results.columns))
    if missing:
        raise ValueError(f"results lack column(s) {missing}; pass collect_results(run_dir)")
    if results.empty:
        columns = ["key", "model", "split", "n_seeds", "seeds"]
        return pd.DataFrame(columns=columns + [f"{m}_{s}" for m in metrics for s in ("mean", "sd")])
    table = seed_table(results, by="key", metrics=list(metrics))
    first = results.groupby("key", sort=False).first()
    for name in ("split", "model"):
        if name in results:
            table.insert(1, name, table["key"].map(first[name]))
    seeds = results.groupby("key", sort=False)["seed"]
    table["n_seeds"] = table["key"].map(seeds.nunique()).astype(int)
    table["seeds"] = table["key"].map(seeds.agg(lambda s: ",".join(str(k) for k in sorted(set(s)))))
    for name in metrics:  # one seed: no SD (NaN in a table, None in seed_table's JSON form)
        table[f"{name}_sd"] = table[f"{name}_sd"].astype(float)
    return table


def summarize_folds(
    results: pd.DataFrame,
    metrics: tuple[str, ...] = ("accuracy", "macro_f1", "mean_iou"),
) -> pd.DataFrame:
    """Mean and standard deviation over the fold models of each cross-validated configuration.

    The folds of a configuration (splits ``<kind>-cv<K>-f<k>``, every seed) become one row whose
    split is the pooled name ``<kind>-cv<K>`` (:func:`marsutils.data.splits.parse_split`); a
    configuration on a hold-out split is summarized over its seeds as in
    :func:`summarize_seeds`.

    Parameters
    ----------
    results : DataFrame
        Rows of :func:`collect_results` (one per configuration, fold and seed).
    metrics : tuple of str
        Overall metric columns to aggregate (fractions in [0, 1]).

    Returns
    -------
    DataFrame
        One row per pooled configuration, in first-seen order, with the columns of
        :func:`summarize_seeds` (``seeds``, ``n_seeds``) and ``n_folds`` (K, 0 for a hold-out
        split) and ``n_models`` (the fold models x seeds averaged). The SD (``ddof=1``) is the
        spread between the fold models: it mixes the folds' different test images with training
        randomness, and is not the uncertainty of the pooled score (the family-bootstrap
        interval of the pooled out-of-fold predictions, :func:`pool_folds`, is).

    Raises
    ------
    ValueError
        When ``results`` lacks the ``key``, ``split``, ``seed`` or a metric column.
    """
    missing = sorted({"key", "split", "seed", *metrics} - set(results.columns))
    if missing:
        raise ValueError(f"results lack column(s) {missing}; pass collect_results(run_dir)")
    names = [parse_split(s) for s in results["split"]]
    pooled = [
        f"{n.kind}-cv{n.folds}" if n.is_fold else s
        for n, s in zip(names, results["split"], strict=True)
    ]
    keys = [
        p + key[len(split) :] if key.startswith(split) else key
        for key, split, p in zip(results["key"], results["split"], pooled, strict=True)
    ]
    frame = results.assign(key=keys, split=pooled)
    table = summarize_seeds(frame, metrics)  # grouped by the pooled key: folds x seeds
    folds = {p: n.folds if n.is_fold else 0 for p, n in zip(pooled, names, strict=True)}
    table["n_folds"] = table["split"].map(folds).astype(int)
    table["n_models"] = table["key"].map(frame.groupby("key", sort=False).size()).astype(int)
    return table


def results_over_seeds(run_dir: str | os.PathLike, specs: list[ClassifierSpec]) -> pd.DataFrame:
    """:func:`summarize_seeds` of the configurations of ``specs``, over every seed in ``run_dir``.

    Parameters
    ----------
    run_dir : path
        The run folder.
    specs : list of ClassifierSpec
        The configurations to show (their seeds do not matter), in the order of the rows.

    Returns
    -------
    DataFrame
        One row per configuration with at least one finished seed (see :func:`summarize_seeds`).
    """
    keys = list(dict.fromkeys(s.key for s in specs))
    results = collect_results(run_dir)
    if results.empty:
        return summarize_seeds(
            pd.DataFrame(columns=["key", "seed", "accuracy", "macro_f1", "mean_iou"])
        )
    results = results[results["key"].isin(keys)]
    results = results.iloc[results["key"].map(keys.index).argsort(kind="stable")]
    return summarize_seeds(results)


def load_headline(
    run_dir: str | os.PathLike, spec: ClassifierSpec, profile: Profile
) -> dict[str, Any] | None:
    """The metrics the book reports for a main model: with ``profile.tta_views`` views when the
    profile asks for test-time augmentation (see :func:`evaluate_tta`), else single-view."""
    if profile.tta_views > 1:
        return _read_metrics(RunLayout(run_dir).tta_metrics(spec.key, spec.seed, profile.tta_views))
    return load_result(run_dir, spec)


def load_trained(
    spec: ClassifierSpec, run_dir: str | os.PathLike, profile: Profile, num_classes: int = 8
):
    """The best weights of a finished experiment (``spec`` under ``spec.seed``), as a model in
    eval mode."""
    path = RunLayout(run_dir).best_model(spec.key, spec.seed)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run the notebook that trains {spec.label} first"
        )
    return _load_weights(path, spec, profile, num_classes)


def _load_weights(path: Path, spec: ClassifierSpec, profile: Profile, num_classes: int):
    from marsutils.models import build_model
    from marsutils.train.checkpoint import load_checkpoint

    model = build_model(
        spec.model,
        num_classes=num_classes,
        backbone=spec.backbone,
        weights="none",
        pooling=profile.pooling,
    )
    model.load_state_dict(load_checkpoint(path)["model"])
    return model.eval()


def pool_folds(
    results: list[ExperimentResult] | Mapping[Any, ExperimentResult], data: PreparedData
) -> list[ExperimentResult]:
    """Pool the cross-validation folds of each configuration into one result on every image.

    Parameters
    ----------
    results : list or mapping of ExperimentResult
        Finished experiments; those on CV folds (split ``<kind>-cv<K>-f<k>``) of one
        configuration and seed are pooled, the others (hold-out splits) pass through.
    data : PreparedData
        The prepared data (for the evaluation's twin families).

    Returns
    -------
    list of ExperimentResult
        One per configuration, in the order of first appearance. A pooled result's spec has the
        split ``<kind>-cv<K>`` (:func:`marsutils.data.splits.parse_split`), its
        ``test_predictions`` hold every tested image once (sorted by row), its ``metrics`` are
        those of the pooled predictions (intervals over twin families), ``history`` is the
        first fold's, and ``folds`` holds the fold results.

    Raises
    ------
    ValueError
        If two folds of a configuration test the same image, or a fold is missing.
    """
    items = list(results.values()) if isinstance(results, Mapping) else list(results)
    groups: dict[tuple, list[ExperimentResult]] = {}
    for r in items:
        name = parse_split(r.spec.split)
        key = (
            (dataclasses.replace(r.spec, split=name.kind, group="main"), name.folds)
            if name.is_fold
            else (r.spec, None)
        )
        groups.setdefault(key, []).append(r)
    out = []
    for (base, k), members in groups.items():
        if k is None:
            out.extend(members)
            continue
        folds = sorted(members, key=lambda r: r.spec.fold)
        if [r.spec.fold for r in folds] != list(range(k)):
            raise ValueError(f"{base.label}: folds {[r.spec.fold for r in folds]} of {k}")
        test = pd.concat([r.test_predictions for r in folds]).sort_values("row")
        if test["row"].duplicated().any():
            raise ValueError(f"{base.label}: two folds test the same image")
        test = test.reset_index(drop=True)
        first = folds[0]
        metrics = {
            **first.metrics,
            **_evaluate(test, data, base.seed),
            "spec": {**first.metrics.get("spec", {}), "split": f"{base.split}-cv{k}"},
            "train_time_s": sum(r.metrics.get("train_time_s") or 0 for r in folds),
        }
        spec = dataclasses.replace(first.spec, split=f"{base.split}-cv{k}")
        out.append(
            ExperimentResult(
                spec,
                metrics,
                test,
                first.history,
                first.out_dir,
                any(r.trained_now for r in folds),
                folds=folds,
            )
        )
    return out


def pooled_split(data: PreparedData, kind: str, folds: int) -> pd.DataFrame:
    """The split frame of pooled CV folds: every fold's test part as ``test``, and the first
    fold's training part as ``train`` (for a yardstick that learns from training labels)."""
    names = [f"{kind}-cv{folds}-f{k}" for k in range(folds)]
    missing = [n for n in names if n not in data.splits]
    if missing:
        raise ValueError(f"folds {missing} were not prepared; have {sorted(data.splits)}")
    tests = [data.splits[n][data.splits[n]["subset"] == "test"] for n in names]
    first = data.splits[names[0]]
    return pd.concat([*tests, first[first["subset"] == "train"]], ignore_index=True)


def test_split(data: PreparedData, profile: Profile, kind: str = "family") -> pd.DataFrame:
    """The split frame whose test part the chapter's pooled results cover: the hold-out split
    ``kind``, or under cross-validation :func:`pooled_split` of its folds."""
    if profile.cv_folds:
        return pooled_split(data, kind, profile.cv_folds)
    return data.splits[kind]


def evaluate_tta(
    result: ExperimentResult,
    data: PreparedData,
    profile: Profile,
    *,
    views: int,
    seed: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Test metrics of a finished experiment with ``views``-view dihedral test-time augmentation.

    The probabilities are averaged over the views (see :func:`~marsutils.train.predict_proba`),
    computed in the precision the experiment was trained in (its ``metrics["precision"]``);
    predictions and metrics are cached next to the single-view ones as
    ``predictions_test_tta<views>.csv`` and ``metrics_tta<views>.json``.
    """
    import torch

    from marsutils.train import predict_proba, resolve_device, resolve_precision
    from marsutils.train.engine import predictions_frame

    if result.folds:  # pooled CV folds: each fold's TTA, pooled
        frames = []
        for fold in result.folds:
            evaluate_tta(fold, data, profile, views=views, seed=seed, device=device)
            frames.append(pd.read_csv(ExperimentFiles(fold.out_dir).predictions("test", views)))
        frame = pd.concat(frames).sort_values("row").reset_index(drop=True)
        frame = frame.rename(columns={"label": "y_true"}) if "label" in frame else frame
        return {
            **_evaluate(frame, data, result.spec.seed if seed is None else seed),
            "spec": result.metrics.get("spec"),
            "tta_views": views,
            "precision": result.metrics.get("precision"),
        }
    spec = result.spec
    files = ExperimentFiles(result.out_dir)
    metrics_path = files.tta_metrics(views)
    cached = _read_metrics(metrics_path)
    if cached is not None and _clustered(cached):
        return cached
    model = _load_weights(files.best, spec, profile, len(data.class_names))
    model = model.to(resolve_device(device), memory_format=torch.channels_last)
    test = result.test_predictions
    # the run's own precision; a run recorded without one: $MARS_PRECISION, then auto
    precision = resolve_precision(result.metrics.get("precision"), device)
    probs = predict_proba(
        model,
        data.images,
        test["row"].to_numpy(),
        image_size=spec.image_size,
        device=device,
        views=views,
        precision=precision,
    )
    frame = predictions_frame(test.rename(columns={"y_true": "label"}), probs)
    atomic_write(
        files.predictions("test", views),
        lambda tmp: frame.to_csv(tmp, index=False),
    )
    record = ClassifierMetrics.from_evaluation(
        _evaluate(frame, data, spec.seed if seed is None else seed),
        spec=spec.identity(),
        tta_views=views,
        precision=precision,
    )
    record.to_json(metrics_path)
    return record.as_dict()


def headline_over_seeds(
    profile: Profile,
    run_dir: str | os.PathLike,
    data_for_seed: Callable[[int], PreparedData],
    *,
    split: str = "family",
    device: str | None = None,
) -> dict[int, dict[str, Any]]:
    """The headline test metrics of the main model on ``split`` under every seed of ``profile``.

    The headline is what the book reports for the proposed model: ``profile.tta_views``-view
    test-time augmentation when the profile asks for it (:func:`evaluate_tta`, cached beside each
    seed's single-view files), else the single-view metrics. Each seed's run is loaded when
    finished; weights lost with the run folder are trained again (``need_weights=True``; training
    is deterministic, so they are the same). The findings then resample seeds, then twin families
    (:func:`marsutils.stats.significance.bootstrap_over_seeds`) from the saved TTA predictions.

    Parameters
    ----------
    profile : Profile
        Its ``seeds`` and ``tta_views``.
    run_dir : path
        The run folder.
    data_for_seed : callable
        ``data_for_seed(seed)`` gives the data prepared with that seed's splits (e.g.
        :meth:`marsutils.book.notebook.NotebookContext.data_for_seed`).
    split : str, default="family"
        The split; the paper split trains seed 0 only.
    device : str, optional
        Where to predict.

    Returns
    -------
    dict
        ``{seed: metrics}`` (a :class:`~marsutils.core.records.ClassifierMetrics` as a dict), in the
        order of ``profile.seeds``.

    Raises
    ------
    ValueError
        If the profile's training plan has no main model on ``split``.
    """
    out: dict[int, dict[str, Any]] = {}
    for seed in profile.seeds:
        spec = next((s for s in plan(profile, "training", seed=seed) if s.split == split), None)
        if spec is None:
            raise ValueError(f"profile {profile.name!r} trains no main model on the {split} split")
        data = data_for_seed(seed)
        result = run_classifier(
            spec, data, profile, run_dir, device=device, progress=False, need_weights=True
        )
        if profile.tta_views > 1:
            out[seed] = evaluate_tta(
                result, data, profile, views=profile.tta_views, seed=seed, device=device
            )
        else:
            out[seed] = result.metrics
    return out
