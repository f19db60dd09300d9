"""The HiRISE landmark data layer: layouts, label files, class matching, validation, image cache,
twin families and splits."""

from marsutils.data.classes import V1_CLASS_NAMES, ClassMatch, match_classes
from marsutils.data.errors import DataError
from marsutils.data.imagecache import load_images
from marsutils.data.layouts import LandmarkDataset, load_dataset
from marsutils.data.locate import locate_data_dir, locate_external_dir, locate_seg_dir
from marsutils.data.prepare import PreparedData, prepare_data
from marsutils.data.splits import SPLIT_KINDS, leakage_report, load_split, make_split, save_split
from marsutils.data.twins import find_families
from marsutils.data.validate import verify_manifest

__all__ = [
    "SPLIT_KINDS",
    "V1_CLASS_NAMES",
    "ClassMatch",
    "DataError",
    "LandmarkDataset",
    "PreparedData",
    "find_families",
    "leakage_report",
    "load_dataset",
    "load_images",
    "load_split",
    "locate_data_dir",
    "locate_external_dir",
    "locate_seg_dir",
    "make_split",
    "match_classes",
    "prepare_data",
    "save_split",
    "verify_manifest",
]
