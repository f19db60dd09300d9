"""The state of a training run and one epoch of training, shared by every training loop.

:class:`TrainState` holds what a run carries from one epoch to the next (model, AdamW optimiser,
per-batch learning-rate schedule, gradient scaler, history, epoch and the model-selection state)
and is what a checkpoint holds; :func:`train_one_epoch` runs one pass over a loader with any loss,
given as a *loss step* ``loss_step(model, batch) -> BatchLoss``; :func:`run_epochs` is the epoch
loop around it (resume from ``state.epoch``, early stop, the history record, what follows each
epoch). The image classifiers (:func:`marsutils.train.engine.fit`, loss step
:func:`~marsutils.train.engine.image_cross_entropy`) and the dense segmentation training
(:func:`marsutils.seg.train.fit_segmentation`, loss step
:func:`~marsutils.seg.train.pixel_cross_entropy`) are the same steps with another loss step and
another record.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from marsutils.core.progress import progress_bar
from marsutils.train.schedule import warmup_cosine

__all__ = [
    "BatchLoss",
    "EpochLosses",
    "EpochRun",
    "LossStep",
    "TrainState",
    "run_epochs",
    "train_one_epoch",
]


class BatchLoss(NamedTuple):
    """The loss of one training batch and its weight in the epoch's mean loss.

    Attributes
    ----------
    loss : Tensor
        A scalar fp32 tensor that gradients flow back from.
    weight : int
        What the batch counts for: its images (image classification) or its labelled pixels
        (dense training).
    """

    loss: torch.Tensor
    weight: int


#: ``loss_step(model, batch) -> BatchLoss`` moves one loader batch to the device, runs the
#: forward pass (under autocast) and returns the loss, or None to skip the batch (the schedule
#: still steps, so the learning rate follows the step count).
LossStep = Callable[[torch.nn.Module, Any], BatchLoss | None]


@dataclass
class EpochLosses:
    """The losses of one training epoch, batch by batch (skipped batches left out).

    Attributes
    ----------
    losses : list of float
        Each trained batch's loss.
    weights : list of int
        Each trained batch's :attr:`BatchLoss.weight`.
    seconds : float
        Wall-clock time of the epoch's training steps, in seconds.
    """

    losses: list[float] = dataclasses.field(default_factory=list)
    weights: list[int] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        """The summed batch weights (images or labelled pixels seen)."""
        return sum(self.weights)

    @property
    def mean(self) -> float:
        """The mean of the batch losses, each batch counting once (NaN without batches)."""
        return float(np.mean(self.losses)) if self.losses else float("nan")

    @property
    def weighted_mean(self) -> float:
        """The mean loss per weight unit (e.g. per labelled pixel); NaN without weight."""
        total, weight = 0.0, 0
        for loss, w in zip(self.losses, self.weights, strict=True):
            total += loss * w
            weight += w
        return total / weight if weight else float("nan")


@dataclass
class TrainState:
    """Everything a training run carries from one epoch to the next.

    It is what ``checkpoint.pt`` holds (:meth:`to_checkpoint`, :meth:`load`), so a run resumed
    from it continues bit for bit.

    Attributes
    ----------
    model : torch.nn.Module
        The model being trained.
    optimizer : torch.optim.Optimizer
        AdamW over the model's parameters.
    scheduler : torch.optim.lr_scheduler.LRScheduler
        The learning-rate schedule, stepped once per batch.
    scaler : torch.amp.GradScaler
        The gradient scaler; enabled only for fp16 (CUDA).
    history : list of dict
        One record per finished epoch.
    epoch : int
        Finished epochs.
    best_f1, best_epoch, bad_epochs : float, int, int
        The model-selection state: validation macro F1 and epoch (1-based) of the selected
        weights, and epochs since it last improved (early stopping).
    fingerprint : str
        The run's identity (:func:`~marsutils.train.engine.run_fingerprint`); a checkpoint
        of another one is refused.
    precision, precision_reason : str
        The resolved precision of the run and why it was chosen.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    epoch: int = 0
    best_f1: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    fingerprint: str = ""
    precision: str = "fp32"
    precision_reason: str = ""

    @classmethod
    def new(
        cls,
        model: torch.nn.Module,
        *,
        lr: float,
        weight_decay: float,
        total_steps: int,
        device: torch.device,
        warmup_steps: int = 0,
        schedule: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        precision: str = "fp32",
        precision_reason: str = "",
        fingerprint: str = "",
    ) -> TrainState:
        """A fresh state: AdamW, a per-batch schedule and a gradient scaler.

        Parameters
        ----------
        model : torch.nn.Module
            The model, already on ``device``.
        lr : float
            Peak learning rate of AdamW.
        weight_decay : float
            AdamW's decoupled weight decay.
        total_steps : int
            Optimiser steps of the whole run (batches per epoch times epochs).
        device : torch.device
            The training device (the gradient scaler's device type).
        warmup_steps : int, default=0
            Linear warm-up steps of the default schedule.
        schedule : callable, optional
            ``schedule(optimizer, total_steps) -> LRScheduler``; default
            :func:`~marsutils.train.schedule.warmup_cosine` with ``warmup_steps``.
        precision : str, default="fp32"
            The resolved precision; ``"fp16"`` enables the gradient scaler.
        precision_reason : str, default=""
            Why that precision (stored in checkpoints).
        fingerprint : str, default=""
            The run's identity (stored in checkpoints).

        Returns
        -------
        state : TrainState
            At epoch 0 with an empty history.
        """
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        if schedule is None:
            scheduler = warmup_cosine(optimizer, total_steps, warmup_steps)
        else:
            scheduler = schedule(optimizer, total_steps)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        return cls(
            model,
            optimizer,
            scheduler,
            scaler,
            fingerprint=fingerprint,
            precision=precision,
            precision_reason=precision_reason,
        )

    @classmethod
    def from_checkpoint(
        cls, model: torch.nn.Module, checkpoint: dict[str, Any], **new: Any
    ) -> TrainState:
        """A state built by :meth:`new` (with ``new``'s arguments), then :meth:`load`-ed.

        Parameters
        ----------
        model : torch.nn.Module
            The model to restore into.
        checkpoint : dict
            What :meth:`to_checkpoint` returned (e.g. read by
            :func:`~marsutils.train.checkpoint.load_checkpoint`).
        **new
            Keyword arguments of :meth:`new`.

        Returns
        -------
        state : TrainState
        """
        state = cls.new(model, **new)
        state.load(checkpoint)
        return state

    def load(self, checkpoint: dict[str, Any]) -> None:
        """Restore the model, optimiser, schedule, scaler, global torch RNG and selection state.

        Parameters
        ----------
        checkpoint : dict
            What :meth:`to_checkpoint` returned.

        Raises
        ------
        KeyError
            When ``checkpoint`` lacks one of the entries of :meth:`to_checkpoint`.
        """
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        torch.set_rng_state(checkpoint["rng"])
        self.history = list(checkpoint["history"])
        self.epoch = int(checkpoint["epoch"])
        self.best_f1, self.best_epoch = float(checkpoint["best_f1"]), int(checkpoint["best_epoch"])
        self.bad_epochs = int(checkpoint["bad_epochs"])

    def to_checkpoint(self) -> dict[str, Any]:
        """The state as a ``torch.save``-able dict (tensors and plain values only).

        Returns
        -------
        checkpoint : dict
            ``model, optimizer, scheduler, scaler, rng`` (the global torch RNG now), ``history,
            epoch, best_f1, best_epoch, bad_epochs, fingerprint, precision, precision_reason``.
        """
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": torch.get_rng_state(),
            "history": self.history,
            "epoch": self.epoch,
            "best_f1": self.best_f1,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "fingerprint": self.fingerprint,
            "precision": self.precision,
            "precision_reason": self.precision_reason,
        }

    @property
    def lr(self) -> float:
        """The learning rate the schedule set last (of the first parameter group)."""
        return float(self.scheduler.get_last_lr()[0])


