"""Supervised training and held-out evaluation of dense models on the segmentation tiles.

A model is any ``nn.Module`` giving ``(B, C, H, W)`` class scores at its input size: by default
``model.forward_dense(x)`` when the model is a :class:`~marsutils.models.protocol.DenseScorer`
(every model of :func:`~marsutils.models.build_model` is), else ``model(x)`` (plain
segmentation-models-pytorch models); pass ``forward=lambda model, x: ...`` for anything else.
``C`` must be :data:`~marsutils.seg.classes.NUM_CLASSES` (4).

Training uses the steps of the classifier engine (:mod:`marsutils.train.state`): a
:class:`~marsutils.train.state.TrainState` (AdamW, a per-step cosine learning-rate schedule
without warm-up, :func:`~marsutils.train.schedule.cosine`, and a gradient scaler that is enabled
only for fp16 on CUDA), the epoch loop :func:`~marsutils.train.state.run_epochs` and
:func:`~marsutils.train.state.train_one_epoch` over random augmented crops
(:class:`~marsutils.seg.dataset.SegCropDataset`) with the loss step
:func:`pixel_cross_entropy`: cross-entropy with ``ignore_index=255`` so unlabelled pixels
contribute nothing. Evaluation runs whole tiles (resized to ``image_size`` when given),
upsamples the scores bilinearly to the tile's native size and computes pixel IoU against the
original mask. With the same seed on CPU a run is repeatable bit for bit.

:func:`cross_validate` can keep every finished fold in a cache folder (its held-out IoU, history
and predicted masks), so an interrupted study continues where it stopped and a re-run only loads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as nnf
from torch import nn
from torch.utils.data import DataLoader

from marsutils.core.atomic import json_records, write_json
from marsutils.core.cache import CacheEntry, normalize_identity
from marsutils.core.progress import progress_bar
from marsutils.models.protocol import DenseScorer
from marsutils.seg.classes import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES
from marsutils.seg.dataset import SegCropDataset, SegTileDataset
from marsutils.seg.folds import tile_folds
from marsutils.seg.metrics import IoUScores, iou_from_confusion, pixel_iou
from marsutils.seg.tiles import SegTile, load_tiles
from marsutils.train import BatchLoss, EpochRun, LossStep, TrainState, run_epochs, train_one_epoch
from marsutils.train.runtime import (
    autocast,
    resolve_device,
    resolve_precision,
    seed_everything,
    to_channels_last,
)
from marsutils.train.schedule import cosine

__all__ = [
    "CrossValidation",
    "DenseForward",
    "SegConfig",
    "SegFit",
    "cross_validate",
    "dense_scores",
    "evaluate_segmentation",
    "fit_segmentation",
    "pixel_cross_entropy",
    "predict_tiles",
]

#: ``forward(model, x) -> (B, C, H, W)`` scores; adapts models with another dense entry point.
DenseForward = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def dense_scores(
    model: nn.Module,
    x: torch.Tensor,
    forward: DenseForward | None = None,
    num_classes: int = NUM_CLASSES,
) -> torch.Tensor:
    """Run the model's dense forward and check the ``(B, num_classes, H, W)`` contract.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`~marsutils.models.protocol.DenseScorer` (its ``forward_dense`` is used), or
        any model whose ``model(x)`` gives dense scores.
    x : Tensor of shape (B, 3, H, W)
        Input images.
    forward : callable, optional
        ``forward(model, x)`` used instead of either.
    num_classes : int, default=4
        The expected number of classes ``C``.

    Returns
    -------
    scores : Tensor of shape (B, num_classes, H, W)

    Raises
    ------
    ValueError
        When the scores are not a tensor of that shape.
    """
    if forward is not None:
        scores = forward(model, x)
    elif isinstance(model, DenseScorer):
        scores = model.forward_dense(x)
    else:
        scores = model(x)
    expected = (x.shape[0], num_classes, *x.shape[-2:])
    if not torch.is_tensor(scores) or tuple(scores.shape) != expected:
        got = tuple(scores.shape) if torch.is_tensor(scores) else type(scores).__name__
        raise ValueError(
            f"the model's dense forward must return scores of shape {expected} (batch, classes, "
            f"input height, input width), got {got}."
        )
    return scores


@dataclass
class SegFit:
    """Outcome of :func:`fit_segmentation`: per-epoch history, held-out pixel IoU and the
    predicted model class ids ``(N, H, W) uint8`` of the held-out tiles (in their order).

    ``cached`` says the fit was loaded from a :func:`cross_validate` cache, not trained now.
    """

    history: list[dict[str, float]]
    iou: IoUScores
    seconds: float
    class_names: tuple[str, ...] = CLASS_NAMES
    predictions: np.ndarray | None = field(default=None, repr=False)
    cached: bool = False

    @property
    def per_class_iou(self) -> dict[str, float | None]:
        """``{class: IoU}`` and ``"mIoU"`` on the held-out tiles."""
        return self.iou.as_dict(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "history": self.history,
            "iou": self.per_class_iou,
            "confusion": self.iou.confusion.tolist(),
            "seconds": self.seconds,
        }


@torch.no_grad()
def predict_tiles(
    model: nn.Module,
    tiles: Sequence[SegTile],
    *,
    image_size: int | None = None,
    batch_size: int = 4,
    device: str | torch.device | None = "cpu",
    forward: DenseForward | None = None,
    num_classes: int = NUM_CLASSES,
    precision: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted model class ids ``(N, H, W) uint8`` at native tile size, and the targets.

    Scores are computed at ``image_size`` (native when None) and upsampled bilinearly to the
    tile size before the argmax. ``precision``: see
    :func:`~marsutils.train.runtime.resolve_precision` (None: ``$MARS_PRECISION``, then auto).
    """
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    model = to_channels_last(model, device).eval()
    loader = DataLoader(SegTileDataset(tiles, image_size=image_size), batch_size=batch_size)
    predictions, targets = [], []
    for images, target in loader:
        x = images.to(device, memory_format=torch.channels_last)
        with autocast(device, precision):
            scores = dense_scores(model, x, forward, num_classes)
        scores = nnf.interpolate(
            scores.float(), size=target.shape[-2:], mode="bilinear", align_corners=False
        )
        predictions.append(scores.argmax(1).to(torch.uint8).cpu().numpy())
        targets.append(target.to(torch.uint8).numpy())
    return np.concatenate(predictions), np.concatenate(targets)


