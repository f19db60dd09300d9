"""Wall-clock timing of inference runners, interleaved so that all see the same load."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from marsutils.train.runtime import time_interleaved_steps

__all__ = ["Timing", "time_interleaved"]


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of each timed run of one batch (warm-up runs excluded)."""

    batch_size: int
    seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """Median seconds per batch."""
        return statistics.median(self.seconds)

    @property
    def ms_per_image(self) -> float:
        """Median milliseconds per image."""
        return 1000.0 * self.median_s / self.batch_size

    @property
    def images_per_s(self) -> float:
        """Images per second at the median batch time."""
        return self.batch_size / self.median_s


def time_interleaved(
    runners: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
    images: torch.Tensor,
    *,
    repeats: int = 10,
    warmup: int = 3,
) -> dict[str, Timing]:
    """Time every runner on ``images``, alternating runners within each repeat.

    Each runner first gets ``warmup`` untimed runs; then ``repeats`` rounds time one run of each
    runner in turn, so that load changes on a shared machine affect all runners alike
    (:func:`marsutils.train.runtime.time_interleaved_steps`).
    """
    steps = {name: (lambda run=run: run(images)) for name, run in runners.items()}
    seconds = time_interleaved_steps(steps, rounds=repeats, warmup=warmup)
    return {name: Timing(len(images), tuple(s)) for name, s in seconds.items()}
