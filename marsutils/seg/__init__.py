"""Pixel-level evaluation on mars-orbital-seg-53: tiles, IoU, supervised training, pointing game.

* :mod:`.tiles` reads images, masks and LabelMe polygons as on disk.
* :mod:`.classes` maps mask ids to the four model classes (unlabelled and boulders -> ignored).
* :mod:`.folds` splits tiles into seeded k folds.
* :mod:`.dataset` gives augmented training crops and whole evaluation tiles as tensors.
* :mod:`.metrics` computes pixel IoU from a confusion matrix.
* :mod:`.train` fits and cross-validates dense models.
* :mod:`.pointing` scores saliency peaks against crater regions; :mod:`.windows` produces
  tile-sized saliency from a 227x227 classifier.
* :mod:`.experiment` runs the chapter's two studies (resumable, profile-driven);
  :mod:`.figures` draws them (imported on its own, so this package does not load matplotlib).
"""

from .classes import CLASS_NAMES, CRATER_MASK_ID, IGNORE_INDEX, NUM_CLASSES, to_model_targets
from .dataset import SegCropDataset, SegTileDataset
from .experiment import (
    POINTING_LABELS,
    POINTING_METHODS,
    SEG_MODEL_LABELS,
    SEG_MODELS,
    PointingStudy,
    SegStudy,
    run_pointing_study,
    run_seg_study,
    select_tiles,
)
from .folds import tile_folds
from .metrics import IoUScores, PixelIoU, iou_from_confusion, pixel_confusion_matrix, pixel_iou
from .pointing import PointingResult, edge_map, pointing_game, saliency_peaks, target_regions
from .tiles import SegTile, load_class_table, load_tiles, parse_labelme, rasterize_polygons
from .train import (
    CrossValidation,
    SegFit,
    cross_validate,
    evaluate_segmentation,
    fit_segmentation,
    predict_tiles,
)
from .windows import tile_saliency, window_starts

__all__ = [
    "CLASS_NAMES",
    "CRATER_MASK_ID",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "POINTING_LABELS",
    "POINTING_METHODS",
    "SEG_MODELS",
    "SEG_MODEL_LABELS",
    "CrossValidation",
    "IoUScores",
    "PixelIoU",
    "PointingResult",
    "PointingStudy",
    "SegCropDataset",
    "SegFit",
    "SegStudy",
    "SegTile",
    "SegTileDataset",
    "cross_validate",
    "edge_map",
    "evaluate_segmentation",
    "fit_segmentation",
    "iou_from_confusion",
    "load_class_table",
    "load_tiles",
    "parse_labelme",
    "pixel_confusion_matrix",
    "pixel_iou",
    "pointing_game",
    "predict_tiles",
    "rasterize_polygons",
    "run_pointing_study",
    "run_seg_study",
    "saliency_peaks",
    "select_tiles",
    "target_regions",
    "tile_folds",
    "tile_saliency",
    "to_model_targets",
    "window_starts",
]
