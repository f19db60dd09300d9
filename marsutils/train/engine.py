"""One ``fit()`` for every image classifier: balanced sampling, AdamW, warm-up + cosine, a stated
model-selection rule, atomic per-epoch checkpoints and exact resume.

Model selection (``FitConfig.selection``):

* ``"last"`` (the default): the whole budget is trained and the model is the final weights. The
  validation set is used only for the learning curve (and the plateau rule of
  :mod:`marsutils.stats.plateau`), never to choose weights, so a noisy validation metric cannot
  pick a lucky epoch and the test set is touched once. With a cosine schedule that decays to zero
  the last epochs move the weights little.
* ``"best_val_macro_f1"``: the weights of the epoch with the best validation macro F1, with early
  stopping after ``patience`` epochs without improvement (the rule of the first published run;
  on a validation set of a few hundred images a handful of rare-class images decide it).

Files written to ``out_dir``:

* ``checkpoint.pt``: the state after the last finished epoch (model, optimiser, schedule,
  history, RNG), replaced atomically every epoch; ``fit(..., resume=True)`` continues from it.
* ``best_model.pt``: the selected weights (the final ones under ``selection="last"``).
* ``history.json``: per-epoch loss, validation metrics, learning rate, epoch time and images/s.
* ``predictions_val.csv`` and ``predictions_test.csv``: ``image, row, y_true, y_pred, prob_k``.
* ``done.json``: written last; a finished run with the same fingerprint is not trained again.
  It records the precision the run used (``precision``, ``precision_reason``).

Precision: :func:`fit` resolves it once (:func:`~marsutils.train.runtime.choose_precision`:
``FitConfig.precision``, then ``$MARS_PRECISION``, then ``"auto"``, which on a CPU with native
bf16 probes a few training steps of this model in fp32 and bf16 and caches the faster per
machine), stores it in every checkpoint, and uses it for training and for its predictions. A
resumed run keeps the precision stored in its checkpoint; when the one resolved now differs it
warns and records why in ``done.json`` (``precision_note``). The precision is not part of the
run's fingerprint: it changes speed, not the experiment.

Steps (public within :mod:`marsutils.train`; :func:`fit` composes them, and
:func:`marsutils.seg.train.fit_segmentation` is the same state, epoch and epoch loop with its
own loss step and record):

* :class:`~marsutils.train.state.TrainState` (:mod:`marsutils.train.state`): model, optimiser,
  schedule, gradient scaler, history, epoch and the model-selection state;
  ``new``, ``from_checkpoint`` and ``to_checkpoint`` (what ``checkpoint.pt`` holds);
* :func:`~marsutils.train.state.train_one_epoch`: one pass over a loader with any loss step
  (here :func:`image_cross_entropy`); :func:`classifier_state` and
  :func:`train_classifier_epoch` build the classifier's state and epoch from them;
* :func:`~marsutils.train.state.run_epochs`: the epoch loop (on from ``state.epoch``, early
  stopping, the history record, then what follows each epoch);
* :func:`validate`: the validation metrics of the epoch record;
* :func:`select_weights` and :func:`early_stop`: the model-selection rule;
* :func:`save_epoch`: ``checkpoint.pt`` and ``history.json``;
* :func:`finish`: the selected weights, the predictions and ``done.json``;
  :func:`load_finished` returns a finished run from its files.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score

from marsutils.core.atomic import atomic_write, read_json, write_json
from marsutils.core.layout import ExperimentFiles
from marsutils.core.progress import progress_bar
from marsutils.data.batches import (
    BatchDataset,
    derive_seed,
    dihedral_view,
    epoch_batches,
    eval_batches,
    make_augment,
    make_loader,
)
from marsutils.train.checkpoint import (
    CheckpointError,
    config_fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from marsutils.train.runtime import (
    PrecisionChoice,
    autocast,
    choose_precision,
    probe_key,
    probe_training_speed,
    requested_precision,
    resolve_device,
    resolve_precision,
)
from marsutils.train.state import BatchLoss, TrainState, run_epochs, train_one_epoch

if TYPE_CHECKING:  # names of annotations only
    from marsutils.train.state import EpochLosses, EpochRun, LossStep

__all__ = [
    "FitConfig",
    "FitFiles",
    "FitResult",
    "TrainingInterrupted",
    "classifier_state",
    "early_stop",
    "finish",
    "fit",
    "image_cross_entropy",
    "load_finished",
    "predict_proba",
    "predictions_frame",
    "run_fingerprint",
    "run_precision",
    "save_epoch",
    "save_weights",
    "select_weights",
    "split_parts",
    "train_classifier_epoch",
    "validate",
]


class TrainingInterrupted(RuntimeError):
    """Raised when ``stop_after_epoch`` ends a run early (used to test resuming)."""


@dataclass(frozen=True)
class FitConfig:
    """The training recipe; :meth:`from_profile` fills it from a profile.

    ``precision`` is ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA), ``"auto"`` or None (read
    ``$MARS_PRECISION``, default ``"auto"``); see :mod:`marsutils.train.runtime`.
    ``mixed_precision=False`` forces fp32 whatever ``precision`` says.
    """

    epochs: int = 3
    batch_size: int = 48
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    patience: int = 3
    balance_power: float = 0.5
    label_smoothing: float = 0.0
    image_size: int = 160
    rotation: float = 15.0
    seed: int = 0
    num_workers: int = 1
    eval_batch_size: int = 128
    mixed_precision: bool = True
    samples_per_epoch: int | None = None
    precision: str | None = None
    selection: str = "last"

    #: The model-selection rules (see the module docstring).
    SELECTIONS = ("last", "best_val_macro_f1")
    #: Fields that do not change the experiment, only how fast it runs: left out of the
    #: fingerprint of a run (a run resumed under another precision is the same run).
    RUNTIME_FIELDS = ("precision",)

    def __post_init__(self) -> None:
        if self.selection not in self.SELECTIONS:
            raise ValueError(
                f"selection must be one of {list(self.SELECTIONS)}; got {self.selection!r}"
            )

    @classmethod
    def from_profile(cls, profile: Any, seed: int = 0, **overrides: Any) -> FitConfig:
        """Take every shared field from ``profile``; ``overrides`` win."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in profile.as_dict().items() if k in names}
        values["seed"] = seed
        values.update(overrides)
        return cls(**values)


