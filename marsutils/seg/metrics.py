"""Pixel intersection-over-union from a confusion matrix, one-shot or accumulated over images.

IoU of class ``c`` is ``TP / (TP + FP + FN)`` over all pixels seen, where pixels whose true label is
``ignore_index`` (unlabelled) are left out entirely, whatever was predicted there. A class that is
neither present nor predicted has an undefined IoU (``nan``) and is skipped by the mean
(``nanmean``); a class that is predicted but absent scores 0. This is the *absent skipped*
convention of :func:`marsutils.stats.metrics.jaccard_per_class` (the classification chapters'
image-level "mean IoU" counts such a class as 0 instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from marsutils.stats.metrics import jaccard_per_class, mean_over_classes

__all__ = ["IoUScores", "PixelIoU", "iou_from_confusion", "pixel_confusion_matrix", "pixel_iou"]

ArrayLike = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class IoUScores:
    """Per-class IoU (``nan`` where undefined), their mean, and the confusion matrix behind them
    (rows true class, columns predicted class)."""

    per_class: np.ndarray
    miou: float
    confusion: np.ndarray

    def as_dict(self, class_names: tuple[str, ...] | None = None) -> dict[str, float | None]:
        """``{class name: IoU}`` (None for undefined) plus ``"mIoU"``, ready for JSON."""
        names = class_names or tuple(str(i) for i in range(len(self.per_class)))
        out: dict[str, float | None] = {
            name: None if np.isnan(v) else float(v)
            for name, v in zip(names, self.per_class, strict=True)
        }
        out["mIoU"] = None if np.isnan(self.miou) else float(self.miou)
        return out


def _as_flat_int(values: ArrayLike, name: str) -> np.ndarray:
    if torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class ids, got dtype {values.dtype}.")
    return values.reshape(-1).astype(np.int64)


def pixel_confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, *, num_classes: int, ignore_index: int | None = 255
) -> np.ndarray:
    """``(num_classes, num_classes)`` pixel counts, rows true and columns predicted class.

    ``y_true`` and ``y_pred`` are integer label maps of the same shape (any number of images).
    Pixels with ``y_true == ignore_index`` are skipped. Any other value outside
    ``[0, num_classes)`` raises ``ValueError``.
    """
    true = _as_flat_int(y_true, "y_true")
    pred = _as_flat_int(y_pred, "y_pred")
    if np.shape(y_true) != np.shape(y_pred):
        raise ValueError(f"y_true {np.shape(y_true)} and y_pred {np.shape(y_pred)} differ.")
    if ignore_index is not None:
        keep = true != ignore_index
        true, pred = true[keep], pred[keep]
    for name, values in (("y_true", true), ("y_pred", pred)):
        bad = (values < 0) | (values >= num_classes)
        if bad.any():
            raise ValueError(
                f"{name} holds ids {sorted(set(values[bad].tolist()))[:10]} outside "
                f"[0, {num_classes}) (ignore_index={ignore_index})."
            )
    counts = np.bincount(true * num_classes + pred, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def iou_from_confusion(confusion: np.ndarray) -> IoUScores:
    """Per-class IoU and mIoU from a pixel confusion matrix, a class absent from truth and
    prediction *skipped*.

    Parameters
    ----------
    confusion : array-like of int, shape (K, K)
        Pixel counts, rows true class, columns predicted class.

    Returns
    -------
    IoUScores
        ``per_class`` is :func:`marsutils.stats.metrics.jaccard_per_class` with
        ``zero_division=nan`` (the project's one IoU definition; NaN for a class neither present nor
        predicted) and ``miou`` its mean over the defined classes
        (:func:`marsutils.stats.metrics.mean_over_classes`).
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    per_class = jaccard_per_class(confusion, zero_division=np.nan)
    miou = float(mean_over_classes(per_class))
    return IoUScores(per_class=per_class, miou=miou, confusion=confusion)


def pixel_iou(
    y_true: ArrayLike, y_pred: ArrayLike, *, num_classes: int, ignore_index: int | None = 255
) -> IoUScores:
    """Per-class pixel IoU and mIoU over all pixels of ``y_true``/``y_pred`` (see module doc)."""
    return iou_from_confusion(
        pixel_confusion_matrix(y_true, y_pred, num_classes=num_classes, ignore_index=ignore_index)
    )


class PixelIoU:
    """Streaming version of :func:`pixel_iou`: ``update`` per batch, ``compute`` at the end.

    IoU is computed from the summed confusion matrix (pooled over pixels), not averaged per image.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far."""
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, y_true: ArrayLike, y_pred: ArrayLike) -> None:
        """Add the pixels of one batch of label maps."""
        self.confusion += pixel_confusion_matrix(
            y_true, y_pred, num_classes=self.num_classes, ignore_index=self.ignore_index
        )

    def compute(self) -> IoUScores:
        """IoU over everything added since the last reset."""
        return iou_from_confusion(self.confusion)
