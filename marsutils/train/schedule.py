"""Learning-rate schedules, stepped per batch: linear warm-up then cosine decay to zero (the
classifiers), and plain cosine decay to zero (the dense segmentation training)."""

from __future__ import annotations

import math

import torch

__all__ = ["cosine", "warmup_cosine"]


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` rising linearly over ``warmup_steps`` then following a half cosine to 0."""
    total_steps = max(1, total_steps)
    warmup_steps = min(max(0, warmup_steps), total_steps - 1)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def cosine(
    optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.CosineAnnealingLR:
    """Cosine decay to 0 over ``total_steps`` batches, without warm-up.

    PyTorch's :class:`~torch.optim.lr_scheduler.CosineAnnealingLR` (``T_max=total_steps``,
    ``eta_min=0``), which updates the rate recursively: the same curve as
    :func:`warmup_cosine` with no warm-up up to rounding, kept for the segmentation training so
    its results stay bit for bit those of its first runs.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Its learning rate at construction is the peak.
    total_steps : int
        Batches of the whole run (at least 1 is used).

    Returns
    -------
    scheduler : torch.optim.lr_scheduler.CosineAnnealingLR
    """
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps))
