"""The paper's reported numbers as data, each with its source, and what they imply when recomputed.

Naveed, Umair and Saif (2025), IJIST 7(11): 294-306. All values are percentages as printed unless
a unit says otherwise. Nothing here is measured by this project: the ``table1_*`` and
``*_check`` functions only recompute quantities from the paper's own printed numbers, so the book
can show where the paper agrees with itself and where it does not.

Table 1 reports per-class precision, recall and F1 to two decimals together with the support, which
is enough to reconstruct the integer counts behind every row (TP = recall x support, predicted =
TP / precision). From those counts follow the accuracy and the image-level IoU implied by Table 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "PaperValue",
    "PAPER_TO_DATASET_CLASS",
    "DATASET_CLASSES",
    "DATASET_SIZE",
    "HEADLINE",
    "ABSTRACT_CLASS_F1",
    "EFFICIENCY",
    "ABLATION_KEYS",
    "BASELINE_IOU",
    "ABSTRACT_GAINS",
    "table1",
    "table3",
    "baseline_values",
    "table1_total_support",
    "table1_test_fraction",
    "table1_macro_f1",
    "table1_weighted_f1",
    "table1_f1_check",
    "table1_f1_disagreements",
    "table1_counts",
    "table1_accuracy",
    "table1_iou",
    "table1_mean_iou",
    "f1_averages",
    "iou_averages",
    "abstract_gains_check",
    "consistency_checks",
    "TEST_FRACTION",
]


@dataclass(frozen=True)
class PaperValue:
    """One number (or label) printed in the paper and where it is printed."""

    value: float | str
    source: str
    unit: str = "%"
    note: str = ""


# The paper's class names -> the dataset's class names (classmap order: 0 other .. 7 spider).
PAPER_TO_DATASET_CLASS: dict[str, str] = {
    "Other": "other",
    "Crater": "crater",
    "Dark Dune": "dark dune",
    "Slope Streak": "slope streak",
    "Bright Dune": "bright dune",
    "Impact Ejecta": "impact ejecta",
    "Swiss Cheese": "swiss cheese",
    "Spider": "spider",
}
DATASET_CLASSES: tuple[str, ...] = tuple(PAPER_TO_DATASET_CLASS.values())

DATASET_SIZE = PaperValue(6153, "Abstract", unit="images")
TEST_FRACTION = PaperValue(20.0, "Resize and Cropping paragraph", note="random 80/20 split")

# Table 1, in the paper's row order: (paper name, precision, recall, F1, support).
_TABLE1_ROWS: tuple[tuple[str, float, float, float, int], ...] = (
    ("Bright Dune", 99.06, 92.92, 95.89, 113),
    ("Crater", 95.19, 87.68, 91.28, 203),
    ("Dark Dune", 97.44, 77.55, 86.36, 49),
    ("Impact Ejecta", 100.00, 62.50, 76.92, 8),
    ("Other", 91.04, 97.66, 94.23, 728),
    ("Slope Streak", 89.66, 73.24, 80.62, 71),
    ("Spider", 88.89, 80.00, 84.21, 10),
    ("Swiss Cheese", 93.48, 87.76, 90.53, 49),
)

HEADLINE: dict[str, PaperValue] = {
    "accuracy": PaperValue(
        92.61, "Abstract; Quantitative Performance Assessment; Table 3; Conclusion"
    ),
    "mean_iou": PaperValue(
        84.7,
        "Abstract; IoU Performance paragraph; Table 3; Conclusion",
        note="described as the overlap of predicted and ground-truth masks; the data has no masks",
    ),
    "f1": PaperValue(
        88.48,
        "Abstract; Table 3; Conclusion",
        note="'total F1-score'; the averaging is not stated",
    ),
    "weighted_macro_f1": PaperValue(
        87.51,
        "Quantitative Performance Assessment paragraph",
        note="called 'weighted macro-average'; equals the unweighted mean of Table 1's F1 column",
    ),
}

# Per-class F1 values quoted in the Abstract (they repeat Table 1).
ABSTRACT_CLASS_F1: dict[str, float] = {
    "bright dune": 95.89,
    "crater": 91.28,
    "other": 94.23,
    "impact ejecta": 76.92,
    "slope streak": 80.62,
}

EFFICIENCY: dict[str, PaperValue] = {
    "backbone": PaperValue("ResNet-50", "Table 2", unit=""),
    "input_resolution": PaperValue(224, "Table 2", unit="px", note="224 x 224"),
    "parameters_millions": PaperValue(25.0, "Table 2", unit="M", note="'~25M'"),
    "gflops": PaperValue(
        4.0,
        "Table 2",
        unit="GFLOPs",
        note="'~4 GFLOPs'; ResNet-50's ~4.1 G is a multiply-add count",
    ),
    "latency_ms_low": PaperValue(25.0, "Table 2", unit="ms/image", note="'~25-30 ms/image'"),
    "latency_ms_high": PaperValue(30.0, "Table 2", unit="ms/image", note="'~25-30 ms/image'"),
    "device": PaperValue(
        "GPU", "Computational Efficiency Analysis paragraph", unit="", note="GPU model not stated"
    ),
}

# Table 3 rows: key -> (configuration as printed, attention, segmentation head, acc, IoU, F1).
# The keys are the study's model names (:data:`marsutils.models.ABLATION_NAMES`; a test checks).
_TABLE3_ROWS: dict[str, tuple[str, bool, bool, float, float, float]] = {
    "plain": ("ResNet-50 Baseline", False, False, 88.20, 78.10, 83.45),
    "head": ("ResNet-50 + Segmentation Head", False, True, 90.35, 81.25, 85.92),
    "attention": ("ResNet-50 + Attention", True, False, 91.10, 82.60, 86.75),
    "full": ("Proposed Model (Full)", True, True, 92.61, 84.70, 88.48),
}

#: The keys of the paper's Table 3 rows, in its order.
ABLATION_KEYS: tuple[str, ...] = tuple(_TABLE3_ROWS)

BASELINE_IOU: dict[str, PaperValue] = {
    "unet": PaperValue(76.0, "IoU Performance paragraph", note="U-Net"),
    "deeplabv3plus": PaperValue(81.5, "IoU Performance paragraph", note="DeepLabV3+"),
}

# Abstract: the proposed model's gains, in percentage points.
ABSTRACT_GAINS: dict[str, PaperValue] = {
    "f1_vs_unet": PaperValue(6.41, "Abstract", unit="pp"),
    "f1_vs_deeplabv3plus": PaperValue(2.59, "Abstract", unit="pp"),
    "iou_vs_unet": PaperValue(8.7, "Abstract", unit="pp"),
    "iou_vs_deeplabv3plus": PaperValue(3.2, "Abstract", unit="pp"),
}


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def table1() -> pd.DataFrame:
    """Table 1 indexed by dataset class name, in the dataset's class-id order.

    Columns: ``label`` (dataset class id), ``paper_name``, ``precision``, ``recall``, ``f1``,
    ``support``, ``source``.
    """
    rows = []
    for paper_name, precision, recall, f1, support in _TABLE1_ROWS:
        name = PAPER_TO_DATASET_CLASS[paper_name]
        rows.append(
            {
                "class": name,
                "label": DATASET_CLASSES.index(name),
                "paper_name": paper_name,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": support,
                "source": "Table 1",
            }
        )
    return pd.DataFrame(rows).set_index("class").sort_values("label")


def table3() -> pd.DataFrame:
    """Table 3 (ablation) indexed by key ``plain, head, attention, full``."""
    rows = [
        {
            "key": key,
            "configuration": config,
            "attention": attention,
            "segmentation_head": head,
            "accuracy": acc,
            "iou": iou,
            "f1": f1,
            "source": "Table 3",
        }
        for key, (config, attention, head, acc, iou, f1) in _TABLE3_ROWS.items()
    ]
    return pd.DataFrame(rows).set_index("key")


def baseline_values() -> pd.DataFrame:
    """U-Net and DeepLabV3+: printed IoU, and the F1 implied by the Abstract's F1 gains.

    The paper prints no baseline accuracy, although it says Table 3 "provides the overall accuracy
    of each model"; Table 3 holds only the ablation.
    """
    f1 = HEADLINE["f1"].value
    rows = []
    for key, iou in BASELINE_IOU.items():
        gain = ABSTRACT_GAINS[f"f1_vs_{key}"]
        rows.append(
            {
                "key": key,
                "model": iou.note,
                "iou": iou.value,
                "iou_source": iou.source,
                "f1": round(f1 - gain.value, 2),
                "f1_source": f"derived: Abstract F1 {f1} - {gain.value} pp gain",
            }
        )
    return pd.DataFrame(rows).set_index("key")


# --------------------------------------------------------------------------------------------
# recomputations from Table 1
# --------------------------------------------------------------------------------------------


def table1_total_support(table: pd.DataFrame | None = None) -> int:
    """Sum of Table 1's support column (the size of the paper's test set): 1231."""
    return int((table1() if table is None else table)["support"].sum())


def table1_test_fraction(table: pd.DataFrame | None = None) -> float:
    """Table 1's test-set size as a fraction of the 6,153 images (the paper says 20%)."""
    return table1_total_support(table) / float(DATASET_SIZE.value)


