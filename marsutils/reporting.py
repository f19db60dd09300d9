"""Tables for the chapters: headline metrics with intervals, paired model comparisons and the
training chapter's yardsticks.

Every interval here is a percentile bootstrap over twin families when the caller passes them
(``groups``, or the split file's ``family`` column): rotated and flipped copies of one image count
once (see :func:`marsutils.metrics.bootstrap_weights`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .findings import COLUMNS
from .layout import RunLayout
from .metrics import evaluate_predictions
from .records import PairedTests
from .significance import paired_bootstrap_difference

__all__ = [
    "HEADLINE_METRICS",
    "family_lookup",
    "format_ci",
    "headline_table",
    "majority_class_evaluation",
    "paired_comparisons",
    "saved_predictions",
    "yardstick_table",
    "comparison_view",
    "paper_comparison_view",
    "per_class_view",
    "plateau_table",
    "claims_views",
]

HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "mean_iou")

FamilyMap = pd.Series | Mapping[Any, Any] | Sequence[Any] | np.ndarray


def format_ci(value: float | None, ci: Mapping[str, Any] | None) -> str:
    """``"93.1 [92.0, 94.2]"`` in percent; ``"n/a"`` for a missing value."""
    if value is None:
        return "n/a"
    if not ci or ci.get("low") is None:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * ci['low']:.1f}, {100 * ci['high']:.1f}]"


def headline_table(
    evaluations: Mapping[str, Mapping[str, Any]], metrics: Sequence[str] = HEADLINE_METRICS
) -> pd.DataFrame:
    """One row per run: each metric in percent with its 95% bootstrap interval."""
    rows = {}
    for run, ev in evaluations.items():
        rows[run] = {m: format_ci(ev["overall"].get(m), ev.get("ci", {}).get(m)) for m in metrics}
        rows[run]["test images"] = ev["n_images"]
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------------------------
# twin families
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# paired comparisons
# --------------------------------------------------------------------------------------------


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
        Metrics of :func:`marsutils.significance.paired_bootstrap_difference`.
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
        :class:`marsutils.records.PairedTest`: ``a``, ``b``, ``metric``, ``difference`` and its
        95% interval ``low``, ``high`` (fractions, unrounded), the one-sided ``p_not_better``,
        ``n_clusters`` (the resampled units: families with ``groups``, else images) and
        ``confidence``. Save it with :meth:`marsutils.records.PairedTests.from_frame`; show it
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
        families = None if groups is None else families_of(pa["row"], groups)
        for metric in metrics:
            res = paired_bootstrap_difference(
                pa["y_true"].to_numpy(),
                pa["y_pred"].to_numpy(),
                pb["y_pred"].to_numpy(),
                metric=metric,
                n_boot=n_boot,
                random_state=random_state,
                groups=families,
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
                    "n_clusters": int(res["n_clusters"]),
                    "confidence": 0.95,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# yardsticks of the training chapter
# --------------------------------------------------------------------------------------------


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
        Bootstrap resamples and seed of :func:`marsutils.metrics.evaluate_predictions`.

    Returns
    -------
    dict
        :func:`marsutils.metrics.evaluate_predictions` of the predictions on the test images,
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

    Reads :meth:`marsutils.layout.RunLayout.predictions` (``experiments/<key>/seed<seed>/``, or
    for seed 0 of a run folder written before seeds were a study axis ``experiments/<key>/``),
    where ``key`` is the
    :class:`~marsutils.experiments.ClassifierSpec` of ``model`` on ``split`` in
    ``plan(profile, notebook)``. Returns ``(spec, predictions)``.
    """
    from .experiments import plan
    from .metrics import load_predictions

    spec = next((s for s in plan(profile, notebook) if s.model == model and s.split == split), None)
    if spec is None:
        return None
    path = RunLayout(run_dir).predictions(spec.key, seed, "test")
    if not path.is_file():
        return None
    frame = load_predictions(path)
    frame["row"] = pd.read_csv(path, usecols=["row"])["row"].to_numpy()
    return spec, frame


