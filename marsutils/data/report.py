"""The data report: class counts, twin families and the leakage of each split."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from marsutils.data.prepare import prepare_data
from marsutils.data.splits import leakage_report

__all__ = ["family_summary", "data_report", "format_report", "leakage_table"]


def family_summary(families: np.ndarray) -> dict[str, float | int]:
    """Number of families, share of images with a twin, and the largest family size."""
    _, codes = np.unique(families, return_inverse=True)  # a subset holds only some families
    sizes = np.bincount(codes)
    families = codes
    return {
        "images": len(families),
        "families": int(np.count_nonzero(sizes)),  # ids of a subset need not be 0..n-1
        "share_with_twin": float((sizes[families] > 1).mean()),
        "largest_family": int(sizes.max()),
    }


def data_report(
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    official_drop_augmented: bool = False,
) -> dict:
    """Class counts, the family summary, what reading reported, and each split's leakage.

    The paper and family splits always; the official split too for the JPL v3.2 layout (as
    published, or without its augmented val/test copies with ``official_drop_augmented``).
    """
    from marsutils.data.layouts import detect_layout
    from marsutils.data.locate import locate_data_dir

    splits = ["paper", "family"]
    if detect_layout(locate_data_dir(data_dir)) == "jpl-v3.2":
        splits.append("official")
    prepared = prepare_data(
        data_dir,
        splits=tuple(splits),
        seed=seed,
        progress=False,
        official_drop_augmented=official_drop_augmented,
    )
    counts = pd.Series(prepared.dataset.labels).value_counts().sort_index()
    return {
        "data_dir": str(prepared.dataset.root),
        "layout": prepared.dataset.layout,
        "data_fingerprint": prepared.fingerprint,
        "class_counts": {prepared.class_names[k]: int(v) for k, v in counts.items()},
        "notes": prepared.dataset.notes,
        "messages": list(prepared.messages),
        "families": family_summary(prepared.families),
        "leakage": {kind: leakage_report(s) for kind, s in prepared.splits.items()},
    }


def format_report(report: dict) -> str:
    """Plain-text rendering of :func:`data_report`."""
    lines = [
        f"data: {report['data_dir']} ({report['layout']} layout, data fingerprint "
        f"{report.get('data_fingerprint', '?')})"
    ]
    dups = {k: v for k, v in report.get("notes", {}).get("duplicate_rows", {}).items() if v}
    for name, n in dups.items():
        lines.append(f"{name}: {n} exact duplicate rows counted once")
    lines += list(report.get("messages", []))
    lines += ["", "class counts:"]
    total = sum(report["class_counts"].values())
    for name, n in report["class_counts"].items():
        lines.append(f"  {name:<14} {n:>6}  {100 * n / total:5.1f}%")
    lines.append(f"  {'total':<14} {total:>6}")
    fam = report["families"]
    lines += [
        "",
        f"twin families: {fam['families']} families over {fam['images']} images; "
        f"{100 * fam['share_with_twin']:.1f}% of images have a rotated/flipped twin "
        f"(largest family: {fam['largest_family']})",
        "",
        "leakage (share of images with a twin in train):",
        f"  {'split':<8} {'train':>6} {'val':>5} {'test':>5}  "
        f"{'test->train':>11}  {'val->train':>10}",
    ]
    for kind, leak in report["leakage"].items():
        lines.append(
            f"  {kind:<8} {leak['n_train']:>6} {leak['n_val']:>5} {leak['n_test']:>5}  "
            f"{100 * leak['test_with_twin_in_train']:>10.1f}%  "
            f"{100 * leak['val_with_twin_in_train']:>9.1f}%"
        )
    return "\n".join(lines)


def leakage_table(reports: list[dict]) -> pd.DataFrame:
    """The leakage reports of several splits as one table (percentages)."""
    frame = pd.DataFrame(reports).set_index("split")
    for col in [c for c in frame.columns if c.endswith(("_in_train", "_in_val"))]:
        frame[col] = (100 * frame[col]).round(1)
    return frame.rename(
        columns={
            "test_with_twin_in_train": "test with twin in train (%)",
            "val_with_twin_in_train": "val with twin in train (%)",
            "test_with_twin_in_val": "test with twin in val (%)",
        }
    )
