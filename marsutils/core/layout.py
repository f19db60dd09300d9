"""Where an experiment's files live in a run folder: the one place that joins those paths.

A run folder (``runs/<profile>`` by default) holds one folder per trained experiment::

    <run_dir>/experiments/<split>/<model>-<backbone>-<weights>-<budget>/seed<k>/
        checkpoint.pt  best_model.pt  done.json  history.json
        predictions_val.csv  predictions_test.csv  metrics.json  [metrics_tta<v>.json ...]
        [external_<folder>.csv ...]

``<split>/<model>-...`` is :attr:`~marsutils.study.experiments.ClassifierSpec.key` (the
configuration) and ``seed<k>`` the seed: seeds of one configuration sit side by side and never share
a file.

Run folders written before seeds were a study axis (such as the committed ``results/reference-v1``)
hold the files directly in ``experiments/<key>/``. Such a folder is *read* as seed 0 when
``<key>/seed0`` does not exist; training always writes to ``<key>/seed<k>``.

Beside the experiments a run folder holds::

    <run_dir>/splits/<split>-seed<k>.csv     the split files (one per split and seed)
    <run_dir>/results/<name>.json|csv        the chapters' records (:data:`RESULT_FILES`,
                                             read and written through marsutils.core.records)
    <run_dir>/pipeline.json                  the pipeline's wall times
    <run_dir>/seg/, <run_dir>/xai/           the segmentation and explainability caches
    <run_dir>/figures/, <run_dir>/notebooks/ the executed chapters and their figures
    <run_dir>/book/                          the book staged by the pipeline
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import overload

__all__ = ["RESULT_FILES", "ExperimentFiles", "RunLayout", "seed_folder"]

#: Short name -> file name of every chapter result under ``<run_dir>/results/``.
RESULT_FILES: dict[str, str] = {
    "data_summary": "data_summary.json",
    "training_summary": "training_summary.json",
    "ablation_tests": "ablation_tests.json",
    "baseline_tests": "baseline_tests.json",
    "xai_summary": "xai_summary.json",
    "efficiency": "efficiency.json",
    "efficiency_table": "efficiency.csv",
    "seg_study": "seg_study.json",
    "seg_pointing": "seg_pointing.json",
    "findings": "findings.json",
    "environment": "environment.json",
    "external": "external.json",
}

_SEED_DIR = re.compile(r"seed(\d+)")


class _Joined:
    """A read-only path attribute: the fixed name ``name`` under the instance's ``base``."""

    def __init__(self, base: str, name: str, doc: str) -> None:
        self.base, self.name, self.__doc__ = base, name, doc

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Joined: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Path: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Path | _Joined:
        """The path of ``obj`` (the descriptor itself on the class)."""
        return self if obj is None else getattr(obj, self.base) / self.name