@dataclass
class FitResult:
    """What :func:`fit` returns: the history, the best epoch and the saved predictions."""

    out_dir: Path
    history: list[dict[str, float]]
    best_epoch: int
    best_val_macro_f1: float
    test_predictions: pd.DataFrame
    val_predictions: pd.DataFrame
    resumed_from_epoch: int = 0
    trained: bool = True
    precision: str = "fp32"
    precision_reason: str = ""


def _prepare(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def predict_proba(
    model: torch.nn.Module,
    images: np.ndarray,
    rows: np.ndarray,
    *,
    image_size: int,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    precision: str | None = None,
    num_workers: int = 0,
    views: int = 1,
) -> np.ndarray:
    """Softmax probabilities ``(len(rows), K)`` for the cached images at ``rows``.

    ``precision``: the resolved precision of the run (``"fp32"``, ``"bf16"``, ``"fp16"``); None
    resolves ``$MARS_PRECISION`` (see :func:`~marsutils.train.runtime.resolve_precision`). The
    probabilities are always computed in fp32 from the logits.

    ``views > 1`` averages the probabilities over the first ``views`` dihedral views (quarter
    turns, then flipped quarter turns; see :func:`~marsutils.data.batches.dihedral_view`):
    test-time augmentation with the symmetries the data set itself was augmented with.
    """
    if not 1 <= views <= 8:
        raise ValueError(f"views must be 1-8 (dihedral views); got {views}")
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    model.eval()
    data = BatchDataset(images, rows, np.zeros(len(rows), dtype=np.int64), image_size)
    out = []
    for x, _, _ in make_loader(data, eval_batches(len(rows), batch_size), num_workers):
        probs = 0.0
        for index in range(views):
            with autocast(device, precision):
                logits = model(_prepare(dihedral_view(x, index), device))
            probs = probs + torch.softmax(logits.float(), dim=1).cpu()
        out.append(probs / views)
    return torch.cat(out).numpy()


def predictions_frame(part: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """``image, row, y_true, y_pred, prob_k`` for the images of ``part`` (which has ``label``)."""
    frame = pd.DataFrame(
        {
            "image": part["image"].to_numpy(),
            "row": part["row"].to_numpy(),
            "y_true": part["label"].to_numpy(),
            "y_pred": probs.argmax(axis=1),
        }
    )
    for k in range(probs.shape[1]):
        frame[f"prob_{k}"] = probs[:, k]
    return frame


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def _split_identity(split: pd.DataFrame) -> str:
    cols = split[["row", "label", "subset"]].astype(str).agg("|".join, axis=1)
    return config_fingerprint({"rows": "\n".join(cols)})


def _recipe(config: FitConfig) -> dict[str, Any]:
    """The fields of ``config`` that define the experiment (its runtime fields left out)."""
    values = dataclasses.asdict(config)
    for name in FitConfig.RUNTIME_FIELDS:
        values.pop(name)
    return values


def _policy_key(
    model: torch.nn.Module, config: FitConfig, device: torch.device, model_config: dict | None
) -> dict[str, Any]:
    """What ``"auto"``'s measured precision is cached under: this backbone, size and batch."""
    described = {**getattr(model, "config", {}), **(model_config or {})}
    backbone = described.get("backbone") or type(model).__name__
    if described.get("name"):  # e.g. "full/resnet50", "unet/resnet50": their costs differ
        backbone = f"{described['name']}/{backbone}"
    return probe_key(str(backbone), config.image_size, _probe_batch(config), device)


def _probe_batch(config: FitConfig) -> int:
    """The batch size of the precision probe."""
    return min(config.batch_size, 32)


def _timed_probe(
    model: torch.nn.Module, config: FitConfig, device: torch.device
) -> Callable[[tuple[str, ...]], dict[str, float]]:
    """``"auto"``'s probe: a few timed training steps of ``model`` in each candidate precision."""

    def probe(candidates: tuple[str, ...]) -> dict[str, float]:
        return probe_training_speed(
            model,
            candidates,
            image_size=config.image_size,
            batch_size=_probe_batch(config),
            device=device,
        )

    return probe


#: The files :func:`fit` writes in its output folder, named in :mod:`marsutils.core.layout`.
FitFiles = ExperimentFiles


def split_parts(split: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The train, val and test rows of ``split``, each re-indexed from 0.

    Parameters
    ----------
    split : DataFrame
        One row per image with at least the columns ``row``, ``image``, ``label`` and
        ``subset`` (``"train"``, ``"val"`` or ``"test"``).

    Returns
    -------
    parts : dict of str to DataFrame
        ``{"train": ..., "val": ..., "test": ...}``.

    Raises
    ------
    ValueError
        When one of the three parts has no images.
    """
    parts = {
        s: split[split["subset"] == s].reset_index(drop=True) for s in ("train", "val", "test")
    }
    for name, part in parts.items():
        if part.empty:
            raise ValueError(f"the split has no {name} images")
    return parts


def run_fingerprint(
    config: FitConfig,
    model: torch.nn.Module,
    model_config: dict[str, Any] | None,
    split: pd.DataFrame,
) -> str:
    """The identity of a run: its recipe (runtime fields left out), model and split.

    Parameters
    ----------
    config : FitConfig
        The training recipe; its :attr:`FitConfig.RUNTIME_FIELDS` do not count.
    model : torch.nn.Module
        The model; only its class name counts, and only when ``model_config`` is None.
    model_config : dict or None
        The model's description (e.g. the arguments of ``build_model``).
    split : DataFrame
        The split (columns ``row``, ``label``, ``subset`` count).

    Returns
    -------
    fingerprint : str
        16 hexadecimal digits (:func:`~marsutils.train.checkpoint.config_fingerprint`).
    """
    return config_fingerprint(
        {
            "fit": _recipe(config),
            "model": model_config or {"class": type(model).__name__},
            "split": _split_identity(split),
        }
    )


def image_cross_entropy(
    device: torch.device, precision: str, label_smoothing: float = 0.0
) -> LossStep:
    """The loss step of image classification: cross entropy of ``model(x)``'s logits.

    Parameters
    ----------
    device : torch.device
        Where the batch goes (channels-last images).
    precision : str
        The resolved precision of the forward pass (``"fp32"``, ``"bf16"`` or ``"fp16"``); the
        loss is always computed in fp32 from the logits.
    label_smoothing : float, default=0.0
        Passed to :func:`torch.nn.functional.cross_entropy`.

    Returns
    -------
    loss_step : callable
        ``loss_step(model, (x, y, rows))`` with ``x`` ``(B, 3, H, W)`` float images and ``y``
        ``(B,)`` class ids; the batch weight is ``B``.
    """

    def loss_step(model: torch.nn.Module, batch: Any) -> BatchLoss:
        x, y, _ = batch
        x, y = _prepare(x, device), y.to(device)
        with autocast(device, precision):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        return BatchLoss(loss, len(y))

    return loss_step


def classifier_state(
    model: torch.nn.Module,
    config: FitConfig,
    *,
    steps_per_epoch: int,
    device: torch.device,
    choice: PrecisionChoice,
    fingerprint: str,
    checkpoint: dict[str, Any] | None,
) -> TrainState:
    """The state of a classifier run: resumed from ``checkpoint``, or new.

    A new state seeds torch's global RNG with ``derive_seed(config.seed, 3)`` (the
    augmentation's draws); a resumed one restores the RNG stored in the checkpoint.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, on ``device``.
    config : FitConfig
        ``lr``, ``weight_decay``, ``epochs``, ``warmup_fraction`` and ``seed`` count.
    steps_per_epoch : int
        Batches per epoch; the schedule spans ``steps_per_epoch * config.epochs`` batches, the
        first ``round(config.warmup_fraction * total)`` of them warm-up.
    device : torch.device
    choice : PrecisionChoice
        The run's precision (:func:`run_precision`).
    fingerprint : str
        The run's identity (:func:`run_fingerprint`).
    checkpoint : dict or None
        A loaded ``checkpoint.pt`` of this run.

    Returns
    -------
    state : TrainState
    """
    total_steps = steps_per_epoch * config.epochs
    new = {
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "total_steps": total_steps,
        "warmup_steps": round(config.warmup_fraction * total_steps),
        "device": device,
        "precision": choice.precision,
        "precision_reason": choice.reason,
        "fingerprint": fingerprint,
    }
    if checkpoint is not None:
        return TrainState.from_checkpoint(model, checkpoint, **new)
    state = TrainState.new(model, **new)
    torch.manual_seed(derive_seed(config.seed, 3))
    return state


def train_classifier_epoch(
    state: TrainState,
    train_data: BatchDataset,
    labels: np.ndarray,
    config: FitConfig,
    epoch: int,
    steps_per_epoch: int,
    loss_step: LossStep,
    *,
    progress: bool = False,
) -> EpochLosses:
    """One epoch of a classifier: the class-balanced batch plan of ``epoch``, then
    :func:`~marsutils.train.state.train_one_epoch` over it.

    Parameters
    ----------
    state : TrainState
        Updated in place.
    train_data : BatchDataset
        The training images with their augmentation.
    labels : ndarray of shape (n_train,)
        Their class ids, for the class-balanced sampling.
    config : FitConfig
        ``batch_size``, ``seed``, ``balance_power``, ``num_workers`` and ``epochs`` count.
    epoch : int
        The epoch's index (0-based); with ``config.seed`` it fixes the plan
        (:func:`~marsutils.data.batches.epoch_batches`).
    steps_per_epoch : int
        The plan is cut to this many batches.
    loss_step : callable
        E.g. :func:`image_cross_entropy`.
    progress : bool, default=False
        Show a progress bar with the running loss.

    Returns
    -------
    losses : EpochLosses
    """
    plan = epoch_batches(labels, config.batch_size, config.seed, epoch, config.balance_power)
    plan = plan[:steps_per_epoch]
    # progress_bar iterates the loader once whatever the display (see its docstring): the
    # DataLoader's base seed is drawn from the global RNG once per epoch in every mode.
    bar = progress_bar(
        make_loader(train_data, plan, config.num_workers),
        total=len(plan),
        desc=f"epoch {epoch + 1}/{config.epochs}",
        disable=not progress,
        leave=False,
    )
    return train_one_epoch(
        state,
        bar,
        loss_step,
        on_batch=lambda so_far: bar.set_postfix(loss=f"{np.mean(so_far.losses[-20:]):.3f}"),
    )


def validate(
    model: torch.nn.Module, images: np.ndarray, val: pd.DataFrame, **predict: Any
) -> dict[str, float]:
    """The validation metrics of an epoch record.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (switched to eval mode).
    images : ndarray of shape (N, H, W), dtype uint8
        The decoded image cache.
    val : DataFrame
        The validation images: columns ``row`` (index into ``images``) and ``label``.
    **predict
        Keyword arguments of :func:`predict_proba`: ``image_size`` (required), ``batch_size``,
        ``device``, ``precision``.

    Returns
    -------
    metrics : dict of str to float
        ``val_loss`` (mean negative log-likelihood of the true class, probabilities clamped at
        1e-12), ``val_accuracy`` and ``val_macro_f1`` (scikit-learn's ``f1_score(...,
        average="macro", zero_division=0)``), in that order.
    """
    probs = predict_proba(model, images, val["row"].to_numpy(), **predict)
    y_val, p_val = val["label"].to_numpy(), probs.argmax(1)
    val_loss = float(
        F.nll_loss(torch.from_numpy(probs).clamp_min(1e-12).log(), torch.tensor(y_val))
    )
    with warnings.catch_warnings():  # tiny (smoke) validation sets may lack classes
        warnings.simplefilter("ignore", UserWarning)
        macro_f1 = float(f1_score(y_val, p_val, average="macro", zero_division=0))
    return {
        "val_loss": val_loss,
        "val_accuracy": float(accuracy_score(y_val, p_val)),
        "val_macro_f1": macro_f1,
    }


def select_weights(state: TrainState, selection: str, macro_f1: float, best_path: Path) -> None:
    """The model-selection step after an epoch's validation (see the module docstring).

    Parameters
    ----------
    state : TrainState
        Its ``epoch`` is the epoch just finished; its selection state is updated in place.
    selection : str
        ``"last"``: the epoch is selected whatever its score (written at the end of the run).
        ``"best_val_macro_f1"``: it is selected, and its weights written to ``best_path``, when
        its validation macro F1 beats the best so far by more than 1e-9; otherwise
        ``bad_epochs`` grows.
    macro_f1 : float
        The epoch's validation macro F1.
    best_path : Path
        Where the selected weights go (``best_model.pt``).

    Raises
    ------
    ValueError
        For an unknown ``selection``.
    """
    if selection == "last":
        state.best_f1, state.best_epoch = macro_f1, state.epoch
    elif selection == "best_val_macro_f1":
        if macro_f1 > state.best_f1 + 1e-9:
            state.best_f1, state.best_epoch, state.bad_epochs = macro_f1, state.epoch, 0
            save_weights(best_path, state)
        else:
            state.bad_epochs += 1
    else:
        raise ValueError(
            f"selection must be one of {list(FitConfig.SELECTIONS)}; got {selection!r}"
        )


def early_stop(state: TrainState, config: FitConfig) -> bool:
    """True when ``config.selection`` stops early and ``config.patience`` epochs passed without
    improvement."""
    return config.selection == "best_val_macro_f1" and state.bad_epochs >= config.patience


def save_weights(path: Path, state: TrainState) -> None:
    """Write the model's weights and the run's fingerprint to ``path`` (``best_model.pt``)."""
    save_checkpoint(path, {"model": state.model.state_dict(), "fingerprint": state.fingerprint})


def save_epoch(files: FitFiles, state: TrainState) -> None:
    """The checkpoint step: write ``checkpoint.pt`` then ``history.json``, each atomically."""
    save_checkpoint(files.checkpoint, state.to_checkpoint())
    write_json(files.history, state.history)


def run_precision(
    model: torch.nn.Module,
    config: FitConfig,
    device: torch.device,
    model_config: dict[str, Any] | None,
    probe: Callable[[tuple[str, ...]], dict[str, float]] | None,
    checkpoint: dict[str, Any] | None,
    out_dir: Path,
) -> tuple[PrecisionChoice, str | None]:
    """The run's precision and, for a resumed run whose request now differs, a note saying so.

    A resumed run keeps the precision stored in its checkpoint: under ``"auto"`` without
    probing again; under a forced other precision with a ``UserWarning`` and the note.

    Returns
    -------
    choice : PrecisionChoice
    note : str or None
        What ``done.json`` records as ``precision_note``.
    """
    stored = checkpoint.get("precision") if checkpoint is not None else None
    requested = requested_precision(config.precision if config.mixed_precision else "fp32")[0]
    if stored is not None and requested == "auto":
        # "auto" resumes with the checkpoint's precision without probing again
        reason = str(checkpoint.get("precision_reason", "stored in the checkpoint"))
        return PrecisionChoice(stored, "auto", "checkpoint", reason), None
    if not config.mixed_precision:
        choice = PrecisionChoice("fp32", "fp32", "argument", "forced by mixed_precision=False")
    else:
        choice = choose_precision(
            config.precision,
            device,
            key=_policy_key(model, config, device, model_config),
            probe=probe if probe is not None else _timed_probe(model, config, device),
        )
    if stored is None or stored == choice.precision:
        return choice, None
    note = (
        f"resumed with the checkpoint's precision {stored}; {choice.precision} "
        f"({choice.reason}) applies to new runs only"
    )
    warnings.warn(f"{out_dir}: {note}", UserWarning, stacklevel=4)  # fit's caller
    reason = str(checkpoint.get("precision_reason", "stored in the checkpoint"))
    return PrecisionChoice(stored, choice.requested, "checkpoint", reason), note


@dataclass(frozen=True)
class _FitRun:
    """The inputs of one :func:`fit` call, resolved (its files, device, parts and identity)."""

    model: torch.nn.Module
    images: np.ndarray
    split: pd.DataFrame
    parts: dict[str, pd.DataFrame]
    config: FitConfig
    files: FitFiles
    model_config: dict[str, Any] | None
    device: torch.device
    progress: bool
    fingerprint: str

    @classmethod
    def open(
        cls,
        model: torch.nn.Module,
        images: np.ndarray,
        split: pd.DataFrame,
        config: FitConfig,
        out_dir: str | Path,
        model_config: dict[str, Any] | None,
        device: str | torch.device | None,
        progress: bool,
    ) -> _FitRun:
        """Create the run's folder, resolve the device, split the parts (checking that none is
        empty), fingerprint the run and move ``model`` to the device, channels last."""
        files = FitFiles(Path(out_dir))
        files.folder.mkdir(parents=True, exist_ok=True)
        device = resolve_device(device)
        parts = split_parts(split)
        fingerprint = run_fingerprint(config, model, model_config, split)
        model.to(device=device, memory_format=torch.channels_last)
        return cls(
            model, images, split, parts, config, files, model_config, device, progress, fingerprint
        )


def _retrain_weights(run: _FitRun) -> None:
    """Train a finished run again (its weights were lost) and keep the weights if they
    reproduce the recorded test predictions; ``run.model`` ends with those weights.

    The run is trained in the precision and with the torch thread count its ``done.json``
    records (the thread count changes the order of floating-point sums, so another count gives
    other weights); the caller's thread count is restored afterwards."""
    import shutil

    files, scratch = run.files, FitFiles(run.files.folder / "retrain")
    print(f"{files.folder}: the weights are missing; training the run again to restore them")
    done = read_json(files.done)
    config = run.config
    recorded_precision = done.get("precision")
    if recorded_precision:  # the precision it was trained in, not a new probe's choice
        config = dataclasses.replace(config, precision=recorded_precision)
    threads_before = torch.get_num_threads()
    recorded_threads = done.get("torch_threads")
    if run.device.type == "cpu" and isinstance(recorded_threads, int) and recorded_threads > 0:
        torch.set_num_threads(recorded_threads)
    try:
        redo = fit(
            run.model,
            run.images,
            run.split,
            config,
            scratch.folder,
            model_config=run.model_config,
            device=run.device,
            progress=run.progress,
        )
    finally:
        torch.set_num_threads(threads_before)
    recorded = pd.read_csv(files.predictions("test"))
    same = redo.test_predictions["y_pred"].equals(recorded["y_pred"]) and np.allclose(
        redo.test_predictions.filter(like="prob_").to_numpy(),
        recorded.filter(like="prob_").to_numpy(),
        rtol=0,
        atol=1e-6,
    )
    if not same:
        raise CheckpointError(
            f"{files.folder}: training the run again did not reproduce its recorded test "
            f"predictions (torch threads now {torch.get_num_threads()}; the record says "
            f"{done.get('torch_threads', 'not recorded')}), so the new weights in "
            f"{scratch.folder} were not used. Train with the recorded thread count and precision "
            "on the same kind of CPU, or delete the folder to train it anew."
        )
    os.replace(scratch.best, files.best)
    shutil.rmtree(scratch.folder)
    run.model.load_state_dict(load_checkpoint(files.best, run.fingerprint)["model"])


def load_finished(
    model: torch.nn.Module,
    files: FitFiles,
    fingerprint: str,
    *,
    need_weights: bool,
    retrain: Callable[[], None],
) -> FitResult:
    """A finished run from its records; ``model`` gets its selected weights when there are any.

    Parameters
    ----------
    model : torch.nn.Module
        Receives the weights of ``best_model.pt``.
    files : FitFiles
        The run's files; ``done.json`` must exist.
    fingerprint : str
        The identity the run must have.
    need_weights : bool
        When ``best_model.pt`` is missing: call ``retrain()`` (True) or keep ``model``'s initial
        weights (False, a records-only run).
    retrain : callable
        Restores the weights into ``model`` (:func:`fit` passes its ``_retrain_weights``).

    Returns
    -------
    result : FitResult
        With ``trained=False``.

    Raises
    ------
    CheckpointError
        When the finished run has another fingerprint.
    """
    done = read_json(files.done)
    if done.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"{files.folder} holds a finished run of a different configuration; "
            "delete it or use another run directory"
        )
    if files.best.is_file():
        model.load_state_dict(load_checkpoint(files.best, fingerprint)["model"])
    elif need_weights:
        retrain()
    return FitResult(
        files.folder,
        read_json(files.history),
        int(done["best_epoch"]),
        float(done["best_val_macro_f1"]),
        pd.read_csv(files.predictions("test")),
        pd.read_csv(files.predictions("val")),
        resumed_from_epoch=int(done["epochs_run"]),
        trained=False,
        precision=str(done.get("precision", "fp32")),
        precision_reason=str(done.get("precision_reason", "")),
    )


