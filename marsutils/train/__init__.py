"""Training: the shared ``fit()`` engine, checkpoints, schedules and runtime settings."""

from .checkpoint import CheckpointError
from .engine import FitConfig, FitResult, TrainingInterrupted, fit, predict_proba
from .runtime import (
    autocast,
    choose_precision,
    comparison_tolerance,
    resolve_device,
    resolve_precision,
    seed_everything,
)

__all__ = [
    "CheckpointError",
    "FitConfig",
    "FitResult",
    "TrainingInterrupted",
    "autocast",
    "choose_precision",
    "comparison_tolerance",
    "fit",
    "predict_proba",
    "resolve_device",
    "resolve_precision",
    "seed_everything",
]
