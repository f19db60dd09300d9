"""The reviewer's page (``book/reviewer.md``): its numbers, generated from the published records.

``python -m marsutils.book.reviewer [--results results/reference] [--page book/reviewer.md]
[--check]`` writes three blocks into the hand-written page (:mod:`marsutils.book.blocks`):

* ``reviewer-scope``: the claims by how they were tested, from the findings record; the ones that
  could not be tested here or did not run, each with the record's reason;
* ``reviewer-compute``: the compute budget of the run, from ``results/environment.json``, every
  experiment's ``done.json``, ``grid_log.json``, ``pipeline.json`` and the segmentation and
  explanation records, beside what the paper states (:mod:`marsutils.core.paper`);
* ``reviewer-questions``: a draft message to the authors, whose numbers come from the paper's own
  tables (:mod:`marsutils.core.paper`) and from our data and findings records.

``--check`` only reports whether the page is current (``tests/test_reviewer.py`` runs it).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from marsutils.book.blocks import hundredths, markdown_table, page_main, repo_relative
from marsutils.book.summary import every_session_seconds, load_records
from marsutils.core import paper
from marsutils.core.layout import RunLayout
from marsutils.core.records import DataSummary

__all__ = [
    "MODULE",
    "KINDS",
    "scope_markdown",
    "compute_markdown",
    "questions_markdown",
    "blocks",
    "main",
]

MODULE = "marsutils.book.reviewer"

#: A findings row's ``kind`` -> how such a claim was tested, in words (in this order).
KINDS: dict[str, str] = {
    "value": "a value of ours on the family split against the paper's printed value",
    "comparative": "a paired difference of two of our models, against 0 and the paper's gain",
    "ranking": "the rank of the classes by F1",
    "distribution": "our class mix against the supports of the paper's Table 1",
    "size": "parameters and operations counted on the paper's backbone",
    "control": "explanation maps against controls (other images, random pixels, an edge detector)",
    "own": "a question of ours, not a claim of the paper",
    "paper's own numbers": "arithmetic on the paper's own printed numbers, no data needed",
    "untestable": "cannot be tested here (the reason is listed below)",
}

NOT_RUN = "not run"
UNTESTABLE = "untestable"


def _numbered(findings: Sequence[Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(C1, row), (C2, row), ...`` as on the summary page."""
    return [(f"C{n}", row) for n, row in enumerate(findings, start=1)]


def scope_markdown(findings: Sequence[Mapping[str, Any]]) -> str:
    """The ``reviewer-scope`` block: claims by how they were tested, and what was not.

    Parameters
    ----------
    findings : sequence of mappings
        The findings rows in their order (``kind``, ``verdict``, ``claim``, ``why``).

    Returns
    -------
    str
    """
    numbered = _numbered(findings)
    by_kind: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for number, row in numbered:
        by_kind.setdefault(str(row.get("kind") or "unknown"), []).append((number, row))
    order = [k for k in KINDS if k in by_kind] + sorted(set(by_kind) - set(KINDS))
    rows = []
    for kind in order:
        tally = Counter(str(row.get("verdict")) for _, row in by_kind[kind])
        rows.append(
            [
                KINDS.get(kind, kind),
                ", ".join(number for number, _ in by_kind[kind]),
                "; ".join(f"{verdict} {n}" for verdict, n in tally.most_common()),
            ]
        )
    tested = [n for n, r in numbered if r.get("kind") != UNTESTABLE and r.get("verdict") != NOT_RUN]
    data_free = len(by_kind.get("paper's own numbers", []))

    def reasons(pick) -> list[str]:
        return [
            f"- **{n}** {row.get('claim')}: {row.get('why')}." for n, row in numbered if pick(row)
        ]

    return "\n".join(
        [
            f"Of the {len(numbered)} claims listed on {{doc}}`summary`, {len(tested)} were "
            f"tested ({data_free} of them on the paper's own numbers alone), "
            f"{len(by_kind.get(UNTESTABLE, []))} cannot be tested here and "
            f"{sum(r.get('verdict') == NOT_RUN for _, r in numbered)} did not run.",
            "",
            markdown_table(["how the claim was tested", "claims", "verdicts"], rows),
            "",
            "**Could not be tested here, and why** (the findings record's reasons):",
            "",
            *reasons(lambda r: r.get("kind") == UNTESTABLE),
            "",
            "**Not run in this run:**",
            "",
            *(reasons(lambda r: r.get("verdict") == NOT_RUN) or ["- none"]),
        ]
    )


