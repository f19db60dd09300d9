"""The efficiency chapter's table: timing plans, one tiny measured table, files, verdict, figure."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from marsutils import efficiency as E
from marsutils.core.profiles import get_profile, profile_names
from marsutils.figures import plots
from marsutils.models import MODEL_NAMES, build_model, count_parameters
from marsutils.study import efficiency as R
from marsutils.train.runtime import comparison_tolerance


def test_timing_plan_follows_the_profile() -> None:
    smoke = R.timing_plan(get_profile("smoke"))
    assert smoke.image_size < E.COST_IMAGE_SIZE
    assert smoke.latency_models == smoke.throughput_models == ("full",)
    assert smoke.latency_repeats == smoke.throughput_repeats == get_profile("smoke").timing_repeats
    quick = R.timing_plan(get_profile("quick"))
    assert quick.image_size == E.COST_IMAGE_SIZE
    assert quick.latency_models == MODEL_NAMES and quick.throughput_models == ("full",)
    quick_repeats = get_profile("quick").timing_repeats
    assert quick.latency_repeats == quick_repeats and quick.throughput_repeats == min(
        quick_repeats, 3
    )
    reference = R.timing_plan(get_profile("reference"))
    assert reference.throughput_models == MODEL_NAMES
    reference_repeats = get_profile("reference").timing_repeats
    assert reference_repeats > 3  # the reference profile times latency more often than throughput
    assert (reference.latency_repeats, reference.throughput_repeats) == (reference_repeats, 3)
    paper = R.timing_plan(get_profile("paper"))
    assert paper.latency_repeats == paper.throughput_repeats == 50
    # an override of timing_repeats below the cap applies to both
    fewer = R.timing_plan(get_profile("reference", timing_repeats=2))
    assert fewer.latency_repeats == fewer.throughput_repeats == 2
    assert fewer.timed("unet") == (True, True)
    assert quick.timed("unet") == (True, False)


@pytest.mark.parametrize("name", profile_names())
def test_every_profile_has_a_timing_plan(name) -> None:
    # chapter 06 runs under every profile; a profile without a selection stops it with an error
    plan = R.timing_plan(get_profile(name))
    assert plan.latency_models and set(plan.throughput_models) <= set(plan.latency_models)


def test_timing_plan_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['resnet'\]"):
        E.TimingPlan(96, ("resnet",), (), latency_repeats=1, throughput_repeats=1)
    with pytest.raises(ValueError, match="image_size"):
        E.TimingPlan(16, ("full",), (), latency_repeats=1, throughput_repeats=1)
    with pytest.raises(ValueError, match="repeats"):
        E.TimingPlan(64, ("full",), (), latency_repeats=0, throughput_repeats=1)


def test_efficiency_table_measures_what_the_plan_selects(tmp_path, forced_precision) -> None:
    plan = E.TimingPlan(
        image_size=32,
        latency_models=("full",),
        throughput_models=("full",),
        latency_repeats=2,
        throughput_repeats=1,
        warmup=0,
        throughput_batch=2,
    )
    lines: list[str] = []
    table = E.efficiency_table(
        plan,
        backbones=("efficientnet_lite0",),
        models=("plain", "full"),
        cost_image_size=64,
        progress=lines.append,
    )
    assert list(table.columns[: len(E.RESULT_COLUMNS)]) == list(E.RESULT_COLUMNS)
    assert len(lines) == 2 and "latency" not in lines[0] and "latency" in lines[1]
    plain, full = table.iloc[0], table.iloc[1]
    assert plain["params"] == count_parameters(build_model("plain", weights="none"))
    assert full["gmacs"] == pytest.approx(full["gflops"] / 2)
    assert full["gflops"] > plain["gflops"] > 0  # the head's 1x1 convolutions cost FLOPs
    speed_columns = list(E.RESULT_COLUMNS[5:])
    assert plain[speed_columns].isna().all()
    assert (full[speed_columns] > 0).all()
    assert full["speedup_latency"] == pytest.approx(
        full["latency_ms_plain"] / full["latency_ms_optimised"]
    )
    assert full["speedup_throughput"] == pytest.approx(
        full["throughput_optimised"] / full["throughput_plain"]
    )
    assert len(full["latency_seconds"]["plain"]) == 2
    assert full["latency_ms_plain_min"] == 1000 * min(full["latency_seconds"]["plain"])
    assert full["latency_ms_optimised_min"] <= full["latency_ms_optimised"]
    assert len(full["throughput_seconds"]["optimised"]) == 1
    tolerance = comparison_tolerance(forced_precision)
    assert full["max_prob_diff"] <= tolerance.atol
    # random weights give near-tied classes: top-1 may only differ on those (4 check images)
    assert round((1 - full["top1_agreement"]) * 4) <= 4 - full["top1_decisive"]
    if forced_precision == "fp32":
        assert full["top1_agreement"] == 1.0
    assert full["timing_image_size"] == 32 and full["precision"] == forced_precision
    assert "channels_last" in full["steps"] and "torchscript_freeze" in full["steps"]
    assert full["method"] == "jit_freeze" and full["notes"] == ""
    assert full["steps"].endswith("bf16_autocast" if forced_precision == "bf16" else "fp32")
    shown = R.speed_table(table)
    assert shown.loc[("efficientnet_lite0", "plain"), "max_abs_diff"] == ""
    assert shown.loc[("efficientnet_lite0", "full"), "max_abs_diff"].count("e") == 1
    assert shown.loc[("efficientnet_lite0", "full"), "precision"] == forced_precision
    assert R.size_table(table).loc[("efficientnet_lite0", "full"), "params_millions"] == round(
        full["params"] / 1e6, 2
    )

    comparison = R.paper_comparison(table)
    csv_path, json_path = R.write_efficiency_results(
        table, tmp_path, plan=plan, comparison=comparison, verdict=["v"], extra={"seed": 1}
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["efficiency.csv", "efficiency.json"]
    read = pd.read_csv(csv_path)
    assert list(read.columns[: len(E.RESULT_COLUMNS)]) == list(E.RESULT_COLUMNS)
    assert read["latency_ms_plain"].isna().tolist() == [True, False]
    assert read["precision"].tolist()[1] == forced_precision
    record = json.loads(json_path.read_text())
    assert record["seed"] == 1 and record["plan"]["image_size"] == 32 and record["verdict"] == ["v"]
    latency_rows = [r for r in record["paper_comparison"] if r["metric"].startswith("batch-1")]
    assert [r["ours"] for r in latency_rows] == [None, None]  # timed at 32 px, not 224
    assert record["rows"][0]["latency_ms_plain"] is None
    assert record["rows"][1]["throughput_seconds"]["plain"] == list(
        full["throughput_seconds"]["plain"]
    )


def _table(**changes: dict[str, float]) -> pd.DataFrame:
    """Two full rows as measured at 224 px; ``changes`` maps a backbone to new values."""
    rows = {
        "resnet50": {"params": 25_326_020, "gmacs": 4.14, "gflops": 8.29},
        "efficientnet_lite0": {"params": 4_501_164, "gmacs": 0.43, "gflops": 0.86},
    }
    out = []
    for backbone, size in rows.items():
        row = {
            "backbone": backbone,
            "model": "full",
            **size,
            "latency_ms_plain": 80.0,
            "latency_ms_optimised": 40.0,
            "speedup_latency": 2.0,
            "latency_ms_optimised_min": 38.0,
            "timing_image_size": 224.0,
            "threads": 2,
            "loadavg_1min": 2.0,
        }
        row.update(changes.get(backbone, {}))
        out.append(row)
    return pd.DataFrame(out)


def test_verdict_is_computed_from_the_numbers() -> None:
    table = _table(efficientnet_lite0={"latency_ms_optimised": 25.0})
    resnet_size, gpu, resnet, lite0, load = R.efficiency_verdict(
        table, gpu_available=False, cpu_count=2
    )
    assert "stayed at or below 2.0 on 2 CPUs" in load
    busy = table.assign(loadavg_1min=[2.0, 3.5])
    assert "upper bounds" in R.efficiency_verdict(busy, gpu_available=False, cpu_count=2)[-1]
    assert "25.3 M parameters, which matches" in resnet_size
    assert "4.14 GMACs" in resnet_size and "which matches the paper's ~4" in resnet_size
    assert "no GPU is available here" in gpu and "cannot be tested" in gpu
    assert "ResNet-50" in resnet and "40.0 ms/image optimised" in resnet
    assert "does not meet the paper's 25 ms/image" in resnet and "best optimised run 38.0" in resnet
    assert "EfficientNet-Lite0" in lite0 and "which meets" in lite0

    big = _table(resnet50={"params": 40e6, "gmacs": 8.0})
    assert R.efficiency_verdict(big, gpu_available=True)[0].count("does not match") == 2
    assert "a GPU is present" in R.efficiency_verdict(big, gpu_available=True)[1]

    small = _table(resnet50={"timing_image_size": 96.0}, efficientnet_lite0={
        "latency_ms_optimised": math.nan})  # fmt: skip
    verdict = R.efficiency_verdict(small, gpu_available=False)
    assert "timed at 96 px" in verdict[2] and "not compared" in verdict[2]
    assert "not timed in this profile" in verdict[3]
    with pytest.raises(ValueError, match="full/resnet50"):
        R.efficiency_verdict(table[table["backbone"] != "resnet50"], gpu_available=False)


def test_paper_comparison_keeps_only_224_px_latencies() -> None:
    table = _table(efficientnet_lite0={"timing_image_size": 96.0, "latency_ms_optimised": 10.0})
    out = R.paper_comparison(table).set_index(["model", "metric"])
    optimised = "batch-1 ms/image, optimised (CPU)"
    assert out.loc[("full/resnet50", optimised), "ours"] == 40.0
    assert not out.loc[("full/resnet50", optimised), "meets_paper_latency"]
    assert np.isnan(out.loc[("full/efficientnet_lite0", optimised), "ours"])
    assert pd.isna(out.loc[("full/efficientnet_lite0", optimised), "meets_paper_latency"])
    assert out.loc[("full/resnet50", "parameters (M)"), "ours"] == pytest.approx(25.326020)
    with pytest.raises(ValueError, match="no 'head' rows"):
        R.paper_comparison(table, model="head")


def test_latency_bars() -> None:
    table = pd.concat(
        [_table(), _table().assign(model="plain", latency_ms_plain=math.nan)], ignore_index=True
    )
    fig = plots.plot_latency_bars(table)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["ResNet-50 (224 px)", "EfficientNet-Lite0 (224 px)"]
    heights = [patch.get_height() for patch in axes[0].patches if patch.get_width() < 1]
    # plain bars (full, then the untimed "plain" model: empty), then optimised bars
    np.testing.assert_array_equal(heights, [80.0, np.nan, 40.0, 40.0])
    assert any("paper" in t.get_text() for t in axes[0].get_legend().get_texts())
    fig96 = plots.plot_latency_bars(_table(resnet50={"timing_image_size": 96.0}))
    legend = [t.get_text() for t in fig96.get_axes()[0].get_legend().get_texts()]
    assert not any("paper" in t for t in legend)
