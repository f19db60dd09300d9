"""One ``fit()`` for every image classifier: balanced sampling, AdamW, warm-up + cosine, a stated
model-selection rule, atomic per-epoch checkpoints and exact resume.

Model selection (``FitConfig.selection``):

* ``"last"`` (the default): the whole budget is trained and the model is the final weights. The
  validation set is used only for the learning curve (and the plateau rule of
  :mod:`marsutils.train.plateau`), never to choose weights, so a noisy validation metric cannot
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
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score

from ..atomic import atomic_write, read_json, write_json
from ..data.batches import (
    BatchDataset,
    derive_seed,
    dihedral_view,
    epoch_batches,
    eval_batches,
    make_augment,
    make_loader,
)
from ..progress import progress_bar
from .checkpoint import CheckpointError, config_fingerprint, load_checkpoint, save_checkpoint
from .runtime import (
    PrecisionChoice,
    autocast,
    choose_precision,
    probe_key,
    probe_training_speed,
    requested_precision,
    resolve_device,
    resolve_precision,
)
from .schedule import warmup_cosine

__all__ = [
    "FitConfig",
    "FitResult",
    "fit",
    "predict_proba",
    "predictions_frame",
    "TrainingInterrupted",
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


def _choose_precision(
    model: torch.nn.Module,
    config: FitConfig,
    device: torch.device,
    model_config: dict[str, Any] | None,
    probe: Callable[[tuple[str, ...]], dict[str, float]] | None,
) -> PrecisionChoice:
    """The run's precision; ``"auto"`` probes (or reads the cache for) this backbone and size."""
    if not config.mixed_precision:
        return PrecisionChoice("fp32", "fp32", "argument", "forced by mixed_precision=False")
    described = {**getattr(model, "config", {}), **(model_config or {})}
    backbone = described.get("backbone") or type(model).__name__
    if described.get("name"):  # e.g. "full/resnet50", "unet/resnet50": their costs differ
        backbone = f"{described['name']}/{backbone}"
    batch = min(config.batch_size, 32)
    if probe is None:

        def probe(candidates: tuple[str, ...]) -> dict[str, float]:
            return probe_training_speed(
                model, candidates, image_size=config.image_size, batch_size=batch, device=device
            )

    return choose_precision(
        config.precision,
        device,
        key=probe_key(str(backbone), config.image_size, batch, device),
        probe=probe,
    )