def _hours(seconds: float) -> str:
    """``"5.8 h"``, or minutes below an hour."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _machine_rows(env: Mapping[str, Any] | None) -> list[list[str]]:
    """Machine and software rows, from the environment record."""
    if not env:
        return [["machine and software", "not recorded by this run", "—"]]
    record = "`results/environment.json`"
    return [
        [
            "machine",
            f"{env.get('cpu_model')}, {env.get('logical_cores')} logical cores, "
            f"{env.get('memory_gib')} GiB memory; GPU: {env.get('cuda_device') or 'none'}",
            record,
        ],
        [
            "software",
            f"Python {env.get('python')}, torch {env.get('torch')} on "
            f"{env.get('torch_threads')} threads; {len(env.get('packages', {}))} packages locked",
            record,
        ],
    ]


def _spread(counts: Counter, unit: str) -> str:
    """``"all 10 epochs"`` for one value, else ``"10 epochs (12), 5 epochs (8)"``."""
    words = [f"{value} {unit}".strip() for value in counts]
    if len(counts) == 1:
        return f"all {words[0]}"
    return ", ".join(f"{w} ({n})" for w, n in zip(words, counts.values(), strict=True))


def _training_rows(experiments: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Training time and precision of every trained classifier, from the ``done.json`` files."""
    if not experiments:
        return [["classifier training", "no trained model recorded", "—"]]
    seconds = sum(float(e.get("train_time_s") or 0.0) for e in experiments)
    epochs = Counter(int(e.get("epochs_run") or 0) for e in experiments)
    devices = Counter(str(e.get("device", "?")) for e in experiments)
    precision = Counter(
        str(e.get("precision") or "fp32").replace("torch.", "").replace("None", "fp32")
        for e in experiments
    )
    record = "`experiments/*/seed*/done.json`"
    return [
        [
            "classifier training",
            f"{len(experiments)} models, {_spread(epochs, 'epochs')}; {_hours(seconds)} of "
            f"training in all, on {', '.join(f'{d} ({n})' for d, n in devices.items())}",
            record,
        ],
        [
            "precision",
            ", ".join(f"{p} for {n} models" for p, n in precision.most_common())
            + "; each model's path is chosen by the run's measured precision policy, its "
            "reason kept in its record",
            record,
        ],
    ]


def _seconds_in(path: Path) -> float | None:
    """The top-level ``seconds`` of a JSON record, or None."""
    if not path.is_file():
        return None
    value = json.loads(path.read_text()).get("seconds")
    return None if value is None else float(value)


def _seg_fits(path: Path) -> list[float]:
    """Seconds of every fit of the segmentation study's record (empty when absent)."""
    if not path.is_file():
        return []
    models = json.loads(path.read_text()).get("models", {})
    return [
        float(f["seconds"]) for m in models.values() for f in m.get("fits", []) if "seconds" in f
    ]


def _study_rows(run: Path, records: Mapping[str, Any]) -> list[list[str]]:
    """Grid, segmentation, explanation and chapter wall times, where recorded."""
    rows = []
    log = records.get("grid_log") or []
    if log:
        logged = sum(float(r["wall_s"]) for r in log)
        whole = sum(every_session_seconds(records))
        resumed = (
            f"; {_hours(whole)} counting every session of the experiments resumed from a "
            "checkpoint (their `done.json`)"
            if whole > logged + 60
            else ""
        )
        rows.append(
            [
                "classifier grid, wall time",
                f"{_hours(logged)} for {len(log)} logged experiments (training and evaluation, "
                f"one at a time){resumed}",
                "`grid_log.json`",
            ]
        )
    seg = _seg_fits(RunLayout(run).result("seg_study"))
    if seg:
        rows.append(
            [
                "segmentation study (pixel masks)",
                f"{len(seg)} fits, {_hours(sum(seg))} in all",
                "`results/seg_study.json`",
            ]
        )
    xai = [s for p in sorted(run.glob("xai/**/attributions.json")) if (s := _seconds_in(p))]
    if xai:
        rows.append(["Grad-CAM and IG maps", _hours(sum(xai)), "`xai/**/attributions.json`"])
    pipeline = records.get("pipeline") or {}
    if pipeline.get("total_seconds") is not None:
        rows.append(
            [
                "executing the chapters and building the book",
                f"{_hours(float(pipeline['total_seconds']))}, reusing the trained models",
                "`pipeline.json`",
            ]
        )
    return rows


