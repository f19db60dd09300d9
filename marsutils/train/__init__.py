"""Training: the shared ``fit()`` engine, the training state, epoch and epoch loop it is made of,
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
from marsutils.train.state import (
    BatchLoss,
    EpochLosses,
    EpochRun,
    LossStep,
    TrainState,
    run_epochs,
    train_one_epoch,
)

__all__ = [
    "BatchLoss",
    "CheckpointError",
    "EpochLosses",
    "EpochRun",
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
    "run_epochs",
    "seed_everything",
    "train_one_epoch",
]
