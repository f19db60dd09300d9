"""The book's front page: a reproducibility-report summary generated from a run's records.

``python -m marsutils.book.summary RESULTS_DIR [--output book/summary.md] [--check]`` writes (or,
with ``--check``, compares against) the summary page of the run whose small result files are in
``RESULTS_DIR`` (a run folder, or ``results/<profile>`` for the published run). Every number on the
page is read from those files:

* the verdict table and tally from the findings record (``results/findings.json``), each
  claim's result composed from the record's numbers by
  :func:`marsutils.book.reporting.finding_texts`, as in the findings chapter;
* the compute from ``pipeline.json`` (wall time per chapter), ``grid_log.json`` (wall time of
  each experiment of a long run, summed per seed and group), each experiment's ``done.json``
  (device, precision, training time) and ``results/environment.json`` (machine and package lock),
  where the run recorded them; what a run did not record is said to be missing, never filled in;
* with ``--previous DIR`` (the records of the run this one replaces), each claim's verdict beside
  its verdict there, matched by the claim's words.

The prose around the numbers (method in brief, what was easy and hard, communication with the
authors) is fixed text of this module.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from marsutils.book.blocks import repo_relative
from marsutils.book.reporting import finding_texts, verdict_badge
from marsutils.core.atomic import write_text
from marsutils.core.layout import RunLayout
from marsutils.core.records import ExternalRecord, FindingsRecord
from marsutils.stats import rules

__all__ = [
    "CHAPTERS",
    "every_session_seconds",
    "evidence_chapter",
    "load_records",
    "main",
    "summary_markdown",
    "verdict_badge",
]

#: Chapter notebook -> its title in the book, for the wall-time table and evidence links.
CHAPTERS: dict[str, str] = {
    "01_data": "Data",
    "02_training": "Training",
    "03_ablation": "Ablation",
    "04_baselines": "Baselines",
    "05_explainability": "Explainability",
    "06_efficiency": "Efficiency",
    "07_segmentation": "Segmentation",
    "08_findings": "Findings",
    "09_external": "External validation",
}


def _read_json(path: Path) -> Any | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _findings(layout: RunLayout) -> list[dict[str, Any]]:
    findings_path = layout.result("findings")
    if not findings_path.is_file():
        raise FileNotFoundError(
            f"{findings_path} is missing: the summary is generated from the findings chapter's "
            "record; run notebooks/08_findings.ipynb first"
        )
    return [
        {k: ("" if v is None else v) for k, v in row.items()}
        for row in FindingsRecord.from_json(findings_path).rows()
    ]


def load_records(results_dir: str | Path, *, previous: str | Path | None = None) -> dict[str, Any]:
    """Read the records that the summary is built from.

    Parameters
    ----------
    results_dir : str or Path
        A run folder or a published ``results/<profile>`` folder.
    previous : str or Path, optional
        The records of the run this one replaces (such as ``results/reference-v1``), for the
        verdicts side by side.

    Returns
    -------
    dict
        ``findings`` (list of claim rows, keyed by the fields of
        :class:`marsutils.core.records.Finding`, blanks as ``""``), ``pipeline`` (or None),
        ``folder`` (``results_dir`` relative to the repository where it lies inside it),
        ``environment`` (or None), ``grid_log`` (list of experiment timings, or None),
        ``experiments`` (one dict per ``done.json`` found under ``experiments/``, with its
        ``key``: the folder path below ``experiments/``) and ``previous`` (``{"name": folder
        name, "findings": rows}``, or None without ``previous``) and ``external`` (the
        :class:`~marsutils.core.records.ExternalRecord`, or None when the run has none).

    Raises
    ------
    FileNotFoundError
        If ``results_dir`` (or ``previous``) has no ``results/findings.json``: run the findings
        chapter first.
    marsutils.core.records.RecordError
        If ``findings.json`` is not a findings record (the message names the file and field).
    """
    layout = RunLayout(results_dir)
    findings = _findings(layout)
    earlier = None
    if previous is not None:
        earlier = {"name": Path(previous).name, "findings": _findings(RunLayout(previous))}
    experiments = []
    for done in layout.done_files():
        record = json.loads(done.read_text())
        record["key"] = done.parent.relative_to(layout.experiments).as_posix()
        experiments.append(record)
    return {
        "folder": repo_relative(results_dir),
        "findings": findings,
        "pipeline": _read_json(layout.pipeline_record),
        "environment": _read_json(layout.result("environment")),
        "grid_log": _read_json(layout.grid_log),
        "experiments": experiments,
        "previous": earlier,
        "external": ExternalRecord.read(layout.result(ExternalRecord.FILE)),
    }


def _escape(text: Any) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _claim_text(row: Mapping[str, Any]) -> str:
    return str(row.get("claim_text") or row.get("claim") or "")


#: Where the evidence of a claim is, by the words of the claim or its test (first match wins).
_EVIDENCE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("u-net", "deeplab"), "04_baselines"),
    (("attention", "head", "plain fine-tune"), "03_ablation"),
    (("random split", "class mix", "6,153"), "01_data"),
    (("table 1", "table 3", "printed ious", "dark and bright"), "08_findings"),
    (("parameters", "gflops", "ms per image"), "06_efficiency"),
    (("points at craters", "always", "pointing"), "07_segmentation"),
    (("grad-cam", "integrated gradients", " ig "), "05_explainability"),
)


def evidence_chapter(row: Mapping[str, Any]) -> str:
    """The chapter notebook that holds the evidence of a findings row (default: training).

    Parameters
    ----------
    row : mapping
        A findings row with ``claim`` and ``test`` texts.

    Returns
    -------
    str
        A key of :data:`CHAPTERS`.
    """
    if row.get("chapter") in CHAPTERS:
        return str(row["chapter"])
    text = f" {_claim_text(row)} {row.get('test', '')} ".lower()
    for words, chapter in _EVIDENCE:
        if any(word in text for word in words):
            return chapter
    return "02_training"


def _verdict_section(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = []
    for number, row in enumerate(findings, start=1):
        chapter = evidence_chapter(row)
        rows.append(
            [
                f"C{number}",
                f"{_claim_text(row)} ({{doc}}`{CHAPTERS[chapter]} <notebooks/{chapter}>`)",
                row.get("paper", ""),
                finding_texts(row)["ours"],
                verdict_badge(str(row.get("verdict", ""))),
            ]
        )
    tally = Counter(str(r.get("verdict", "")) for r in findings)
    return [
        "## Verdicts",
        "",
        f"The paper's claims, numbered C1 to C{len(findings)}, one row per distinct claim, each "
        "with a link to the chapter that holds its evidence. Each verdict follows one rule of "
        "{doc}`notebooks/08_findings`, where every rule is stated with how each claim was "
        "tested.",
        "",
        _table(["#", "claim (evidence)", "paper", "ours", "verdict"], rows),
        "",
        '**What the verdicts mean** (one rule each; "not shown" is not "false"):',
        "",
        _table(
            ["verdict", "meaning"],
            [[verdict_badge(v), rules.VERDICT_MEANINGS[v]] for v in rules.VERDICTS],
        ),
        "",
        "**Tally of distinct claims:**",
        "",
        _table(
            ["verdict", "claims"],
            [[verdict_badge(v), n] for v, n in sorted(tally.items(), key=lambda kv: -kv[1])],
        ),
    ]


def _previous_section(records: Mapping[str, Any]) -> list[str]:
    previous = records.get("previous")
    if not previous:
        return []
    before = {_claim_text(r): str(r.get("verdict", "")) for r in previous["findings"]}
    rows, same = [], 0
    for number, row in enumerate(records["findings"], start=1):
        claim, verdict = _claim_text(row), str(row.get("verdict", ""))
        old = before.get(claim)
        if old == verdict:
            same += 1
            continue
        rows.append(
            [
                f"C{number}",
                _escape(claim),
                "not a claim then" if old is None else verdict_badge(old),
                verdict_badge(verdict),
            ]
        )
    gone = [c for c in before if c not in {_claim_text(r) for r in records["findings"]}]
    out = [
        "## Verdicts beside the previous published run",
        "",
        f"The run this book showed before (records in `results/{previous['name']}`) judged the "
        "same claims; its verdicts are shown as it published them, under the verdict rules of "
        "its time (this run's are stated in {doc}`notebooks/08_findings`). "
        f"{same} of {len(records['findings'])} claims keep their verdict; the others are listed "
        "here.",
        "",
    ]
    if rows:
        out.append(_table(["#", "claim", f"{previous['name']}", "this run"], rows))
    else:
        out.append("No verdict changed.")
    if gone:
        out += ["", "Claims of the previous run that this one no longer lists: " + "; ".join(gone)]
    return out


def _in_run(records: Mapping[str, Any], name: str) -> str:
    """``name`` below the run's folder (``results/reference/grid_log.json``), for the text.

    A run folder outside the repository (a smoke run in a temporary folder) is not named: the
    page would show one machine's path, so ``name`` is given relative to the run folder."""
    folder = records.get("folder")
    return f"{folder}/{name}" if folder and not Path(folder).is_absolute() else name