def yardstick_table(
    split: str | os.PathLike | pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame | None],
    *,
    class_names: Sequence[str],
    n_boot: int = 1000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Accuracy and macro F1 of the majority class and of each model, on one test set.

    The training chapter's yardsticks: what predicting the most common training class scores
    (:func:`majority_class_evaluation`), then each entry of ``predictions`` in order (e.g. the
    plain fine-tune of the ablation and the proposed model). Every interval is a 95% percentile
    bootstrap over the test set's twin families.

    Parameters
    ----------
    split : path or DataFrame
        The split the models were tested on (``row``, ``label``, ``family``, ``subset``).
    predictions : mapping of str to DataFrame or None
        Row label to that model's test predictions (``row``, ``y_true``, ``y_pred``); None gives
        a row marked not run (a chapter that has not run yet).
    class_names : sequence of str
        Class names in label order.
    n_boot, random_state : int
        Bootstrap resamples and seed.

    Returns
    -------
    DataFrame
        Indexed by row label (``"majority class (<class>)"`` first); columns ``accuracy``,
        ``macro F1`` (percent with interval), ``accuracy``/``macro F1`` numeric ``value``,
        ``low``, ``high`` columns in percent, ``n families`` and ``test images``.

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
    rows = {}
    for label, ev in evaluations.items():
        row: dict[str, Any] = {}
        for metric, name in (("accuracy", "accuracy"), ("macro_f1", "macro F1")):
            if ev is None:
                row[name] = "not run"
                row |= dict.fromkeys((f"{name} {k}" for k in ("value", "low", "high")), np.nan)
                continue
            value, ci = ev["overall"][metric], ev["ci"][metric]
            row[name] = format_ci(value, ci)
            row[f"{name} value"] = 100 * value
            row[f"{name} low"] = 100 * ci["low"]
            row[f"{name} high"] = 100 * ci["high"]
        row["n families"] = None if ev is None else ev["settings"]["n_clusters"]
        row["test images"] = None if ev is None else ev["n_images"]
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------------------------
# display views: the tables above, rounded to what their intervals support
# --------------------------------------------------------------------------------------------


def _interval_text(value: float, low: float, high: float) -> str:
    """``value [low, high]`` with the decimals the interval supports; ``value`` alone without it."""
    from .display import decimals_for_interval

    if value is None or value != value:
        return ""
    if low is None or high is None or low != low or high != high:
        return f"{value:.1f}"
    d = decimals_for_interval(low, high)
    value, low, high = (round(v, d) + 0.0 for v in (value, low, high))  # + 0.0: no "-0"
    return f"{value:.{d}f} [{low:.{d}f}, {high:.{d}f}]"


def comparison_view(
    tests: pd.DataFrame | PairedTests, *, resamples: int | None = None
) -> pd.DataFrame:
    """:func:`paired_comparisons` (or its saved record) as a table for the page.

    Parameters
    ----------
    tests : DataFrame or PairedTests
        The output of :func:`paired_comparisons`, or the record it was saved as.
    resamples : int, optional
        Its ``n_boot`` (default: the record's); a p-value below ``1/resamples`` prints as
        ``< 1/B`` (:func:`marsutils.display.format_p_value`).

    Returns
    -------
    DataFrame
        Columns ``A``, ``B``, ``metric``, ``A - B, points [95% CI]`` (rounded to the interval),
        ``reading`` (``A better``, ``B better`` or ``cannot tell``), ``p(A not better)`` and
        ``twin families`` (the resampled units; images when no families were given).
    """
    from .display import format_p_value

    if isinstance(tests, PairedTests):
        resamples = tests.n_boot if resamples is None else resamples
        tests = tests.to_frame()
    rows = []
    for row in tests.to_dict(orient="records"):
        # points to 2 decimals first, as the chapters always showed them (and as legacy files
        # stored them), then to the decimals the interval supports
        low, high = round(100 * row["low"], 2), round(100 * row["high"], 2)
        reading = "A better" if low > 0 else "B better" if high < 0 else "cannot tell"
        n = row.get("n_clusters")
        rows.append(
            {
                "A": row["a"],
                "B": row["b"],
                "metric": str(row["metric"]).replace("macro_f1", "macro F1"),
                "A - B, points [95% CI]": _interval_text(
                    round(100 * row["difference"], 2), low, high
                ),
                "reading": reading,
                "p(A not better)": format_p_value(row["p_not_better"], resamples=resamples),
                "twin families": None if n is None or n != n else int(n),
            }
        )
    return pd.DataFrame(rows)


