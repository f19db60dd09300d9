"""Which test images to explain or show: a seeded, class-stratified sample that includes mistakes.

The project's one example picker. Explaining every test image is too slow on a CPU, and a random
sample of an imbalanced test set would be mostly the majority class and mostly correct
predictions. :func:`select_images` instead visits the classes in a seeded random order and, within
each class, draws correct and misclassified predictions in a seeded random order, in one of two
modes:

* a budget (``n_images``): round robin over the classes, alternating correct and misclassified
  within each, so the sample covers as many classes as the budget allows, about evenly, with about
  as many wrong as correct predictions where the class has them (the images the explainability
  chapter explains);
* per class (``n_correct``, ``n_wrong``): the first ``n_correct`` correct and ``n_wrong``
  misclassified images of each class's draws (the examples the figures, the widget and the
  offline explorer show).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest

import numpy as np
import pandas as pd

__all__ = ["select_images"]


def _interleave(first: list[int], second: list[int]) -> list[int]:
    """``first[0], second[0], first[1], second[1], ...``, then the rest of the longer list."""
    return [i for pair in zip_longest(first, second) for i in pair if i is not None]


def select_images(
    predictions: pd.DataFrame,
    n_images: int | None = None,
    *,
    n_correct: int | None = None,
    n_wrong: int | None = None,
    classes: Sequence[int] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Choose rows of ``predictions``: ``n_images`` in all, or ``n_correct`` + ``n_wrong`` a class.

    The true classes are visited in a seeded random order; within a class the correct and the
    misclassified images are each shuffled with the same generator.

    * ``n_images``: round robin over the classes, each round taking one more image from every
      class that has any left. Within a class the images alternate between correct and
      misclassified ones; the first pick is correct for every other class in the visiting order
      and wrong for the others, so even a sample smaller than the number of classes holds both
      kinds. A class short of one kind continues with the other. Asking for more images than
      there are returns them all.
    * ``n_correct``, ``n_wrong`` (either may be 0; a missing one means 0): up to that many of
      each kind for every class; a class with too few of a kind gives what it has.

    Parameters
    ----------
    predictions : pandas.DataFrame
        One row per image with ``y_true`` and ``y_pred`` (class ids) and an identifying
        ``image`` (file name) or ``row`` (position) column.
    n_images : int, optional
        Total number of images (>= 1). Give either this or ``n_correct``/``n_wrong``.
    n_correct, n_wrong : int, optional
        Correct and misclassified images per true class (>= 0).
    classes : sequence of int, optional
        Only these true classes (default: every class of ``predictions``).
    seed : int, default 0
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same rows.

    Returns
    -------
    pandas.DataFrame
        The chosen rows (all columns kept, plus a boolean ``correct``) sorted by true class,
        correct first, then ``image`` (or ``row``); the index is reset.

    Raises
    ------
    ValueError
        A missing column, an empty table, both or neither of the two modes, or a count out of
        range.
    """
    key, per_class, n_correct, n_wrong = _check_request(predictions, n_images, n_correct, n_wrong)
    table = predictions.reset_index(drop=True)
    if classes is not None:
        table = table[table["y_true"].isin(list(classes))].reset_index(drop=True)
    if table.empty:
        raise ValueError("predictions table is empty: there is nothing to choose from")
    table = table.assign(correct=table["y_true"].to_numpy() == table["y_pred"].to_numpy())
    draws = _class_draws(table, np.random.default_rng(seed))
    if per_class:
        chosen = [int(i) for right, wrong in draws for i in (*right[:n_correct], *wrong[:n_wrong])]
    else:
        chosen = _round_robin(draws, min(n_images, len(table)))
    picked = table.iloc[chosen]
    order = picked.sort_values(
        ["y_true", "correct", key], ascending=[True, False, True], kind="stable"
    )
    return order.reset_index(drop=True)


def _check_request(
    predictions: pd.DataFrame, n_images: int | None, n_correct: int | None, n_wrong: int | None
) -> tuple[str, bool, int, int]:
    """The identifying column, whether per class, and the two counts (0 for None); or ValueError."""
    missing = {"y_true", "y_pred"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions table lacks column(s) {sorted(missing)}")
    key = "image" if "image" in predictions.columns else "row"
    if key not in predictions.columns:
        raise ValueError("predictions table needs an 'image' or 'row' column to identify images")
    per_class = n_correct is not None or n_wrong is not None
    if per_class == (n_images is not None):
        raise ValueError("give either n_images, or n_correct and/or n_wrong (per class)")
    if n_images is not None and n_images < 1:
        raise ValueError(f"n_images must be >= 1; got {n_images}")
    n_correct, n_wrong = n_correct or 0, n_wrong or 0
    if n_correct < 0 or n_wrong < 0:
        raise ValueError(f"n_correct and n_wrong must be >= 0; got {n_correct}, {n_wrong}")
    return key, per_class, n_correct, n_wrong


def _class_draws(table: pd.DataFrame, rng: np.random.Generator) -> list[tuple[list, list]]:
    """Per class in a seeded order: its shuffled correct and shuffled misclassified rows."""
    draws = []
    for cls in rng.permutation(np.unique(table["y_true"].to_numpy())):
        of_class = table["y_true"].to_numpy() == cls
        right = list(rng.permutation(np.flatnonzero(of_class & table["correct"].to_numpy())))
        wrong = list(rng.permutation(np.flatnonzero(of_class & ~table["correct"].to_numpy())))
        draws.append((right, wrong))
    return draws


def _round_robin(draws: list[tuple[list, list]], n_images: int) -> list[int]:
    """``n_images`` rows, one more from every class a round, correct and wrong alternating."""
    queues = [
        _interleave(right, wrong) if position % 2 == 0 else _interleave(wrong, right)
        for position, (right, wrong) in enumerate(draws)
    ]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < n_images:
        for queue in queues:
            if depth < len(queue) and len(chosen) < n_images:
                chosen.append(int(queue[depth]))
        depth += 1
    return chosen