def finish(
    state: TrainState,
    images: np.ndarray,
    parts: dict[str, pd.DataFrame],
    config: FitConfig,
    files: FitFiles,
    *,
    choice: PrecisionChoice,
    precision_note: str | None,
    model_config: dict[str, Any] | None,
    device: torch.device,
    resumed_from: int,
) -> FitResult:
    """The end of a run: the selected weights, the val and test predictions, then ``done.json``.

    Under ``selection="best_val_macro_f1"`` the model is given the weights of ``best_model.pt``;
    under ``"last"`` its final weights are written there. The predictions are written with
    :func:`predictions_frame` and read back, so they equal what a later load returns.

    Returns
    -------
    result : FitResult
        With ``trained=True``.
    """
    model = state.model
    if config.selection == "best_val_macro_f1":
        model.load_state_dict(load_checkpoint(files.best, state.fingerprint)["model"])
    else:  # the final weights (also after a resume that found every epoch done)
        save_weights(files.best, state)
    t_eval = time.perf_counter()
    frames = {}
    for name in ("val", "test"):
        probs = predict_proba(
            model,
            images,
            parts[name]["row"].to_numpy(),
            image_size=config.image_size,
            batch_size=config.eval_batch_size,
            device=device,
            precision=state.precision,
        )
        _write_csv(files.predictions(name), predictions_frame(parts[name], probs))
        frames[name] = pd.read_csv(files.predictions(name))  # identical to a later load
    history = state.history
    write_json(
        files.done,
        {
            "fingerprint": state.fingerprint,
            "selection": config.selection,
            "best_epoch": state.best_epoch,
            "best_val_macro_f1": state.best_f1,
            "epochs_run": len(history),
            "config": dataclasses.asdict(config),
            "model": model_config,
            "device": str(device),
            "precision": state.precision,
            "precision_reason": choice.reason,
            "precision_timings": choice.timings,
            "precision_note": precision_note,
            "torch_threads": torch.get_num_threads(),
            "train_time_s": float(sum(h["epoch_time_s"] for h in history)),
            "final_predict_s": time.perf_counter() - t_eval,
        },
    )
    return FitResult(
        files.folder,
        history,
        state.best_epoch,
        state.best_f1,
        frames["test"],
        frames["val"],
        resumed_from,
        precision=state.precision,
        precision_reason=choice.reason,
    )


