"""The README's "Results at a glance" comes from result files, and the README is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from marsutils import glance
from marsutils.atomic import write_json
from marsutils.experiments import plan
from marsutils.layout import RunLayout
from marsutils.notebook import REPO_ROOT
from marsutils.profiles import get_profile
from marsutils.records import DataSummary, PairedTest, PairedTests


def _metrics(acc: float, minutes: float = 2.0) -> dict:
    ci = {"low": acc - 0.01, "high": acc + 0.01}
    names = ("accuracy", "macro_f1", "mean_iou")
    return {  # the shape of marsutils.records.ClassifierMetrics (legacy form)
        "n_images": 10,
        "class_names": ["a", "b"],
        "overall": dict.fromkeys(names, acc),
        "per_class": [],
        "confusion_matrix": [[5, 0], [0, 5]],
        "confusion_matrix_normalized": [[1.0, 0.0], [0.0, 1.0]],
        "ci": dict.fromkeys(names, ci),
        "settings": {},
        "train_time_s": 60 * minutes,
    }


def _fake_run(root: Path, *, with_scratch: bool = True) -> Path:
    profile = get_profile("reference")
    specs = plan(profile, "training") + plan(profile, "ablation")
    if with_scratch:
        specs += plan(profile, "scratch")
    for i, spec in enumerate(specs):
        write_json(root / "experiments" / spec.key / "metrics.json", _metrics(0.80 + i / 100))
    for i, spec in enumerate(plan(profile, "training")):  # the headline uses 8-view TTA
        write_json(root / "experiments" / spec.key / "metrics_tta8.json", _metrics(0.90 + i / 100))
    layout = RunLayout(root)
    test = PairedTest("full (family)", "unet (family)", "macro_f1", 0.0125, 0.005, 0.02, 0.01)
    PairedTests("baselines", (test,), n_boot=1000, seed=0).to_json(layout.result("baseline_tests"))
    leakage = [{"split": "paper", "test_with_twin_in_train": 0.611}]
    DataSummary({}, {}, leakage).to_json(layout.result("data_summary"))
    return root


def test_tables_carry_the_run_values_and_say_what_did_not_run(tmp_path):
    text = glance.glance_markdown(_fake_run(tmp_path, with_scratch=False), "reference")
    family_main = plan(get_profile("reference"), "training")[0]
    assert family_main.split == "family"
    assert "| accuracy (8-view TTA) | 92.61 | 91.0 [90.0, 92.0] | 90.0 [89.0, 91.0] |" in text
    assert "| accuracy, single view (no TTA) |  | 81.0 [80.0, 82.0] | 80.0 [79.0, 81.0] |" in text
    assert "| F1 gain over U-Net | +6.41 | not run | +1.2 [+0.5, +2.0] |" in text
    assert "61.1%" in text
    assert "| F1 gain over DeepLabV3+ | +2.59 | not run | not run |" in text
    scratch_rows = [line for line in text.splitlines() if line.startswith("| resnet50")]
    assert len(scratch_rows) == 2 and all("not run" in line for line in scratch_rows)


def test_a_run_without_experiments_is_refused(tmp_path):
    with pytest.raises(glance.GlanceError, match="no experiments"):
        glance.glance_markdown(tmp_path, "reference")


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