def _paper_rows() -> list[list[str]]:
    """What the paper states about its own compute."""
    eff = paper.EFFICIENCY
    return [
        [
            "the paper's run",
            f"inference on a {eff['device'].value} ({eff['device'].note}), "
            f"{eff['latency_ms_low'].value:.0f}-{eff['latency_ms_high'].value:.0f} ms per image; "
            "training hardware, time and precision not stated",
            "`marsutils/core/paper.py` (Table 2)",
        ]
    ]


def compute_markdown(run_dir: str | Path, records: Mapping[str, Any] | None = None) -> str:
    """The ``reviewer-compute`` block: the run's compute budget beside the paper's.

    Parameters
    ----------
    run_dir : str or Path
        A run folder or a published ``results/<profile>`` folder.
    records : mapping, optional
        :func:`marsutils.book.summary.load_records` of ``run_dir`` (read when omitted).

    Returns
    -------
    str

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` has no findings record (see :func:`marsutils.book.summary.load_records`).
    """
    run = Path(run_dir)
    records = load_records(run) if records is None else records
    rows = (
        _machine_rows(records.get("environment"))
        + _training_rows(records.get("experiments", []))
        + _study_rows(run, records)
        + _paper_rows()
    )
    profile = (records.get("pipeline") or {}).get("profile", "unknown")
    return "\n".join(
        [
            f"Profile `{profile}`; every row is read from the record it names (paths below "
            f"`{repo_relative(run)}/`).",
            "",
            markdown_table(["what", "budget", "record"], rows),
        ]
    )


def _verdict_of(findings: Sequence[Mapping[str, Any]], start: str) -> str:
    """The verdict of the first claim whose words start with ``start``, or ``"not judged"``."""
    row = next((r for r in findings if str(r.get("claim", "")).startswith(start)), None)
    return "not judged" if row is None else str(row.get("verdict"))


def _data_facts(run: Path) -> dict[str, str]:
    """Our sample's size, twin share and the paper split's leak, in words."""
    data = DataSummary.read(RunLayout(run).result("data_summary"))
    if data is None:
        return {"images": "?", "twins": "?", "leak": "?"}
    leak = [100 * x for x in data.twin_shares("paper")]  # one hold-out split, or K folds
    if not leak:
        leak_text = "?"
    elif f"{min(leak):.0f}" == f"{max(leak):.0f}":
        leak_text = f"{leak[0]:.0f}%"
    else:
        leak_text = f"{min(leak):.0f}% to {max(leak):.0f}% (over its {len(leak)} folds)"
    return {
        "images": f"{int(data.families['images']):,}",
        "twins": f"{100 * float(data.families['share_with_twin']):.0f}%",
        "leak": leak_text,
    }


def _question_f1() -> str:
    """The F1 question, with Table 1's averages and the baselines' implied F1."""
    averages = paper.f1_averages()["f1"]
    baselines = paper.baseline_values()
    implied = " and ".join(f"{r.model} {r.f1:.2f}" for r in baselines.itertuples())
    return (
        f"3. **The F1 definition.** The headline F1 of {paper.HEADLINE['f1'].value} is neither "
        f"the mean of Table 1's F1 column ({hundredths(averages['macro F1 (mean of Table 1 F1)'])}"
        f"; the text prints {paper.HEADLINE['weighted_macro_f1'].value} and calls it a "
        "'weighted macro-average') nor its support-weighted mean "
        f"({hundredths(averages['support-weighted F1'])}). Which average is it, and over which "
        f"predictions? The same for the baselines, whose F1 the abstract's gains put at "
        f"{implied}."
    )