def every_session_seconds(records: Mapping[str, Any]) -> list[float]:
    """Each logged experiment's time over every session it ran in, in seconds.

    ``grid_log.json`` holds the wall time of the session that finished an experiment; one
    resumed from a checkpoint ran partly in earlier sessions. Its time is then its epochs and
    final predictions as its ``done.json`` records them (``train_time_s + final_predict_s``),
    which leaves out only the evaluation after training (seconds).

    Parameters
    ----------
    records : mapping
        As returned by :func:`load_records` (``grid_log`` and ``experiments``).

    Returns
    -------
    list of float
        One per ``grid_log`` entry, in its order: the larger of its logged ``wall_s`` and its
        recorded training and prediction time.
    """
    experiments = {e["key"]: e for e in records.get("experiments", [])}
    out = []
    for entry in records.get("grid_log") or []:
        done = experiments.get(entry["run_key"], {})
        recorded = float(done.get("train_time_s") or 0) + float(done.get("final_predict_s") or 0)
        out.append(max(float(entry["wall_s"]), recorded))
    return out


def _machine_sentences(frame: pd.DataFrame) -> list[str]:
    """Which CPUs trained the grid and which experiments were trained anew, from the log.

    A grid that spans sessions may span machines; models trained on another CPU kind differ as
    another order of floating-point sums makes them differ. Says nothing for a log that never
    named the CPU (runs logged before the runner recorded it)."""
    if "cpu_model" not in frame:
        return []
    named = frame.dropna(subset=["cpu_model"])
    kinds = named.groupby(["cpu_model", "cpu_capability"], sort=True).size()
    parts = [f"{model} ({capability}) for {n}" for (model, capability), n in kinds.items()]
    unnamed = len(frame) - len(named)
    if unnamed:
        parts.append(f"not recorded for {unnamed} (logged before the runner named the CPU)")
    out = ["", "CPUs of the experiments: " + "; ".join(parts) + "."]
    if "retrained" in frame:
        again = frame.dropna(subset=["retrained"])
        if len(again):
            same = int(again["reproduced_record"].astype(bool).sum())
            out[-1] += (
                f" {len(again)} were trained anew after their weights were lost (the reason is "
                f"in the log); {same} of them reproduced the test predictions recorded before, "
                f"{len(again) - same} did not, and their new records replaced the old."
            )
    return out


