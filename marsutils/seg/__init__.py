"""Pixel-level evaluation on mars-orbital-seg-53: tiles, IoU, supervised training, pointing game.

* :mod:`.tiles` reads images, masks and LabelMe polygons as on disk.
* :mod:`.classes` maps mask ids to the four model classes (unlabelled and boulders -> ignored).
* :mod:`.folds` splits tiles into seeded k folds.
* :mod:`.dataset` gives augmented training crops and whole evaluation tiles as tensors.
* :mod:`.metrics` computes pixel IoU from a confusion matrix.
* :mod:`.train` fits and cross-validates dense models.
* :mod:`.pointing` scores saliency peaks against crater regions; :mod:`.windows` produces
  tile-sized saliency from a 227x227 classifier.
* :mod:`.classes` also gives the chapter's class shares and its example tiles.

Importing this package loads only its library modules (layer 2 of :mod:`marsutils.core.layers`). The
chapter's study, :mod:`.experiment` (the two studies, resumable, profile-driven), and its
figures, :mod:`.figures`, are imported on their own.
"""

from marsutils.seg.classes import (
    CLASS_NAMES,
    CRATER_MASK_ID,
    IGNORE_INDEX,
    NUM_CLASSES,
    class_share_table,
    example_tiles,
    to_model_targets,
)
from marsutils.seg.dataset import SegCropDataset, SegTileDataset
from marsutils.seg.folds import tile_folds
from marsutils.seg.metrics import (
    IoUScores,
    PixelIoU,
    iou_from_confusion,
    pixel_confusion_matrix,
    pixel_iou,
)
from marsutils.seg.pointing import (
    PointingResult,
    edge_map,
    pointing_game,
    saliency_peaks,
    target_regions,
)
from marsutils.seg.tiles import (
    SegTile,
    load_class_table,
    load_tiles,
    parse_labelme,
    rasterize_polygons,
)
from marsutils.seg.train import (
    CrossValidation,
    SegFit,
    cross_validate,
    evaluate_segmentation,
    fit_segmentation,
    predict_tiles,
)
from marsutils.seg.windows import tile_saliency, window_starts

__all__ = [
    "CLASS_NAMES",
    "CRATER_MASK_ID",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "CrossValidation",
    "IoUScores",
    "PixelIoU",
    "PointingResult",
    "SegCropDataset",
    "SegFit",
    "SegTile",
    "SegTileDataset",
    "class_share_table",
    "cross_validate",
    "edge_map",
    "example_tiles",
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
    "saliency_peaks",
    "target_regions",
    "tile_folds",
    "tile_saliency",
    "to_model_targets",
    "window_starts",
]
