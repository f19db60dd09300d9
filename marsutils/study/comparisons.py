"""The classifier chapters' comparisons: paired tests between trained runs on the same test images,
the majority-class yardstick, and the runs' saved predictions (study layer, chapters 02-04).

Adding a comparison to a chapter touches three places: a function here that returns raw numbers
(one row per pair and metric), a record in :mod:`marsutils.core.records` with ``to_json`` /
``from_json`` (and a ``from_frame`` for this function's output), and the chapter's notebook,
which calls the function, saves the record with ``record.to_json(ctx.layout.result(record.FILE))``
and shows it (through :mod:`marsutils.book.reporting` or
:func:`marsutils.book.display.format_frame`); plus their tests. :func:`seed_margins` and
:class:`~marsutils.core.records.SeedComparisons` are an example.

Every interval is a percentile bootstrap over twin families when the caller passes them
(``groups``, or the split file's ``family`` column): rotated and flipped copies of one image count
once (see :func:`marsutils.stats.metrics.bootstrap_weights`). Functions return raw numbers
(fractions); :mod:`marsutils.book.reporting` formats them for the page, and
:mod:`marsutils.core.records` saves them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from marsutils.core.layout import RunLayout
from marsutils.core.records import run_name
from marsutils.stats.crossval import cv_paired_difference, seeds_paired_difference
from marsutils.stats.metrics import evaluate_predictions
from marsutils.stats.significance import seed_summary

__all__ = [
    "FamilyMap",
    "family_lookup",
    "families_of",
    "paired_comparisons",
    "read_history",
    "majority_class_evaluation",
    "saved_predictions",
    "seed_histories",
    "seed_margins",
    "yardstick_evaluations",
]

#: A twin-family lookup: a Series or mapping from key to family, or an array indexed by row.
FamilyMap = pd.Series | Mapping[Any, Any] | Sequence[Any] | np.ndarray


def _read_split(split: str | os.PathLike | pd.DataFrame, needed: set[str]) -> pd.DataFrame:
    name = "the split table" if isinstance(split, pd.DataFrame) else f"split file {split}"
    frame = split if isinstance(split, pd.DataFrame) else pd.read_csv(split)
    missing = needed - set(frame.columns)
    if missing:
        raise ValueError(f"{name} lacks the column(s) {sorted(missing)}")
    return frame


def family_lookup(split: str | os.PathLike | pd.DataFrame, *, by: str = "row") -> pd.Series:
    """The twin family of each image of a split, indexed by ``row`` or ``image``.

    Parameters
    ----------
    split : path or DataFrame
        A split file (``splits/<split>-seed<k>.csv``) or table with ``row``, ``image`` and
        ``family`` columns, as :func:`marsutils.data.make_split` writes it. A family is a property
        of the image, so any split of the same data gives the same lookup.
    by : {"row", "image"}, default="row"
        The key: the dataset row (predictions' ``row`` column) or the image name (the ids of the
        explained images).

    Returns
    -------
    Series
        ``family`` indexed by ``by``.

    Raises
    ------
    ValueError
        If a column is missing, ``by`` is neither key, or a key repeats.
    """
    if by not in ("row", "image"):
        raise ValueError(f"by must be 'row' or 'image'; got {by!r}")
    frame = _read_split(split, {by, "family"})
    if frame[by].duplicated().any():
        where = "the split table" if isinstance(split, pd.DataFrame) else f"split file {split}"
        repeated = frame.loc[frame[by].duplicated(), by].head(3).tolist()
        raise ValueError(f"{where}: {by} values repeat ({repeated}), so no family lookup by {by}")
    return frame.set_index(by)["family"]


def families_of(keys: Sequence[Any] | np.ndarray | pd.Series, groups: FamilyMap) -> np.ndarray:
    """The family of each key (a dataset row or image id) under ``groups``.

    ``groups`` is a Series or mapping from key to family (:func:`family_lookup`), or an array
    indexed by dataset row (``PreparedData.families``). Raises ValueError naming keys it lacks.
    """
    keys = pd.Series(np.asarray(keys))
    if isinstance(groups, pd.Series | Mapping):
        lookup = groups if isinstance(groups, pd.Series) else pd.Series(dict(groups))
        missing = ~keys.isin(lookup.index)
        if missing.any():
            raise ValueError(f"no twin family for {keys[missing].head(3).tolist()} in groups")
        return lookup.loc[keys].to_numpy()
    array = np.asarray(groups)
    rows = keys.to_numpy()
    if not np.issubdtype(rows.dtype, np.integer):
        raise ValueError("an array of families is indexed by dataset row; the keys are not rows")
    bad = (rows < 0) | (rows >= len(array))
    if bad.any():
        raise ValueError(f"rows {rows[bad][:3].tolist()} are outside the {len(array)} families")
    return array[rows]


def paired_comparisons(
    predictions: Mapping[str, pd.DataFrame],
    pairs: Sequence[tuple[str, str]],
    *,
    metrics: Sequence[str] = ("accuracy", "macro_f1"),
    n_boot: int = 1000,
    random_state: int = 0,
    groups: FamilyMap | None = None,
) -> pd.DataFrame:
    """For each ``(a, b)``: metric(a) - metric(b) on the same test images, with a paired interval.

    Parameters
    ----------
    predictions : mapping of str to DataFrame
        Run name to its test predictions (columns ``row, y_true, y_pred``); the two runs of a
        pair must cover the same test images.
    pairs : sequence of (str, str)
        The ``(a, b)`` pairs to compare.
    metrics : sequence of str
        Metrics of :func:`marsutils.stats.crossval.cv_paired_difference`: the class-stratified
        family bootstrap the findings use too, so that a chapter and the findings print one
        interval for one quantity (same predictions, ``n_boot`` and seed).
    n_boot, random_state : int
        Bootstrap resamples and seed.
    groups : Series, mapping or array, optional
        The twin family of each image: a Series or mapping from dataset row to family
        (:func:`family_lookup`), or an array indexed by dataset row (``ctx.data.families``).
        With it every interval resamples whole families (a cluster bootstrap); without it,
        images.

    Returns
    -------
    DataFrame
        One row per pair and metric, columns named as the fields of
        :class:`marsutils.core.records.PairedTest`: ``a``, ``b``, ``metric``, ``difference`` and its
        95% interval ``low``, ``high`` (fractions, unrounded), the one-sided ``p_not_better``,
        ``n_clusters`` (the resampled units: families with ``groups``, else images) and
        ``confidence``. Save it with :meth:`marsutils.core.records.PairedTests.from_frame`; show it
        with :func:`comparison_view`.

    Raises
    ------
    ValueError
        If a pair's runs cover different images, or ``groups`` lacks one of their rows.
    """
    rows = []
    for a, b in pairs:
        pa = predictions[a].sort_values("row").reset_index(drop=True)
        pb = predictions[b].sort_values("row").reset_index(drop=True)
        if not pa["row"].equals(pb["row"]):
            raise ValueError(f"{a!r} and {b!r} were not tested on the same images")
        families = np.arange(len(pa)) if groups is None else families_of(pa["row"], groups)
        for metric in metrics:
            res = cv_paired_difference(
                pa["y_true"].to_numpy(),
                pa["y_pred"].to_numpy(),
                pb["y_pred"].to_numpy(),
                families,
                metric=metric,
                n_boot=n_boot,
                random_state=random_state,
            )
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "metric": metric,
                    "difference": float(res["difference"]),
                    "low": float(res["low"]),
                    "high": float(res["high"]),
                    "p_not_better": float(res["p_not_better"]),
                    "n_clusters": int(res["n_families"]),
                    "confidence": 0.95,
                }
            )
    return pd.DataFrame(rows)


def majority_class_evaluation(
    split: str | os.PathLike | pd.DataFrame,
    *,
    class_names: Sequence[str],
    n_boot: int = 1000,
    random_state: int = 0,
) -> dict[str, Any]:
    """Score the majority-class predictor on a split's test set, as the models are scored.

    The predictor is scikit-learn's ``DummyClassifier(strategy="most_frequent")`` fit on the
    split's training labels: it predicts the most common training class for every image. Its
    scores are the floor a trained model must clear (its accuracy is that class's test share; its
    macro F1 is that class's F1 divided by the number of classes).

    Parameters
    ----------
    split : path or DataFrame
        A split file or table with ``row``, ``label``, ``family`` and ``subset`` (``"train"``,
        ``"val"``, ``"test"``) columns.
    class_names : sequence of str
        Class names in label order.
    n_boot, random_state : int
        Bootstrap resamples and seed of :func:`marsutils.stats.metrics.evaluate_predictions`.

    Returns
    -------
    dict
        :func:`marsutils.stats.metrics.evaluate_predictions` of the predictions on the test images,
        with intervals over twin families, plus ``predictor``: ``{"strategy": "most_frequent",
        "class": <name>, "train_images": <n>}``.

    Raises
    ------
    ValueError
        If a column is missing or the split has no training or no test images.
    """
    from sklearn.dummy import DummyClassifier

    frame = _read_split(split, {"row", "label", "family", "subset"})
    train = frame[frame["subset"] == "train"]
    test = frame[frame["subset"] == "test"].sort_values("row")
    if train.empty or test.empty:
        raise ValueError("the split needs training and test images for a majority-class baseline")
    dummy = DummyClassifier(strategy="most_frequent")
    dummy.fit(np.zeros((len(train), 1)), train["label"].to_numpy())
    predicted = dummy.predict(np.zeros((len(test), 1)))
    result = evaluate_predictions(
        test["label"].to_numpy(),
        predicted,
        class_names=list(class_names),
        n_boot=n_boot,
        random_state=random_state,
        groups=test["family"].to_numpy(),
    )
    result["predictor"] = {
        "strategy": "most_frequent",
        "class": list(class_names)[int(predicted[0])],
        "train_images": len(train),
    }
    return result


def saved_predictions(
    run_dir: str | os.PathLike,
    profile: Any,
    notebook: str,
    model: str,
    *,
    split: str = "family",
    seed: int = 0,
) -> tuple[Any, pd.DataFrame] | None:
    """The single-view test predictions a chapter saved for ``model``, or None if not run.

    Reads :meth:`marsutils.core.layout.RunLayout.predictions` (``experiments/<key>/seed<seed>/``, or
    for seed 0 of a run folder written before seeds were a study axis ``experiments/<key>/``),
    where ``key`` is the
    :class:`~marsutils.study.experiments.ClassifierSpec` of ``model`` on ``split`` in
    ``plan(profile, notebook)``; under cross-validation the folds' predictions are pooled
    (every image once) and the first fold's spec is returned. Returns ``(spec, predictions)``.
    """
    from marsutils.stats.metrics import load_predictions
    from marsutils.study.experiments import plan

    specs = [
        s
        for s in plan(profile, notebook, seed=seed)
        if s.model == model and s.split_kind == split and s.precision is None
    ]
    if not specs:
        return None
    frames = []
    for spec in specs:
        path = RunLayout(run_dir).predictions(spec.key, seed, "test")
        if not path.is_file():
            return None
        frame = load_predictions(path)
        frame["row"] = pd.read_csv(path, usecols=["row"])["row"].to_numpy()
        frames.append(frame)
    return specs[0], pd.concat(frames).sort_values("row").reset_index(drop=True)


def _shared_seed_runs(layout: RunLayout, spec_a: Any, spec_b: Any) -> list:
    """``(seed, predictions a, predictions b)`` of every seed both runs finished, by row."""
    seeds = sorted(set(layout.seeds(spec_a.key)) & set(layout.seeds(spec_b.key)))
    runs = []
    for seed in seeds:
        paths = [layout.predictions(s.key, seed) for s in (spec_a, spec_b)]
        if not all(p.is_file() for p in paths):
            continue
        pa, pb = (pd.read_csv(p).sort_values("row").reset_index(drop=True) for p in paths)
        if not pa["row"].equals(pb["row"]):
            raise ValueError(
                f"{spec_a.key} and {spec_b.key} under seed {seed} were not tested on the "
                "same images"
            )
        runs.append((seed, pa, pb))
    return runs


def _seed_margin(
    runs: list, families: np.ndarray, metric: str, n_boot: int, random_state: int
) -> dict[str, Any]:
    """The :class:`~marsutils.core.records.SeedMargin` fields of one metric but ``a``, ``b``."""
    from sklearn.metrics import accuracy_score, f1_score

    score = {
        "accuracy": accuracy_score,
        "macro_f1": lambda t, p: f1_score(t, p, average="macro", zero_division=0),
    }[metric]
    a_scores = [score(pa["y_true"], pa["y_pred"]) for _, pa, _ in runs]
    b_scores = [score(pb["y_true"], pb["y_pred"]) for _, _, pb in runs]
    res = seeds_paired_difference(
        [
            (
                pa["y_true"].to_numpy(),
                pa["y_pred"].to_numpy(),
                pb["y_pred"].to_numpy(),
                families[pa["row"].to_numpy()],
            )
            for _, pa, pb in runs
        ],
        metric=metric,
        n_boot=n_boot,
        random_state=random_state,
    )
    a_sum, b_sum = seed_summary(a_scores), seed_summary(b_scores)
    difference = float(res["difference"])
    return {
        "metric": metric,
        "seeds": tuple(seed for seed, _, _ in runs),
        "a_mean": a_sum["mean"],
        "a_sd": a_sum["sd"],
        "b_mean": b_sum["mean"],
        "b_sd": b_sum["sd"],
        "difference": difference,
        "low": float(res["low"]),
        "high": float(res["high"]),
        "exceeds_sd": None if a_sum["sd"] is None else difference > a_sum["sd"],
    }


def seed_margins(
    run_dir: str | os.PathLike,
    pairs: Sequence[tuple[Any, Any]],
    families: np.ndarray,
    *,
    metrics: Sequence[str] = ("accuracy", "macro_f1"),
    n_boot: int = 1000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Does run ``a`` beat run ``b`` by more than its seed-to-seed SD, over every shared seed?

    For each pair of :class:`~marsutils.study.experiments.ClassifierSpec` (their seeds do not
    matter) the seeds with finished test predictions of both are found in ``run_dir``. Per
    metric it gives each run's mean and sample SD over those seeds, the mean difference
    ``a - b``, its two-level paired bootstrap interval (seeds with replacement, then twin
    families within each seed's test set, stratified by class:
    :func:`marsutils.stats.crossval.seeds_paired_difference`, the computation the findings use, so
    with the same ``n_boot`` and ``random_state`` the chapter and the findings print one
    interval), and the margin rule
    ``difference > SD(a)``.

    Parameters
    ----------
    run_dir : path
        The run folder.
    pairs : sequence of (ClassifierSpec, ClassifierSpec)
        The ``(a, b)`` configurations.
    families : ndarray of shape (n_images,)
        The twin family of every dataset row (``ctx.data.families``); the same for every seed.
    metrics : sequence of str
        ``"accuracy"`` and/or ``"macro_f1"``.
    n_boot, random_state : int
        Bootstrap resamples and seed.

    Returns
    -------
    DataFrame
        One row per pair and metric with the fields of :class:`marsutils.core.records.SeedMargin`
        (fractions; ``a_sd``, ``b_sd`` and ``exceeds_sd`` None for a single seed); a pair without
        a shared seed is left out. Save it with :class:`marsutils.core.records.SeedComparisons`.

    Raises
    ------
    ValueError
        If the two runs of a seed were not tested on the same images.
    """
    layout = RunLayout(run_dir)
    rows = []
    for spec_a, spec_b in pairs:
        runs = _shared_seed_runs(layout, spec_a, spec_b)
        if not runs:
            continue
        names = {
            "a": run_name(spec_a.model, spec_a.split),
            "b": run_name(spec_b.model, spec_b.split),
        }
        rows += [
            {**names, **_seed_margin(runs, families, metric, n_boot, random_state)}
            for metric in metrics
        ]
    return pd.DataFrame(rows)


def yardstick_evaluations(
    split: str | os.PathLike | pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame | None],
    *,
    class_names: Sequence[str],
    n_boot: int = 1000,
    random_state: int = 0,
) -> dict[str, dict[str, Any] | None]:
    """The training chapter's yardsticks on one test set: the majority class, then each model.

    Parameters
    ----------
    split : path or DataFrame
        The split the models were tested on (``row``, ``label``, ``family``, ``subset``).
    predictions : mapping of str to DataFrame or None
        Row label to that model's test predictions (``row``, ``y_true``, ``y_pred``); None for a
        chapter that has not run yet.
    class_names : sequence of str
        Class names in label order.
    n_boot, random_state : int
        Bootstrap resamples and seed.

    Returns
    -------
    dict
        ``"majority class (<class>)"`` first (:func:`majority_class_evaluation`), then each
        label of ``predictions``: its :func:`marsutils.stats.metrics.evaluate_predictions` with
        intervals over twin families, or None. :func:`marsutils.book.reporting.yardstick_table`
        shows it.

    Raises
    ------
    ValueError
        If a model's predictions are not exactly the split's test images, or disagree with its
        labels.
    """
    frame = _read_split(split, {"row", "label", "family", "subset"})
    test = frame[frame["subset"] == "test"].sort_values("row").reset_index(drop=True)
    options = {"class_names": list(class_names), "n_boot": n_boot, "random_state": random_state}
    majority = majority_class_evaluation(frame, **options)
    evaluations: dict[str, dict | None] = {
        f"majority class ({majority['predictor']['class']})": majority
    }
    for label, pred in predictions.items():
        if pred is None:
            evaluations[label] = None
            continue
        pred = pred.sort_values("row").reset_index(drop=True)
        if not pred["row"].equals(test["row"]):
            raise ValueError(f"the predictions of {label!r} are not the split's test images")
        if not (pred["y_true"].to_numpy() == test["label"].to_numpy()).all():
            raise ValueError(f"the predictions of {label!r} disagree with the split's labels")
        evaluations[label] = evaluate_predictions(
            pred["y_true"].to_numpy(),
            pred["y_pred"].to_numpy(),
            groups=test["family"].to_numpy(),
            **options,
        )
    return evaluations