def _epoch_line(record: dict[str, float]) -> str:
    """The line :func:`fit` prints after an epoch (with ``progress``)."""
    return (
        f"epoch {record['epoch']}: loss {record['train_loss']:.4f}  val acc "
        f"{record['val_accuracy']:.4f}  val macro-F1 {record['val_macro_f1']:.4f}  "
        f"{record['images_per_s']:.1f} img/s"
    )


def _classifier_epochs(
    state: TrainState, run: _FitRun, steps_per_epoch: int, stop_after_epoch: int | None
) -> None:
    """The classifier's :func:`~marsutils.train.state.run_epochs`: train, validate, select the
    weights, write the checkpoint, report."""
    config, train, files = run.config, run.parts["train"], run.files
    labels = train["label"].to_numpy()
    train_data = BatchDataset(
        run.images, train["row"], labels, config.image_size, make_augment(config.rotation)
    )
    loss_step = image_cross_entropy(run.device, state.precision, config.label_smoothing)
    predict = {
        "image_size": config.image_size,
        "batch_size": config.eval_batch_size,
        "device": run.device,
        "precision": state.precision,
    }

    def train_epoch(epoch: int) -> EpochLosses:
        return train_classifier_epoch(
            state,
            train_data,
            labels,
            config,
            epoch,
            steps_per_epoch,
            loss_step,
            progress=run.progress,
        )

    def record_epoch(done: EpochRun) -> dict[str, float]:
        metrics = validate(state.model, run.images, run.parts["val"], **predict)
        return {
            "epoch": done.epoch,
            "train_loss": done.losses.mean,
            **metrics,
            "lr": state.lr,
            "epoch_time_s": time.perf_counter() - done.started,
            "images_per_s": done.losses.count / done.losses.seconds,
        }

    def after_epoch(state: TrainState, record: dict[str, float]) -> None:
        select_weights(state, config.selection, record["val_macro_f1"], files.best)
        save_epoch(files, state)
        if run.progress:
            print(_epoch_line(record))
        if stop_after_epoch is not None and state.epoch == stop_after_epoch:
            raise TrainingInterrupted(f"stopped after epoch {state.epoch} as asked")

    run_epochs(
        state,
        config.epochs,
        train_epoch,
        record_epoch,
        stop=lambda state: early_stop(state, config),
        after_epoch=after_epoch,
    )


