"""Evaluate a trained classifier on any labelled folder of any supported layout.

``python -m marsutils evaluate --run-dir RUN --model-key KEY --data-dir DIR`` (or
``--checkpoint .../best_model.pt``) loads the weights with ``weights_only=True``, rebuilds the
model from the ``done.json`` written beside them by :func:`~marsutils.train.fit`, matches the
folder's classes to the model's **by name** (:func:`~marsutils.data.classes.match_classes`), and
reports accuracy, balanced accuracy, macro F1 and mean IoU, each with a percentile bootstrap
interval that resamples whole twin families (:func:`clustered_bootstrap_ci`), plus the confusion
matrix and the classes that did not match.

Images whose class the model does not know (v1's ``edge`` for a v3.2 model) are counted and left
out. **Classes of the model with no true image among the scored ones** (``swiss cheese`` and
``spider`` for v1 data; v1's ``impact``, which the shared v1 copy has no image of) are listed
("no image of: ...") and left out of every macro average (balanced accuracy, macro F1, mean
IoU): the averages run over the classes present in ``y_true``, as scikit-learn's
``labels=present`` gives. Predicting such a class still counts as an error: it lowers the
accuracy and the recall of the true class.

**Overlap with the training data.** For a checkpoint inside a run folder, :func:`training_images`
finds the train and val images of its split file (in a training folder checked against the split
file's data fingerprint), and the result counts the scored images that are twins of them (same
name in the same folder, same bytes, or a dihedral thumbnail match:
:mod:`marsutils.data.overlap`) and scores the scored images outside their twin families beside
the whole folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marsutils.core.atomic import read_json, write_json
from marsutils.core.layout import ExperimentFiles
from marsutils.data.classes import match_classes
from marsutils.data.errors import DataError
from marsutils.stats.metrics import (
    bootstrap_weights,
    n_clusters,
    scores_from_confusion,
    weighted_confusions,
)

__all__ = [
    "confusion_scores",
    "clustered_bootstrap_ci",
    "load_classifier",
    "TrainingImages",
    "training_images",
    "evaluate_folder",
    "format_evaluation",
    "write_evaluation",
]

SCORES = ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou")


def confusion_scores(cm: np.ndarray, scored: Sequence[int]) -> dict[str, np.ndarray]:
    """Scores of one or many confusion matrices (rows true, columns predicted).

    Parameters
    ----------
    cm : numpy.ndarray, shape (..., K, K)
        Counts; leading axes are resamples.
    scored : sequence of int
        Classes the macro averages run over (in :func:`evaluate_folder`, the classes with a
        true image); columns of the others still count as wrong predictions.

    Returns
    -------
    dict of str to numpy.ndarray
        ``accuracy`` = trace / total; per class ``recall`` TP/(TP+FN), ``precision`` TP/(TP+FP),
        ``f1`` and ``iou`` TP/(TP+FP+FN) (the image-level Jaccard index), all from
        :func:`marsutils.stats.metrics.scores_from_confusion` with 0/0 taken as 0 (a class absent
        from truth and prediction counted as 0, as scikit-learn's ``zero_division=0``);
        ``balanced_accuracy``, ``macro_f1`` and ``mean_iou`` are their unweighted means over
        ``scored`` (a scored class absent from a resample counts as 0).
    """
    per = scores_from_confusion(cm, zero_division=0.0)
    idx = np.asarray(scored)
    recall, precision, f1, iou = (per[m][..., idx] for m in ("recall", "precision", "f1", "iou"))
    return {
        "accuracy": per["accuracy"],
        "balanced_accuracy": recall.mean(axis=-1),
        "macro_f1": f1.mean(axis=-1),
        "mean_iou": iou.mean(axis=-1),
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "iou": iou,
    }


def clustered_bootstrap_ci(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    groups: Sequence[int] | np.ndarray,
    *,
    n_classes: int,
    scored: Sequence[int] | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals that resample whole groups (twin families), not images.

    The resamples are those of :func:`marsutils.stats.metrics.bootstrap_weights` (the project's one
    cluster bootstrap; Davison & Hinkley 1997, *Bootstrap Methods and their Application*,
    section 3.8): each draws as many groups as there are, with replacement, and keeps every image
    of each drawn group. Twins share content, so an image-level bootstrap would treat them as
    independent evidence and give too narrow intervals.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (N,)
        Class ids in ``0..n_classes-1``.
    groups : array-like, shape (N,)
        Group (twin family) of each image.
    n_classes : int
    scored : sequence of int, optional
        Classes averaged by the macro scores (default: the classes present in ``y_true``, as
        scikit-learn's ``labels=`` of the macro averages).
    n_boot : int
    confidence : float
        Central coverage of the interval, in (0, 1).
    random_state : int or None

    Returns
    -------
    dict
        For each name of :data:`SCORES`: ``{"estimate", "low", "high", "confidence",
        "n_boot", "n_groups"}``.

    Raises
    ------
    ValueError
        Mismatched lengths, no images, ``n_boot < 2`` or ``confidence`` outside (0, 1).
    """
    t, p, g = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not (t.shape == p.shape == g.shape) or t.ndim != 1 or len(t) == 0:
        raise ValueError(
            f"y_true, y_pred, groups must be 1-D, equal, non-empty: {t.shape}, {p.shape}, {g.shape}"
        )
    if n_boot < 2 or not 0 < confidence < 1:
        raise ValueError(f"need n_boot >= 2 and 0 < confidence < 1; got {n_boot}, {confidence}")
    scored = np.unique(t).tolist() if scored is None else list(scored)
    labels = np.arange(n_classes)
    weights = bootstrap_weights(len(t), n_boot=n_boot, random_state=random_state, groups=g)
    n_groups = n_clusters(g, len(t))
    boot = confusion_scores(weighted_confusions(t, p, labels, weights), scored)
    full = confusion_scores(weighted_confusions(t, p, labels, np.ones((1, len(t))))[0], scored)
    alpha = (1 - confidence) / 2
    out = {}
    for name in SCORES:
        low, high = np.quantile(boot[name], [alpha, 1 - alpha])
        out[name] = {
            "estimate": float(full[name]),
            "low": float(low),
            "high": float(high),
            "confidence": float(confidence),
            "n_boot": int(n_boot),
            "n_groups": n_groups,
        }
    return out


def _experiment_files(
    checkpoint: str | os.PathLike | None,
    run_dir: str | os.PathLike | None,
    model_key: str | None,
) -> Path:
    if checkpoint is not None:
        if run_dir is not None or model_key is not None:
            raise ValueError("give either checkpoint or run_dir + model_key, not both")
        path = Path(checkpoint)
    else:
        if run_dir is None or model_key is None:
            raise ValueError("give a checkpoint, or both run_dir and model_key")
        path = _run_key_checkpoint(run_dir, model_key)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    return path


def _run_key_checkpoint(run_dir: str | os.PathLike, model_key: str) -> Path:
    """``best_model.pt`` of ``<split>/<config>`` (seed 0) or ``<split>/<config>/seed<k>``."""
    from marsutils.core.layout import RunLayout

    key, _, last = model_key.rstrip("/").rpartition("/")
    if last.startswith("seed") and last[4:].isdigit():
        return RunLayout(run_dir).best_model(key, int(last[4:]))
    return RunLayout(run_dir).best_model(model_key.rstrip("/"), 0)


def load_classifier(
    checkpoint: str | os.PathLike | None = None,
    *,
    run_dir: str | os.PathLike | None = None,
    model_key: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A trained classifier in eval mode, and what it was trained as.

    Parameters
    ----------
    checkpoint : path-like, optional
        A ``best_model.pt`` written by :func:`~marsutils.train.fit`, with its ``done.json``
        beside it.
    run_dir, model_key : optional
        Instead of ``checkpoint``: ``run_dir/experiments/<model_key>/best_model.pt``
        (``model_key`` is :attr:`~marsutils.study.experiments.ClassifierSpec.key`, e.g.
        ``family/full-efficientnet_lite0-imagenet-160px-3ep``).

    Returns
    -------
    model : torch.nn.Module
    info : dict
        ``class_names`` (tuple of str), ``image_size`` (int, pixels), ``model_config`` (dict),
        ``checkpoint`` (str) and ``data_fingerprint`` of the training data (or None).

    Raises
    ------
    DataError
        The checkpoint or its ``done.json`` is missing.
    CheckpointError
        The checkpoint is unreadable, comes from another run than its ``done.json``, or does not
        fit the recorded model configuration or class names.
    """
    from marsutils.models import build_model
    from marsutils.train.checkpoint import CheckpointError, load_checkpoint

    path = _experiment_files(checkpoint, run_dir, model_key)
    files = ExperimentFiles(path.parent)
    done_path = files.done
    if not done_path.is_file():
        raise DataError(
            f"{done_path} is missing: evaluate needs the done.json that fit() writes beside "
            f"{path.name} to rebuild the model"
        )
    done = read_json(done_path)
    config = dict(done.get("model") or {})
    class_names = config.get("class_names")
    if class_names is None and files.metrics.is_file():
        class_names = read_json(files.metrics).get("class_names")
    if not class_names:
        raise CheckpointError(f"{done_path} and metrics.json record no class names")
    needed = ("name", "backbone", "num_classes", "pooling")
    missing = [k for k in needed if k not in config]
    if missing:
        raise CheckpointError(f"{done_path}: the model configuration lacks {missing}")
    if int(config["num_classes"]) != len(class_names):
        raise CheckpointError(
            f"{done_path}: the model has {config['num_classes']} outputs but "
            f"{len(class_names)} class names {list(class_names)}"
        )
    state = load_checkpoint(path)  # weights_only=True
    if done.get("fingerprint") is not None and state.get("fingerprint") != done["fingerprint"]:
        raise CheckpointError(
            f"{path} (fingerprint {state.get('fingerprint')}) is not the run recorded in "
            f"{done_path} (fingerprint {done['fingerprint']})"
        )
    kwargs: dict[str, Any] = {}
    if config.get("attention"):
        kwargs["attention_stages"] = config.get("attention_stages")
    if config.get("lse_temperature") is not None:
        kwargs["lse_temperature"] = float(config["lse_temperature"])
    try:
        model = build_model(
            config["name"],
            num_classes=int(config["num_classes"]),
            backbone=config["backbone"],
            weights="none",
            pooling=config["pooling"],
            **kwargs,
        )
        model.load_state_dict(state["model"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{path} does not fit the model configuration in {done_path}: {err}"
        ) from err
    info = {
        "checkpoint": str(path),
        "class_names": tuple(class_names),
        "image_size": int((done.get("config") or {}).get("image_size", 160)),
        "model_config": config,
        "data_fingerprint": config.get("data_fingerprint"),
    }
    return model.eval(), info


@dataclass(frozen=True)
class TrainingImages:
    """The images a classifier was fitted or selected on: ``rows`` of ``dataset``.

    ``rows`` are the ``train`` and ``val`` rows of the run's split file ``source`` (validation
    images choose the learning-rate schedule's end and are seen by the model's selection).
    """

    dataset: Any
    rows: np.ndarray
    source: str


def training_images(
    checkpoint: str | os.PathLike, training_data_dir: str | os.PathLike | None = None
) -> TrainingImages | str:
    """Find the training images of a checkpoint inside a run folder, or say why not.

    The checkpoint must lie at ``<run>/experiments/<split>/<config>/seed<k>/`` (the
    :class:`~marsutils.core.layout.RunLayout`); its split file ``<run>/splits/<split>-seed<k>.csv``
    names the rows, and the training folder (``training_data_dir``, else ``$MARS_DATA_DIR``, else
    the shared sample: :func:`~marsutils.data.locate_data_dir`) must have the split file's data
    fingerprint, so rows are never matched against another version of the data.

    Returns
    -------
    TrainingImages, or str
        The reason the overlap cannot be checked (no run folder, no split file, no training
        folder, or a training folder with another fingerprint).

    Raises
    ------
    DataError
        ``training_data_dir`` is given and does not exist, or the split file is malformed.
    """
    from marsutils.core.layout import RunLayout
    from marsutils.data import load_dataset, load_split, locate_data_dir
    from marsutils.data.imagecache import content_hash

    path = Path(checkpoint).resolve()
    parts = path.parent.parts
    if "experiments" not in parts:
        return f"{path} is not inside a run folder (<run>/experiments/...): no split file"
    at = len(parts) - 1 - parts[::-1].index("experiments")
    run_dir, rest = Path(*parts[:at]), parts[at + 1 :]
    seed = int(rest[-1][4:]) if rest and rest[-1][4:].isdigit() else 0
    split_path = RunLayout(run_dir).split_file(rest[0], seed) if rest else None
    if split_path is None or not split_path.is_file():
        return f"the run's split file {split_path} does not exist"
    split = load_split(split_path)
    if training_data_dir is None:
        try:
            root = locate_data_dir(None)
        except DataError as err:
            return f"no training folder to compare with ({err}); pass --training-data-dir"
    else:
        root = locate_data_dir(training_data_dir)
    data = load_dataset(root)
    want = str(split["data_fingerprint"].iat[0]) if "data_fingerprint" in split else ""
    have = content_hash(data)[: len(want)] if want else ""
    if not want or have != want:
        return (
            f"the training folder {root} (fingerprint {have or '?'}) is not the data of "
            f"{split_path} (fingerprint {want or 'not recorded'}); pass --training-data-dir"
        )
    fitted = split.loc[split["subset"].isin(["train", "val"]), "row"].to_numpy(dtype=np.int64)
    return TrainingImages(dataset=data, rows=fitted, source=str(split_path))


def _overlap_section(
    training: TrainingImages | str | None,
    dataset: Any,
    images: np.ndarray,
    families: np.ndarray,
    keep: np.ndarray,
    score: Any,
) -> dict[str, Any]:
    """The ``overlap`` entry of :func:`evaluate_folder`'s result (``score(rows)`` scores rows)."""
    if training is None:
        return {"checked": False, "reason": "not asked for"}
    if isinstance(training, str):
        return {"checked": False, "reason": training}
    from marsutils.data import load_images
    from marsutils.data.overlap import training_overlap

    rows = training.rows
    found = training_overlap(
        dataset.subset(keep),
        images[keep],
        families[keep],
        training.dataset.subset(rows),
        load_images(training.dataset, progress=False)[rows],
    )
    clean = keep[~found.overlapping]
    return {
        "checked": True,
        "source": training.source,
        "n_training_images": found.n_training,
        **found.counts(),
        "n_images_without_overlap": len(clean),
        "metrics_without_overlap": score(clean) if len(clean) else None,
        "rule": "twin of a train or val image by name (same folder), bytes or dihedral "
        "thumbnail; whole twin families of the scored folder left out",
    }


def evaluate_folder(
    model: Any,
    class_names: Sequence[str],
    data_dir: str | os.PathLike,
    *,
    image_size: int,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    views: int = 1,
    device: str | None = None,
    progress: bool = False,
    training: TrainingImages | str | None = None,
) -> dict[str, Any]:
    """Score ``model`` on every labelled image of ``data_dir`` whose class it knows.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(B, 3, image_size, image_size)`` images to ``(B, len(class_names))`` logits.
    class_names : sequence of str
        The model's classes in output order.
    data_dir : path-like
        A folder of any layout :func:`~marsutils.data.load_dataset` reads.
    image_size : int
        Model input side in pixels.
    n_boot, confidence, seed :
        Passed to :func:`clustered_bootstrap_ci` (groups: the folder's twin families).
    views : int
        Dihedral test-time augmentation views (1 = none).
    training : TrainingImages or str, optional
        The model's training images (:func:`training_images`), to count the scored images that
        are twins of them (:func:`marsutils.data.overlap.training_overlap`) and score the rest;
        a str is the reason this could not be checked, reported as given.

    Returns
    -------
    dict
        ``data_dir``, ``layout``, ``n_images`` (scored), ``classes`` (mapped / data_only /
        model_only / synonyms_used), ``excluded_images`` (per data-only class),
        ``scored_classes`` (model classes with at least one true image: the ``labels=`` of
        every macro average), ``no_image_of`` (the other model classes, in model order; left
        out of the macro averages, their predictions still errors), ``metrics`` (estimate and
        family-clustered interval per score), ``per_class`` (scored classes),
        ``confusion_matrix`` (rows true, columns predicted, over all the model's classes),
        ``class_names`` and ``overlap`` (``checked``; when checked the counts of
        :meth:`~marsutils.data.overlap.Overlap.counts`, ``n_images_without_overlap`` and
        ``metrics_without_overlap``, the same scores over the scored images outside every
        overlapping twin family; else the ``reason``).

    Raises
    ------
    DataError
        The folder cannot be read, or no image has a class the model knows.
    """
    from marsutils.data import find_families, load_dataset, load_images
    from marsutils.train import predict_proba, resolve_device

    dataset = load_dataset(data_dir)
    try:
        match = match_classes(dataset.class_names, class_names)
    except ValueError as err:
        raise DataError(f"{dataset.root}: {err}") from err
    labels = dataset.labels
    keep = np.flatnonzero(np.isin(labels, list(match.mapping)))
    if len(keep) == 0:
        raise DataError(f"{dataset.root}: no image has a class the model knows")
    images = load_images(dataset, progress=progress)
    families = find_families(dataset, images)
    to_model = np.full(len(dataset.class_names), -1)
    for d, m in match.mapping.items():
        to_model[d] = m
    y_true = to_model[labels[keep]]
    model = model.to(resolve_device(device))
    probs = predict_proba(model, images, keep, image_size=image_size, device=device, views=views)
    y_pred = probs.argmax(axis=1)
    k = len(class_names)
    # macro averages over the classes with a true image (scikit-learn's labels=present): a
    # matched class the folder has no image of would otherwise add a 0 to every average
    scored = np.unique(y_true).tolist()
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    at = np.full(len(dataset), -1)
    at[keep] = np.arange(len(keep))

    def score(rows: np.ndarray) -> dict[str, dict[str, float]]:
        """Family-clustered scores over ``rows`` of the dataset (a subset of ``keep``)."""
        i = at[rows]
        return clustered_bootstrap_ci(
            y_true[i],
            y_pred[i],
            families[rows],
            n_classes=k,
            scored=scored,
            n_boot=n_boot,
            confidence=confidence,
            random_state=seed,
        )

    metrics = score(keep)
    per = confusion_scores(cm, scored)
    per_class = [
        {
            "class": class_names[j],
            "support": int(cm[j].sum()),
            "predicted": int(cm[:, j].sum()),
            **{m: float(per[m][i]) for m in ("precision", "recall", "f1", "iou")},
        }
        for i, j in enumerate(scored)
    ]
    excluded = {
        dataset.class_names[c]: int((labels == c).sum())
        for c in range(len(dataset.class_names))
        if c not in match.mapping
    }
    return {
        "data_dir": str(dataset.root),
        "layout": dataset.layout,
        "n_images": len(keep),
        "n_families": len(np.unique(families[keep])),
        "class_names": list(class_names),
        "classes": match.as_dict(dataset.class_names, class_names),
        "excluded_images": excluded,
        "scored_classes": [class_names[j] for j in scored],
        "no_image_of": [n for j, n in enumerate(class_names) if j not in scored],
        "metrics": metrics,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "overlap": _overlap_section(training, dataset, images, families, keep, score),
        "settings": {
            "image_size": int(image_size),
            "views": int(views),
            "interval": "percentile bootstrap over twin families (cluster bootstrap)",
        },
    }


def format_evaluation(result: dict[str, Any]) -> str:
    """Plain-text rendering of :func:`evaluate_folder`'s result."""
    cls = result["classes"]
    lines = [
        f"data: {result['data_dir']} ({result['layout']} layout): {result['n_images']} images "
        f"in {result['n_families']} twin families scored",
        "matched classes (data -> model): "
        + ", ".join(f"{d} -> {m}" for d, m in cls["mapped"].items()),
        "data classes the model lacks (images left out): "
        + (", ".join(f"{n} ({result['excluded_images'][n]})" for n in cls["data_only"]) or "none"),
        "model classes the data lacks: " + (", ".join(cls["model_only"]) or "none"),
        "no image of: "
        + (
            ", ".join(result["no_image_of"])
            + " (left out of the macro averages; predicting them counts as an error)"
            if result["no_image_of"]
            else "none (every model class has an image)"
        ),
        "",
    ]
    conf = next(iter(result["metrics"].values()))
    lines.append(
        f"metrics ({100 * conf['confidence']:.0f}% interval, {conf['n_boot']} resamples of "
        f"{conf['n_groups']} twin families):"
    )
    lines += _metric_lines(result["metrics"])
    lines += ["", *_format_overlap(result.get("overlap") or {})]
    names = result["class_names"]
    width = max(len(n) for n in names)
    lines += ["", "confusion matrix (rows: true, columns: predicted):"]
    lines.append(" " * (width + 2) + " ".join(f"{n[:8]:>8}" for n in names))
    for name, row in zip(names, result["confusion_matrix"], strict=True):
        lines.append(f"  {name:<{width}}" + " ".join(f"{v:>8}" for v in row))
    return "\n".join(lines)


def _format_overlap(overlap: dict[str, Any]) -> list[str]:
    if not overlap.get("checked"):
        return [f"overlap with the training images: not checked ({overlap.get('reason', '?')})"]
    lines = [
        f"overlap with the training images ({overlap['n_training_images']} train + val images "
        f"of {overlap['source']}): {overlap['twin_images']} scored images are twins of them "
        f"(name {overlap['name']}, bytes {overlap['bytes']}, thumbnail {overlap['look']}); "
        f"{overlap['overlapping_images']} in their twin families"
    ]
    rest = overlap.get("metrics_without_overlap")
    if rest is None:
        return [*lines, "  no scored image is outside the overlapping families"]
    lines.append(f"  without them ({overlap['n_images_without_overlap']} images):")
    return lines + _metric_lines(rest)


def _metric_lines(metrics: dict[str, dict[str, float]]) -> list[str]:
    """One ``name  estimate%  [low, high]`` line per score."""
    line = "  {:<18} {:6.2f}%  [{:6.2f}, {:6.2f}]"
    return [
        line.format(name, 100 * m["estimate"], 100 * m["low"], 100 * m["high"])
        for name, m in metrics.items()
    ]


def write_evaluation(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` as JSON atomically."""
    return write_json(path, result)