def _grid_section(records: Mapping[str, Any]) -> list[str]:
    log = records.get("grid_log")
    if not log:
        return []
    frame = pd.DataFrame(log)
    table = (
        frame.groupby(["seed", "group"], sort=True)["wall_s"].agg(["count", "sum"]).reset_index()
    )
    rows = [
        [int(r.seed), r.group, int(r["count"]), f"{r['sum'] / 60:.0f}"] for _, r in table.iterrows()
    ]
    per_group = frame.groupby("group")["wall_s"].sum()
    busy = frame[frame["loadavg_1min"] > frame["threads"] + 0.5]
    logged = set(frame["run_key"])
    experiments = {e["key"]: e for e in records.get("experiments", [])}
    unlogged = sorted(k for k in experiments if k not in logged)
    trained = {k: e.get("train_time_s") for k, e in experiments.items()}
    resumed = [  # its training time (all sessions) exceeds the wall time the log saw
        r.run_key
        for r in frame.itertuples()
        if trained.get(r.run_key) is not None and trained[r.run_key] > r.wall_s + 1
    ]
    whole = pd.Series(every_session_seconds(records), index=frame.index)
    per_group_whole = whole.groupby(frame["group"]).sum()
    out = [
        "",
        "Wall time of the classifier grid (training and evaluation of every experiment, "
        f"one at a time, from `{_in_run(records, 'grid_log.json')}`):",
        "",
        _table(["seed", "group", "experiments", "minutes"], rows),
        "",
        "Per group: "
        + "; ".join(f"{g} {v / 60:.0f} min" for g, v in per_group.items())
        + f". In all: {frame['wall_s'].sum() / 3600:.1f} hours for {len(frame)} experiments.",
    ]
    out += _machine_sentences(frame)
    if len(busy):
        out += [
            "",
            f"{len(busy)} of these times were measured beside other work (1-minute load average "
            "above the thread count + 0.5) and overstate a quiet machine's: "
            + ", ".join(busy["run_key"])
            + ".",
        ]
    if resumed:
        out += [
            "",
            f"{len(resumed)} of these were resumed from a checkpoint, so their logged wall time "
            "covers only the part after the resumption (their whole training time is in the "
            "table below): " + ", ".join(resumed) + ". Counting every session of these (their "
            "epochs and final predictions, from `done.json`), per group: "
            + "; ".join(f"{g} {v / 60:.0f} min" for g, v in per_group_whole.items())
            + f". In all: {whole.sum() / 3600:.1f} hours.",
        ]
    if unlogged:
        out += [
            "",
            f"Not in the log (trained before it was kept; their training time is in the table "
            f"below): {', '.join(unlogged)}.",
        ]
    return out


