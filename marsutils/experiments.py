"""The experiments of the study: which classifier, on which split, under which budget.

An :class:`ClassifierSpec` names a model configuration, a split and a training budget; its
:attr:`~ClassifierSpec.key` names its folder in the run directory, so the same spec asked for by
two notebooks is trained once (``fit`` finds the finished run and loads it). :func:`plan` lists
the specs each notebook needs under a profile; only the profile decides how long things take.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .atomic import atomic_write, read_json, write_json
from .data.prepare import PreparedData
from .profiles import Profile
from .train import FitConfig, fit, seed_everything

__all__ = [
    "ClassifierSpec",
    "ExperimentResult",
    "plan",
    "run_classifier",
    "load_result",
    "load_headline",
    "load_trained",
    "evaluate_tta",
    "collect_results",
    "ABLATION_MODELS",
    "BASELINE_MODELS",
]

ABLATION_MODELS = ("plain", "head", "attention", "full")
BASELINE_MODELS = ("unet", "deeplabv3plus")


@dataclass(frozen=True)
class ClassifierSpec:
    """One classifier experiment."""

    model: str
    split: str
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    image_size: int = 160
    epochs: int = 3
    samples_per_epoch: int | None = None
    group: str = "main"

    @property
    def key(self) -> str:
        """A folder name that changes whenever anything that changes the result changes."""
        budget = f"{self.image_size}px-{self.epochs}ep"
        if self.samples_per_epoch:
            budget += f"-{self.samples_per_epoch}spe"
        weights = Path(self.weights).stem if os.sep in str(self.weights) else self.weights
        return f"{self.split}/{self.model}-{self.backbone}-{weights}-{budget}"

    def identity(self) -> dict[str, Any]:
        """Everything that changes the result (``group`` only says which chapter asked)."""
        out = dataclasses.asdict(self)
        del out["group"]
        return out

    @property
    def label(self) -> str:
        """A short human-readable name for tables."""
        extra = "" if self.weights == "imagenet" else f", {self.weights}"
        return f"{self.model} ({self.backbone}{extra}, {self.image_size}px, {self.epochs} ep)"


@dataclass
class ExperimentResult:
    """A finished experiment: its spec, metrics, predictions, history and folder."""

    spec: ClassifierSpec
    metrics: dict[str, Any]
    test_predictions: pd.DataFrame
    history: list[dict[str, float]]
    out_dir: Path
    trained_now: bool


def plan(profile: Profile, notebook: str) -> list[ClassifierSpec]:
    """The classifier experiments ``notebook`` (training, ablation, baselines, scratch) needs."""
    main = dict(
        backbone=profile.backbone,
        weights=profile.weights,
        image_size=profile.image_size,
        epochs=profile.epochs,
        samples_per_epoch=profile.samples_per_epoch,
    )
    side = dict(
        main,
        image_size=profile.ablation_image_size or profile.image_size,
        epochs=profile.ablation_epochs or profile.epochs,
        samples_per_epoch=profile.ablation_samples or profile.samples_per_epoch,
    )
    if notebook == "training":
        return [ClassifierSpec("full", split, **main) for split in profile.splits]
    if notebook == "ablation":
        specs = [ClassifierSpec(m, "family", group="ablation", **side) for m in ABLATION_MODELS]
        if "paper" in profile.splits and profile.paper_split_ablation:
            specs += [
                ClassifierSpec(m, "paper", group="ablation", **side)
                for m in (*profile.paper_split_ablation, "full")
            ]
        return specs
    if notebook == "baselines":
        return [
            ClassifierSpec(m, "family", group="baselines", **side)
            for m in (*BASELINE_MODELS, "full")
        ]
    if notebook == "scratch":
        if not profile.scratch_epochs:
            return []
        return [
            ClassifierSpec(
                m,
                "family",
                backbone="resnet50",
                weights="none",
                image_size=profile.scratch_image_size,
                epochs=profile.scratch_epochs,
                samples_per_epoch=profile.scratch_samples or None,
                group="scratch",
            )
            for m in ("plain", "full")
        ]
    raise ValueError(f"unknown notebook {notebook!r}; use training, ablation, baselines, scratch")


def _evaluate(predictions: pd.DataFrame, class_names: tuple[str, ...], seed: int) -> dict:
    from .metrics import evaluate_predictions

    return evaluate_predictions(
        predictions["y_true"].to_numpy(),
        predictions["y_pred"].to_numpy(),
        class_names=list(class_names),
        n_boot=1000,
        random_state=seed,
    )


def run_classifier(
    spec: ClassifierSpec,
    data: PreparedData,
    profile: Profile,
    run_dir: str | os.PathLike,
    *,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> ExperimentResult:
    """Train ``spec`` (or load it when already finished), evaluate its test predictions."""
    from .models import build_model

    if spec.split not in data.splits:
        raise ValueError(f"split {spec.split!r} was not prepared; have {sorted(data.splits)}")
    out_dir = Path(run_dir) / "experiments" / spec.key
    seed_everything(seed)
    model = build_model(
        spec.model,
        num_classes=len(data.class_names),
        backbone=spec.backbone,
        weights=spec.weights,
        pooling=profile.pooling,
    )
    config = FitConfig.from_profile(
        profile,
        seed=seed,
        epochs=spec.epochs,
        image_size=spec.image_size,
        samples_per_epoch=spec.samples_per_epoch,
    )
    result = fit(
        model,
        data.images,
        data.splits[spec.split],
        config,
        out_dir,
        model_config={**getattr(model, "config", {}), "spec": spec.identity()},
        device=device,
        progress=progress,
    )
    metrics_path = out_dir / "metrics.json"
    if metrics_path.is_file() and not result.trained:
        metrics = read_json(metrics_path)
    else:
        metrics = _evaluate(result.test_predictions, data.class_names, seed)
        metrics["spec"] = spec.identity()
        metrics["best_epoch"] = result.best_epoch
        metrics["epochs_run"] = len(result.history)
        metrics["train_time_s"] = float(sum(h["epoch_time_s"] for h in result.history))
        metrics["precision"] = result.precision  # what fit() trained and predicted in
        metrics["precision_reason"] = result.precision_reason
        write_json(metrics_path, metrics)
    return ExperimentResult(
        spec, metrics, result.test_predictions, result.history, out_dir, result.trained
    )


def load_result(run_dir: str | os.PathLike, spec: ClassifierSpec) -> dict[str, Any] | None:
    """The saved metrics of ``spec`` in ``run_dir``, or None when it has not run."""
    path = Path(run_dir) / "experiments" / spec.key / "metrics.json"
    return read_json(path) if path.is_file() else None


def collect_results(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per finished experiment in ``run_dir`` with its spec and headline metrics."""
    rows = []
    for path in sorted(Path(run_dir).glob("experiments/*/*/metrics.json")):
        metrics = read_json(path)
        row = dict(metrics.get("spec", {}))
        row["key"] = str(path.parent.relative_to(Path(run_dir) / "experiments"))
        for name, value in metrics.get("overall", {}).items():
            if isinstance(value, (int, float)):
                row[name] = value
        for name, ci in (metrics.get("ci") or {}).items():
            row[f"{name}_low"], row[f"{name}_high"] = ci["low"], ci["high"]
        row["train_time_s"] = metrics.get("train_time_s")
        rows.append(row)
    return pd.DataFrame(rows)


