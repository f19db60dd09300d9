"""Tables for the chapters: headline metrics with intervals, the views of paired model comparisons
and the training chapter's yardsticks. The numbers come from :mod:`marsutils.study.comparisons`.

Every interval here is a percentile bootstrap over twin families when the caller passes them
(``groups``, or the split file's ``family`` column): rotated and flipped copies of one image count
once (see :func:`marsutils.stats.metrics.bootstrap_weights`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from marsutils.core.records import FINDING_COLUMNS, RESULT_MARK, PairedTests
from marsutils.study.comparisons import yardstick_evaluations
from marsutils.study.findings import COLUMNS

__all__ = [
    "HEADLINE_METRICS",
    "format_ci",
    "format_result",
    "finding_texts",
    "headline_table",
    "yardstick_table",
    "comparison_view",
    "paper_comparison_view",
    "per_class_view",
    "plateau_table",
    "claims_views",
    "verdict_badge",
]

HEADLINE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "mean_iou")


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


def headline_over_seeds_table(
    evaluations: Mapping[int, Mapping[str, Any]], metrics: Sequence[str] = HEADLINE_METRICS
) -> pd.DataFrame:
    """:func:`headline_table` of one model under several seeds, then a row of mean ± SD.

    Parameters
    ----------
    evaluations : mapping of int to dict
        ``{seed: metrics}``, e.g. from :func:`marsutils.study.experiments.headline_over_seeds`.
    metrics : sequence of str
        The overall metrics to show.

    Returns
    -------
    DataFrame
        Index ``seed 0``, ``seed 1``... then ``mean ± SD``: each seed's metric in percent with its
        95% interval over twin families, and the mean ± sample SD (``ddof=1``) over seeds in
        percent (:func:`marsutils.stats.significance.seed_summary`); ``test images`` per seed (each
        seed draws its own split).

    Raises
    ------
    ValueError
        If ``evaluations`` is empty.
    """
    from marsutils.stats.significance import seed_summary

    if not evaluations:
        raise ValueError("need the metrics of at least one seed")
    table = headline_table({f"seed {s}": ev for s, ev in evaluations.items()}, metrics)
    table = table.astype(object)  # the summary row holds text in every column
    summary = {}
    for m in metrics:
        values = [ev["overall"].get(m) for ev in evaluations.values()]
        if any(v is None for v in values):
            summary[m] = ""
            continue
        res = seed_summary([100 * v for v in values])
        sd = "n/a (one seed)" if res["sd"] is None else f"{res['sd']:.1f}"
        summary[m] = f"{res['mean']:.1f} ± {sd}"
    summary["test images"] = ""
    table.loc["mean ± SD"] = pd.Series(summary)
    return table


# --------------------------------------------------------------------------------------------
# yardsticks of the training chapter
# --------------------------------------------------------------------------------------------


def yardstick_table(
    split: str | os.PathLike | pd.DataFrame,
    predictions: Mapping[str, pd.DataFrame | None],
    **options: Any,
) -> pd.DataFrame:
    """Accuracy and macro F1 of the majority class and of each model, on one test set.

    The training chapter's yardsticks: what predicting the most common training class scores
    (:func:`majority_class_evaluation`), then each entry of ``predictions`` in order (e.g. the
    plain fine-tune of the ablation and the proposed model). Every interval is a 95% percentile
    bootstrap over the test set's twin families.

    Parameters
    ----------
    split, predictions, **options
        As for :func:`marsutils.study.comparisons.yardstick_evaluations` (keyword-only
        ``class_names``, ``n_boot`` and ``random_state``); a model whose predictions are None
        gives a row marked not run (a chapter that has not run yet).

    Returns
    -------
    DataFrame
        Indexed by row label (``"majority class (<class>)"`` first); columns ``accuracy``,
        ``macro F1`` (percent with interval), ``accuracy``/``macro F1`` numeric ``value``,
        ``low``, ``high`` columns in percent, ``n families`` and ``test images``.

    Raises
    ------
    ValueError
        As :func:`~marsutils.study.comparisons.yardstick_evaluations` does (predictions that are
        not the split's test images, or that disagree with its labels).
    """
    evaluations = yardstick_evaluations(split, predictions, **options)
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
    from marsutils.book.display import decimals_for_interval

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
    """The paired tests of :mod:`marsutils.study.comparisons` (or their record) as a table for the
    page.

    Parameters
    ----------
    tests : DataFrame or PairedTests
        The output of :func:`marsutils.study.comparisons.paired_comparisons`, or its saved record.
    resamples : int, optional
        Its ``n_boot`` (default: the record's); a p-value below ``1/resamples`` prints as
        ``< 1/B`` (:func:`marsutils.book.display.format_p_value`).

    Returns
    -------
    DataFrame
        Columns ``A``, ``B``, ``metric``, ``A - B, points [95% CI]`` (rounded to the interval),
        ``reading`` (``A better``, ``B better`` or ``cannot tell``), ``p(A not better)`` and
        ``twin families`` (the resampled units; images when no families were given).
    """
    from marsutils.book.display import format_p_value

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
    """The headline rows of :func:`marsutils.stats.compare.compare_many` for the page.

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
    """The per-class rows of :func:`marsutils.stats.compare.compare_with_paper`, one row per class.

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


def plateau_table(histories: Mapping[str, Any], rule: Any = None) -> pd.DataFrame:
    """Whether each model's learning curve had levelled off: the one training-length rule.

    Parameters
    ----------
    histories : mapping of str to history, or of str to mapping of int to history
        Model label to its per-epoch history (``ExperimentResult.history``), or to
        ``{seed: history}`` (:func:`marsutils.study.comparisons.seed_histories`) for a row per seed.
    rule : marsutils.stats.rules.TrainingRule, optional
        The rule's parameters (``TrainingRule.from_profile(ctx.profile)``; default its
        defaults): the findings judge the same curves with the same rule.

    Returns
    -------
    DataFrame
        ``model``, ``seed`` (only when seeds are given), ``epochs``, ``status`` and ``detail``
        (:func:`marsutils.stats.rules.training_check`).
    """
    from marsutils.stats.rules import training_check

    rows = []
    with_seeds = any(isinstance(h, Mapping) for h in histories.values())
    for label, history in histories.items():
        runs = history if isinstance(history, Mapping) else {None: history}
        for seed, curve in runs.items():
            check = training_check(list(curve), rule)
            rows.append(
                {
                    "model": label,
                    **({"seed": seed} if with_seeds else {}),
                    "epochs": check.epochs,
                    "status": check.status,
                    "detail": check.detail,
                }
            )
    return pd.DataFrame(rows)


def _blank(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value == ""
        or (isinstance(value, float) and value != value)
    )


def format_result(
    estimate: float,
    low: float | None = None,
    high: float | None = None,
    *,
    decimals: int = 1,
    difference: bool = False,
) -> str:
    """A result of the findings as text: ``"93.7 [91.8, 95.5]"``, ``"+1.5 [-2.7, +5.1]"``.

    Parameters
    ----------
    estimate : float
        The value, in its unit (percent, points, a fraction).
    low, high : float, optional
        Its 95% interval; without it the value is shown alone.
    decimals : int
        The resolution the result is reported at (:attr:`marsutils.core.records.Finding.decimals`).
    difference : bool
        A difference of two scores: every number with its sign.

    Returns
    -------
    str

    Examples
    --------
    >>> format_result(93.71, 91.84, 95.46)
    '93.7 [91.8, 95.5]'
    >>> format_result(-0.0204, -0.0931, 0.0528, decimals=3, difference=True)
    '-0.020 [-0.093, +0.053]'
    """
    fmt = f"{{:{'+' if difference else ''}.{int(decimals)}f}}"
    if _blank(low) or _blank(high):
        return fmt.format(estimate)
    return f"{fmt.format(estimate)} [{fmt.format(low)}, {fmt.format(high)}]"


def finding_texts(finding: Mapping[str, Any]) -> dict[str, str]:
    """The ``ours``, ``paper_protocol`` and ``seeds`` texts of a finding, for display.

    Composed from the numbers of :class:`marsutils.core.records.Finding` where they are present (the
    primary result replaces :data:`marsutils.core.records.RESULT_MARK` in ``ours``); otherwise the
    stored text (files of schema version 1 and legacy files, descriptive claims). The claims
    table (:func:`claims_views`) and the front page (:mod:`marsutils.book.summary`) both use it.

    Parameters
    ----------
    finding : mapping
        A finding keyed by field name (:meth:`marsutils.core.records.FindingsRecord.rows`); blanks
        may be None, NaN or ``""``.

    Returns
    -------
    dict
        ``ours``, ``paper_protocol`` and ``seeds``, each a string (``""`` when empty).

    Examples
    --------
    >>> finding_texts({"ours": "{result} points", "estimate": 3.42, "low": 1.4, "high": 5.5,
    ...                "decimals": 1, "difference": True, "seed_mean": 3.1, "seed_sd": None,
    ...                "n_seeds": 3})["seeds"]
    '+3.1 ± n/a (3 seeds)'
    """

    def stored(name: str) -> str:
        value = finding.get(name)
        return "" if _blank(value) else str(value)

    out = {name: stored(name) for name in ("ours", "paper_protocol", "seeds")}
    if _blank(finding.get("estimate")):
        return out
    style = {
        "decimals": int(finding["decimals"]),
        "difference": not _blank(finding.get("difference")) and bool(finding["difference"]),
    }
    primary = format_result(finding["estimate"], finding.get("low"), finding.get("high"), **style)
    out["ours"] = out["ours"].replace(RESULT_MARK, primary)
    if not _blank(finding.get("protocol_estimate")):
        out["paper_protocol"] = format_result(
            finding["protocol_estimate"],
            finding.get("protocol_low"),
            finding.get("protocol_high"),
            decimals=style["decimals"],
        )
    if not _blank(finding.get("seed_mean")):
        sd = finding.get("seed_sd")
        sd_text = "n/a" if _blank(sd) else f"{sd:.{style['decimals']}f}"
        mean = format_result(finding["seed_mean"], **style)
        out["seeds"] = f"{mean} ± {sd_text} ({int(finding['n_seeds'])} seeds)"
    return out


def verdict_badge(verdict: str) -> str:
    """Inline HTML for a verdict, coloured by the book's ``_static/verdicts.css``
    (``marsutils.book.summary`` re-exports it)."""
    slug = "-".join(str(verdict).split()).lower()
    return f'<span class="verdict verdict-{slug}">{verdict}</span>'


def claims_views(claims: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The findings table split in two tables that fit a page.

    Parameters
    ----------
    claims : DataFrame
        :func:`marsutils.study.findings.evaluate_claims` or
        :meth:`marsutils.core.records.FindingsRecord.to_frame` (columns
        :data:`marsutils.study.findings.COLUMNS`, and the numeric
        :data:`marsutils.study.findings.NUMBER_COLUMNS` where recorded). ``ours``, ``paper protocol
        (leaks)`` and ``seeds`` are composed from the numbers by :func:`finding_texts`.

    Returns
    -------
    verdicts : DataFrame
        ``#``, ``claim``, ``paper``, ``ours`` and ``verdict``, the verdict as a coloured badge
        (:func:`verdict_badge`, inline HTML: show it with
        ``show_table(..., html_columns=["verdict"])``).
    details : DataFrame
        ``#``, ``test``, ``paper protocol (leaks)``, ``seeds``, ``n families``, ``contains 0``,
        ``contains paper``, ``p (Holm)`` (:func:`marsutils.book.display.format_p_value`),
        ``trained to plateau`` and ``why``; booleans as yes/no, missing values empty.
    """
    from marsutils.book.display import format_p_value

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

    frame = claims.reset_index(drop=True).copy()
    by_column = {column: name for name, column in FINDING_COLUMNS.items()}
    rows = frame.rename(columns=by_column).to_dict(orient="records")
    texts = pd.DataFrame([finding_texts(row) for row in rows], index=frame.index)
    for name in ("ours", "paper_protocol", "seeds"):
        if FINDING_COLUMNS[name] in frame:
            frame[FINDING_COLUMNS[name]] = texts[name]
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
