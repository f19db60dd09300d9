"""A trained classifier scored on any labelled folder of any supported layout (library layer).

``python -m marsutils evaluate --run-dir RUN --model-key KEY --data-dir DIR`` (or
``--checkpoint .../best_model.pt``; :mod:`marsutils.cli.main`) loads the weights with
``weights_only=True``, rebuilds the model from the ``done.json`` written beside them by
:func:`~marsutils.train.fit`, matches the folder's classes to the model's **by name**
(:func:`~marsutils.data.classes.match_classes`), and reports accuracy, balanced accuracy, macro F1
and mean IoU, each with a percentile bootstrap interval that resamples whole twin families
(:func:`clustered_bootstrap_ci`), plus the confusion matrix and the classes that did not match.

Images whose class the model does not know (v1's ``edge`` for a v3.2 model) are counted and left
out. **Classes of the model with no true image among the scored ones** (``swiss cheese`` and
``spider`` for v1 data; v1's ``impact``, which the shared v1 copy has no image of) are listed
("no image of: ...") and left out of every macro average (balanced accuracy, macro F1, mean
IoU): the averages run over the classes present in ``y_true``, as scikit-learn's
``labels=present`` gives. Predicting such a class still counts as an error: it lowers the
accuracy and the recall of the true class.

**Overlap with the training data.** For a checkpoint inside a run folder, :func:`training_images`
finds the train and val images of its split file (in a training folder checked against the split
file's data fingerprint), and the result counts the scored images that are twins of them (same
name in the same folder, same bytes, or a dihedral thumbnail match:
:mod:`marsutils.data.overlap`) and scores the scored images outside their twin families beside
the whole folder.

This is the public face; import from here. The code, one job a module:
:mod:`~marsutils.evaluate.checkpoint` (a checkpoint into a classifier),
:mod:`~marsutils.evaluate.folder` (scoring a folder), :mod:`~marsutils.evaluate.scores` (the
scores and their intervals), :mod:`~marsutils.evaluate.overlap` (the overlap with the training
images) and :mod:`~marsutils.evaluate.report` (the text report and the JSON file).
"""

from marsutils.evaluate.checkpoint import load_classifier
from marsutils.evaluate.folder import evaluate_folder
from marsutils.evaluate.overlap import TrainingImages, training_images
from marsutils.evaluate.report import format_evaluation, write_evaluation
from marsutils.evaluate.scores import clustered_bootstrap_ci, confusion_scores

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
