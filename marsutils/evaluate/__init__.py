"""A trained classifier scored on any labelled folder (library layer).

The public face of :mod:`marsutils.evaluate.folder`, the module that holds the code; import from
here. ``python -m marsutils evaluate`` is its command line (:mod:`marsutils.cli.main`).
"""

from marsutils.evaluate.folder import (
    TrainingImages,
    clustered_bootstrap_ci,
    confusion_scores,
    evaluate_folder,
    format_evaluation,
    load_classifier,
    training_images,
    write_evaluation,
)

__all__ = [
    "TrainingImages",
    "clustered_bootstrap_ci",
    "confusion_scores",
    "evaluate_folder",
    "format_evaluation",
    "load_classifier",
    "training_images",
    "write_evaluation",
]
