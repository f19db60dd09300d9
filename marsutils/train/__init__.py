"""Training: the shared ``fit()`` engine, the training state and epoch it is built from,
checkpoints, schedules and runtime settings."""

from marsutils.train.checkpoint import CheckpointError
from marsutils.train.engine import FitConfig, FitResult, TrainingInterrupted, fit, predict_proba
from marsutils.train.runtime import (
    autocast,
    choose_precision,
    comparison_tolerance,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from marsutils.train.state import BatchLoss, EpochLosses, LossStep, TrainState, train_one_epoch

__all__ = [
    "BatchLoss",
    "CheckpointError",
    "EpochLosses",
    "FitConfig",
    "FitResult",
    "LossStep",
    "TrainState",
    "TrainingInterrupted",
    "autocast",
    "choose_precision",
    "comparison_tolerance",
    "fit",
    "predict_proba",
    "resolve_device",
    "resolve_precision",
    "seed_everything",
    "train_one_epoch",
]
