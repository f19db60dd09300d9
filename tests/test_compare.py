"""The paper-vs-ours table: values, differences and the inside-our-CI flags."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from marsutils.core import paper as P
from marsutils.stats import compare as C
from marsutils.stats.metrics import evaluate_predictions


def _table1_predictions() -> tuple[np.ndarray, np.ndarray]:
    """A test set whose per-class counts are exactly those Table 1 implies (1231 images)."""
    counts = P.table1_counts()
    k = len(counts)
    fn, fp = counts["fn"].to_numpy(), counts["fp"].to_numpy()
    # Off-diagonal errors with row sums FN and column sums FP: a transportation problem whose
    # vertex solutions are integral; the diagonal is forced to 0 through its bounds.
    a_eq = np.vstack([np.kron(np.eye(k), np.ones(k)), np.kron(np.ones(k), np.eye(k))])
    bounds = [(0, 0) if i == j else (0, None) for i in range(k) for j in range(k)]
    solution = linprog(np.ones(k * k), A_eq=a_eq, b_eq=np.r_[fn, fp], bounds=bounds)
    assert solution.success
    cm = np.rint(solution.x).astype(int).reshape(k, k) + np.diag(counts["tp"].to_numpy())
    assert (cm.sum(1) == counts["support"]).all() and (cm.sum(0) == counts["predicted"]).all()
    y_true = np.repeat(np.repeat(np.arange(k), k), cm.ravel())
    y_pred = np.repeat(np.tile(np.arange(k), k), cm.ravel())
    return y_true, y_pred


@pytest.fixture(scope="module")
def table1_evaluation() -> dict:
    y_true, y_pred = _table1_predictions()
    return evaluate_predictions(
        y_true, y_pred, class_names=P.DATASET_CLASSES, n_boot=200, random_state=0
    )


def test_reproducing_table1_gives_zero_differences(table1_evaluation: dict) -> None:
    table = C.compare_with_paper(table1_evaluation)
    assert list(table.columns) == list(C.COLUMNS)
    per_class = table[table["section"] == "per_class"]
    assert len(per_class) == 8 * len(C.PER_CLASS_METRICS)
    assert per_class["difference"].abs().max() <= 0.005 + 1e-9  # rounding of the printed table
    head = table[table["section"] == "headline"].set_index("paper_metric")
    assert head.loc["accuracy", "difference"] == pytest.approx(0.0, abs=0.005)
    assert head.loc["'weighted macro-average' F1", "difference"] == pytest.approx(0.0, abs=0.006)
    assert head.loc["image-level mean IoU of Table 1", "difference"] == pytest.approx(0, abs=1e-6)
    assert head.loc["mean IoU", "difference"] == pytest.approx(P.table1_mean_iou() - 84.7)
    assert head.loc["accuracy", "paper_in_ci"]
    support = per_class[per_class["metric"] == "support"]
    assert support["paper_in_ci"].isna().all() and support["ci_low"].isna().all()


def _toy_evaluation(low: float | None, high: float | None) -> dict:
    ci = {"low": low, "high": high}
    return {
        "overall": {"accuracy": 0.925, "mean_iou": 0.80, "macro_f1": 0.87, "weighted_f1": 0.9},
        "ci": {"accuracy": ci, "mean_iou": ci, "macro_f1": ci, "weighted_f1": ci},
        "per_class": [],
    }


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.92, 0.93, True), (0.90, 0.92, False), (0.9262, 0.95, False), (None, None, pd.NA)],
)
def test_paper_in_ci_flag(low, high, expected) -> None:
    table = C.compare_with_paper(_toy_evaluation(low, high), model="full", per_class=False)
    acc = table.set_index("paper_metric").loc["accuracy"]
    assert acc["paper"] == 92.61
    assert acc["ours"] == pytest.approx(92.5)
    assert acc["difference"] == pytest.approx(92.5 - 92.61)
    if expected is pd.NA:
        assert pd.isna(acc["paper_in_ci"])
    else:
        assert bool(acc["paper_in_ci"]) is expected


def test_ablation_and_baselines(table1_evaluation: dict) -> None:
    runs = {name: table1_evaluation for name in ("plain", "head", "unet")}
    table = C.compare_many(runs, per_class=True)
    assert set(table["section"]) == {"headline"}
    plain = table[(table["run"] == "plain") & (table["metric"] == "accuracy")]
    assert plain["paper"].item() == 88.20
    unet = table[table["run"] == "unet"].set_index("metric")
    assert unet.loc["mean_iou", "paper"] == 76.0
    assert unet.loc["macro_f1", "paper_kind"] == "derived"
    assert np.isnan(unet.loc["accuracy", "paper"]) and pd.isna(unet.loc["accuracy", "paper_in_ci"])
    assert unet.loc["accuracy", "paper_kind"] == "not reported"
    labelled = C.compare_many({"family split": table1_evaluation}, models={"family split": "full"})
    assert set(labelled["model"]) == {"full"} and set(labelled["run"]) == {"family split"}


def test_errors(table1_evaluation: dict) -> None:
    with pytest.raises(ValueError, match="unknown paper model"):
        C.compare_with_paper(table1_evaluation, model="vit")
    with pytest.raises(ValueError, match="only for 'full'"):
        C.compare_with_paper(table1_evaluation, model="plain", per_class=True)
    broken = copy.deepcopy(table1_evaluation)
    broken["per_class"] = broken["per_class"][:-1]
    with pytest.raises(ValueError, match="spider"):
        C.compare_with_paper(broken)
    with pytest.raises(ValueError, match="no evaluations"):
        C.compare_many({})