def evaluate_segmentation(
    model: nn.Module, tiles: Sequence[SegTile], **predict_kwargs: Any
) -> IoUScores:
    """Pixel IoU of ``model`` on whole ``tiles`` (unlabelled pixels ignored).

    ``predict_kwargs`` are those of :func:`predict_tiles` (``image_size``, ``batch_size``,
    ``device``, ``forward``, ``num_classes``, ``precision``).
    """
    predictions, targets = predict_tiles(model, tiles, **predict_kwargs)
    num_classes = predict_kwargs.get("num_classes", NUM_CLASSES)
    return pixel_iou(targets, predictions, num_classes=num_classes, ignore_index=IGNORE_INDEX)


def pixel_cross_entropy(
    device: torch.device,
    precision: str,
    *,
    forward: DenseForward | None = None,
    num_classes: int = NUM_CLASSES,
    ignore_index: int = IGNORE_INDEX,
) -> LossStep:
    """The loss step of dense training: per-pixel cross entropy of the dense scores.

    Parameters
    ----------
    device, precision : torch.device, str
        As for :func:`~marsutils.train.engine.image_cross_entropy`: the batch goes to
        ``device`` channels last, the forward pass runs in ``precision``, the loss in fp32.
    forward : callable, optional
        The dense forward (see :func:`dense_scores`).
    num_classes : int, default=4
        Classes of the dense scores.
    ignore_index : int, default=255
        Target value of unlabelled pixels, which contribute nothing.

    Returns
    -------
    loss_step : callable
        ``loss_step(model, (images, targets))`` (:data:`~marsutils.train.state.LossStep`) with
        ``images`` ``(B, 3, H, W)`` and ``targets`` ``(B, H, W)`` class ids; the loss is the mean
        over labelled pixels and its weight their count. A batch without labelled pixels gives
        None (it is skipped rather than make a NaN).
    """
    loss_fn = nn.CrossEntropyLoss(ignore_index=ignore_index)

    def loss_step(model: nn.Module, batch: Any) -> BatchLoss | None:
        images, targets = batch
        x = images.to(device, memory_format=torch.channels_last)
        y = targets.to(device)
        labelled = int((y != ignore_index).sum())
        if labelled == 0:
            return None
        with autocast(device, precision):
            scores = dense_scores(model, x, forward, num_classes)
        return BatchLoss(loss_fn(scores.float(), y), labelled)

    return loss_step