@dataclass(frozen=True)
class ExperimentFiles:
    """The files of one experiment folder: the one place that names them.

    :func:`marsutils.train.fit` writes ``checkpoint``, ``best``, ``history``, the predictions
    and ``done`` (last); :func:`marsutils.study.experiments.run_classifier` adds ``metrics`` and the
    test-time-augmentation files.

    Parameters
    ----------
    folder : Path
        The experiment's folder (``experiments/<key>/seed<k>``, or any ``out_dir`` of ``fit``).
    """

    folder: Path

    checkpoint = _Joined(
        "folder",
        "checkpoint.pt",
        "``checkpoint.pt``: the training state after the last finished epoch.",
    )

    best = _Joined("folder", "best_model.pt", "``best_model.pt``: the selected weights.")

    done = _Joined("folder", "done.json", "``done.json``: written last, marks a finished training.")

    history = _Joined(
        "folder", "history.json", "``history.json``: one record per epoch (the learning curve)."
    )

    metrics = _Joined("folder", "metrics.json", "``metrics.json``: the single-view test metrics.")

    def tta_metrics(self, views: int) -> Path:
        """``metrics_tta<views>.json``: the test metrics averaged over ``views`` dihedral views."""
        return self.folder / f"metrics_tta{views}.json"

    def predictions(self, subset: str = "test", views: int = 1) -> Path:
        """``predictions_<subset>[_tta<views>].csv`` for ``subset`` ``"val"`` or ``"test"``.

        Raises
        ------
        ValueError
            For another ``subset``.
        """
        if subset not in ("val", "test"):
            raise ValueError(f"subset must be 'val' or 'test'; got {subset!r}")
        suffix = f"_tta{views}" if views > 1 else ""
        return self.folder / f"predictions_{subset}{suffix}.csv"

    def external(self, name: str) -> Path:
        """``external_<name>.csv``: the predictions on the external folder ``name`` (its folder
        name, e.g. ``hirise-v1``), written by :mod:`marsutils.study.external`.

        Raises
        ------
        ValueError
            For a ``name`` that is not a plain file-name part (empty, or with a path separator).
        """
        if not name or "/" in name or os.sep in name or name.startswith("."):
            raise ValueError(f"an external folder's name is a plain name; got {name!r}")
        return self.folder / f"external_{name}.csv"


