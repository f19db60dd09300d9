"""The anchors of the introduction: the paper's numbers beside published results on the same data.

``python -m marsutils.book.anchors [--results results/reference] [--page book/intro.md]
[--check]`` writes two generated blocks into the introduction (:mod:`marsutils.book.blocks`):

* ``anchors``: one row per result, with its model, data, split protocol (official, random,
  family, CV) and metric: the paper's headline (:data:`marsutils.core.paper.HEADLINE`), the
  published results on the HiRISE v3.2 landmarks whose numbers were checked against their
  sources (:data:`PUBLISHED`; those that could not be are listed apart, :data:`UNVERIFIED`), and
  ours, read from the run's ``metrics.json`` files
  (:func:`marsutils.study.experiments.collect_results`) and data record;
* ``f1-reading``: the paper's F1 summaries beside the averages its Table 1 gives
  (:func:`marsutils.core.paper.f1_averages`), our macro and weighted F1 side by side, and which F1
  (or accuracy) each verdict of the findings record judges.

``--check`` only reports whether the page is current; ``tests/test_anchors.py`` runs it on the
committed page, so every number of ours there can be traced to a committed record.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from marsutils.book.blocks import hundredths, markdown_table, page_main, repo_relative
from marsutils.book.reporting import format_result
from marsutils.core import paper
from marsutils.core.layout import RunLayout
from marsutils.core.records import DataSummary, FindingsRecord
from marsutils.data.splits import parse_split
from marsutils.study.experiments import collect_results, summarize_folds

__all__ = [
    "MODULE",
    "Anchor",
    "PUBLISHED",
    "UNVERIFIED",
    "OURS",
    "anchor_rows",
    "ours_rows",
    "verdict_metrics",
    "anchors_markdown",
    "f1_reading_markdown",
    "blocks",
    "main",
]

MODULE = "marsutils.book.anchors"


@dataclass(frozen=True)
class Anchor:
    """One published result: who, which model, which data and split, which metric, what value."""

    source: str  # MyST, with a {cite} role
    model: str
    data: str
    split: str  # official, random, family or CV
    results: tuple[tuple[str, float], ...]  # (metric, value in percent)
    checked: str  # where the number was read
    note: str = ""  # shown below the table


_MARS_BENCH = "Mars-Bench {cite}`purohit2025marsbench`"
_MARS_BENCH_READ = "leaderboard"

#: Published results on the HiRISE v3.2 landmarks whose numbers were read in their sources.
PUBLISHED: tuple[Anchor, ...] = (
    Anchor(
        _MARS_BENCH,
        "ResNet101, frozen, linear head; 7 seeds",
        "HiRISE v3.2",
        "official (inferred)",
        (("accuracy", 90.02), ("weighted F1", 88.05)),
        _MARS_BENCH_READ,
        "Mars-Bench (task `mb-landmark_cls`) trains a linear head on a frozen ImageNet backbone "
        "and reports the mean of 7 seeds; its numbers are read on the authors' leaderboard "
        "{cite}`marsbench2025leaderboard`. Its split is inferred from the benchmark's code, "
        "which reads the v3.2 release's split file. The leaderboard does not say how its "
        "accuracy averages over classes; its F1 is the weighted F1, and re-averaging the "
        "authors' per-seed results {cite}`kernerlab2025marsbenchcode` gives the same value.",
    ),
    Anchor(
        _MARS_BENCH,
        "InceptionV3, frozen, linear head; 7 seeds",
        "HiRISE v3.2",
        "official (inferred)",
        (("accuracy", 88.80), ("weighted F1", 86.69)),
        _MARS_BENCH_READ,
    ),
    Anchor(
        "classify_mars_images {cite}`pinto2020classifymars`",
        "InceptionV3, transfer learning",
        "HiRISE v3.2",
        "official",
        (("test accuracy", 91.75),),
        "README",
        "classify_mars_images is a student group project, not peer reviewed; its README gives "
        "the number, on the official split of 48,979 / 14,175 / 1,793 train / validation / "
        "test images.",
    ),
)

#: Results quoted for the same data elsewhere whose numbers we could not find in a text we read:
#: (source, what it is, the number as quoted). Shown apart, never as anchors.
UNVERIFIED: tuple[tuple[str, str, str], ...] = (
    (
        "Wagstaff et al. 2021 {cite}`wagstaff2021mars`",
        "the deployed HiRISE classifier on v3.2, official split",
        "test accuracy 92.8",
    ),
    (
        "Wagstaff et al. 2018 {cite}`wagstaff2018deep`",
        "AlexNet fine-tuned on the 7-class v1 release",
        "test accuracy about 90.6",
    ),
)

#: Our rows: (split, model, the model in words, the split in words; ``{ratio}`` is the record's
#: train+validation / test shares, such as ``80/20``).
OURS: tuple[tuple[str, str, str, str], ...] = (
    ("family", "full", "full (attention + head)", "family {ratio}"),
    ("paper", "full", "full (attention + head)", "random {ratio} (leaks)"),
    ("family", "plain", "plain (neither)", "family {ratio}"),
)

#: The split in words under cross-validation (kind -> text; ``{k}`` is the number of folds).
OURS_CV = {"family": "family-grouped {k}-fold CV", "paper": "random {k}-fold CV (leaks)"}

_METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro F1"), ("weighted_f1", "weighted F1"))


def _values(results: Sequence[tuple[str, float]]) -> str:
    """``"accuracy 90.02; weighted F1 88.05"``."""
    return "; ".join(f"{metric} {value:.2f}" for metric, value in results)


def _paper_row() -> list[str]:
    """The paper's own headline numbers, as printed."""
    head, eff = paper.HEADLINE, paper.EFFICIENCY
    test = float(paper.TEST_FRACTION.value)
    return [
        "this paper {cite}`naveed2025mars`",
        f"{eff['backbone'].value} + attention + head, {eff['input_resolution'].value} px",
        f"{int(paper.DATASET_SIZE.value):,} images (unpublished), random "
        f"{100 - test:.0f}/{test:.0f}",
        f"accuracy {head['accuracy'].value}; F1 {head['f1'].value} (average not stated); "
        f"'mean IoU' {head['mean_iou'].value}",
        "the paper",
    ]


