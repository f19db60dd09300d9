"""Comparisons across seeds: the margin rule "a beats b by more than its seed SD", and every
seed's learning curve."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from marsutils.core.layout import RunLayout
from marsutils.core.records import RecordError, SeedComparisons
from marsutils.study.comparisons import seed_histories, seed_margins
from marsutils.study.experiments import ClassifierSpec

FULL = ClassifierSpec("full", "family", image_size=64, epochs=1)
PLAIN = ClassifierSpec("plain", "family", image_size=64, epochs=1)


def _predictions(layout, spec, seed, correct):
    """120 test images in 60 twin families; the first ``correct`` are predicted right."""
    rows = np.arange(120)
    y_true = rows % 3
    y_pred = np.where(rows < correct, y_true, (y_true + 1) % 3)
    path = layout.predictions(spec.key, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"row": rows, "y_true": y_true, "y_pred": y_pred}).to_csv(path, index=False)


@pytest.fixture
def families():
    return np.arange(120) // 2


def test_a_clear_gain_exceeds_the_seed_sd(tmp_path, families):
    layout = RunLayout(tmp_path)
    for seed, (full, plain) in enumerate([(110, 80), (112, 82), (108, 79)]):
        _predictions(layout, FULL, seed, full)
        _predictions(layout, PLAIN, seed, plain)
    frame = seed_margins(tmp_path, [(FULL, PLAIN)], families, n_boot=200)
    row = frame.set_index("metric").loc["accuracy"]
    assert row["seeds"] == (0, 1, 2)
    assert row["a_mean"] == pytest.approx(110 / 120) and row["b_mean"] == pytest.approx(
        (80 + 82 + 79) / 360
    )
    assert row["a_sd"] == pytest.approx(np.std([110, 112, 108], ddof=1) / 120)
    assert row["difference"] == pytest.approx(row["a_mean"] - row["b_mean"])
    assert row["low"] > 0 and bool(row["exceeds_sd"])


def test_a_gain_within_the_seed_sd_does_not_count(tmp_path, families):
    layout = RunLayout(tmp_path)
    for seed, (full, plain) in enumerate([(100, 99), (80, 98), (118, 97)]):
        _predictions(layout, FULL, seed, full)
        _predictions(layout, PLAIN, seed, plain)
    row = seed_margins(tmp_path, [(FULL, PLAIN)], families, n_boot=200).iloc[0]
    assert row["difference"] > 0 and not row["exceeds_sd"]


def test_one_seed_has_no_sd_and_the_record_round_trips(tmp_path, families):
    layout = RunLayout(tmp_path)
    _predictions(layout, FULL, 0, 100)
    _predictions(layout, PLAIN, 0, 90)
    _predictions(layout, PLAIN, 1, 90)  # a seed only one run has is left out
    frame = seed_margins(tmp_path, [(FULL, PLAIN)], families, n_boot=100)
    record = SeedComparisons.from_frame(frame, n_boot=100, seed=0)
    assert {m.seeds for m in record.margins} == {(0,)}
    assert all(m.a_sd is None and m.exceeds_sd is None for m in record.margins)
    path = record.to_json(tmp_path / record.FILE)
    assert SeedComparisons.from_json(path) == record
    assert seed_margins(tmp_path / "empty", [(FULL, PLAIN)], families).empty


def test_a_broken_margin_row_is_named(tmp_path):
    (tmp_path / "x.json").write_text(
        '{"record": "seed_comparisons", "schema_version": 1, "n_boot": 1, "seed": 0,'
        ' "margins": [{"a": "full (family)"}]}'
    )
    with pytest.raises(RecordError, match="margins' row 0"):
        SeedComparisons.from_json(tmp_path / "x.json")


def _curve(values):
    return [{"epoch": i + 1, "val_macro_f1": v, "val_loss": 1 - v} for i, v in enumerate(values)]


def test_seed_histories_reads_every_seed_of_every_label(tmp_path):
    layout = RunLayout(tmp_path)
    for seed in (0, 2):
        path = layout.history(FULL.key, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_curve([0.5, 0.6 + seed / 100])))
    layout.files(PLAIN.key, 1).folder.mkdir(parents=True)  # a seed folder without a curve yet
    curves = seed_histories(tmp_path, {"full": FULL, "plain": PLAIN})
    assert list(curves) == ["full"]  # plain has no curve
    assert sorted(curves["full"]) == [0, 2]
    assert curves["full"][2][-1]["val_macro_f1"] == pytest.approx(0.62)
    layout.history(FULL.key, 2).write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ValueError, match=r"history\.json is not a list"):
        seed_histories(tmp_path, {"full": FULL})


def test_learning_curves_and_plateau_table_show_one_line_per_seed():
    """Issue point 6: the chapters' plateau table applies the findings' one rule."""
    from marsutils.book.reporting import plateau_table
    from marsutils.figures.plots import plot_learning_curves
    from marsutils.stats.rules import (
        LEVELLED_OFF,
        STILL_IMPROVING,
        TrainingRule,
        training_check,
    )

    histories = {
        "full": {0: _curve([0.5, 0.6, 0.6]), 1: _curve([0.4, 0.5, 0.7])},
        "plain": {0: _curve([0.5, 0.55, 0.555])},
    }
    fig = plot_learning_curves(histories)
    assert [len(ax.get_lines()) for ax in fig.axes] == [3, 3]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "full (2 seeds)",
        "plain",
    ]
    table = plateau_table(histories, TrainingRule(window=1))
    assert list(table.columns) == ["model", "seed", "epochs", "status", "detail"]
    assert table[["model", "seed"]].values.tolist() == [["full", 0], ["full", 1], ["plain", 0]]
    # the findings' rule, not a second one: seed 1 was still rising, seed 0 levelled off
    assert table["status"].tolist() == [LEVELLED_OFF, STILL_IMPROVING, LEVELLED_OFF]
    assert table["status"].tolist() == [
        training_check(h, TrainingRule(window=1)).status
        for runs in histories.values()
        for h in runs.values()
    ]
    with pytest.raises(ValueError, match="empty"):
        plot_learning_curves({"full": {}})


def test_the_folds_of_one_model_share_its_legend_entry(tmp_path):
    """Under 5-fold CV the ablation's learning-curve figure had one legend entry per fold and
    model (25), more than its panels hold, and matplotlib printed a layout warning with this
    machine's path into the book. The folds of a model share its colour and one entry."""
    import warnings

    from marsutils.figures.plots import plot_learning_curves, save_figure

    histories = {
        f"{model}, fold {k}": {0: _curve([0.4, 0.5 + 0.01 * k, 0.6])}
        for model in ("full", "plain", "head", "attention", "plain-bf16")
        for k in range(5)
    }
    fig = plot_learning_curves(histories)
    assert [len(ax.get_lines()) for ax in fig.axes] == [25, 25]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        f"{m} (5 folds)" for m in ("full", "plain", "head", "attention", "plain-bf16")
    ]
    colours = {line.get_color() for line in fig.axes[0].get_lines()[:5]}
    assert len(colours) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_figure(fig, tmp_path, "curves")
