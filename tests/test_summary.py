"""The front page: generated from a run's records, every claim once, verdicts linked."""

import json
from pathlib import Path

import pytest

from marsutils.book.summary import evidence_chapter, load_records, main, summary_markdown
from marsutils.stats.rules import VERDICTS


def _run(tmp_path, findings, *, pipeline=True, environment=False):
    (tmp_path / "results").mkdir(parents=True)
    (tmp_path / "results" / "findings.json").write_text(json.dumps(findings))
    if pipeline:
        record = {
            "profile": "smoke",
            "notebooks": [{"notebook": "02_training", "seconds": 90.0}],
            "total_seconds": 120.0,
        }
        (tmp_path / "pipeline.json").write_text(json.dumps(record))
    if environment:
        env = {"cpu_model": "Test CPU", "logical_cores": 2, "packages": {"torch": "2.14.1"}}
        (tmp_path / "results" / "environment.json").write_text(json.dumps(env))
    done = tmp_path / "experiments" / "family" / "full-x" / "seed0" / "done.json"
    done.parent.mkdir(parents=True)
    done.write_text(json.dumps({"device": "cpu", "precision": "bf16", "train_time_s": 60.0}))
    return tmp_path


FINDINGS = [
    {"claim": "accuracy 92.61", "paper": "92.61", "ours": "93.7 [91.8, 95.5]",
     "test": "family split", "verdict": "consistent"},
    {"claim": "attention helps", "paper": "+3.30", "ours": "-0.1 [-4.2, +3.6]",
     "test": "attention - plain", "verdict": "inconclusive"},
    {"claim": "beats U-Net in F1", "paper": "+6.41", "ours": "+25.0 [+20.0, +29.0]",
     "test": "full - unet", "verdict": "direction only"},
]  # fmt: skip


def test_summary_numbers_every_claim_and_links_its_evidence(tmp_path):
    text = summary_markdown(load_records(_run(tmp_path, FINDINGS)))
    assert "C1 to C3" in text
    assert "| C2 | attention helps ({doc}`Ablation <notebooks/03_ablation>`) |" in text
    assert "{doc}`Ablation <notebooks/03_ablation>`" in text
    assert "{doc}`Baselines <notebooks/04_baselines>`" in text
    assert 'class="verdict verdict-direction-only"' in text
    assert "| experiment | device | precision |" in text and "| bf16 |" in text
    assert "not recorded by this run" in text  # no environment record: said, not invented
    assert "Communication with the original authors" in text


def test_summary_reads_the_environment_record(tmp_path):
    text = summary_markdown(load_records(_run(tmp_path, FINDINGS, environment=True)))
    assert "Test CPU" in text and "(1 packages)" in text


def test_missing_findings_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"findings\.json"):
        load_records(tmp_path)
    assert main([str(tmp_path), "--output", str(tmp_path / "s.md")]) == 2


def test_check_mode_reports_a_stale_page(tmp_path):
    run = _run(tmp_path / "run", FINDINGS)
    out = tmp_path / "summary.md"
    assert main([str(run), "--output", str(out), "--check"]) == 1
    assert main([str(run), "--output", str(out)]) == 0
    assert main([str(run), "--output", str(out), "--check"]) == 0


@pytest.mark.parametrize(
    "claim, chapter",
    [
        ("beats DeepLabV3+ in F1", "04_baselines"),
        ("the segmentation head helps", "03_ablation"),
        ("~25M parameters", "06_efficiency"),
        ("Grad-CAM points at craters", "07_segmentation"),
        ("Grad-CAM and IG highlight the same regions", "05_explainability"),
        ("the class mix of the data", "01_data"),
        ("accuracy 92.61", "02_training"),
    ],
)
def test_evidence_chapter(claim, chapter):
    assert evidence_chapter({"claim": claim, "test": ""}) == chapter


def test_every_verdict_has_a_colour():
    css = (Path(__file__).resolve().parents[1] / "book" / "_static" / "verdicts.css").read_text()
    for verdict in VERDICTS:
        assert f".verdict-{'-'.join(verdict.split())}" in css, verdict


def test_the_summary_page_and_the_glossary_state_every_verdict():
    """Issue 23, point 4: "smaller than claimed" (the paper's effect excluded, the sign not
    shown) is in the vocabulary the summary page prints and in the glossary, apart from
    "contradicted" (the opposite shown)."""
    from marsutils.stats.rules import SMALLER_THAN_CLAIMED, VERDICT_MEANINGS

    assert set(VERDICT_MEANINGS) == set(VERDICTS)
    page = (Path(__file__).resolve().parents[1] / "book" / "summary.md").read_text()
    for verdict in VERDICTS:
        assert VERDICT_MEANINGS[verdict] in page, verdict
    assert "the sign is not shown" in VERDICT_MEANINGS[SMALLER_THAN_CLAIMED]
    glossary = (Path(__file__).resolve().parents[1] / "book" / "glossary.md").read_text()
    assert "\nsmaller than claimed\n" in glossary and "\ncorrected resampled t-test\n" in glossary


