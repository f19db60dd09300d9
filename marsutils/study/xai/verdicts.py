"""Sentences that judge the chapter's numbers, generated from its JSON record.

Each function reads a :func:`~marsutils.study.xai.record.build_summary` record (or one of its rows)
and returns prose whose every number and every verdict ("more than chance", "better than random",
"passes") comes from the record, so the text stays true whatever a run's outcome. Comparisons with
a control (maps of mismatched images, random deletion) follow the book's one rule,
:func:`marsutils.stats.rules.control_verdict`.
"""

from __future__ import annotations

from typing import Any

from marsutils.stats import rules
from marsutils.xai.methods import METHOD_LABELS

__all__ = [
    "HEADLINE_METRICS",
    "HEADLINE_PAIRS",
    "completeness_verdict",
    "consistency_verdict",
    "faithfulness_verdict",
    "randomization_verdict",
    "verdicts_by_section",
]

#: The pairs and metrics the consistency verdicts speak about.
HEADLINE_PAIRS = ("gradcam~ig_blur", "gradcam~ig_black")
HEADLINE_METRICS = ("topk_iou@0.1", "spearman")


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _pair_label(pair: str) -> str:
    first, _, second = pair.partition("~")
    return f"{_label(first)} and {_label(second)}"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "undefined" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None, digits: int = 0) -> str:
    return "undefined" if value is None else f"{value:.{digits}%}"


def _interval(row: dict[str, Any], low: str = "ci_low", high: str = "ci_high") -> str:
    return f"[{_fmt(row.get(low))}, {_fmt(row.get(high))}]"


def completeness_verdict(summary: dict[str, Any]) -> str:
    """How well IG's attributions add up to the change of the logit, per baseline.

    Reports the median relative error and the share of images within the tolerance; the
    largest error stays in the record only, as it is dominated by images whose baseline output
    is close to the image's (a near-zero denominator).
    """
    tolerance = summary["completeness_tolerance"]
    parts = []
    for baseline, median in summary["completeness_median_relative_delta"].items():
        share = summary["completeness_share_within_tolerance"].get(baseline)
        parts.append(
            f"with the {baseline} baseline the median relative error is {_percent(median, 1)} "
            f"and {_percent(share)} of the images are within {tolerance:.0%}"
        )
    return (
        f"Completeness at {summary['ig_steps']} path points: " + "; ".join(parts) + "."
        if parts
        else "No Integrated Gradients maps were computed."
    )


def consistency_verdict(row: dict[str, Any]) -> str:
    """One sentence on one pair and metric of the consistency rows of a summary."""
    metric = row["metric"]
    name = (
        "Spearman correlation"
        if metric == "spearman"
        else (f"IoU of the top {float(metric.partition('@')[2]):.0%} pixels")
    )
    if row["mean"] is None:
        return f"{_pair_label(row['pair'])}: the {name} is undefined on every image."
    agree = "agree more than chance" if row["above_chance"] else "do not agree more than chance"
    sentence = (
        f"{_pair_label(row['pair'])} {agree} by the {name}: mean {_fmt(row['mean'])} "
        f"{_interval(row)} against chance {_fmt(row['chance'])}"
    )
    mismatched = row.get("mismatched")
    paired = row.get("vs_mismatched_ci_low") is not None
    if mismatched is not None and row["above_chance"]:
        if paired:  # the control's own interval and the paired difference (unadjusted here)
            control = rules.control_verdict(
                row["vs_mismatched_ci_low"], row["vs_mismatched_ci_high"], 0.0
            )
            reach = (
                f"{_fmt(mismatched)} {_interval(row, 'mismatched_ci_low', 'mismatched_ci_high')}"
                f" (paired difference {_fmt(row['vs_mismatched'])} "
                f"{_interval(row, 'vs_mismatched_ci_low', 'vs_mismatched_ci_high')}, unadjusted; "
                "the findings correct every explainability test together)"
            )
        else:  # a record from before the control had its interval
            control = rules.control_verdict(row["ci_low"], row["ci_high"], mismatched)
            reach = _fmt(mismatched)
        relation = "above" if control == rules.CONFIRMED else "not above"
        sentence += (
            f"; maps of different images reach {reach}, so the agreement is "
            f"{relation} what the two methods share on every image"
        )
    elif mismatched is not None:
        sentence += f" (maps of different images: {_fmt(mismatched)})"
    return sentence + "."


