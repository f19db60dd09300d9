"""The external chapter's tables and sentences, read from an :class:`ExternalRecord`.

Every number here is read from the record; nothing is recomputed. Scores are in percent (the
record holds fractions), differences in points. Interval columns follow the book's convention
``X``, ``X_ci_low``, ``X_ci_high`` (merged by :func:`marsutils.book.display.merge_intervals`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from marsutils.core.records import ExternalRecord
from marsutils.study.findings import MODEL_NAMES

__all__ = [
    "class_table",
    "comparison_table",
    "complete_models",
    "folder_sentences",
    "model_table",
    "status_sentence",
    "summary_sentences",
]

_METRIC_LABELS = {"accuracy": "accuracy", "macro_f1": "macro F1", "mean_iou": "mean Jaccard"}


def complete_models(record: ExternalRecord) -> list[str]:
    """The models with external predictions of every fold, in the record's order."""
    return [m for m, e in record.models.items() if not e["missing"]]


def _cells(prefix: str, res: dict[str, float], scale: float = 100.0) -> dict[str, float]:
    return {
        prefix: scale * res["estimate"],
        f"{prefix}_ci_low": scale * res["low"],
        f"{prefix}_ci_high": scale * res["high"],
    }


def status_sentence(record: ExternalRecord) -> str:
    """Which configurations are scored and which are not (and why), as one paragraph."""
    done = complete_models(record)
    parts = [
        f"{len(done)} of {len(record.models)} compared classifiers have external predictions "
        f"of every fold ({', '.join(done) or 'none'})."
    ]
    for model, entry in record.models.items():
        if entry["missing"]:
            reasons = sorted(set(entry["missing"].values()))
            parts.append(
                f"{model}: {len(entry['missing'])} of {len(entry['folds'])} folds missing "
                f"({'; '.join(reasons)})."
            )
    return " ".join(parts)


def folder_sentences(record: ExternalRecord) -> list[str]:
    """What was scored: the folder, the classes left out with their counts, the overlap."""
    f, o = record.folder, record.overlap
    excluded = ", ".join(f"{k} ({v} images)" for k, v in f["excluded_images"].items()) or "none"
    mapped = ", ".join(f"{a} -> {b}" for a, b in f["classes"]["mapped"].items())
    scored = ", ".join(f["scored_classes"])
    out = [
        f"{f['name']}: {f['n_images']} of its {f['n_folder_images']} images scored, in "
        f"{f['n_families']} twin families; classes left out: {excluded}.",
        f"Classes matched by name: {mapped}; scored classes (with an image): {scored}.",
        f"Model classes without an external image (out of every macro average): "
        f"{', '.join(f['no_image_of']) or 'none'}.",
    ]
    if o["checked"]:
        out.append(
            f"Overlap with the {o['n_training_images']} training images of the run: "
            f"{o['twin_images']} external images are twins (bytes {o['bytes']}, look "
            f"{o['look']}); their twin families hold {o['overlapping_images']} images, which "
            f"leaves {o['n_images_without_overlap']} non-overlapping images."
        )
    else:
        out.append(f"Overlap with the training images not checked: {o['reason']}.")
    return out


def model_table(record: ExternalRecord) -> pd.DataFrame:
    """One row per complete model and subset: its external scores (percent, with intervals),
    the range of its K models' macro F1, and its in-release macro F1 over the shared classes."""
    rows = []
    for model in complete_models(record):
        entry = record.models[model]
        for subset, scores in entry["metrics"].items():
            if scores is None:
                continue
            row: dict[str, Any] = {"model": model, "images": subset.replace("_", " ")}
            for metric, label in _METRIC_LABELS.items():
                row.update(_cells(label, scores[metric]))
            per = [100 * v for v in entry["per_model_macro_f1"]]
            row["macro F1 of each model"] = f"{min(per):.1f}-{max(per):.1f} ({len(per)} models)"
            if "shared_macro_f1" in entry:
                row.update(
                    _cells(
                        "in-release macro F1 (same classes)", entry["shared_macro_f1"]["in_release"]
                    )
                )
            rows.append(row)
    return pd.DataFrame(rows)


def class_table(record: ExternalRecord, model: str | None = None) -> pd.DataFrame:
    """Per class and complete model (or ``model`` only): external and in-release F1 and the
    drop (external - in-release, points), each with its interval, and the families."""
    rows = []
    for name in [model] if model else complete_models(record):
        entry = record.models[name]
        if "per_class" not in entry:
            continue
        for c in [*entry["per_class"], {"class": "macro F1 (shared)", **entry["shared_macro_f1"]}]:
            row = {"model": name, "class": c["class"]}
            row.update(_cells("external F1", c["external"]))
            row.update(_cells("in-release F1", c["in_release"]))
            row.update(_cells("drop", c["drop"]))
            row["families (external / in-release)"] = (
                f"{c['n_families_external']} / {c['n_families_in_release']}"
                if "n_families_external" in c
                else ""
            )
            rows.append(row)
    return pd.DataFrame(rows)


def comparison_table(record: ExternalRecord) -> pd.DataFrame:
    """Claims C12-C18 on the external images: the paper's effect, our difference with its
    interval, the Holm-adjusted p-values, the verdict, the in-release verdict and whether it
    holds."""
    rows = []
    for c in record.comparisons:
        row = {
            "claim": c["claim"],
            "test": f"{c['a']} - {c['b']}, {_METRIC_LABELS.get(c['metric'], c['metric'])}",
            "paper": c["effect"],
        }
        if "difference" in c:
            row.update(
                {
                    "difference": c["difference"],
                    "difference_ci_low": c["low"],
                    "difference_ci_high": c["high"],
                    "p (Holm), 0": c["p_zero"],
                    "p (Holm), paper": c["p_effect"],
                    "folds with A > B": sum(d > 0 for d in c["fold_differences"]),
                }
            )
        row.update(
            verdict=c["verdict"],
            **{"in-release verdict": c.get("in_release_verdict") or "n/a"},
            robustness=c.get("robustness", ""),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def model_label(model: str) -> str:
    """The model's name in sentences (``the full model``, ``U-Net`` ...)."""
    return MODEL_NAMES.get(model, model)


def _points(res: dict[str, float], sign: bool = False) -> str:
    value = f"{100 * res['estimate']:+.1f}" if sign else f"{100 * res['estimate']:.1f}"
    return f"{value} [{100 * res['low']:.1f}, {100 * res['high']:.1f}]"


def summary_sentences(record: ExternalRecord) -> list[str]:
    """What the record shows, one sentence per finding (computed, so true of any run)."""
    out = []
    for model in complete_models(record):
        entry = record.models[model]
        if "shared_macro_f1" not in entry:
            continue
        shared = entry["shared_macro_f1"]
        worst = min(entry["per_class"], key=lambda c: c["drop"]["estimate"])
        out.append(
            f"{model_label(model)}: macro F1 over the {len(entry['per_class'])} shared classes "
            f"{_points(shared['in_release'])} in-release, {_points(shared['external'])} "
            f"external, a change of {_points(shared['drop'], sign=True)} points; its largest "
            f"drop is {worst['class']} ({_points(worst['drop'], sign=True)})."
        )
    judged = [c for c in record.comparisons if "difference" in c]
    if judged:
        holds = sum(c.get("robustness") == "holds" for c in judged)
        out.append(
            f"Of the {len(judged)} comparisons judged on the external images, {holds} reach the "
            f"same verdict as in-release; {len(record.comparisons) - len(judged)} could not be "
            "judged (a model without external predictions)."
        )
    else:
        out.append("No comparison could be judged: a compared model lacks external predictions.")
    return out