def _retrain_weights(
    model: torch.nn.Module,
    images: np.ndarray,
    split: pd.DataFrame,
    config: FitConfig,
    out_dir: Path,
    model_config: dict[str, Any] | None,
    device: torch.device,
    progress: bool,
    fingerprint: str,
) -> None:
    """Train a finished run again (its weights were lost) and keep the weights if they
    reproduce the recorded test predictions; ``model`` ends with those weights."""
    import shutil

    scratch = out_dir / "retrain"
    print(f"{out_dir}: the weights are missing; training the run again to restore them")
    recorded_precision = read_json(out_dir / "done.json").get("precision")
    if recorded_precision:  # the precision it was trained in, not a new probe's choice
        config = dataclasses.replace(config, precision=recorded_precision)
    redo = fit(
        model,
        images,
        split,
        config,
        scratch,
        model_config=model_config,
        device=device,
        progress=progress,
    )
    recorded = pd.read_csv(out_dir / "predictions_test.csv")
    same = redo.test_predictions["y_pred"].equals(recorded["y_pred"]) and np.allclose(
        redo.test_predictions.filter(like="prob_").to_numpy(),
        recorded.filter(like="prob_").to_numpy(),
        rtol=0,
        atol=1e-6,
    )
    if not same:
        raise CheckpointError(
            f"{out_dir}: training the run again did not reproduce its recorded test predictions "
            f"(torch threads now {torch.get_num_threads()}; the record says "
            f"{read_json(out_dir / 'done.json').get('torch_threads', 'not recorded')}), so the "
            f"new weights in {scratch} were not used. Train with the recorded thread count and "
            "precision on the same kind of CPU, or delete the folder to train it anew."
        )
    os.replace(scratch / "best_model.pt", out_dir / "best_model.pt")
    shutil.rmtree(scratch)
    model.load_state_dict(load_checkpoint(out_dir / "best_model.pt", fingerprint)["model"])


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
    """Train ``model`` on ``split``'s train part, early-stop on its val part, predict its test part.

    ``images`` is the ``(N, H, W)`` uint8 cache; ``split`` has columns ``row, image, label,
    subset``. With ``resume=True`` a finished run with the same fingerprint is loaded instead of
    retrained, and an interrupted one continues from its last checkpoint; a checkpoint written by
    another configuration raises :class:`~marsutils.train.checkpoint.CheckpointError`.

    The precision comes from ``config.precision`` (see the module docstring);
    ``precision_probe(candidates) -> {precision: images/s}`` replaces the timed probe of
    ``"auto"`` (tests inject fake timings with it).

    A finished run whose folder holds its records (``done.json``, ``history.json``, the
    predictions) but not its weights, e.g. restored from the records a published run commits,
    is returned from its records when ``need_weights`` is False (``model`` keeps its initial
    weights). With ``need_weights=True`` it is trained again in ``<out_dir>/retrain`` and its
    weights are kept only if that training reproduces the recorded test predictions exactly
    (training is deterministic for the same seed, recipe and thread count).

    Raises
    ------
    CheckpointError
        When ``out_dir`` holds a run of another configuration, or retrained weights do not
        reproduce the recorded predictions.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    parts = {
        s: split[split["subset"] == s].reset_index(drop=True) for s in ("train", "val", "test")
    }
    for name, part in parts.items():
        if part.empty:
            raise ValueError(f"the split has no {name} images")
    fingerprint = config_fingerprint(
        {
            "fit": _recipe(config),
            "model": model_config or {"class": type(model).__name__},
            "split": _split_identity(split),
        }
    )
    paths = {
        "ckpt": out_dir / "checkpoint.pt",
        "best": out_dir / "best_model.pt",
        "done": out_dir / "done.json",
        "history": out_dir / "history.json",
        "test": out_dir / "predictions_test.csv",
        "val": out_dir / "predictions_val.csv",
    }
    model.to(device=device, memory_format=torch.channels_last)

    if resume and paths["done"].is_file():
        done = read_json(paths["done"])
        if done.get("fingerprint") != fingerprint:
            raise CheckpointError(
                f"{out_dir} holds a finished run of a different configuration; "
                "delete it or use another run directory"
            )
        if paths["best"].is_file():
            model.load_state_dict(load_checkpoint(paths["best"], fingerprint)["model"])
        elif need_weights:
            _retrain_weights(
                model, images, split, config, out_dir, model_config, device, progress, fingerprint
            )
        return FitResult(
            out_dir,
            read_json(paths["history"]),
            int(done["best_epoch"]),
            float(done["best_val_macro_f1"]),
            pd.read_csv(paths["test"]),
            pd.read_csv(paths["val"]),
            resumed_from_epoch=int(done["epochs_run"]),
            trained=False,
            precision=str(done.get("precision", "fp32")),
            precision_reason=str(done.get("precision_reason", "")),
        )

    train = parts["train"]
    labels = train["label"].to_numpy()
    samples = config.samples_per_epoch or len(train)
    steps_per_epoch = -(-samples // config.batch_size)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    total_steps = steps_per_epoch * config.epochs
    scheduler = warmup_cosine(optimizer, total_steps, round(config.warmup_fraction * total_steps))
    history: list[dict[str, float]] = []
    start_epoch, best_f1, best_epoch, bad_epochs = 0, -1.0, -1, 0
    state = (
        load_checkpoint(paths["ckpt"], fingerprint) if resume and paths["ckpt"].is_file() else None
    )
    precision_note = None
    stored = state.get("precision") if state is not None else None
    requested = requested_precision(config.precision if config.mixed_precision else "fp32")[0]
    if stored is not None and requested == "auto":
        # "auto" resumes with the checkpoint's precision without probing again
        reason = str(state.get("precision_reason", "stored in the checkpoint"))
        choice = PrecisionChoice(stored, "auto", "checkpoint", reason)
    else:
        choice = _choose_precision(model, config, device, model_config, precision_probe)
        if stored is not None and stored != choice.precision:
            precision_note = (
                f"resumed with the checkpoint's precision {stored}; {choice.precision} "
                f"({choice.reason}) applies to new runs only"
            )
            warnings.warn(f"{out_dir}: {precision_note}", UserWarning, stacklevel=2)
            reason = str(state.get("precision_reason", "stored in the checkpoint"))
            choice = PrecisionChoice(stored, choice.requested, "checkpoint", reason)
    precision = choice.precision
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        best_f1, best_epoch = float(state["best_f1"]), int(state["best_epoch"])
        bad_epochs = int(state["bad_epochs"])
    else:
        torch.manual_seed(derive_seed(config.seed, 3))
    resumed_from = start_epoch

    def predict_part(part: pd.DataFrame) -> np.ndarray:
        return predict_proba(
            model,
            images,
            part["row"].to_numpy(),
            image_size=config.image_size,
            batch_size=config.eval_batch_size,
            device=device,
            precision=precision,
        )

    train_data = BatchDataset(
        images, train["row"], labels, config.image_size, make_augment(config.rotation)
    )
    early_stopping = config.selection == "best_val_macro_f1"
    for epoch in range(start_epoch, config.epochs):
        if early_stopping and bad_epochs >= config.patience:
            break
        t0 = time.perf_counter()
        model.train()
        plan = epoch_batches(labels, config.batch_size, config.seed, epoch, config.balance_power)
        plan = plan[:steps_per_epoch]
        losses, seen = [], 0
        bar = progress_bar(
            make_loader(train_data, plan, config.num_workers),
            total=len(plan),
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not progress,
            leave=False,
        )
        for x, y, _ in bar:
            x, y = _prepare(x, device), y.to(device)
            with autocast(device, precision):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(loss.item())
            seen += len(y)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        train_time = time.perf_counter() - t0
        val = parts["val"]
        probs = predict_part(val)
        y_val, p_val = val["label"].to_numpy(), probs.argmax(1)
        val_loss = float(
            F.nll_loss(torch.from_numpy(probs).clamp_min(1e-12).log(), torch.tensor(y_val))
        )
        with warnings.catch_warnings():  # tiny (smoke) validation sets may lack classes
            warnings.simplefilter("ignore", UserWarning)
            macro_f1 = float(f1_score(y_val, p_val, average="macro", zero_division=0))
        record = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "val_loss": val_loss,
            "val_accuracy": float(accuracy_score(y_val, p_val)),
            "val_macro_f1": macro_f1,
            "lr": float(scheduler.get_last_lr()[0]),
            "epoch_time_s": time.perf_counter() - t0,
            "images_per_s": seen / train_time,
        }
        history.append(record)
        if not early_stopping:
            best_f1, best_epoch = macro_f1, epoch + 1  # the last epoch is the selected one
        elif macro_f1 > best_f1 + 1e-9:
            best_f1, best_epoch, bad_epochs = macro_f1, epoch + 1, 0
            save_checkpoint(
                paths["best"], {"model": model.state_dict(), "fingerprint": fingerprint}
            )
        else:
            bad_epochs += 1
        save_checkpoint(
            paths["ckpt"],
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": torch.get_rng_state(),
                "history": history,
                "epoch": epoch + 1,
                "best_f1": best_f1,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "fingerprint": fingerprint,
                "precision": precision,
                "precision_reason": choice.reason,
            },
        )
        write_json(paths["history"], history)
        if progress:
            print(
                f"epoch {epoch + 1}: loss {record['train_loss']:.4f}  val acc "
                f"{record['val_accuracy']:.4f}  val macro-F1 {macro_f1:.4f}  "
                f"{record['images_per_s']:.1f} img/s"
            )
        if stop_after_epoch is not None and epoch + 1 == stop_after_epoch:
            raise TrainingInterrupted(f"stopped after epoch {epoch + 1} as asked")

    if early_stopping:
        model.load_state_dict(load_checkpoint(paths["best"], fingerprint)["model"])
    else:  # the final weights (also after a resume that found every epoch done)
        save_checkpoint(paths["best"], {"model": model.state_dict(), "fingerprint": fingerprint})
    t_eval = time.perf_counter()
    frames = {}
    for name in ("val", "test"):
        _write_csv(paths[name], predictions_frame(parts[name], predict_part(parts[name])))
        frames[name] = pd.read_csv(paths[name])  # identical to what a later load returns
    write_json(
        paths["done"],
        {
            "fingerprint": fingerprint,
            "selection": config.selection,
            "best_epoch": best_epoch,
            "best_val_macro_f1": best_f1,
            "epochs_run": len(history),
            "config": dataclasses.asdict(config),
            "model": model_config,
            "device": str(device),
            "precision": precision,
            "precision_reason": choice.reason,
            "precision_timings": choice.timings,
            "precision_note": precision_note,
            "torch_threads": torch.get_num_threads(),
            "train_time_s": float(sum(h["epoch_time_s"] for h in history)),
            "final_predict_s": time.perf_counter() - t_eval,
        },
    )
    return FitResult(
        out_dir,
        history,
        best_epoch,
        best_f1,
        frames["test"],
        frames["val"],
        resumed_from,
        precision=precision,
        precision_reason=choice.reason,
    )
