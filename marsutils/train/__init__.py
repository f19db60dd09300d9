"""Training: the shared ``fit()`` engine, checkpoints, schedules and runtime settings."""

from .checkpoint import CheckpointError
from .engine import FitConfig, FitResult, TrainingInterrupted, fit, predict_proba
from .runtime import autocast, resolve_device, seed_everything

__all__ = [
    "CheckpointError",
    "FitConfig",
    "FitResult",
    "TrainingInterrupted",
    "autocast",
    "fit",
    "predict_proba",
    "resolve_device",
    "seed_everything",
]
