"""Typed result records: round trip, the committed legacy files, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marsutils import records
from marsutils.comparisons import paired_comparisons
from marsutils.layout import RESULT_FILES, RunLayout
from marsutils.notebook import REPO_ROOT
from marsutils.records import (
    RECORDS,
    DataSummary,
    FindingsRecord,
    PairedTests,
    RecordError,
    run_name,
)
from marsutils.reporting import _interval_text, comparison_view

REFERENCE = RunLayout(REPO_ROOT / "results" / "reference")


COMMITTED = sorted(n for n in RECORDS if REFERENCE.result(n).is_file())


def test_the_committed_reference_run_has_its_records():
    # records added after that run (e.g. the seed comparisons) have no committed file yet
    assert len(COMMITTED) >= 9


@pytest.mark.parametrize("name", COMMITTED)
def test_every_committed_reference_file_reads_and_round_trips(name, tmp_path):
    record = records.record_for(name).from_json(REFERENCE.result(name))
    written = record.to_json(tmp_path / name)
    data = json.loads(written.read_text())
    assert data["record"] == record.NAME and data["schema_version"] == record.SCHEMA_VERSION
    assert type(record).from_json(written) == record


def test_legacy_paired_tests_are_converted_to_fractions_and_one_run_name():
    baselines = PairedTests.from_json(REFERENCE.result("baseline_tests"))
    legacy = json.loads(REFERENCE.result("baseline_tests").read_text())
    assert baselines.chapter == "baselines" and baselines.n_boot is None
    first = baselines.tests[0]
    # the legacy file says "full" against "unet" in points; the record in fractions, with split
    assert (legacy[0]["a"], legacy[0]["b"]) == ("full", "unet")
    assert (first.a, first.b) == (run_name("full", "family"), run_name("unet", "family"))
    assert first.difference == pytest.approx(legacy[0]["a minus b (points)"] / 100)
    assert first.low == pytest.approx(legacy[0]["95% CI low"] / 100)
    assert first.a_better == legacy[0]["a better (CI above 0)"]
    assert first.b_better == legacy[0]["b better (CI below 0)"]
    ablation = PairedTests.from_json(REFERENCE.result("ablation_tests"))
    # the same configuration has the same name in both chapters
    assert ablation.find("full (family)", "plain (family)", "macro_f1") is not None
    assert ablation.find("full (paper)", "plain (paper)", "macro_f1") is not None


def test_paired_comparisons_round_trip_through_the_record(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    rows = np.arange(200)
    preds = {
        run_name("full", "family"): pd.DataFrame({"row": rows, "y_true": y, "y_pred": y}),
        run_name("unet", "family"): pd.DataFrame(
            {"row": rows, "y_true": y, "y_pred": rng.integers(0, 3, 200)}
        ),
    }
    frame = paired_comparisons(preds, [tuple(preds)], n_boot=100, groups=rows // 2)
    record = PairedTests.from_frame("baselines", frame, n_boot=100, seed=0)
    path = record.to_json(RunLayout(tmp_path).result(record.file_name))
    assert path.name == "baseline_tests.json"
    again = PairedTests.from_json(path)
    assert again == record
    assert again.tests[0].n_clusters == 100 and 0 < again.tests[0].difference < 1
    pd.testing.assert_frame_equal(comparison_view(again), comparison_view(frame, resamples=100))


def test_the_display_of_a_legacy_file_is_the_display_it_always_had():
    path = REFERENCE.result("baseline_tests")
    view = comparison_view(PairedTests.from_json(path), resamples=1000)
    legacy = json.loads(path.read_text())
    # what comparison_view made of the legacy display rows before the records
    before = [
        _interval_text(r["a minus b (points)"], r["95% CI low"], r["95% CI high"]) for r in legacy
    ]
    assert list(view["A - B, points [95% CI]"]) == before
    assert view.loc[1, "A - B, points [95% CI]"] == "25.0 [21.4, 28.1]"
    assert list(view["reading"]) == ["A better", "A better", "B better", "cannot tell"]


def test_findings_rows_keep_raw_values_and_the_display_table():
    findings = FindingsRecord.from_json(REFERENCE.result("findings"))
    legacy = json.loads(REFERENCE.result("findings").read_text())
    assert len(findings.findings) == len(legacy)
    first = findings.findings[0]
    assert first.n_families == 896 and first.contains_paper is True and first.p_holm is None
    frame = findings.to_frame()
    assert list(frame.columns) == list(records.FINDING_COLUMNS.values())
    assert frame.to_dict(orient="records") == legacy


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 99}, "field 'schema_version' is 99"),
        ({"record": "findings"}, "field 'record' is 'findings', expected 'data_summary'"),
    ],
)
def test_a_wrong_schema_version_or_record_names_the_file_and_field(tmp_path, change, message):
    path = DataSummary({"crater": 3}, {}, []).to_json(tmp_path / "data_summary.json")
    path.write_text(json.dumps(json.loads(path.read_text()) | change))
    with pytest.raises(RecordError, match=message) as err:
        DataSummary.from_json(path)
    assert str(path) in str(err.value)


def test_a_missing_or_unknown_field_is_named(tmp_path):
    path = tmp_path / "data_summary.json"
    data = DataSummary({"crater": 3}, {}, []).to_dict()
    del data["leakage"]
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"{path}: data_summary record lacks the field 'leakage'"):
        DataSummary.from_json(path)
    path.write_text(json.dumps(data | {"leakage": [], "leak": 1}))
    with pytest.raises(RecordError, match="unknown field 'leak'"):
        DataSummary.from_json(path)
    legacy = tmp_path / "ablation_tests.json"
    legacy.write_text(json.dumps([{"a": "full (family)", "b": "plain (family)"}]))
    with pytest.raises(RecordError, match="row 0 lacks the field 'metric'"):
        PairedTests.from_json(legacy)
    other = tmp_path / "tests.json"  # a legacy list under another name: which chapter?
    other.write_text("[]")
    with pytest.raises(RecordError, match="must be named one of"):
        PairedTests.from_json(other)


def test_run_layout_knows_every_result_file(tmp_path):
    layout = RunLayout(tmp_path)
    for name, file in RESULT_FILES.items():
        assert layout.result(name) == layout.result(file) == tmp_path / "results" / file
    for name, record in RECORDS.items():
        assert layout.result(name).name == name
        assert record.FILE in (name, "")  # PairedTests names its file per chapter
    assert layout.result("new_chapter.json") == tmp_path / "results" / "new_chapter.json"
    for bad in ("metrics", "../done.json", "results/findings.json"):
        with pytest.raises(KeyError, match="no result file"):
            layout.result(bad)
    assert layout.split_file("family", 2) == tmp_path / "splits" / "family-seed2.csv"
    assert layout.predictions("k/m", 1, views=8).name == "predictions_test_tta8.csv"


def test_run_layout_reads_a_pre_seed_folder_as_seed_zero(tmp_path):
    layout = RunLayout(tmp_path)
    legacy = tmp_path / "experiments" / "family" / "full-x"
    legacy.mkdir(parents=True)
    (legacy / "predictions_test.csv").write_text("row\n")
    assert layout.seeds("family/full-x") == [0]
    assert layout.predictions("family/full-x", 0) == legacy / "predictions_test.csv"
    (legacy / "seed1").mkdir()
    assert layout.seeds("family/full-x") == [0, 1]
    assert layout.history("family/full-x", 1) == legacy / "seed1" / "history.json"


def test_the_check_command(capsys, tmp_path):
    assert records.main(["check", str(REFERENCE.results)]) == 0
    assert capsys.readouterr().out.count("ok ") == len(COMMITTED)
    (tmp_path / "results").mkdir()
    Path(tmp_path / "results" / "findings.json").write_text(json.dumps({"schema_version": 2}))
    assert records.main(["check", str(tmp_path / "results")]) == 1
    assert "findings.json" in capsys.readouterr().err


def test_classifier_metrics_read_the_committed_legacy_files_and_round_trip(tmp_path):
    from marsutils.records import ClassifierMetrics

    paths = sorted((REFERENCE.root / "experiments").rglob("metrics*.json"))
    assert len(paths) >= 12
    for path in paths:
        record = ClassifierMetrics.from_json(path)
        assert 0 <= record.overall["macro_f1"] <= 1 and len(record.class_names) == 8
        written = record.to_json(tmp_path / "metrics.json")
        assert json.loads(written.read_text())["record"] == "classifier_metrics"
        assert ClassifierMetrics.from_json(written) == record
    legacy = json.loads(paths[0].read_text())
    with pytest.raises(RecordError, match="unknown field 'accuracy_top5'"):
        ClassifierMetrics.from_evaluation(legacy, accuracy_top5=0.9)
    del legacy["ci"]
    (tmp_path / "bad.json").write_text(json.dumps(legacy))
    with pytest.raises(
        RecordError, match=r"bad\.json: classifier_metrics record lacks the field 'ci'"
    ):
        ClassifierMetrics.from_json(tmp_path / "bad.json")