def _versus_random(row: dict[str, Any], mode: str, better_sign: int) -> str:
    """``better``/``worse``/``not distinguishable`` from the interval of the paired difference."""
    low, high = row[f"{mode}_vs_random_ci_low"], row[f"{mode}_vs_random_ci_high"]
    if low is None or high is None:
        return "not comparable with random"
    verdict = rules.control_verdict(low, high, 0.0, higher_is_better=better_sign > 0)
    return {
        rules.CONFIRMED: "better than random",
        rules.CONTRADICTED: "worse than random",
    }.get(verdict, "not distinguishable from random")


def faithfulness_verdict(row: dict[str, Any]) -> str:
    """One sentence on one method's deletion and insertion AUCs against the random map.

    Better than random means a *lower* deletion AUC and a *higher* insertion AUC, with the
    interval of the paired difference excluding 0.
    """
    deletion = _interval(row, "deletion_vs_random_ci_low", "deletion_vs_random_ci_high")
    insertion = _interval(row, "insertion_vs_random_ci_low", "insertion_vs_random_ci_high")
    return (
        f"{_label(row['method'])}: deletion AUC {_fmt(row['deletion_auc'])}, "
        f"{_versus_random(row, 'deletion', -1)} (difference {_fmt(row['deletion_vs_random'])} "
        f"{deletion}); insertion AUC {_fmt(row['insertion_auc'])}, "
        f"{_versus_random(row, 'insertion', +1)} (difference "
        f"{_fmt(row['insertion_vs_random'])} {insertion})."
    )


def randomization_verdict(summary: dict[str, Any]) -> str:
    """Does the method's map depend on the learned weights (Adebayo et al. 2018)?

    Passed when the randomised maps keep a mean Spearman whose interval lies below
    the record's ``threshold`` (or every randomised map is constant), failed when the
    interval lies above it, inconclusive otherwise. The threshold is a convention of this book.
    """
    result = summary.get("randomization")
    if not result:
        return "The randomisation check was not run."
    method = _label(result["method"])
    constant = result["constant_share"]
    spearman = result["spearman_after_full_randomisation"]
    start = (
        f"After re-initialising every weight, {constant:.0%} of the {result['n_images']} "
        f"{method} maps became constant"
    )
    if spearman is None:
        return f"{start}: the maps depend on the learned weights, so {method} passes the check."
    threshold = result["threshold"]
    if result["ci_high"] < threshold:
        verdict = f"below {threshold:g}: {method} passes the check"
    elif result["ci_low"] > threshold:
        verdict = f"above {threshold:g}: much of the map survives, {method} fails the check"
    else:
        verdict = f"around {threshold:g}: the check is inconclusive on these images"
    return (
        f"{start}, and the others keep a mean Spearman correlation of {_fmt(spearman)} "
        f"{_interval(result)} with the originals (1 = unchanged, 0 = unrelated), {verdict}."
    )


def verdicts_by_section(summary: dict[str, Any]) -> dict[str, list[str]]:
    """Sentences for the chapter from a :func:`build_summary` record, by section.

    ``completeness``, ``consistency`` (the headline pairs, Grad-CAM against each IG, at the top
    10% IoU and Spearman), ``faithfulness`` (one per method), ``randomization`` and
    ``other_folds`` (the same tests on other cross-validation folds' models; empty without).
    """
    headline = [
        row
        for pair in HEADLINE_PAIRS
        for metric in HEADLINE_METRICS
        for row in summary["consistency"]
        if row["pair"] == pair and row["metric"] == metric
    ]
    return {
        "completeness": [completeness_verdict(summary)],
        "consistency": [consistency_verdict(row) for row in headline],
        "faithfulness": [
            faithfulness_verdict(row)
            for row in summary["faithfulness"]
            if row["method"] != "random"
        ],
        "randomization": [randomization_verdict(summary)],
        "other_folds": [
            f"On the fold-{other['fold']} model and its own {other['n_images']} test images: "
            + sentence
            for other in summary.get("other_folds") or []
            for sentence in [
                *(consistency_verdict(row) for row in other["consistency"]),
                *(
                    faithfulness_verdict(r)
                    for r in other["faithfulness"]
                    if r["method"] != "random"
                ),
            ]
        ],
    }
