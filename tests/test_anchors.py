"""The introduction's anchors table and F1 reading (issue 26): generated from the records."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import f1_score

from marsutils.book import anchors
from marsutils.book.anchors import (
    PUBLISHED,
    UNVERIFIED,
    anchor_rows,
    anchors_markdown,
    f1_reading_markdown,
    main,
    ours_rows,
    verdict_metrics,
)
from marsutils.core.layout import RunLayout
from marsutils.study.experiments import collect_results

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference"
INTRO = ROOT / "book" / "intro.md"

#: The published values checked in their sources (the anchors research of issue 26).
VERIFIED = {
    ("ResNet101", "accuracy"): 90.02,
    ("ResNet101", "weighted F1"): 88.05,
    ("InceptionV3, frozen", "accuracy"): 88.80,
    ("InceptionV3, frozen", "weighted F1"): 86.69,
    ("InceptionV3, transfer", "test accuracy"): 91.75,
}


def test_the_committed_introduction_is_generated_from_the_published_records():
    assert main(["--check"]) == 0, "book/intro.md is stale: python -m marsutils.book.anchors"


def test_a_changed_number_makes_the_page_stale(tmp_path):
    page = tmp_path / "intro.md"
    page.write_text(INTRO.read_text().replace("weighted F1 88.05", "weighted F1 88.06", 1))
    assert main(["--page", str(page), "--check"]) == 1
    assert main(["--page", str(page)]) == 0
    assert page.read_text() == INTRO.read_text()


def test_every_published_anchor_is_a_verified_number_with_its_split_and_metric():
    found = {}
    for anchor in PUBLISHED:
        assert "{cite}`" in anchor.source and anchor.split.split()[0] in {
            "official", "random", "family", "CV"
        }  # fmt: skip
        for metric, value in anchor.results:
            key = next(k for k in VERIFIED if anchor.model.startswith(k[0]) and k[1] == metric)
            found[key] = value
    assert found == VERIFIED


def test_unverified_claims_stay_out_of_the_table():
    table = "\n".join(" | ".join(row) for row in anchor_rows() + ours_rows(REFERENCE))
    for _, _, number in UNVERIFIED:
        value = re.search(r"\d+(\.\d+)?", number).group()
        assert value not in table
        assert value in anchors_markdown(REFERENCE).split("Left out, claimed but not verified")[1]


def test_every_cited_key_is_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    text = anchors_markdown(REFERENCE)
    for key in re.findall(r"\{cite\}`([^`]+)`", text):
        assert re.search(rf"@\w+\{{{re.escape(key)},", bib), key


def test_our_rows_are_the_seed_means_of_the_metrics_files():
    results = collect_results(REFERENCE)
    full = results[(results["split"] == "family") & (results["model"] == "full")]
    row = next(r for r in ours_rows(REFERENCE) if r[1].startswith("full") and "family" in r[2])
    for column, label in (("accuracy", "accuracy"), ("weighted_f1", "weighted F1")):
        mean, sd = 100 * full[column].mean(), 100 * full[column].std(ddof=1)
        assert f"{label} {mean:.1f} ± {sd:.1f}" in row[3]
    assert row[4] == f"our records, {len(full)} seeds"


def test_the_recorded_weighted_f1_is_scikit_learns_on_the_committed_predictions():
    """The F1 reading takes weighted F1 from metrics.json; the predictions must give it."""
    layout = RunLayout(REFERENCE)
    results = collect_results(REFERENCE)
    assert len(results) > 0
    for r in results.itertuples():
        predictions = pd.read_csv(layout.predictions(r.key, r.seed))
        labels = range(8)
        for average, recorded in (("weighted", r.weighted_f1), ("macro", r.macro_f1)):
            computed = f1_score(
                predictions["y_true"], predictions["y_pred"], labels=labels, average=average,
                zero_division=0,
            )  # fmt: skip
            assert computed == pytest.approx(recorded, abs=1e-9), (r.run_key, average)


def test_the_f1_reading_names_what_each_verdict_judges():
    text = f1_reading_markdown(REFERENCE)
    assert "judges **macro F1**" in text and "none judges weighted F1" in text
    assert "| the paper: support-weighted F1 | 92.46 |" in text
    assert "| the paper: macro F1 (mean of Table 1 F1) | 87.51 |" in text


def test_verdict_metrics_reads_the_score_from_the_test():
    rows = [
        {"test": "accuracy, full model, family split"},
        {"test": "macro F1, full model"},
        {"test": "crater f1, full model"},
        {"test": "no masks"},
        {"test": "weighted F1 of something"},
        {"test": "full - unet, paired bootstrap, macro F1"},
    ]
    assert verdict_metrics(rows) == {
        "weighted F1": ["C5"],
        "macro F1": ["C2", "C6"],
        "per-class F1 (no average)": ["C3"],
        "accuracy": ["C1"],
    }


def test_a_run_without_experiments_or_findings_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished experiment"):
        ours_rows(tmp_path)
    run = tmp_path / "run"
    shutil.copytree(REFERENCE / "experiments", run / "experiments")
    with pytest.raises(FileNotFoundError, match=r"findings\.json"):
        f1_reading_markdown(run)
    assert anchors.blocks  # the command line's block maker exists
    page = tmp_path / "intro.md"
    page.write_text(INTRO.read_text())
    assert main(["--results", str(run), "--page", str(page), "--check"]) == 2


def _cv_run(root: Path) -> Path:
    """A cross-validated run: five family and five paper folds of ``full``, two of ``plain``."""
    from marsutils.core.atomic import write_json

    layout = RunLayout(root)
    for kind, model, accuracies in (
        ("family", "full", (0.93, 0.94, 0.92, 0.95, 0.91)),
        ("paper", "full", (0.96, 0.97, 0.96, 0.98, 0.98)),
        ("family", "plain", (0.90, 0.92)),
    ):
        for fold, acc in enumerate(accuracies):
            split = f"{kind}-cv5-f{fold}"
            spec = {"model": model, "split": split, "backbone": "efficientnet_lite0",
                    "weights": "imagenet", "image_size": 128}  # fmt: skip
            overall = {"accuracy": acc, "macro_f1": acc - 0.05, "weighted_f1": acc}
            folder = layout.experiment_dir(f"{split}/{model}-x", 0)
            metrics = {  # the shape of marsutils.core.records.ClassifierMetrics
                "n_images": 10, "class_names": ["a", "b"], "overall": overall, "per_class": [],
                "confusion_matrix": [[5, 0], [0, 5]], "ci": {}, "settings": {}, "spec": spec,
                "confusion_matrix_normalized": [[1.0, 0.0], [0.0, 1.0]],
            }  # fmt: skip
            write_json(folder / "metrics.json", metrics)
            write_json(folder / "done.json", {"device": "cpu"})
    return root


def test_a_cross_validated_run_gives_one_row_per_configuration_over_its_fold_models(tmp_path):
    rows = {(r[1].split(":")[0], r[2].split(", ", 1)[1]): r for r in ours_rows(_cv_run(tmp_path))}
    full = rows[("full (attention + head)", "family-grouped 5-fold CV")]
    assert full[3].startswith("accuracy 93.0 ± 1.6; macro F1 88.0 ± 1.6")
    assert full[4] == "our records, 5 folds"
    leaky = rows[("full (attention + head)", "random 5-fold CV (leaks)")]
    assert leaky[3].startswith("accuracy 97.0 ± 1.0") and leaky[4] == "our records, 5 folds"
    plain = rows[("plain (neither)", "family-grouped 5-fold CV")]
    assert plain[4] == "our records, 2 of 5 folds"  # a grid still training says so
    text = anchors_markdown(tmp_path)
    assert "mean ± SD over the fold models of 5-fold cross-validation (seed 0" in text
    assert "-f0" not in text and "80/20" not in text.split("| this book |", 1)[1]