@dataclass(frozen=True)
class SegConfig:
    """The recipe of :func:`fit_segmentation` (its keyword arguments).

    Attributes
    ----------
    epochs : int, default=20
        Passes over the training crops; at least 1.
    crop : int or None, default=256
        Side of the square random crops, in pixels of the (resized) tile; None: whole tiles.
    batch_size : int, default=8
        Crops per optimiser step, and tiles per evaluation batch.
    lr : float, default=1e-3
        Peak learning rate of AdamW.
    seed : int, default=0
        Seeds every RNG (:func:`~marsutils.train.runtime.seed_everything`) and the crop order.
    device : str or torch.device, optional, default="cpu"
        See :func:`~marsutils.train.runtime.resolve_device`.
    image_size : int, optional
        Resizes tiles (training and evaluation alike) before cropping; the metric is always
        taken on the native-size masks.
    weight_decay : float, default=1e-4
        AdamW's decoupled weight decay.
    crops_per_tile : int, default=1
        Random crops of every tile per epoch.
    eval_every : int, default=0
        Also record the held-out mIoU every ``eval_every`` epochs in the history (0: only at
        the end).
    forward : callable, optional
        ``forward(model, x) -> (B, C, H, W)`` scores (see :func:`dense_scores`).
    num_classes : int, default=4
        Classes of the dense scores.
    progress : bool, default=False
        Show a progress bar over the epochs.
    precision : str, optional
        Resolved once (:func:`~marsutils.train.runtime.resolve_precision`; None:
        ``$MARS_PRECISION``, then auto) and used for training and evaluation.

    Raises
    ------
    ValueError
        When ``epochs < 1``.
    """

    epochs: int = 20
    crop: int | None = 256
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0
    device: str | torch.device | None = "cpu"
    image_size: int | None = None
    weight_decay: float = 1e-4
    crops_per_tile: int = 1
    eval_every: int = 0
    forward: DenseForward | None = None
    num_classes: int = NUM_CLASSES
    progress: bool = False
    precision: str | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}.")

    def crop_loader(self, tiles: Sequence[SegTile]) -> DataLoader:
        """The shuffled loader of random crops of ``tiles`` (its order seeded by ``seed``)."""
        dataset = SegCropDataset(
            tiles, crop=self.crop, image_size=self.image_size, crops_per_tile=self.crops_per_tile
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def predict_kwargs(self, device: torch.device, precision: str) -> dict[str, Any]:
        """The keyword arguments of :func:`predict_tiles` for the run's evaluations."""
        return {
            "image_size": self.image_size,
            "batch_size": self.batch_size,
            "device": device,
            "forward": self.forward,
            "num_classes": self.num_classes,
            "precision": precision,
        }


def fit_segmentation(
    model: nn.Module,
    train_tiles: Sequence[SegTile],
    val_tiles: Sequence[SegTile],
    **recipe: Any,
) -> SegFit:
    """Train ``model`` in place on crops of ``train_tiles``; report pixel IoU on ``val_tiles``.

    The steps are those of :func:`marsutils.train.fit`: a
    :class:`~marsutils.train.state.TrainState` (AdamW, cosine decay to 0 per batch without
    warm-up) through :func:`~marsutils.train.state.run_epochs`, each epoch
    :func:`~marsutils.train.state.train_one_epoch` with the loss step
    :func:`pixel_cross_entropy` and a record of its own; with the same seed on CPU a run is
    repeatable bit for bit.

    Parameters
    ----------
    model : torch.nn.Module
        A dense model (see the module docstring); trained in place.
    train_tiles, val_tiles : sequence of SegTile
        Training tiles (cropped) and held-out tiles (predicted whole).
    **recipe
        The fields of :class:`SegConfig`, each with its default there: ``epochs``, ``crop``,
        ``batch_size``, ``lr``, ``seed``, ``device``, ``image_size``, ``weight_decay``,
        ``crops_per_tile``, ``eval_every``, ``forward``, ``num_classes``, ``progress``,
        ``precision``.

    Returns
    -------
    fit : SegFit
        ``history`` has one record per epoch: ``epoch``, ``lr`` (at the epoch's start),
        ``train_loss`` (mean cross entropy per labelled pixel) and, where evaluated,
        ``val_miou``.

    Raises
    ------
    ValueError
        When ``epochs < 1``, or the model's dense scores do not have the shape
        ``(B, num_classes, H, W)``.
    TypeError
        For a keyword that is not a field of :class:`SegConfig`.
    """
    config = SegConfig(**recipe)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    seed_everything(config.seed)
    started = time.perf_counter()
    loader = config.crop_loader(train_tiles)
    model = to_channels_last(model, device)
    state = TrainState.new(
        model,
        lr=config.lr,
        weight_decay=config.weight_decay,
        total_steps=config.epochs * len(loader),
        device=device,
        schedule=cosine,
        precision=precision,
    )
    loss_step = pixel_cross_entropy(
        device, precision, forward=config.forward, num_classes=config.num_classes
    )
    evaluate = config.predict_kwargs(device, precision)
    run_epochs(
        state,
        config.epochs,
        lambda _: train_one_epoch(state, loader, loss_step),
        _dense_record(model, val_tiles, config, evaluate),
        progress=config.progress,
    )
    predictions, targets = predict_tiles(model, val_tiles, **evaluate)
    iou = pixel_iou(targets, predictions, num_classes=config.num_classes, ignore_index=IGNORE_INDEX)
    state.history[-1]["val_miou"] = iou.miou
    return SegFit(state.history, iou, time.perf_counter() - started, predictions=predictions)


def _dense_record(
    model: nn.Module, val_tiles: Sequence[SegTile], config: SegConfig, evaluate: dict[str, Any]
) -> Callable[[EpochRun], dict[str, float]]:
    """The record step of :func:`fit_segmentation`: ``epoch``, ``lr``, ``train_loss`` and, every
    ``eval_every`` epochs but the last, ``val_miou``."""

    def record_epoch(done: EpochRun) -> dict[str, float]:
        row = {"epoch": done.epoch, "lr": done.lr, "train_loss": done.losses.weighted_mean}
        every = config.eval_every
        if every and done.epoch % every == 0 and done.epoch != config.epochs:
            row["val_miou"] = evaluate_segmentation(model, val_tiles, **evaluate).miou
        return row

    return record_epoch


@dataclass
class CrossValidation:
    """Per-fold, per-class held-out IoU and its spread across folds.

    ``per_fold`` has columns ``fold, class, iou, n_val_tiles`` (``iou`` NaN where the class was
    neither present nor predicted in that fold's tiles). ``summary`` has one row per class plus
    ``mIoU`` with ``mean``, ``std`` (sample, ddof=1), ``min``, ``max`` and ``n_folds`` (folds where
    the IoU is defined). ``pooled`` is the IoU of the summed out-of-fold confusion matrices (every
    tile predicted once, by the model that did not see it).
    """

    per_fold: pd.DataFrame
    summary: pd.DataFrame
    pooled: IoUScores
    folds: list[dict[str, list[str]]]
    fits: list[SegFit] = field(repr=False)

    def out_of_fold_predictions(self) -> dict[str, np.ndarray]:
        """``{tile stem: predicted model class ids (H, W)}``, each by the fold that held it out."""
        out: dict[str, np.ndarray] = {}
        for fold, fit in zip(self.folds, self.fits, strict=True):
            if fit.predictions is None:
                raise ValueError("this cross-validation kept no predictions.")
            out.update(zip(fold["val"], fit.predictions, strict=True))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN written as null)."""
        return {
            "per_fold": json_records(self.per_fold),
            "summary": json_records(self.summary),
            "pooled": self.pooled.as_dict(CLASS_NAMES),
            "folds": self.folds,
            "fits": [fit.to_dict() for fit in self.fits],
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` atomically as JSON."""
        write_json(path, self.to_dict())