def anchor_rows() -> list[list[str]]:
    """The paper's row and the published rows of the anchors table (no record is read).

    Returns
    -------
    list of list of str
        Cells: source, model, data and split protocol, results, where the numbers were read.
    """
    rows = [_paper_row()]
    for a in PUBLISHED:
        rows.append([a.source, a.model, f"{a.data}, {a.split}", _values(a.results), a.checked])
    return rows


def _seed_summary(run: Path) -> pd.DataFrame:
    """Mean and SD over seeds (or fold models) of accuracy, macro and weighted F1 per
    configuration (:func:`~marsutils.study.experiments.summarize_folds`)."""
    results = collect_results(run)
    if results.empty:
        raise FileNotFoundError(f"no finished experiment under {run}")
    table = summarize_folds(results, metrics=tuple(name for name, _ in _METRICS))
    spec = results.groupby("model").first()
    return table.join(spec[["backbone", "weights", "image_size"]], on="model")


def _mean_sd(row: Any, metric: str) -> str:
    """``"93.2 ± 0.8"`` (one model: ``"95.4"``), in percent."""
    mean, sd = 100 * getattr(row, f"{metric}_mean"), 100 * getattr(row, f"{metric}_sd")
    return f"{mean:.1f}" if row.n_models == 1 else f"{mean:.1f} ± {sd:.1f}"


def _read_in(row: Any) -> str:
    """``"our records, 3 seeds"`` or ``"our records, 5 folds"`` (what the mean is over)."""
    if row.n_folds:
        done = row.n_models // max(row.n_seeds, 1)
        folds = f"{row.n_folds} folds" if done == row.n_folds else f"{done} of {row.n_folds} folds"
        return f"our records, {folds}" + (f" x {row.n_seeds} seeds" if row.n_seeds > 1 else "")
    return f"our records, {row.n_seeds} seed{'s' if row.n_seeds > 1 else ''}"


def _data_text(data: DataSummary | None) -> str:
    """Our data in words, from the data chapter's record."""
    if data is None:
        return "sample of HiRISE v3.2"
    return f"{int(data.families['images']):,}-image sample of HiRISE v3.2"