def seed_histories(
    run_dir: str | os.PathLike, specs: Mapping[str, Any]
) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Every seed's learning curve of each labelled configuration, for the learning-curve figures.

    Parameters
    ----------
    run_dir : path
        The run folder.
    specs : mapping of str to ClassifierSpec
        Display label to configuration (its seed does not matter). A configuration on pooled
        CV folds (split ``<kind>-cv<K>``, :func:`marsutils.study.experiments.pool_folds`) gives one
        label per fold, ``"<label>, fold <k>"``.

    Returns
    -------
    dict
        ``{label: {seed: history}}`` with the seeds that have a ``history.json``, sorted; a
        history is the list of per-epoch dicts :func:`marsutils.train.fit` writes. A label
        without any is left out.

    Raises
    ------
    ValueError
        If a ``history.json`` is not a list of per-epoch dicts (the message names the file).
    """
    import dataclasses

    from marsutils.data.splits import parse_split

    layout = RunLayout(run_dir)
    out: dict[str, dict[int, list[dict[str, Any]]]] = {}
    expanded = {}
    for label, spec in specs.items():
        name = parse_split(spec.split)
        if name.is_pooled:  # pooled CV folds: one curve per fold
            for k in range(name.folds):
                fold = dataclasses.replace(spec, split=f"{spec.split}-f{k}")
                expanded[f"{label}, fold {k}"] = fold
        else:
            expanded[label] = spec
    for label, spec in expanded.items():
        for seed in layout.seeds(spec.key):
            path = layout.history(spec.key, seed)
            if path.is_file():
                out.setdefault(label, {})[seed] = read_history(path)
    return out


def read_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The learning curve in a ``history.json``: the list of per-epoch dicts ``fit`` writes (a
    ``{"history": [...]}`` wrapper is unwrapped).

    Raises
    ------
    ValueError
        If the file holds no list of per-epoch dicts (the message names the file).
    """
    from marsutils.core.atomic import read_json

    data = read_json(path)
    data = data.get("history") if isinstance(data, dict) else data
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ValueError(f"{path} is not a list of per-epoch records")
    return data