def _compute_section(records: Mapping[str, Any]) -> list[str]:
    out = ["## Compute", ""]
    env = records.get("environment")
    if env:
        out += [
            f"- **Machine:** {env.get('cpu_model')}, {env.get('logical_cores')} logical cores, "
            f"{env.get('memory_gib')} GiB; torch CPU capability {env.get('cpu_capability')}; "
            f"native bf16: {'yes' if env.get('cpu_native_bf16') else 'no'}; "
            f"GPU: {env.get('cuda_device') or 'none'}.",
            f"- **Software:** Python {env.get('python')}, torch {env.get('torch')} with "
            f"{env.get('torch_threads')} threads; the package lock of the run "
            f"({len(env.get('packages', {}))} packages) is in "
            f"`{_in_run(records, 'results/environment.json')}`.",
        ]
    else:
        out.append(
            "- **Machine and packages:** not recorded by this run (runs before the environment "
            "record existed); the README names the development machine."
        )
    pipeline = records.get("pipeline")
    if pipeline and pipeline.get("notebooks"):
        rows = [
            [CHAPTERS.get(n["notebook"], n["notebook"]), f"{n['seconds'] / 60:.1f}"]
            for n in pipeline["notebooks"]
        ]
        total = pipeline.get("total_seconds", pipeline.get("execute_seconds"))
        out += [
            "",
            f"Wall time per chapter of the execution that produced these notebooks, profile "
            f"`{pipeline.get('profile')}`. A chapter reuses what an earlier execution in the same "
            "run folder saved (trained models, Grad-CAM and IG maps, the segmentation study), so "
            "these times can be far below a first execution's; the training time of every model "
            "is in the tables below.",
            "",
        ]
        out += [_table(["chapter", "minutes"], rows)]
        if pipeline.get("total_seconds") is not None:
            out += ["", f"In all: {total / 60:.0f} minutes, the book build included."]
        elif total is not None:
            out += ["", f"Executing the chapters took {total / 60:.0f} minutes in all."]
        if pipeline.get("only"):
            out += [
                "",
                f"This record is of a partial execution: `--only {' '.join(pipeline['only'])}`.",
            ]
        for part in pipeline.get("partial_runs", []):
            chapters = ", ".join(
                f"{CHAPTERS.get(n['notebook'], n['notebook'])} ({n['seconds'] / 60:.1f} min)"
                for n in part["notebooks"]
            )
            out += [
                "",
                f"Re-executed afterwards with `--only {' '.join(part['only'])}`: {chapters}.",
            ]
    else:
        out += ["", "Wall time per chapter: not recorded by this run."]
    out += _grid_section(records)
    experiments = records.get("experiments", [])
    if experiments:
        load = {r["run_key"]: r.get("loadavg_1min") for r in records.get("grid_log") or []}
        rows = []
        for e in experiments:
            precision = e.get("precision") or e.get("amp_dtype")
            precision = "fp32" if precision in (None, "None") else str(precision)
            seconds = e.get("train_time_s")
            rows.append(
                [
                    e["key"],
                    e.get("device", ""),
                    precision.replace("torch.", ""),
                    e.get("epochs_run", ""),
                    "" if seconds is None else f"{seconds / 60:.1f}",
                    "" if load.get(e["key"]) is None else f"{load[e['key']]:.1f}",
                ]
            )
        out += [
            "",
            "Every trained model, with the precision path it took and, where the grid log has it, "
            "the 1-minute load average when it finished (a load well above its torch thread "
            "count means its time was measured beside other work):",
            "",
        ]
        header = ["experiment", "device", "precision", "epochs", "train minutes", "load"]
        out += [_table(header, rows)]
    return out