def _ratio(data: DataSummary | None, split: str) -> str:
    """``"80/20"``: the train+validation and test shares of ``split`` in percent, or ``"?/?"``."""
    row = None if data is None else data.leakage_of(split)
    if row is None:
        return "?/?"
    test = 100 * row["n_test"] / (row["n_train"] + row["n_val"] + row["n_test"])
    return f"{100 - test:.0f}/{test:.0f}"


def _our_configurations(run: Path) -> list[tuple[Any, str, str]]:
    """(seed-summary row, model in words, split in words) of each row of :data:`OURS` found."""
    table = _seed_summary(run)
    data = DataSummary.read(RunLayout(run).result("data_summary"))
    out = []
    kinds = table["split"].map(lambda s: parse_split(s).kind)
    for split, model, model_text, split_text in OURS:
        match = table[(kinds == split) & (table["model"] == model)]
        out += [
            (
                r,
                model_text,
                OURS_CV[split].format(k=r.n_folds)
                if r.n_folds
                else split_text.format(ratio=_ratio(data, split)),
            )
            for r in match.itertuples()
        ]
    return out


def ours_rows(run_dir: str | Path) -> list[list[str]]:
    """Our rows of the anchors table, from the run's ``metrics.json`` files and data record.

    Parameters
    ----------
    run_dir : str or Path
        A run folder or a published ``results/<profile>`` folder.

    Returns
    -------
    list of list of str
        Cells as :func:`anchor_rows`; results as mean ± SD over seeds, in percent.

    Raises
    ------
    FileNotFoundError
        If the folder holds no finished experiment.
    """
    run = Path(run_dir)
    data = _data_text(DataSummary.read(RunLayout(run).result("data_summary")))
    return [
        [
            "this book",
            f"{model_text}: {r.backbone}, {r.weights}, {r.image_size} px",
            f"{data}, {split_text}",
            "; ".join(f"{label} {_mean_sd(r, name)}" for name, label in _METRICS),
            _read_in(r),
        ]
        for r, model_text, split_text in _our_configurations(run)
    ]


def anchors_markdown(run_dir: str | Path) -> str:
    """The ``anchors`` block: the table, its notes and the results left out of it.

    Parameters
    ----------
    run_dir : str or Path
        The run whose results are ours.

    Returns
    -------
    str
        The table, a note per published source that has one, ours explained, and the claims
        left out.

    Raises
    ------
    FileNotFoundError
        If the run holds no finished experiment.
    """
    run = Path(run_dir)
    header = ["source", "model", "data, split", "results (%)", "read in"]
    left_out = "; ".join(f"{source}, {what}: {number}" for source, what, number in UNVERIFIED)
    ours = _our_configurations(run)
    seeds = sorted({s for r, _, _ in ours for s in str(r.seeds).split(",")})
    folds = sorted({int(r.n_folds) for r, _, _ in ours if r.n_folds})
    over = (
        f"the fold models of {'/'.join(map(str, folds))}-fold cross-validation (seed "
        f"{', '.join(seeds)}; the spread between folds, each testing other images)"
        if folds
        else f"seeds ({', '.join(seeds)})"
    )
    notes = [f"- {a.note}" for a in PUBLISHED if a.note]
    notes.append(
        f"- Ours are the mean ± SD over {over} of the `metrics.json` files "
        f"of `{repo_relative(run)}`: *full* is the paper's model (attention and head) on our "
        "backbone, *plain* the same backbone with neither; the family split keeps rotated and "
        "flipped twins on one side, the random split is the paper's and leaks them."
    )
    notes.append(
        f"- Left out, claimed but not verified (no text we could read holds the number): "
        f"{left_out}. Reports of 97% or more on random splits exist only as unreviewed project "
        "pages with unstated splits, and are not anchors either."
    )
    return "\n".join([markdown_table(header, anchor_rows() + ours_rows(run)), "", *notes])


#: Which score a findings row judges, from the words of its test (first match wins).
_JUDGED: tuple[tuple[str, str], ...] = (
    (r"weighted f1", "weighted F1"),
    (r"macro f1", "macro F1"),
    (r"\bf1\b", "per-class F1 (no average)"),
    (r"\baccuracy\b", "accuracy"),
)