def _summarise(per_fold: pd.DataFrame) -> pd.DataFrame:
    grouped = per_fold.groupby("class", sort=False)["iou"]
    summary = grouped.agg(["mean", "std", "min", "max", "count"]).reset_index()
    return summary.rename(columns={"count": "n_folds"})


#: ``fit_segmentation`` arguments that do not change the result (left out of a fold's identity).
_NOT_IDENTITY = ("device", "progress", "forward")


def _fold_identity(
    cache_key: dict[str, Any] | None,
    fit_kwargs: dict[str, Any],
    seed: int,
    train: Sequence[SegTile],
    val: Sequence[SegTile],
) -> dict[str, Any]:
    """Everything that decides a fold's result, as plain JSON values."""
    identity = {
        "key": dict(cache_key or {}),
        "fit": {k: v for k, v in sorted(fit_kwargs.items()) if k not in _NOT_IDENTITY},
        "seed": seed,
        "train": [t.stem for t in train],
        "val": [t.stem for t in val],
    }
    return normalize_identity(identity)


def _fold_entry(cache_dir: str | os.PathLike, k: int) -> CacheEntry:
    """Fold ``k``'s entry: ``fold{k}.json`` (identity, IoU, history) and
    ``fold{k}_predictions.npz``."""
    return CacheEntry(cache_dir, f"fold{k}", arrays_suffix="_predictions")