def table1_macro_f1(table: pd.DataFrame | None = None) -> float:
    """Unweighted mean of Table 1's F1 column (the text's 'weighted macro-average' 87.51)."""
    return float((table1() if table is None else table)["f1"].mean())


def table1_weighted_f1(table: pd.DataFrame | None = None) -> float:
    """Support-weighted mean of Table 1's F1 column."""
    t = table1() if table is None else table
    return float(np.average(t["f1"], weights=t["support"]))


def table1_f1_check(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Recompute each F1 as 2PR/(P+R) and compare with the printed F1.

    ``tolerance`` is the worst-case effect of rounding P, R and F1 to two decimals
    (0.005 x (|dF/dP| + |dF/dR|) + 0.005); ``agrees`` is ``|difference| <= tolerance``.
    """
    t = table1() if table is None else table
    p, r = t["precision"].astype(float), t["recall"].astype(float)
    recomputed = 2 * p * r / (p + r)
    d_dp = 2 * r**2 / (p + r) ** 2
    d_dr = 2 * p**2 / (p + r) ** 2
    tolerance = 0.005 * (d_dp + d_dr) + 0.005
    out = pd.DataFrame(
        {
            "printed_f1": t["f1"],
            "f1_from_precision_recall": recomputed,
            "difference": recomputed - t["f1"],
            "tolerance": tolerance,
        }
    )
    out["agrees"] = out["difference"].abs() <= out["tolerance"] + 1e-9
    return out


def table1_f1_disagreements(table: pd.DataFrame | None = None) -> list[str]:
    """Classes whose printed F1 is not 2PR/(P+R) within rounding (empty for the paper)."""
    check = table1_f1_check(table)
    return check.index[~check["agrees"]].tolist()


def table1_counts(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Integer TP, FN, FP and predicted counts reconstructed from Table 1.

    ``tp = round(recall x support)``, ``predicted = round(tp / precision)``. The ``*_residual``
    columns show how far the unrounded values were from integers; ``consistent`` is True when both
    residuals are within what two-decimal rounding of the percentages allows.
    """
    t = table1() if table is None else table
    support = t["support"].astype(float)
    p, r = t["precision"].astype(float) / 100, t["recall"].astype(float) / 100
    tp_exact = r * support
    tp = tp_exact.round()
    predicted_exact = tp / p
    predicted = predicted_exact.round()
    tp_slack = 0.00005 * support
    predicted_slack = tp * 0.00005 / p**2
    out = pd.DataFrame(
        {
            "support": t["support"].astype(int),
            "tp": tp.astype(int),
            "fn": (support - tp).astype(int),
            "fp": (predicted - tp).astype(int),
            "predicted": predicted.astype(int),
            "tp_residual": tp_exact - tp,
            "predicted_residual": predicted_exact - predicted,
        }
    )
    out["consistent"] = (out["tp_residual"].abs() <= tp_slack + 1e-9) & (
        out["predicted_residual"].abs() <= predicted_slack + 1e-9
    )
    return out


def table1_accuracy(table: pd.DataFrame | None = None) -> float:
    """Overall accuracy implied by Table 1: sum of TP / total support, in percent."""
    counts = table1_counts(table)
    return 100.0 * counts["tp"].sum() / counts["support"].sum()


def table1_iou(table: pd.DataFrame | None = None) -> pd.Series:
    """Image-level per-class IoU TP/(TP+FP+FN) implied by Table 1's counts, in percent."""
    c = table1_counts(table)
    return (100.0 * c["tp"] / (c["tp"] + c["fp"] + c["fn"])).rename("iou")


def table1_mean_iou(table: pd.DataFrame | None = None) -> float:
    """Mean over classes of :func:`table1_iou` (what mIoU means for image-level labels)."""
    return float(table1_iou(table).mean())


def f1_averages(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's two F1 summaries next to the averages Table 1 actually gives.

    Shown side by side because none of the recomputed averages equals the headline 88.48.
    """
    t = table1() if table is None else table
    macro_p, macro_r = t["precision"].mean(), t["recall"].mean()
    rows = [
        ("headline F1 (printed)", HEADLINE["f1"].value, HEADLINE["f1"].source),
        (
            "'weighted macro-average' F1 (printed)",
            HEADLINE["weighted_macro_f1"].value,
            HEADLINE["weighted_macro_f1"].source,
        ),
        ("macro F1 (mean of Table 1 F1)", table1_macro_f1(t), "recomputed from Table 1"),
        ("support-weighted F1", table1_weighted_f1(t), "recomputed from Table 1"),
        ("micro F1 (= accuracy)", table1_accuracy(t), "recomputed from Table 1 counts"),
        (
            "F1 of macro precision and macro recall",
            2 * macro_p * macro_r / (macro_p + macro_r),
            "recomputed from Table 1",
        ),
    ]
    return pd.DataFrame(rows, columns=["summary", "f1", "source"]).set_index("summary")


def iou_averages(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's mean IoU next to the image-level IoU averages Table 1 gives."""
    t = table1() if table is None else table
    counts, iou = table1_counts(t), table1_iou(t)
    union = counts["tp"] + counts["fp"] + counts["fn"]
    rows = [
        ("mean IoU (printed)", HEADLINE["mean_iou"].value, HEADLINE["mean_iou"].source),
        ("mean of per-class Jaccard", iou.mean(), "recomputed from Table 1 counts"),
        (
            "support-weighted Jaccard",
            float(np.average(iou, weights=counts["support"])),
            "recomputed from Table 1 counts",
        ),
        (
            "micro Jaccard (sum TP / sum union)",
            100.0 * counts["tp"].sum() / union.sum(),
            "recomputed from Table 1 counts",
        ),
    ]
    return pd.DataFrame(rows, columns=["summary", "iou", "source"]).set_index("summary")


def abstract_gains_check() -> pd.DataFrame:
    """The Abstract's IoU gains against the printed baseline IoUs (they agree)."""
    miou = float(HEADLINE["mean_iou"].value)
    rows = []
    for key, base in BASELINE_IOU.items():
        claimed = float(ABSTRACT_GAINS[f"iou_vs_{key}"].value)
        recomputed = round(miou - float(base.value), 2)
        rows.append({"baseline": key, "claimed": claimed, "recomputed": recomputed})
    out = pd.DataFrame(rows).set_index("baseline")
    out["agrees"] = (out["claimed"] - out["recomputed"]).abs() < 1e-9
    return out


def consistency_checks() -> pd.DataFrame:
    """Each printed summary number next to the value its own Table 1 implies.

    ``agrees`` is True when the two match to the paper's printed precision (0.01 points).
    """
    weighted_macro = HEADLINE["weighted_macro_f1"]
    rows = [
        ("accuracy vs Table 1 counts", HEADLINE["accuracy"], table1_accuracy()),
        ("F1 vs mean of Table 1 F1", HEADLINE["f1"], table1_macro_f1()),
        ("F1 vs support-weighted Table 1 F1", HEADLINE["f1"], table1_weighted_f1()),
        ("'weighted macro-average' F1 vs mean of Table 1 F1", weighted_macro, table1_macro_f1()),
        (
            "'weighted macro-average' F1 vs support-weighted Table 1 F1",
            weighted_macro,
            table1_weighted_f1(),
        ),
        ("mean IoU vs image-level Jaccard from Table 1", HEADLINE["mean_iou"], table1_mean_iou()),
        ("test fraction vs Table 1 support / 6,153", TEST_FRACTION, 100 * table1_test_fraction()),
    ]
    out = pd.DataFrame(
        [
            {
                "check": name,
                "printed": float(value.value),
                "recomputed": recomputed,
                "source": f"{value.source} vs Table 1",
            }
            for name, value, recomputed in rows
        ]
    ).set_index("check")
    out["difference"] = out["recomputed"] - out["printed"]
    out["agrees"] = out["difference"].abs() < 0.01
    return out