def verdict_metrics(findings: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Which score each claim's verdict judges: score -> claim numbers (``C1``, ...).

    Parameters
    ----------
    findings : sequence of mappings
        The findings rows in their order (numbered from 1, as on the summary page), with
        ``test``.

    Returns
    -------
    dict
        Keys from :data:`_JUDGED` in its order (those no verdict judges are absent); claims whose
        test names none of them are not listed.
    """
    out: dict[str, list[str]] = {}
    for number, row in enumerate(findings, start=1):
        test = str(row.get("test") or "").lower()
        for pattern, score in _JUDGED:
            if re.search(pattern, test):
                out.setdefault(score, []).append(f"C{number}")
                break
    return {score: out[score] for _, score in _JUDGED if score in out}


def _headline_f1(findings: Sequence[Mapping[str, Any]]) -> tuple[int, Mapping[str, Any]]:
    """The number and row of the claim about the paper's headline F1."""
    value = str(paper.HEADLINE["f1"].value)
    for number, row in enumerate(findings, start=1):
        if str(row.get("claim", "")).startswith(f"F1 {value}"):
            return number, row
    raise LookupError(f"the findings record has no claim 'F1 {value} ...'")


def f1_reading_markdown(run_dir: str | Path) -> str:
    """The ``f1-reading`` block: the paper's F1 summaries, ours both ways, what each verdict judges.

    Parameters
    ----------
    run_dir : str or Path
        The run whose records are read (experiments and ``results/findings.json``).

    Returns
    -------
    str
        The table of F1 summaries, then one paragraph on which score each verdict judges.

    Raises
    ------
    FileNotFoundError
        If the findings record or the experiments are missing.
    """
    run = Path(run_dir)
    findings_path = RunLayout(run).result("findings")
    if not findings_path.is_file():
        raise FileNotFoundError(f"{findings_path} is missing: run the findings chapter first")
    findings = FindingsRecord.from_json(findings_path).rows()
    averages = paper.f1_averages()
    paper_rows = [
        [f"the paper: {name}", hundredths(r.f1), r.source] for name, r in averages.iterrows()
    ]
    ours = [
        [
            f"ours: {label}, {model_text.split()[0]} model, {split_text}",
            _mean_sd(r, name),
            _read_in(r),
        ]
        for r, model_text, split_text in _our_configurations(run)
        if r.model == "full"
        for name, label in _METRICS[1:]
    ]
    folded = any(r.n_folds for r, _, _ in _our_configurations(run))
    over = "fold models" if folded else "seeds"
    number, row = _headline_f1(findings)
    interval = format_result(row["estimate"], row["low"], row["high"], decimals=row["decimals"])
    judged = verdict_metrics(findings)
    listed = "; ".join(f"{score}: {', '.join(claims)}" for score, claims in judged.items())
    if "weighted F1" not in judged:
        listed += "; none judges weighted F1"
    return "\n".join(
        [
            markdown_table(["F1 summary", "value (%)", "source"], paper_rows + ours),
            "",
            f"Ours are mean ± SD over {over} of `{repo_relative(run)}`'s `metrics.json` files. The "
            f"verdict on the paper's F1 (C{number} on {{doc}}`summary`) judges **macro F1**: "
            f"{interval}, a 95% interval ({row['verdict']}). Mars-Bench's F1 is a weighted F1, "
            "so it compares with our weighted rows. What each verdict judges, from the test it "
            f"names in the findings record: {listed}.",
        ]
    )


def blocks(run_dir: str | Path) -> dict[str, str]:
    """The introduction's two generated blocks, ``anchors`` and ``f1-reading``.

    Parameters
    ----------
    run_dir : str or Path
        The run whose records are ours: the published ``results/reference`` on the page.

    Returns
    -------
    dict of str to str
        Block name -> its Markdown (see the module docstring).

    Raises
    ------
    FileNotFoundError
        If the run has no finished experiment or no findings record.
    """
    return {"anchors": anchors_markdown(run_dir), "f1-reading": f1_reading_markdown(run_dir)}


def main(argv: Sequence[str] | None = None) -> int:
    """Write (``--check``: compare) the introduction's two blocks; returns the exit status."""
    return page_main(argv, MODULE, __doc__, "intro.md", blocks)


if __name__ == "__main__":
    sys.exit(main())