def test_the_committed_front_page_is_generated_from_the_published_records():
    root = Path(__file__).resolve().parents[1]
    assert (
        main(
            [
                str(root / "results" / "reference"),
                "--previous",
                str(root / "results" / "reference-v1"),
                "--output",
                str(root / "book" / "summary.md"),
                "--check",
            ]
        )
        == 0
    ), "book/summary.md is stale: python -m marsutils.book.summary results/reference"


def test_the_page_composes_each_result_from_the_record_numbers(tmp_path):
    from marsutils.core.records import RESULT_MARK, Finding, FindingsRecord

    finding = Finding(
        claim="attention helps", paper="+3.30", test="attention - plain",
        ours=f"{RESULT_MARK}; also accuracy -0.1 [-1.4, +1.1]", verdict="inconclusive",
        estimate=-0.0612, low=-4.2489, high=3.5511, unit="points", decimals=1, difference=True,
    )  # fmt: skip
    run = _run(tmp_path, FINDINGS)
    FindingsRecord((finding,)).to_json(run / "results" / "findings.json")
    text = summary_markdown(load_records(run))
    assert "| -0.1 [-4.2, +3.6]; also accuracy -0.1 [-1.4, +1.1] |" in text
    assert RESULT_MARK not in text


def test_the_grid_log_gives_wall_time_per_seed_and_group(tmp_path):
    run = _run(tmp_path, FINDINGS)
    log = [
        {"seed": 0, "group": "main", "run_key": "family/full-x/seed0", "wall_s": 600.0,
         "threads": 2, "loadavg_1min": 2.1},
        {"seed": 0, "group": "ablation", "run_key": "family/plain-x/seed0", "wall_s": 300.0,
         "threads": 2, "loadavg_1min": 4.0},
        {"seed": 1, "group": "main", "run_key": "family/full-x/seed1", "wall_s": 660.0,
         "threads": 2, "loadavg_1min": 2.0},
    ]  # fmt: skip
    (run / "grid_log.json").write_text(json.dumps(log))
    text = summary_markdown(load_records(run))
    assert "| 0 | main | 1 | 10 |" in text and "| 1 | main | 1 | 11 |" in text
    assert "ablation 5 min; main 21 min" in text and "0.4 hours for 3 experiments" in text
    assert "1 of these times were measured beside other work" in text
    assert "family/plain-x/seed0" in text
    # the experiments table gives each logged experiment's load
    assert "| train minutes | load |" in text and "| 1.0 | 2.1 |" in text
    # the done.json of full-x/seed0 is in the log; nothing is said missing
    assert "Not in the log" not in text
    assert "resumed from a checkpoint" not in text  # its 1 training minute fits in 10 wall minutes
    log[0]["wall_s"] = 5.0  # as if resumed: the log saw only the last part of its 60 s
    (run / "grid_log.json").write_text(json.dumps(log))
    text = summary_markdown(load_records(run))
    assert "1 of these were resumed from a checkpoint" in text
    # per group again, with the resumed one's every session (60 s of training, from done.json)
    assert "Counting every session of these" in text
    assert "per group: ablation 5 min; main 12 min. In all: 0.3 hours." in text


def test_the_method_in_brief_names_the_run_s_protocol(tmp_path):
    hold_out = summary_markdown(load_records(_run(tmp_path / "a", FINDINGS)))
    assert "evaluated them on two 80/20 splits" in hold_out and "cross-validation" not in hold_out
    run = _run(tmp_path / "b", FINDINGS)
    fold = run / "experiments" / "family-cv5-f0" / "full-x" / "seed0"
    fold.mkdir(parents=True)
    (run / "experiments" / "family" / "full-x" / "seed0" / "done.json").rename(fold / "done.json")
    text = summary_markdown(load_records(run))
    assert "evaluated them by 5-fold cross-validation, so that every image is tested once" in text
    assert "judged on the leak-free folds" in text and "80/20" not in text.split("## Verdicts")[0]


def test_the_verdicts_are_shown_beside_the_previous_run(tmp_path):
    before = _run(tmp_path / "reference-v1", FINDINGS)
    now = [dict(FINDINGS[0]), {**FINDINGS[1], "verdict": "contradicted"}, dict(FINDINGS[2])]
    now.append({"claim": "a new claim", "paper": "", "ours": "", "test": "", "verdict": "not run"})
    run = _run(tmp_path / "reference", now)
    text = summary_markdown(load_records(run, previous=before))
    assert "## Verdicts beside the previous published run" in text
    assert "`results/reference-v1`" in text and "2 of 4 claims keep their verdict" in text
    assert '| C2 | attention helps | <span class="verdict verdict-inconclusive">' in text
    assert "| C4 | a new claim | not a claim then |" in text
    assert "Verdicts beside" not in summary_markdown(load_records(run))
    with pytest.raises(FileNotFoundError, match=r"findings\.json"):
        load_records(run, previous=tmp_path / "nowhere")


