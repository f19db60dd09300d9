"""The reviewer's page (issue 26): scope, compute budget and questions, generated from records."""

import json
import shutil
from pathlib import Path

import yaml

from marsutils.book.reviewer import (
    KINDS,
    compute_markdown,
    main,
    questions_markdown,
    scope_markdown,
)
from marsutils.book.summary import load_records
from marsutils.core import paper

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference"

FINDINGS = [
    {"claim": "accuracy 92.61", "kind": "value", "verdict": "consistent", "why": "inside"},
    {"claim": "attention helps", "kind": "comparative", "verdict": "inconclusive", "why": "wide"},
    {"claim": "mean IoU 84.7", "kind": "untestable", "verdict": "cannot be tested here",
     "why": "no masks"},
    {"claim": "bf16 changes F1", "kind": "own", "verdict": "not run", "why": "not measured"},
    {"claim": "the class mix of the data", "kind": "distribution", "verdict": "consistent",
     "why": "chi-square"},
]  # fmt: skip


def test_the_committed_page_is_generated_from_the_published_records():
    assert main(["--check"]) == 0, "book/reviewer.md is stale: python -m marsutils.book.reviewer"


def test_the_page_is_in_the_table_of_contents_beside_the_limitations():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    study = next(p for p in toc["parts"] if p["caption"] == "The study")
    files = [c["file"] for c in study["chapters"]]
    assert files.index("reviewer") == files.index("limitations") + 1


def test_scope_counts_claims_by_how_they_were_tested_and_gives_each_reason():
    text = scope_markdown(FINDINGS)
    assert "Of the 5 claims" in text and "3 were tested" in text
    assert "1 cannot be tested here and 1 did not run" in text
    assert f"| {KINDS['value']} | C1 | consistent 1 |" in text
    assert "- **C3** mean IoU 84.7: no masks." in text
    assert "- **C4** bf16 changes F1: not measured." in text


def test_scope_of_the_published_run_lists_every_claim_once():
    text = scope_markdown(load_records(REFERENCE)["findings"])
    table = [line for line in text.splitlines() if line.startswith("| ") and " | C" in line]
    claims = [c for line in table for c in line.split(" | ")[1].split(", ")]
    assert len(claims) == len(set(claims)) == len(load_records(REFERENCE)["findings"])


def test_compute_budget_is_read_from_the_records(tmp_path):
    text = compute_markdown(REFERENCE)
    env = json.loads((REFERENCE / "results" / "environment.json").read_text())
    assert f"{env['cpu_model']}, {env['logical_cores']} logical cores" in text
    log = json.loads((REFERENCE / "grid_log.json").read_text())
    hours = sum(r["wall_s"] for r in log) / 3600
    assert f"{hours:.1f} h for {len(log)} logged experiments" in text
    done = list((REFERENCE / "experiments").rglob("done.json"))
    train = sum(json.loads(p.read_text())["train_time_s"] for p in done) / 3600
    assert f"{len(done)} models, all 10 epochs; {train:.1f} h of training in all" in text
    assert "training hardware, time and precision not stated" in text
    # a run with only a findings record: what is missing is said, not invented
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    shutil.copy(REFERENCE / "results" / "findings.json", run / "results")
    bare = compute_markdown(run)
    assert "not recorded by this run" in bare and "no trained model recorded" in bare


def test_the_questions_quote_the_paper_and_our_records():
    text = questions_markdown(REFERENCE, load_records(REFERENCE)["findings"])
    assert str(paper.HEADLINE["f1"].value) in text and "87.51" in text and "92.46" in text
    assert f"{paper.table1_mean_iou():.2f}" in text and "1,231 test images" in text
    data = json.loads((REFERENCE / "results" / "data_summary.json").read_text())
    assert f"{data['families']['images']:,}-image sample" in text
    for topic in ("file list", "The split", "F1 definition", "What IoU means"):
        assert topic in text, topic
    assert all(line.startswith(">") for line in text.splitlines())
