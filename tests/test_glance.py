"""The README's "Results at a glance" comes from result files, and the README is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from marsutils.book import glance
from marsutils.book.notebook import REPO_ROOT
from marsutils.core.atomic import write_json
from marsutils.core.layout import RunLayout
from marsutils.core.records import RESULT_MARK, DataSummary, Finding, FindingsRecord


def _metrics(model: str, split: str, acc: float, precision: str | None = "bf16") -> dict:
    ci = {"low": acc - 0.01, "high": acc + 0.01}
    names = ("accuracy", "macro_f1", "mean_iou")
    return {  # the shape of marsutils.core.records.ClassifierMetrics
        "n_images": 10,
        "class_names": ["a", "b"],
        "overall": dict.fromkeys(names, acc),
        "per_class": [],
        "confusion_matrix": [[5, 0], [0, 5]],
        "confusion_matrix_normalized": [[1.0, 0.0], [0.0, 1.0]],
        "ci": dict.fromkeys(names, ci),
        "settings": {},
        "train_time_s": 600.0,
        "precision": precision,
        "spec": {"model": model, "split": split},
    }


def _finding(claim: str, estimate: float | None, **numbers) -> Finding:
    if estimate is None:
        return Finding(claim=claim, paper="92.61", test="t", ours="n/a", verdict="not run")
    return Finding(
        claim=claim, paper="92.61", test="t", ours=f"{RESULT_MARK}; also x", verdict="consistent",
        estimate=estimate, unit="%", decimals=1, **numbers,
    )  # fmt: skip


def _fake_run(root: Path) -> Path:
    layout = RunLayout(root)
    accuracy = {"full": (0.93, 0.94, 0.92), "plain": (0.90, 0.91, 0.89)}
    for model, values in accuracy.items():
        for seed, acc in enumerate(values):
            folder = layout.experiment_dir(f"family/{model}-x", seed)
            write_json(folder / "metrics.json", _metrics(model, "family", acc))
            write_json(folder / "done.json", {"device": "cpu"})
    folder = layout.experiment_dir("paper/full-x", 0)
    write_json(folder / "metrics.json", _metrics("full", "paper", 0.97, precision=None))
    write_json(folder / "done.json", {"device": "cpu"})
    findings = (
        _finding("accuracy 92.61", 93.0, low=91.0, high=95.0, seed_mean=93.0, seed_sd=1.0,
                 n_seeds=3, protocol_estimate=97.1, protocol_low=96.3, protocol_high=97.9),
        _finding("beats U-Net in F1", None),
    )  # fmt: skip
    FindingsRecord(findings).to_json(layout.result("findings"))
    leakage = [
        {"split": "paper", "test_with_twin_in_train": 0.611},
        {"split": "family", "test_with_twin_in_train": 0.0},
    ]
    DataSummary({}, {}, leakage).to_json(layout.result("data_summary"))
    return root


def test_tables_carry_the_run_values_and_say_what_did_not_run(tmp_path):
    text = glance.glance_markdown(_fake_run(tmp_path), "reference")
    assert (
        "| accuracy | 92.61 | 93.0 [91.0, 95.0] | 93.0 ± 1.0 (3 seeds) | 97.1 [96.3, 97.9] "
        "| consistent |" in text
    )
    assert "| F1 gain over U-Net | 92.61 | not run |  |  | not run |" in text
    assert "| F1 gain over DeepLabV3+ |  | not run |" in text  # not in the record at all
    assert "paper split 61.1%; family split 0.0%" in text
    # models: family split first, in the models' order; the leaky paper split marked
    assert "| full | family | 0, 1, 2 | 93.0 ± 1.0 | 93.0 ± 1.0 | bf16 |" in text
    assert "| plain | family | 0, 1, 2 | 90.0 ± 1.0 |" in text
    assert "| full | paper (leaks) | 0 | 97.0 | 97.0 | fp32 |" in text
    lines = text.splitlines()
    assert lines.index(next(x for x in lines if x.startswith("| full | family"))) < lines.index(
        next(x for x in lines if x.startswith("| full | paper"))
    )


def _fake_cv_run(root: Path) -> Path:
    """Five family folds and five paper folds of ``full``, three family folds of ``unet``."""
    layout = RunLayout(root)
    for kind, model, values in (
        ("family", "full", (0.93, 0.94, 0.92, 0.95, 0.91)),
        ("paper", "full", (0.96, 0.97, 0.96, 0.98, 0.98)),
        ("family", "unet", (0.90, 0.91, 0.92)),
    ):
        for fold, acc in enumerate(values):
            split = f"{kind}-cv5-f{fold}"
            folder = layout.experiment_dir(f"{split}/{model}-x", 0)
            write_json(folder / "metrics.json", _metrics(model, split, acc, precision="fp32"))
            write_json(folder / "done.json", {"device": "cpu"})
    findings = (
        _finding("accuracy 92.61", 93.0, low=92.0, high=94.0, protocol_estimate=97.0,
                 protocol_low=96.5, protocol_high=97.5),
    )  # fmt: skip
    FindingsRecord(findings).to_json(layout.result("findings"))
    leakage = [
        *(
            {"split": f"paper-cv5-f{k}", "test_with_twin_in_train": 0.60 + k / 100}
            for k in range(5)
        ),
        *({"split": f"family-cv5-f{k}", "test_with_twin_in_train": 0.0} for k in range(5)),
    ]
    DataSummary({}, {}, leakage).to_json(layout.result("data_summary"))
    return root


def test_a_cross_validated_run_pools_its_folds_and_names_the_protocol(tmp_path):
    text = glance.glance_markdown(_fake_cv_run(tmp_path), "reference-cv")
    # one seed: no spread column; the headers name the CV protocol
    assert (
        "| claim | paper | ours, family-grouped 5-fold CV [95% CI] | paper's random split as 5 "
        "folds (leaks) | verdict |" in text
    )
    assert "| accuracy | 92.61 | 93.0 [92.0, 94.0] | 97.0 [96.5, 97.5] | consistent |" in text
    assert "paper folds 60.0% to 64.0% (5 folds); family folds 0.0% (5 folds)" in text
    # one row per configuration, mean ± SD over its fold models; a partial one says so
    assert "| full | family, 5-fold CV | 5 folds, seed 0 | 93.0 ± 1.6 | 93.0 ± 1.6 | fp32 |" in text
    assert "| unet | family, 5-fold CV | 3 of 5 folds, seed 0 | 91.0 ± 1.0 |" in text
    assert "| full | paper (leaks), 5-fold CV | 5 folds, seed 0 | 97.0 ± 1.0 |" in text
    assert "mean ± SD over its fold models" in text and "-f0" not in text


def test_a_run_without_experiments_or_numbers_is_refused(tmp_path):
    with pytest.raises(glance.GlanceError, match="no experiments"):
        glance.glance_markdown(tmp_path, "reference")
    run = _fake_run(tmp_path / "run")
    legacy = (Finding(claim="accuracy 92.61", paper="92.61", test="t", ours="93.7", verdict="x"),)
    FindingsRecord(legacy).to_json(RunLayout(run).result("findings"))
    with pytest.raises(glance.GlanceError, match="holds no numbers"):
        glance.glance_markdown(run, "reference")
    RunLayout(run).result("findings").unlink()
    with pytest.raises(glance.GlanceError, match=r"findings\.json is missing"):
        glance.glance_markdown(run, "reference")


def test_update_readme_replaces_only_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{glance.START}\nold\n{glance.END}\noutro\n")
    assert glance.update_readme(readme, "new table", check=True) is False
    assert "old" in readme.read_text()  # --check writes nothing
    assert glance.update_readme(readme, "new table") is False
    assert readme.read_text() == f"intro\n{glance.START}\nnew table\n{glance.END}\noutro\n"
    assert glance.update_readme(readme, "new table") is True
    readme.write_text("no markers")
    with pytest.raises(glance.GlanceError, match="markers"):
        glance.update_readme(readme, "x")


def test_the_committed_readme_matches_the_committed_reference_results(capsys):
    """Every README number is regenerated from results/reference; a stale README fails."""
    assert (REPO_ROOT / "results" / "reference" / "experiments").is_dir()
    assert glance.main(["--check"]) == 0, capsys.readouterr().err