def _save_fold(cache_dir: str | os.PathLike, k: int, identity: dict, fit: SegFit) -> None:
    _fold_entry(cache_dir, k).save(identity, {"predictions": fit.predictions}, fit.to_dict())


def _load_fold(cache_dir: str | os.PathLike, k: int, identity: dict) -> SegFit | None:
    """The cached fold ``k`` if it was made with exactly ``identity``, else None."""
    cached = _fold_entry(cache_dir, k).load(identity, arrays=("predictions",))
    if cached is None:
        return None
    record, arrays = cached
    return SegFit(
        history=record["history"],
        iou=iou_from_confusion(np.asarray(record["confusion"], dtype=np.int64)),
        seconds=float(record["seconds"]),
        predictions=arrays["predictions"],
        cached=True,
    )


def cross_validate(
    model_factory: Callable[[], nn.Module],
    *,
    folds: int | Sequence[tuple[np.ndarray, np.ndarray]] = 5,
    tiles: Sequence[SegTile] | None = None,
    seg_dir: str | os.PathLike | None = None,
    seed: int = 0,
    progress: bool = False,
    cache_dir: str | os.PathLike | None = None,
    cache_key: dict[str, Any] | None = None,
    **fit_kwargs: Any,
) -> CrossValidation:
    """k-fold cross-validation by tile of a fresh ``model_factory()`` model per fold.

    ``folds`` is the number of folds (seeded :func:`~marsutils.seg.folds.tile_folds`) or explicit
    ``(train_indices, val_indices)`` pairs. Fold ``k`` seeds everything with ``seed + k`` before
    building its model. ``fit_kwargs`` go to :func:`fit_segmentation` (``epochs``, ``crop``,
    ``batch_size``, ``lr``, ``device``, ``image_size``, ...).

    With ``cache_dir``, fold ``k`` is stored as ``fold{k}.json`` (IoU, history) and
    ``fold{k}_predictions.npz`` once trained, and loaded instead of retrained when its identity
    (``cache_key``, the fit arguments except device, the seed and the fold's tile stems) is
    unchanged. ``cache_key`` must name what ``model_factory`` builds (architecture, encoder,
    weights) and any ``forward`` adapter, which the cache cannot see.
    """
    tiles = list(tiles) if tiles is not None else load_tiles(seg_dir, with_polygons=False)
    splits = tile_folds(len(tiles), n_splits=folds, seed=seed) if isinstance(folds, int) else folds
    rows, fits, fold_stems = [], [], []
    confusion = None
    for k, (train_idx, val_idx) in enumerate(
        progress_bar(splits, desc="folds", disable=not progress)
    ):
        if set(np.asarray(train_idx).tolist()) & set(np.asarray(val_idx).tolist()):
            raise ValueError(f"fold {k}: a tile is in both the training and validation indices.")
        train = [tiles[i] for i in train_idx]
        val = [tiles[i] for i in val_idx]
        identity = _fold_identity(cache_key, fit_kwargs, seed + k, train, val)
        fit = _load_fold(cache_dir, k, identity) if cache_dir is not None else None
        if fit is None:
            seed_everything(seed + k)
            fit = fit_segmentation(model_factory(), train, val, seed=seed + k, **fit_kwargs)
            if cache_dir is not None:
                _save_fold(cache_dir, k, identity, fit)
        fits.append(fit)
        fold_stems.append({"train": [t.stem for t in train], "val": [t.stem for t in val]})
        confusion = fit.iou.confusion if confusion is None else confusion + fit.iou.confusion
        for name, value in fit.per_class_iou.items():
            rows.append(
                {
                    "fold": k,
                    "class": name,
                    "iou": float("nan") if value is None else value,
                    "n_val_tiles": len(val),
                }
            )
    per_fold = pd.DataFrame(rows)
    return CrossValidation(
        per_fold=per_fold,
        summary=_summarise(per_fold),
        pooled=iou_from_confusion(confusion),
        folds=fold_stems,
        fits=fits,
    )
