"""Pixel IoU on hand-computed cases and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import jaccard_score

from marsutils.seg.metrics import PixelIoU, pixel_confusion_matrix, pixel_iou


def test_hand_case_with_ignored_pixel_and_absent_class() -> None:
    y_true = np.array([[0, 0, 1], [1, 2, 255]])
    y_pred = np.array([[0, 1, 1], [1, 0, 2]])  # the prediction under 255 must not count
    scores = pixel_iou(y_true, y_pred, num_classes=4)
    # class 0: TP 1, FP 1, FN 1; class 1: TP 2, FP 1; class 2: TP 0, FN 1; class 3: nothing.
    np.testing.assert_allclose(scores.per_class[:3], [1 / 3, 2 / 3, 0.0])
    assert np.isnan(scores.per_class[3])
    assert scores.miou == pytest.approx(1 / 3)
    assert scores.confusion.sum() == 5


def test_predicted_but_absent_class_scores_zero() -> None:
    scores = pixel_iou(np.array([0, 0, 1]), np.array([0, 2, 1]), num_classes=3)
    np.testing.assert_allclose(scores.per_class, [0.5, 1.0, 0.0])
    assert scores.miou == pytest.approx(0.5)


def test_accumulator_pools_pixels_and_accepts_tensors() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=(3, 8, 8))
    y_true[0, :2] = 255
    y_pred = rng.integers(0, 4, size=(3, 8, 8))
    meter = PixelIoU(num_classes=4)
    for t, p in zip(y_true, y_pred, strict=True):
        meter.update(torch.from_numpy(t), torch.from_numpy(p))
    pooled = meter.compute()
    one_shot = pixel_iou(y_true, y_pred, num_classes=4)
    np.testing.assert_array_equal(pooled.confusion, one_shot.confusion)
    keep = y_true != 255
    expected = jaccard_score(y_true[keep], y_pred[keep], labels=[0, 1, 2, 3], average=None)
    np.testing.assert_allclose(pooled.per_class, expected)
    meter.reset()
    assert meter.compute().confusion.sum() == 0


def test_bad_ids_and_shapes_raise() -> None:
    with pytest.raises(ValueError, match="y_true holds ids"):
        pixel_confusion_matrix(np.array([0, 7]), np.array([0, 1]), num_classes=4)
    with pytest.raises(ValueError, match="y_pred holds ids"):
        pixel_confusion_matrix(np.array([0, 1]), np.array([0, 4]), num_classes=4)
    with pytest.raises(ValueError, match="differ"):
        pixel_iou(np.zeros((2, 2), int), np.zeros(4, int), num_classes=2)
    with pytest.raises(TypeError, match="integer"):
        pixel_iou(np.zeros(2), np.zeros(2), num_classes=2)