def train_one_epoch(
    state: TrainState,
    batches: Iterable[Any],
    loss_step: LossStep,
    *,
    on_batch: Callable[[EpochLosses], None] | None = None,
) -> EpochLosses:
    """One pass over ``batches``: forward, loss, backward and one optimiser and schedule step each.

    Parameters
    ----------
    state : TrainState
        The model, optimiser, schedule and scaler; updated in place (not ``state.epoch``).
    batches : iterable
        Loader batches (or a progress bar over them), each passed whole to ``loss_step``.
    loss_step : callable
        ``loss_step(model, batch) -> BatchLoss or None`` (:data:`LossStep`), e.g.
        :func:`~marsutils.train.engine.image_cross_entropy`. None skips the batch; the
        schedule still steps.
    on_batch : callable, optional
        Called with the losses so far after every trained batch (e.g. to show them on a
        progress bar).

    Returns
    -------
    losses : EpochLosses
        Each trained batch's loss and weight, and the seconds taken.
    """
    start = time.perf_counter()
    model, optimizer, scheduler, scaler = (
        state.model,
        state.optimizer,
        state.scheduler,
        state.scaler,
    )
    model.train()
    out = EpochLosses()
    for batch in batches:
        step = loss_step(model, batch)
        if step is None:
            scheduler.step()
            continue
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(step.loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        out.losses.append(step.loss.item())
        out.weights.append(step.weight)
        if on_batch is not None:
            on_batch(out)
    out.seconds = time.perf_counter() - start
    return out


@dataclass(frozen=True)
class EpochRun:
    """One trained epoch, as :func:`run_epochs` hands it to the record step.

    Attributes
    ----------
    epoch : int
        The epoch's number, 1-based (``state.epoch`` once it is trained).
    lr : float
        The learning rate at the epoch's start (the first parameter group's).
    losses : EpochLosses
        Its training losses.
    started : float
        :func:`time.perf_counter` at its start, in seconds.
    """

    epoch: int
    lr: float
    losses: EpochLosses
    started: float


def run_epochs(
    state: TrainState,
    epochs: int,
    train_epoch: Callable[[int], EpochLosses],
    record_epoch: Callable[[EpochRun], dict[str, float]],
    *,
    stop: Callable[[TrainState], bool] | None = None,
    after_epoch: Callable[[TrainState, dict[str, float]], None] | None = None,
    progress: bool = False,
) -> None:
    """The epoch loop of every training run: epochs ``state.epoch`` to ``epochs - 1``.

    Each epoch: ``stop(state)`` ends the loop when it is true; ``train_epoch(index)`` trains it
    (e.g. :func:`train_one_epoch` with a loss step); ``state.epoch`` becomes its 1-based number;
    ``record_epoch(run)`` gives its history record (the validation metrics included), which is
    appended to ``state.history``; then ``after_epoch(state, record)`` (model selection, a
    checkpoint, a line of progress).

    Parameters
    ----------
    state : TrainState
        Updated in place; a resumed state continues after its ``epoch``.
    epochs : int
        The run's number of epochs.
    train_epoch : callable
        ``train_epoch(index) -> EpochLosses`` for the 0-based epoch ``index``.
    record_epoch : callable
        ``record_epoch(run: EpochRun) -> dict``, the epoch's history record.
    stop : callable, optional
        Checked before each epoch (early stopping).
    after_epoch : callable, optional
        Called after each epoch's record is appended.
    progress : bool, default=False
        Show a progress bar over the epochs.
    """
    indices: Iterable[int] = range(state.epoch, epochs)
    if progress:
        indices = progress_bar(indices, desc="epochs")
    for index in indices:
        if stop is not None and stop(state):
            break
        started = time.perf_counter()
        lr = state.optimizer.param_groups[0]["lr"]
        losses = train_epoch(index)
        state.epoch = index + 1
        record = record_epoch(EpochRun(state.epoch, lr, losses, started))
        state.history.append(record)
        if after_epoch is not None:
            after_epoch(state, record)
