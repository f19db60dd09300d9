"""A trained classifier rebuilt from its checkpoint and the ``done.json`` beside it.

:func:`load_classifier` loads the weights with ``weights_only=True`` and rebuilds the model from
the ``done.json`` written beside them by :func:`~marsutils.train.fit`, checking that both come
from the same run and fit each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from marsutils.core.atomic import read_json
from marsutils.core.layout import ExperimentFiles
from marsutils.data.errors import DataError

__all__ = ["load_classifier"]

#: Keys of ``done.json``'s model configuration that rebuilding the model needs.
_NEEDED = ("name", "backbone", "num_classes", "pooling")


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
        The checkpoint or its ``done.json`` is missing; a folder with a ``done.json`` and no
        checkpoint (a records folder such as ``results/<profile>``) is named as such.
    CheckpointError
        The checkpoint is unreadable, comes from another run than its ``done.json``, or does not
        fit the recorded model configuration or class names.
    """
    from marsutils.train.checkpoint import load_checkpoint

    path = _experiment_files(checkpoint, run_dir, model_key)
    files = ExperimentFiles(path.parent)
    done = _read_done(files, path)
    config, class_names = _model_config(files, done)
    state = load_checkpoint(path)  # weights_only=True
    _check_same_run(state, done, path, files.done)
    model = _rebuild(config, state, path, files.done)
    info = {
        "checkpoint": str(path),
        "class_names": tuple(class_names),
        "image_size": int((done.get("config") or {}).get("image_size", 160)),
        "model_config": config,
        "data_fingerprint": config.get("data_fingerprint"),
    }
    return model.eval(), info


def _experiment_files(
    checkpoint: str | os.PathLike | None,
    run_dir: str | os.PathLike | None,
    model_key: str | None,
) -> Path:
    """The checkpoint given, or the one of ``run_dir`` + ``model_key``; it must exist."""
    if checkpoint is not None:
        if run_dir is not None or model_key is not None:
            raise ValueError("give either checkpoint or run_dir + model_key, not both")
        path = Path(checkpoint)
    else:
        if run_dir is None or model_key is None:
            raise ValueError("give a checkpoint, or both run_dir and model_key")
        path = _run_key_checkpoint(run_dir, model_key)
    if not path.is_file():
        if (path.parent / "done.json").is_file():
            raise DataError(
                f"checkpoint {path} does not exist, but its done.json does: this is a records "
                "folder (like results/<profile>/, which keeps a run's records and no weights); "
                "give the run folder the model was trained in (runs/<profile>), or train it "
                "again there with 'python -m marsutils train'"
            )
        raise DataError(f"checkpoint {path} does not exist")
    return path


def _run_key_checkpoint(run_dir: str | os.PathLike, model_key: str) -> Path:
    """``best_model.pt`` of ``<split>/<config>`` (seed 0) or ``<split>/<config>/seed<k>``."""
    from marsutils.core.layout import RunLayout

    key, _, last = model_key.rstrip("/").rpartition("/")
    if last.startswith("seed") and last[4:].isdigit():
        return RunLayout(run_dir).best_model(key, int(last[4:]))
    return RunLayout(run_dir).best_model(model_key.rstrip("/"), 0)


def _read_done(files: ExperimentFiles, path: Path) -> dict[str, Any]:
    """The ``done.json`` beside checkpoint ``path``; a :class:`DataError` if it is missing."""
    if not files.done.is_file():
        raise DataError(
            f"{files.done} is missing: evaluate needs the done.json that fit() writes beside "
            f"{path.name} to rebuild the model"
        )
    return read_json(files.done)


def _model_config(files: ExperimentFiles, done: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """The recorded model configuration and class names, checked to fit each other."""
    from marsutils.train.checkpoint import CheckpointError

    config = dict(done.get("model") or {})
    class_names = config.get("class_names")
    if class_names is None and files.metrics.is_file():
        class_names = read_json(files.metrics).get("class_names")
    if not class_names:
        raise CheckpointError(f"{files.done} and metrics.json record no class names")
    missing = [k for k in _NEEDED if k not in config]
    if missing:
        raise CheckpointError(f"{files.done}: the model configuration lacks {missing}")
    if int(config["num_classes"]) != len(class_names):
        raise CheckpointError(
            f"{files.done}: the model has {config['num_classes']} outputs but "
            f"{len(class_names)} class names {list(class_names)}"
        )
    return config, class_names


def _check_same_run(
    state: dict[str, Any], done: dict[str, Any], path: Path, done_path: Path
) -> None:
    """Raise if the checkpoint's fingerprint is not the run's that ``done.json`` records."""
    from marsutils.train.checkpoint import CheckpointError

    if done.get("fingerprint") is not None and state.get("fingerprint") != done["fingerprint"]:
        raise CheckpointError(
            f"{path} (fingerprint {state.get('fingerprint')}) is not the run recorded in "
            f"{done_path} (fingerprint {done['fingerprint']})"
        )


def _rebuild(config: dict[str, Any], state: dict[str, Any], path: Path, done_path: Path) -> Any:
    """The model of ``config`` (no pretrained weights) with the checkpoint's weights loaded."""
    from marsutils.models import build_model
    from marsutils.train.checkpoint import CheckpointError

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
    return model