def test_partial_re_executions_are_listed_beside_the_chapter_times(tmp_path):
    run = _run(tmp_path, FINDINGS)
    record = json.loads((run / "pipeline.json").read_text())
    record["partial_runs"] = [
        {"only": ["08"], "notebooks": [{"notebook": "08_findings", "seconds": 12.0}]}
    ]
    (run / "pipeline.json").write_text(json.dumps(record))
    page = summary_markdown(load_records(run))
    assert "Re-executed afterwards with `--only 08`:" in page and "(0.2 min)" in page
    assert "In all: 2 minutes" in page  # the full run's total stays


def _external_record(tmp_path, verdicts):
    from marsutils.core.records import ExternalRecord

    comparisons = [
        {"claim": "attention helps", "verdict": verdicts[0], "in_release_verdict": "inconclusive",
         "robustness": "holds" if verdicts[0] == "inconclusive" else "differs"},
        {"claim": "beats U-Net in F1", "verdict": verdicts[1], "in_release_verdict": None,
         "robustness": "no in-release verdict in this run"},
    ]  # fmt: skip
    record = ExternalRecord(
        config={"profile": "smoke"},
        folder={"name": "hirise-v1", "n_images": 120},
        overlap={"checked": False, "reason": "test"},
        models={"full": {"folds": ["f0"], "missing": {"f0": "not trained yet"}}},
        comparisons=comparisons,
    )
    record.to_json(tmp_path / "results" / "external.json")


def test_the_summary_puts_the_second_release_verdicts_beside_the_in_release_ones(tmp_path):
    run = _run(tmp_path, FINDINGS)
    assert "On a second release" not in summary_markdown(load_records(run))  # no record: none
    _external_record(run, ["inconclusive", "not run"])
    text = summary_markdown(load_records(run))
    assert "## On a second release (hirise-v1)" in text and "120 images" in text
    row = next(line for line in text.splitlines() if line.startswith("| C2 | attention helps |"))
    assert row.count('class="verdict verdict-inconclusive"') == 2 and row.endswith("| holds |")
    row = next(line for line in text.splitlines() if line.startswith("| C3 | beats U-Net in F1 |"))
    assert "| n/a |" in row and "verdict-not-run" in row
    assert "No comparison could be judged" in text


def test_every_session_of_a_resumed_experiment_counts_and_records_are_named_by_folder(tmp_path):
    from marsutils.book.summary import every_session_seconds

    run = _run(tmp_path, FINDINGS, environment=True)
    log = [  # full-x/seed0 trained 60 s in all (done.json); the log saw its last 5 s only
        {"seed": 0, "group": "main", "run_key": "family/full-x/seed0", "wall_s": 5.0,
         "threads": 2, "loadavg_1min": 2.0},
        {"seed": 0, "group": "main", "run_key": "family/plain-x/seed0", "wall_s": 30.0,
         "threads": 2, "loadavg_1min": 2.0},
    ]  # fmt: skip
    (run / "grid_log.json").write_text(json.dumps(log))
    records = load_records(run)
    assert every_session_seconds(records) == [60.0, 30.0]  # plain-x has no done.json
    text = summary_markdown(records)
    # outside the repository (a temporary smoke run): named relative to the run folder, so the
    # page shows no machine's path
    assert "from `grid_log.json`" in text and "is in `results/environment.json`" in text
    assert str(tmp_path) not in text


def test_the_grid_section_names_the_cpus_and_the_experiments_trained_anew(tmp_path):
    run = _run(tmp_path, FINDINGS)
    cpu = {"cpu_model": "AMD EPYC", "cpu_capability": "AVX2"}
    log = [
        {"seed": 0, "group": "main", "run_key": "family/full-x/seed0", "wall_s": 50.0,
         "threads": 2, "loadavg_1min": 2.0},
        {"seed": 0, "group": "ablation", "run_key": "family/plain-x/seed0", "wall_s": 30.0,
         "threads": 2, "loadavg_1min": 2.0, **cpu},
        {"seed": 0, "group": "ablation", "run_key": "family/head-x/seed0", "wall_s": 40.0,
         "threads": 2, "loadavg_1min": 2.0, **cpu, "retrained": "its weights were lost",
         "reproduced_record": False, "earlier": [{"wall_s": 35.0}]},
    ]  # fmt: skip
    (run / "grid_log.json").write_text(json.dumps(log))
    text = summary_markdown(load_records(run))
    assert (
        "CPUs of the experiments: AMD EPYC (AVX2) for 2; not recorded for 1 (logged before the "
        "runner named the CPU). 1 were trained anew after their weights were lost"
    ) in text
    assert "0 of them reproduced the test predictions recorded before, 1 did not" in text
    # a log that never named the CPU (the published v2 run) says nothing of it
    for entry in log:
        for key in ("cpu_model", "cpu_capability", "retrained", "reproduced_record", "earlier"):
            entry.pop(key, None)
    (run / "grid_log.json").write_text(json.dumps(log))
    assert "CPUs of the experiments" not in summary_markdown(load_records(run))
