"""Where an experiment's files live in a run folder: the one place that joins those paths.

A run folder (``runs/<profile>`` by default) holds one folder per trained experiment::

    <run_dir>/experiments/<split>/<model>-<backbone>-<weights>-<budget>/seed<k>/
        checkpoint.pt  best_model.pt  done.json  history.json
        predictions_val.csv  predictions_test.csv  metrics.json  [metrics_tta<v>.json ...]

``<split>/<model>-...`` is :attr:`~marsutils.experiments.ClassifierSpec.key` (the configuration)
and ``seed<k>`` the seed: seeds of one configuration sit side by side and never share a file.

Run folders written before seeds were a study axis (such as the committed ``results/reference``)
hold the files directly in ``experiments/<key>/``. Such a folder is *read* as seed 0 when
``<key>/seed0`` does not exist; training always writes to ``<key>/seed<k>``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunLayout", "seed_folder"]

_SEED_DIR = re.compile(r"seed(\d+)")


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

    @property
    def experiments(self) -> Path:
        """``<root>/experiments``."""
        return self.root / "experiments"

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

    def metrics(self, key: str, seed: int) -> Path:
        """The single-view test metrics of ``key`` under ``seed``."""
        return self.result_dir(key, seed) / "metrics.json"

    def tta_metrics(self, key: str, seed: int, views: int) -> Path:
        """The ``views``-view test-time-augmentation metrics of ``key`` under ``seed``."""
        return self.result_dir(key, seed) / f"metrics_tta{views}.json"

    def best_model(self, key: str, seed: int) -> Path:
        """The best weights of ``key`` under ``seed``."""
        return self.result_dir(key, seed) / "best_model.pt"

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