def _tta_metrics_path(out_dir: Path, views: int) -> Path:
    return out_dir / f"metrics_tta{views}.json"


def load_headline(
    run_dir: str | os.PathLike, spec: ClassifierSpec, profile: Profile
) -> dict[str, Any] | None:
    """The metrics the book reports for a main model: with ``profile.tta_views`` views when the
    profile asks for test-time augmentation (see :func:`evaluate_tta`), else single-view."""
    if profile.tta_views > 1:
        path = _tta_metrics_path(Path(run_dir) / "experiments" / spec.key, profile.tta_views)
        return read_json(path) if path.is_file() else None
    return load_result(run_dir, spec)


def load_trained(
    spec: ClassifierSpec, run_dir: str | os.PathLike, profile: Profile, num_classes: int = 8
):
    """The best weights of a finished experiment, as a model in eval mode."""
    from .models import build_model
    from .train.checkpoint import load_checkpoint

    path = Path(run_dir) / "experiments" / spec.key / "best_model.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run the notebook that trains {spec.label} first"
        )
    model = build_model(
        spec.model,
        num_classes=num_classes,
        backbone=spec.backbone,
        weights="none",
        pooling=profile.pooling,
    )
    model.load_state_dict(load_checkpoint(path)["model"])
    return model.eval()


def evaluate_tta(
    result: ExperimentResult,
    data: PreparedData,
    profile: Profile,
    *,
    views: int,
    seed: int = 0,
    device: str | None = None,
) -> dict[str, Any]:
    """Test metrics of a finished experiment with ``views``-view dihedral test-time augmentation.

    The probabilities are averaged over the views (see :func:`~marsutils.train.predict_proba`),
    computed in the precision the experiment was trained in (its ``metrics["precision"]``);
    predictions and metrics are cached next to the single-view ones as
    ``predictions_test_tta<views>.csv`` and ``metrics_tta<views>.json``.
    """
    import torch

    from .train import predict_proba, resolve_device, resolve_precision
    from .train.engine import predictions_frame

    spec = result.spec
    metrics_path = _tta_metrics_path(result.out_dir, views)
    if metrics_path.is_file():
        return read_json(metrics_path)
    run_dir = result.out_dir.parents[2]  # <run_dir>/experiments/<split>/<name>
    model = load_trained(spec, run_dir, profile, len(data.class_names))
    model = model.to(resolve_device(device), memory_format=torch.channels_last)
    test = result.test_predictions
    # the run's own precision; a run recorded without one: $MARS_PRECISION, then auto
    precision = resolve_precision(result.metrics.get("precision"), device)
    probs = predict_proba(
        model,
        data.images,
        test["row"].to_numpy(),
        image_size=spec.image_size,
        device=device,
        views=views,
        precision=precision,
    )
    frame = predictions_frame(test.rename(columns={"y_true": "label"}), probs)
    atomic_write(
        result.out_dir / f"predictions_test_tta{views}.csv",
        lambda tmp: frame.to_csv(tmp, index=False),
    )
    metrics = _evaluate(frame, data.class_names, seed)
    metrics["spec"] = spec.identity()
    metrics["tta_views"] = views
    metrics["precision"] = precision
    write_json(metrics_path, metrics)
    return metrics