def seed_folder(seed: int) -> str:
    """The folder name of ``seed`` (a non-negative integer), e.g. ``seed0``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"a seed is a non-negative integer; got {seed!r}")
    return f"seed{seed}"


@dataclass(frozen=True)
class RunLayout:
    """The paths of a run folder.

    Parameters
    ----------
    root : path
        The run folder, e.g. ``runs/quick``.
    """

    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    experiments = _Joined("root", "experiments", "``<root>/experiments``.")

    def experiment_dir(self, key: str, seed: int) -> Path:
        """The folder training writes for configuration ``key`` under ``seed``."""
        return self.experiments / key / seed_folder(seed)

    def legacy_dir(self, key: str) -> Path | None:
        """``experiments/<key>`` when it holds result files directly (a pre-seed run folder)."""
        folder = self.experiments / key
        if folder.is_dir() and any(p.is_file() for p in folder.iterdir()):
            return folder
        return None

    def result_dir(self, key: str, seed: int) -> Path:
        """The folder to *read* the results of ``key`` under ``seed`` from.

        The seed folder; for seed 0 of a pre-seed run folder (no ``seed0`` folder, result files
        directly in ``experiments/<key>``) that folder. The returned folder may not exist.
        """
        folder = self.experiment_dir(key, seed)
        if seed == 0 and not folder.exists():
            legacy = self.legacy_dir(key)
            if legacy is not None:
                return legacy
        return folder

    def files(self, key: str, seed: int) -> ExperimentFiles:
        """The files of ``key`` under ``seed`` where they are read (:meth:`result_dir`)."""
        return ExperimentFiles(self.result_dir(key, seed))

    def metrics(self, key: str, seed: int) -> Path:
        """The single-view test metrics of ``key`` under ``seed``."""
        return self.files(key, seed).metrics

    def tta_metrics(self, key: str, seed: int, views: int) -> Path:
        """The ``views``-view test-time-augmentation metrics of ``key`` under ``seed``."""
        return self.files(key, seed).tta_metrics(views)

    def best_model(self, key: str, seed: int) -> Path:
        """The best weights of ``key`` under ``seed``."""
        return self.files(key, seed).best

    def experiment_base(self, key: str) -> Path:
        """``experiments/<key>``: the folder of every seed of configuration ``key``."""
        return self.experiments / key

    def seeds(self, key: str) -> list[int]:
        """The seeds with a folder under ``experiments/<key>``, sorted; a pre-seed folder (result
        files directly in ``experiments/<key>``) counts as seed 0."""
        base = self.experiment_base(key)
        found = {
            int(m.group(1))
            for d in (base.iterdir() if base.is_dir() else ())
            if d.is_dir() and (m := _SEED_DIR.fullmatch(d.name))
        }
        if self.legacy_dir(key) is not None:
            found.add(0)
        return sorted(found)

    def history(self, key: str, seed: int) -> Path:
        """The per-epoch learning curve of ``key`` under ``seed``."""
        return self.files(key, seed).history

    def done(self, key: str, seed: int) -> Path:
        """The record of a finished training of ``key`` under ``seed``."""
        return self.files(key, seed).done

    def predictions(self, key: str, seed: int, subset: str = "test", views: int = 1) -> Path:
        """The saved predictions of ``key`` under ``seed`` on ``subset`` (``"val"`` or
        ``"test"``), averaged over ``views`` dihedral views when ``views > 1``."""
        return self.files(key, seed).predictions(subset, views)

    def done_files(self) -> list[Path]:
        """Every ``done.json`` under ``experiments/`` (any seed, any layout), sorted."""
        return sorted(self.experiments.rglob("done.json")) if self.experiments.is_dir() else []

    # ---------------------------------------------------------------- beside the experiments
    splits = _Joined("root", "splits", "``<root>/splits``.")

    def split_file(self, split: str, seed: int) -> Path:
        """The split file of ``split`` (``"family"``, ``"paper"``) drawn with ``seed``."""
        return self.splits / f"{split}-{seed_folder(seed)}.csv"

    results = _Joined("root", "results", "``<root>/results``: the chapters' records.")

    def result(self, name: str) -> Path:
        """The path of the chapter result ``name`` under ``results/``.

        Parameters
        ----------
        name : str
            A key of :data:`RESULT_FILES` (``"findings"``), or a file name ending in ``.json`` or
            ``.csv`` (a record's ``FILE``, e.g. ``"findings.json"``; a new chapter's record needs
            no entry here).

        Raises
        ------
        KeyError
            For a name that is neither, listing the known keys.
        """
        if name in RESULT_FILES:
            return self.results / RESULT_FILES[name]
        if Path(name).name == name and Path(name).suffix in (".json", ".csv"):
            return self.results / name
        raise KeyError(f"no result file {name!r}; known: {sorted(RESULT_FILES)}")

    pipeline_record = _Joined(
        "root", "pipeline.json", "``<root>/pipeline.json``: the pipeline's wall time per chapter."
    )

    grid_log = _Joined(
        "root",
        "grid_log.json",
        "``<root>/grid_log.json``: the wall time of each experiment a long run trained, with its "
        "seed, group, thread count and load average (``scripts/reference_run.py`` writes it).",
    )

    seg = _Joined("root", "seg", "``<root>/seg``: the segmentation chapter's caches.")

    xai = _Joined("root", "xai", "``<root>/xai``: the explainability chapter's caches.")

    figures = _Joined("root", "figures", "``<root>/figures``: the default figures folder.")

    notebooks = _Joined("root", "notebooks", "``<root>/notebooks``: the executed chapters.")

    book = _Joined("root", "book", "``<root>/book``: the pipeline's staged book.")

    def finished(self) -> list[tuple[str, int, Path]]:
        """``(key, seed, folder)`` of every experiment with a ``metrics.json``, sorted.

        A pre-seed folder counts as seed 0 unless the same key also has a ``seed0`` folder.
        """
        found: dict[tuple[str, int], Path] = {}
        for path in self.experiments.glob("*/*/seed*/metrics.json"):
            match = _SEED_DIR.fullmatch(path.parent.name)
            if match:
                key = path.parent.parent.relative_to(self.experiments).as_posix()
                found[(key, int(match.group(1)))] = path.parent
        for path in self.experiments.glob("*/*/metrics.json"):
            key = path.parent.relative_to(self.experiments).as_posix()
            if not (path.parent / seed_folder(0)).exists():
                found.setdefault((key, 0), path.parent)
        return [(key, seed, folder) for (key, seed), folder in sorted(found.items())]