def _method(records: Mapping[str, Any]) -> str:
    """The method in brief, naming the run's split protocol: hold-out splits or K-fold CV (read
    from its experiments' folder names, ``<kind>-cv<K>-f<k>/...``)."""
    folds = sorted(
        {
            int(m.group(1))
            for e in records.get("experiments", [])
            if (m := re.match(r"(?:family|paper)-cv(\d+)-f\d+/", str(e.get("key", ""))))
        }
    )
    if folds:
        k = "/".join(map(str, folds))
        protocol = (
            f"evaluated them by {k}-fold cross-validation, so that every image is tested once: "
            "folds drawn at random, as the paper's random split, and folds that keep rotated and "
            "flipped copies of an image ({term}`twin family`) in one fold"
        )
        split = "leak-free folds"
    else:
        protocol = (
            "evaluated them on two 80/20 splits: the paper's random split, and a split that keeps "
            "rotated and flipped copies of an image ({term}`twin family`) on one side"
        )
        split = "leak-free split"
    return (
        "## The method in brief\n\n"
        "We re-implemented the paper's model (a backbone with channel and spatial attention "
        'between its stages and a dense "segmentation head") and its baselines in one training '
        "engine, trained them on a public sample of the HiRISE v3.2 landmarks, and "
        f"{protocol}. Intervals resample twin families, not images. Value claims are judged on "
        f"the {split}; comparative claims by paired intervals against zero and against the "
        "paper's claimed effect, with Holm's correction. Deviations from the paper are listed in "
        "{doc}`methods`; threats to validity in {doc}`limitations`."
    )


