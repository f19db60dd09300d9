"""Which test images to explain: a seeded, class-stratified sample that includes mistakes.

Explaining every test image is too slow on a CPU, and a random sample of an imbalanced test set
would be mostly the majority class and mostly correct predictions. :func:`select_images` instead
takes the classes in turn (in a seeded random order) and, within each class, alternates correct
and misclassified predictions, so that the sample covers as many classes as the budget allows,
about evenly, with about as many wrong as correct predictions where the class has them.
"""

from __future__ import annotations

from itertools import zip_longest

import numpy as np
import pandas as pd

__all__ = ["select_images"]


def _interleave(first: list[int], second: list[int]) -> list[int]:
    """``first[0], second[0], first[1], second[1], ...``, then the rest of the longer list."""
    return [i for pair in zip_longest(first, second) for i in pair if i is not None]


def select_images(predictions: pd.DataFrame, n_images: int, *, seed: int = 0) -> pd.DataFrame:
    """Choose ``n_images`` rows of ``predictions`` (``y_true``, ``y_pred`` and ``image``).

    Round robin over the true classes, visited in a seeded random order: each round takes one more
    image from every class that has any left. Within a class the images alternate between correct
    and misclassified ones (each kind in a seeded random order); the first pick is correct for
    every other class in the visiting order and wrong for the others, so even a sample smaller
    than the number of classes holds both kinds. A class short of one kind continues with the
    other. Asking for more images than there are returns them all.

    Returns the chosen rows (all columns kept, plus a boolean ``correct``) sorted by true class,
    correct first, then image; the index is reset.
    """
    missing = {"image", "y_true", "y_pred"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions table lacks column(s) {sorted(missing)}")
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1; got {n_images}")
    if predictions.empty:
        raise ValueError("predictions table is empty: there is nothing to choose from")
    table = predictions.reset_index(drop=True)
    table = table.assign(correct=table["y_true"].to_numpy() == table["y_pred"].to_numpy())
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(table["y_true"].to_numpy()))
    queues: list[list[int]] = []
    for position, cls in enumerate(classes):
        of_class = table["y_true"].to_numpy() == cls
        right = np.flatnonzero(of_class & table["correct"].to_numpy())
        wrong = np.flatnonzero(of_class & ~table["correct"].to_numpy())
        right, wrong = list(rng.permutation(right)), list(rng.permutation(wrong))
        queues.append(_interleave(right, wrong) if position % 2 == 0 else _interleave(wrong, right))
    chosen: list[int] = []
    depth = 0
    while len(chosen) < min(n_images, len(table)):
        for queue in queues:
            if depth < len(queue) and len(chosen) < n_images:
                chosen.append(int(queue[depth]))
        depth += 1
    picked = table.iloc[chosen]
    order = picked.sort_values(
        ["y_true", "correct", "image"], ascending=[True, False, True], kind="stable"
    )
    return order.reset_index(drop=True)
