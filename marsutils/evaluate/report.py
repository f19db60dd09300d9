"""The plain-text report of an evaluation, and its JSON file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from marsutils.core.atomic import write_json

__all__ = ["format_evaluation", "write_evaluation"]


def format_evaluation(result: dict[str, Any]) -> str:
    """Plain-text rendering of :func:`~marsutils.evaluate.folder.evaluate_folder`'s result."""
    cls = result["classes"]
    lines = [
        f"data: {result['data_dir']} ({result['layout']} layout): {result['n_images']} images "
        f"in {result['n_families']} twin families scored",
        "matched classes (data -> model): "
        + ", ".join(f"{d} -> {m}" for d, m in cls["mapped"].items()),
        "data classes the model lacks (images left out): "
        + (", ".join(f"{n} ({result['excluded_images'][n]})" for n in cls["data_only"]) or "none"),
        "model classes the data lacks: " + (", ".join(cls["model_only"]) or "none"),
        "no image of: "
        + (
            ", ".join(result["no_image_of"])
            + " (left out of the macro averages; predicting them counts as an error)"
            if result["no_image_of"]
            else "none (every model class has an image)"
        ),
        "",
    ]
    conf = next(iter(result["metrics"].values()))
    lines.append(
        f"metrics ({100 * conf['confidence']:.0f}% interval, {conf['n_boot']} resamples of "
        f"{conf['n_groups']} twin families):"
    )
    lines += _metric_lines(result["metrics"])
    lines += ["", *_format_overlap(result.get("overlap") or {})]
    names = result["class_names"]
    width = max(len(n) for n in names)
    lines += ["", "confusion matrix (rows: true, columns: predicted):"]
    lines.append(" " * (width + 2) + " ".join(f"{n[:8]:>8}" for n in names))
    for name, row in zip(names, result["confusion_matrix"], strict=True):
        lines.append(f"  {name:<{width}}" + " ".join(f"{v:>8}" for v in row))
    return "\n".join(lines)


def _format_overlap(overlap: dict[str, Any]) -> list[str]:
    """The lines on the overlap with the training images, and the scores without it."""
    if not overlap.get("checked"):
        return [f"overlap with the training images: not checked ({overlap.get('reason', '?')})"]
    lines = [
        f"overlap with the training images ({overlap['n_training_images']} train + val images "
        f"of {overlap['source']}): {overlap['twin_images']} scored images are twins of them "
        f"(name {overlap['name']}, bytes {overlap['bytes']}, thumbnail {overlap['look']}); "
        f"{overlap['overlapping_images']} in their twin families"
    ]
    rest = overlap.get("metrics_without_overlap")
    if rest is None:
        return [*lines, "  no scored image is outside the overlapping families"]
    lines.append(f"  without them ({overlap['n_images_without_overlap']} images):")
    return lines + _metric_lines(rest)


def _metric_lines(metrics: dict[str, dict[str, float]]) -> list[str]:
    """One ``name  estimate%  [low, high]`` line per score."""
    line = "  {:<18} {:6.2f}%  [{:6.2f}, {:6.2f}]"
    return [
        line.format(name, 100 * m["estimate"], 100 * m["low"], 100 * m["high"])
        for name, m in metrics.items()
    ]


def write_evaluation(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` as JSON atomically."""
    return write_json(path, result)
