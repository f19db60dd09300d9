"""The external-validation chapter's study: a run's classifiers scored on a second release.

:mod:`.predictions` (every fold's model on the external folder, files beside each experiment's
own predictions), :mod:`.scores` (the scores, the drop per class, the comparisons again) and
:mod:`.study` (the overlap between the releases, the record, the command line
``python -m marsutils.study.external``).
"""

from marsutils.study.external.predictions import (
    EXTERNAL_MODELS,
    ExternalFolder,
    external_folder,
    external_specs,
    predict_external,
    read_external,
)
from marsutils.study.external.scores import class_drops, external_comparisons, model_scores
from marsutils.study.external.study import external_study, main, release_overlap

__all__ = [
    "EXTERNAL_MODELS",
    "ExternalFolder",
    "class_drops",
    "external_comparisons",
    "external_folder",
    "external_specs",
    "external_study",
    "main",
    "model_scores",
    "predict_external",
    "read_external",
    "release_overlap",
]