_EASY_HARD = """## What was easy, and what was hard

- **Easy:** the architecture. The paper's description (attention between stages, a 1x1 and a 3x3
  convolution, upsampling, softmax) maps onto standard building blocks of timm and
  segmentation-models-pytorch; the baselines exist as library models.
- **Hard:** the data. The paper's data set is not published, its description (NASA PDS, MRO and
  Viking) does not match the classes it reports, and the public sample we use contains rotated and
  flipped copies that leak across a random split ({doc}`provenance`).
- **Hard:** the paper's numbers. Its "segmentation" metrics are computed on image-level labels, its
  hyper-parameters are not stated, and its claims of stability across training sessions give no
  numbers to compare with.
- **Hard:** the compute. The paper's ResNet-50 at 224 px is slow on CPUs, and no ImageNet
  ResNet-50 weights can be downloaded offline; the study uses a pretrained EfficientNet-Lite0. Its
  first published run trained ResNet-50 from scratch for about one pass over the data, which showed
  nothing about the backbone; the current run drops it ({doc}`notebooks/02_training`)."""

_AUTHORS = """## Communication with the original authors

None so far. We have not contacted the authors; their data, code and hyper-parameters would settle
several of the open points listed in {doc}`limitations`."""


def _external_section(records: Mapping[str, Any]) -> list[str]:
    """The comparisons on the second release beside their in-release verdicts (chapter 09)."""
    from marsutils.study.external.tables import summary_sentences

    record = records["external"]
    numbers = {_claim_text(r): n for n, r in enumerate(records["findings"], start=1)}
    rows = [
        [
            f"C{numbers[c['claim']]}" if c["claim"] in numbers else "",
            c["claim"],
            verdict_badge(c["in_release_verdict"]) if c.get("in_release_verdict") else "n/a",
            verdict_badge(str(c["verdict"])),
            c.get("robustness", ""),
        ]
        for c in record.comparisons
    ]
    folder = record.folder
    return [
        f"## On a second release ({folder['name']})",
        "",
        f"Every compared classifier of every fold scored on {folder['n_images']} images of an "
        "independently labelled release ({doc}`notebooks/09_external`), and the comparative "
        "claims judged a second time under the same rule:",
        "",
        _table(["#", "claim", "in-release", "external", "robustness"], rows),
        "",
        *[f"- {sentence}" for sentence in summary_sentences(record)],
    ]


def summary_markdown(records: Mapping[str, Any], *, profile: str | None = None) -> str:
    """The summary page as MyST Markdown.

    Parameters
    ----------
    records : mapping
        As returned by :func:`load_records`.
    profile : str, optional
        The run's profile, shown in the title line; read from ``pipeline.json`` when omitted.

    Returns
    -------
    str
    """
    pipeline = records.get("pipeline") or {}
    profile = profile or pipeline.get("profile", "unknown")
    lines = [
        "# Summary: what holds, and what does not",
        "",
        '> K. Naveed, M. Umair and M. Saif, "Revolutionizing Martian Terrain Mapping: Precision '
        'Segmentation Through Deep Learning", *IJIST* 7(11), 2025 {cite}`naveed2025mars`.',
        "",
        f"This page is generated by `python -m marsutils.book.summary` from the records of the "
        f"`{profile}` run that this book shows; every number on it comes from those files.",
        "",
        _method(records),
        "",
        *_verdict_section(records["findings"]),
        "",
        *([*_external_section(records), ""] if records.get("external") else []),
        *([*_previous_section(records), ""] if records.get("previous") else []),
        *_compute_section(records),
        "",
        _EASY_HARD,
        "",
        _AUTHORS,
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 when ``--check`` finds it stale)."""
    parser = argparse.ArgumentParser(prog="python -m marsutils.book.summary", description=__doc__)
    parser.add_argument("results_dir", help="a run folder, or results/<profile>")
    parser.add_argument("--output", default="book/summary.md")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--previous", default=None, help="the records of the run this one replaces")
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    try:
        text = summary_markdown(
            load_records(args.results_dir, previous=args.previous), profile=args.profile
        )
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    output = Path(args.output)
    if args.check:
        if not output.is_file() or output.read_text() != text:
            print(
                f"{output} is stale: regenerate it with python -m marsutils.book.summary",
                file=sys.stderr,
            )
            return 1
        return 0
    write_text(output, text)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