def paper_comparison_view(table: pd.DataFrame) -> pd.DataFrame:
    """The headline rows of :func:`marsutils.compare.compare_many` for the page.

    Returns
    -------
    DataFrame
        One row per run and metric: ``run``, ``metric`` (ours, and the paper's name for it),
        ``paper``, ``ours [95% CI]`` rounded to the interval, and ``paper in CI`` (yes/no/blank).
    """
    part = table[table["section"] != "per_class"] if "section" in table else table
    rows = []
    for row in part.to_dict(orient="records"):
        inside = row.get("paper_in_ci")
        metric = str(row["metric"]).replace("_", " ").replace("macro f1", "macro F1")
        if row.get("paper_metric") and row["paper_metric"] != row["metric"]:
            metric += f" (paper: {row['paper_metric']})"
        rows.append(
            {
                "run": row.get("run", ""),
                "metric": metric,
                "paper": ""
                if row["paper"] != row["paper"]
                else f"{row['paper']:.2f}".rstrip("0").rstrip("."),
                "ours [95% CI]": _interval_text(row["ours"], row["ci_low"], row["ci_high"]),
                "paper in CI": "" if inside is None else ("yes" if inside else "no"),
            }
        )
    return pd.DataFrame(rows)


def per_class_view(table: pd.DataFrame) -> pd.DataFrame:
    """The per-class rows of :func:`marsutils.compare.compare_with_paper`, one row per class.

    Each metric column reads ``ours [95% CI] (paper: x)``; ``support`` gives our test count and
    the paper's. Replaces the long format (one row per class and metric) on the page.
    """
    part = table[table["section"] == "per_class"]
    if part.empty:
        raise ValueError("the table has no per-class rows")
    out: dict[str, dict[str, str]] = {}
    for row in part.to_dict(orient="records"):
        cell = out.setdefault(row["class"], {"class": row["class"]})
        paper_value = f"{row['paper']:.1f}".rstrip("0").rstrip(".")
        if row["metric"] == "support":
            cell["support (paper)"] = f"{row['ours']:.0f} ({paper_value})"
        else:
            ours = _interval_text(row["ours"], row["ci_low"], row["ci_high"])
            name = "F1" if row["metric"] == "f1" else row["metric"]
            cell[name] = f"{ours} (paper: {paper_value})"
    return pd.DataFrame(list(out.values()))


def plateau_table(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """Whether each model's validation macro F1 had levelled off by its last epoch.

    Parameters
    ----------
    histories : mapping of str to history
        Model label to its per-epoch history (``ExperimentResult.history``).

    Returns
    -------
    DataFrame
        ``model``, ``epochs``, ``best epoch`` and ``status`` (the sentence of
        :func:`marsutils.train.plateau.plateau_status`).
    """
    from .train.plateau import plateau_status

    rows = []
    for label, history in histories.items():
        status = plateau_status(list(history))
        rows.append(
            {
                "model": label,
                "epochs": status.epochs,
                "best epoch": status.best_epoch,
                "status": status.sentence,
            }
        )
    return pd.DataFrame(rows)


def claims_views(claims: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The findings table split in two tables that fit a page.

    Parameters
    ----------
    claims : DataFrame
        :func:`marsutils.findings.evaluate_claims` (columns :data:`marsutils.findings.COLUMNS`).

    Returns
    -------
    verdicts : DataFrame
        ``#``, ``claim``, ``paper``, ``ours`` and ``verdict``, the verdict as a coloured badge
        (:func:`marsutils.summary.verdict_badge`, inline HTML: show it with
        ``show_table(..., html_columns=["verdict"])``).
    details : DataFrame
        ``#``, ``test``, ``paper protocol (leaks)``, ``seeds``, ``n families``, ``contains 0``,
        ``contains paper``, ``p (Holm)`` (:func:`marsutils.display.format_p_value`),
        ``trained to plateau`` and ``why``; booleans as yes/no, missing values empty.
    """
    from .display import format_p_value
    from .summary import verdict_badge

    def text(value: Any) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return ""
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def p_text(value: Any) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return ""
        return format_p_value(float(value)) if isinstance(value, int | float) else str(value)

    frame = claims.reset_index(drop=True)
    number = pd.Series(range(1, len(frame) + 1), name="#")
    verdicts = pd.DataFrame(
        {
            "#": number,
            "claim": frame["claim"].map(text),
            "paper": frame["paper"].map(text),
            "ours": frame["ours"].map(text),
            "verdict": frame["verdict"].map(verdict_badge),
        }
    )
    shown = {"claim", "kind", "source", "paper", "ours", "verdict"}
    columns = [c for c in COLUMNS if c not in shown]  # the rest, in the findings' order
    details = pd.DataFrame({"#": number})
    for column in columns:
        if column in frame:
            details[column] = frame[column].map(p_text if column == "p (Holm)" else text)
    return verdicts, details