def _train(
    run: _FitRun,
    *,
    resume: bool,
    stop_after_epoch: int | None,
    precision_probe: Callable[[tuple[str, ...]], dict[str, float]] | None,
) -> FitResult:
    """Train ``run`` anew, or on from its ``checkpoint.pt`` with ``resume``; then finish it."""
    files, config = run.files, run.config
    checkpoint = (
        load_checkpoint(files.checkpoint, run.fingerprint)
        if resume and files.checkpoint.is_file()
        else None
    )
    choice, precision_note = run_precision(
        run.model, config, run.device, run.model_config, precision_probe, checkpoint, files.folder
    )
    steps_per_epoch = -(-(config.samples_per_epoch or len(run.parts["train"])) // config.batch_size)
    state = classifier_state(
        run.model,
        config,
        steps_per_epoch=steps_per_epoch,
        device=run.device,
        choice=choice,
        fingerprint=run.fingerprint,
        checkpoint=checkpoint,
    )
    resumed_from = state.epoch
    _classifier_epochs(state, run, steps_per_epoch, stop_after_epoch)
    return finish(
        state,
        run.images,
        run.parts,
        config,
        files,
        choice=choice,
        precision_note=precision_note,
        model_config=run.model_config,
        device=run.device,
        resumed_from=resumed_from,
    )


def fit(
    model: torch.nn.Module,
    images: np.ndarray,
    split: pd.DataFrame,
    config: FitConfig,
    out_dir: str | Path,
    *,
    model_config: dict[str, Any] | None = None,
    device: str | torch.device | None = None,
    resume: bool = True,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    precision_probe: Callable[[tuple[str, ...]], dict[str, float]] | None = None,
    need_weights: bool = True,
) -> FitResult:
    """Train ``model`` on ``split``'s train part, validate on its val part, predict its test part.

    A finished run is loaded (:func:`load_finished`); any other is trained by the steps of the
    module docstring, on from its ``checkpoint.pt`` where it has one.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 3, image_size, image_size)`` images to logits ``(B, K)``; trained in place.
    images : ndarray of shape (N, H, W), dtype uint8
        The decoded image cache.
    split : DataFrame
        Columns ``row`` (index into ``images``), ``image``, ``label`` (0..K-1) and ``subset``
        (``"train"``, ``"val"``, ``"test"``).
    config : FitConfig
        The recipe; ``config.precision`` as in the module docstring.
    out_dir : path
        The run's folder (created); see :class:`FitFiles`.
    model_config : dict, optional
        The model's description, part of the fingerprint and of ``done.json``.
    device : str or torch.device, optional
        See :func:`~marsutils.train.runtime.resolve_device`.
    resume : bool, default=True
        Load a finished run with the same fingerprint instead of training it, and continue an
        interrupted one from its last checkpoint.
    progress : bool, default=True
        Show progress bars and one line per epoch.
    stop_after_epoch : int, optional
        Raise :class:`TrainingInterrupted` after this epoch's checkpoint (to test resuming).
    precision_probe : callable, optional
        ``precision_probe(candidates) -> {precision: images/s}`` replaces the timed probe of
        ``"auto"`` (tests inject fake timings with it).
    need_weights : bool, default=True
        For a finished run whose folder holds its records but not its weights (a published
        run's): False returns it from its records (``model`` keeps its initial weights); True
        trains it again in ``<out_dir>/retrain`` and keeps the weights only if they reproduce
        the recorded test predictions exactly (same seed, recipe and thread count).

    Returns
    -------
    result : FitResult

    Raises
    ------
    CheckpointError
        When ``out_dir`` holds a run of another configuration, or retrained weights do not
        reproduce the recorded predictions.
    ValueError
        When the split has no train, val or test images.
    TrainingInterrupted
        After ``stop_after_epoch``.
    """
    run = _FitRun.open(model, images, split, config, out_dir, model_config, device, progress)
    if resume and run.files.done.is_file():
        retrain = functools.partial(_retrain_weights, run)
        return load_finished(
            model, run.files, run.fingerprint, need_weights=need_weights, retrain=retrain
        )
    return _train(
        run, resume=resume, stop_after_epoch=stop_after_epoch, precision_probe=precision_probe
    )