def _question_iou() -> str:
    """The IoU question, with Table 3's IoUs of models without a mask output."""
    t3 = paper.table3()
    no_head = t3[~t3["segmentation_head"]]
    printed = " and ".join(f"{r.iou:.2f} ({r.configuration})" for r in no_head.itertuples())
    base = " and ".join(f"{v.note} {v.value}" for v in paper.BASELINE_IOU.values())
    return (
        f"4. **What IoU means.** The labels give one class per image. Which masks did the mean "
        f"IoU of {paper.HEADLINE['mean_iou'].value} compare? Table 3 gives an IoU to models "
        f"without the segmentation head, {printed}; Table 1's counts imply an image-level "
        f"Jaccard of {paper.table1_mean_iou():.2f}. How did {base} produce their IoUs and one "
        "class per image?"
    )


def questions_markdown(run_dir: str | Path, findings: Sequence[Mapping[str, Any]]) -> str:
    """The ``reviewer-questions`` block: a draft message to the authors.

    Parameters
    ----------
    run_dir : str or Path
        The run whose data record is quoted.
    findings : sequence of mappings
        The run's findings rows (for the class-mix verdict).

    Returns
    -------
    str
    """
    facts = _data_facts(Path(run_dir))
    test = float(paper.TEST_FRACTION.value)
    support = paper.table1_total_support()
    eff = paper.EFFICIENCY
    return "\n".join(
        [
            "> Dear Dr Naveed, Dr Umair and Dr Saif,",
            ">",
            "> we are reproducing your IJIST paper on Martian terrain mapping in an open, "
            "executable book. Most of it could be rebuilt from the text; the points below "
            "could not, and your answers would settle them.",
            ">",
            f"> 1. **The exact file list.** The paper names a 'Mars_terrain_classification' set "
            f"of {int(paper.DATASET_SIZE.value):,} images from the NASA PDS (Mars Reconnaissance "
            "Orbiter and Viking Orbiter). Could you share the file names, or a list of "
            f"checksums, and the release they come from? We use a public {facts['images']}-image "
            "sample of HiRISE v3.2, whose class mix is "
            f"{_verdict_of(findings, 'the class mix')} with your Table 1; {facts['twins']} of "
            "its images have a rotated or flipped twin inside the set.",
            f"> 2. **The split.** Was the random {100 - test:.0f}/{test:.0f} split drawn over "
            "images or over landmarks, and were the augmented copies already in the data "
            f"before it? On our sample, a random image split puts a twin of {facts['leak']} of "
            f"the test images into training. Table 1's supports sum to {support:,} test images; "
            "was a validation set held out, and which epoch's model is reported?",
            f"> {_question_f1()}",
            f"> {_question_iou()}",
            "> 5. **Training.** Which optimiser, learning rate, schedule, number of epochs and "
            "batch size, which class-balanced sampling, and how many runs stand behind the "
            "'several training sessions', with what spread?",
            f"> 6. **Hardware.** Which {eff['device'].value} gave "
            f"{eff['latency_ms_low'].value:.0f}-{eff['latency_ms_high'].value:.0f} ms per image, "
            "at which batch size and precision, and how long did training take?",
            "> 7. **Code.** Could the training and evaluation code be released?",
            ">",
            "> With thanks and best regards,",
            "> the authors of this reproduction",
        ]
    )


def blocks(run_dir: str | Path) -> dict[str, str]:
    """Block name -> Markdown for the reviewer's page (see the module docstring).

    Parameters
    ----------
    run_dir : str or Path
        The published run folder (``results/reference``).

    Returns
    -------
    dict of str to str

    Raises
    ------
    FileNotFoundError
        If the run has no findings record.
    """
    records = load_records(run_dir)
    findings = records["findings"]
    return {
        "reviewer-scope": scope_markdown(findings),
        "reviewer-compute": compute_markdown(run_dir, records),
        "reviewer-questions": questions_markdown(run_dir, findings),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write (``--check``: compare) the reviewer page's blocks; returns the status."""
    return page_main(argv, MODULE, __doc__, "reviewer.md", blocks)


if __name__ == "__main__":
    sys.exit(main())
