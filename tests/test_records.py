"""Typed result records: round trip, the committed legacy files, and clear errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marsutils.book.notebook import REPO_ROOT
from marsutils.book.reporting import _interval_text, claims_views, comparison_view, finding_texts
from marsutils.core import records
from marsutils.core.layout import RESULT_FILES, RunLayout
from marsutils.core.records import (
    FINDING_NUMBERS,
    RECORDS,
    RESULT_MARK,
    DataSummary,
    Finding,
    FindingsRecord,
    PairedTests,
    RecordError,
    run_name,
)
from marsutils.study.comparisons import paired_comparisons

REFERENCE = RunLayout(REPO_ROOT / "results" / "reference-v1")


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
    # the legacy columns as stored; the numbers a legacy file does not have are None
    assert frame[list(legacy[0])].to_dict(orient="records") == legacy
    assert frame[list(FINDING_NUMBERS)].isna().all().all()
    assert all(f.estimate is None and f.seed_mean is None for f in findings.findings)


# --- findings: numbers in the record (schema 2), text at display ---------------------------

#: A finding of schema 2: the numbers of the committed legacy row "beats U-Net in F1" (whose
#: stored text is "+25.0 [+20.0, +29.0]; also ...") before rounding, as the chapter records them.
NUMERIC = Finding(
    claim="beats U-Net in F1",
    paper="+6.41 points (macro F1)",
    test="full - unet",
    ours=RESULT_MARK + "; also image-level Jaccard +24.4 [+18.9, +29.4]",
    verdict="consistent",
    kind="comparative",
    estimate=24.9612,
    low=20.0231,
    high=28.9567,
    unit="points",
    decimals=1,
    difference=True,
    seed_mean=24.96,
    seed_sd=1.234,
    n_seeds=3,
)


def test_numeric_findings_round_trip_as_schema_2(tmp_path):
    value = Finding(
        claim="accuracy 92.61", paper="92.61", test="accuracy", ours=RESULT_MARK,
        verdict="consistent", estimate=93.72333942717856, low=91.79701484159061,
        high=95.5314104668874, unit="%", decimals=1, difference=False,
        protocol_estimate=97.1358927483242, protocol_low=96.15584433972847,
        protocol_high=98.02721805937588,
    )  # fmt: skip
    record = FindingsRecord((value, NUMERIC))
    path = record.to_json(tmp_path / "findings.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == 2 == FindingsRecord.SCHEMA_VERSION
    assert data["findings"][0]["estimate"] == 93.72333942717856  # unformatted, exact
    assert data["findings"][1]["n_seeds"] == 3 and data["findings"][1]["paper_protocol"] is None
    again = FindingsRecord.from_json(path)
    assert again == record
    # through the claims table (as the findings chapter builds the record) and back
    assert FindingsRecord.from_frame(record.to_frame()) == record


def test_the_view_composes_the_text_the_legacy_record_stored():
    legacy = json.loads(REFERENCE.result("findings").read_text())
    stored = next(r for r in legacy if r["claim"] == NUMERIC.claim)
    texts = finding_texts(dataclasses.asdict(NUMERIC))
    assert stored["ours"].startswith("+25.0 [+20.0, +29.0]; also image-level Jaccard +24.4")
    assert texts["ours"] == "+25.0 [+20.0, +29.0]; also image-level Jaccard +24.4 [+18.9, +29.4]"
    assert texts["seeds"] == "+25.0 ± 1.2 (3 seeds)" and texts["paper_protocol"] == ""
    verdicts, details = claims_views(FindingsRecord((NUMERIC,)).to_frame())
    assert verdicts.loc[0, "ours"] == texts["ours"] and details.loc[0, "seeds"] == texts["seeds"]
    # a value in percent with the paper split's score; one seed has no SD
    value = {"ours": RESULT_MARK, "estimate": 93.72, "low": 91.8, "high": 95.53, "decimals": 1,
             "protocol_estimate": 97.14, "protocol_low": 96.16, "protocol_high": 98.03,
             "seed_mean": 93.7, "seed_sd": None, "n_seeds": 1}  # fmt: skip
    assert finding_texts(value) == {
        "ours": "93.7 [91.8, 95.5]",
        "paper_protocol": "97.1 [96.2, 98.0]",
        "seeds": "93.7 ± n/a (1 seeds)",
    }


def test_a_version_1_findings_file_still_reads(tmp_path):
    row = {
        "claim": "accuracy 92.61", "paper": "92.61", "test": "accuracy",
        "ours": "93.7 [91.8, 95.5]", "verdict": "consistent", "kind": "value", "source": "",
        "why": "", "paper_protocol": "97.1 [96.2, 98.0]", "seeds": None, "n_families": 896,
        "contains_zero": None, "contains_paper": True, "p_holm": None, "trained_to_plateau": None,
    }  # fmt: skip
    path = tmp_path / "findings.json"
    path.write_text(json.dumps({"record": "findings", "schema_version": 1, "findings": [row]}))
    record = FindingsRecord.from_json(path)
    finding = record.findings[0]
    assert finding.ours == "93.7 [91.8, 95.5]" and finding.paper_protocol == "97.1 [96.2, 98.0]"
    assert all(getattr(finding, name) is None for name in FINDING_NUMBERS)  # not parsed back
    assert finding_texts(dataclasses.asdict(finding))["ours"] == "93.7 [91.8, 95.5]"
    # written again, it is a version-2 file that reads to the same record
    assert FindingsRecord.from_json(record.to_json(tmp_path / "v2.json")) == record
    # a version-1 file cannot hold the numbers of version 2
    path.write_text(json.dumps({"record": "findings", "schema_version": 1,
                                "findings": [row | {"estimate": 93.7}]}))  # fmt: skip
    with pytest.raises(RecordError, match=r"row 0 has the field 'estimate'.* version 1"):
        FindingsRecord.from_json(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ours": "93.7 [91.8, 95.5]"}, "must hold '{result}' once"),
        ({"decimals": None}, "needs 'unit' and 'decimals'"),
        ({"high": None}, "'low' and 'high' are set together"),
        ({"estimate": None, "ours": "n/a"}, "'seed_mean' needs 'estimate'"),
    ],
)
def test_a_finding_whose_numbers_do_not_fit_its_text_is_named(tmp_path, change, message):
    path = FindingsRecord((NUMERIC,)).to_json(tmp_path / "findings.json")
    data = json.loads(path.read_text())
    data["findings"][0] |= change
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=f"{path}: field 'findings' row 0: .*{message}"):
        FindingsRecord.from_json(path)


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
    from marsutils.core.records import ClassifierMetrics

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


def test_twin_shares_read_a_hold_out_split_or_every_fold():
    hold_out = DataSummary({}, {}, [{"split": "paper", "test_with_twin_in_train": 0.61}])
    assert hold_out.twin_shares("paper") == [0.61] and hold_out.twin_shares("family") == []
    folds = DataSummary(
        {}, {}, [{"split": f"paper-cv5-f{k}", "test_with_twin_in_train": 0.6 + k / 100}
                 for k in range(5)] + [{"split": "family-cv5-f0", "test_with_twin_in_train": 0}],
    )  # fmt: skip
    assert folds.twin_shares("paper") == pytest.approx([0.60, 0.61, 0.62, 0.63, 0.64])
    assert folds.twin_shares("family") == [0.0]
