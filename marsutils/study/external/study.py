"""The external-validation study: every compared classifier of a run, scored on a second release.

``python -m marsutils.study.external --run-dir RUN --profile P [--data-dir DIR]
[--training-data-dir DIR]`` predicts the external folder with every fold's model
(:func:`~marsutils.study.external.predictions.predict_external`; current files are reused) and
writes the run's ``results/external.json`` (:class:`marsutils.core.records.ExternalRecord`).

**Overlap between the releases.** Two releases cut from overlapping HiRISE observations may hold
the same landmark twice (re-cropped or re-encoded). Every scored external image is compared with
every image that *any* of the run's family-split models was fitted or selected on (the union of
their split files' train and val rows, in a training folder of the recorded fingerprint:
:func:`marsutils.evaluate.training_images`) by the twin matcher
(:func:`marsutils.data.overlap.training_overlap`: same bytes, or a dihedral thumbnail match); an
image whose external twin family holds a match is *overlapping*. The union makes one set of
non-overlapping images for every model, so the models stay paired on it. The verdicts are judged
on the non-overlapping images (the external test proper); the whole folder is scored beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from marsutils.core import paper
from marsutils.core.layout import RunLayout
from marsutils.core.profiles import Profile, ProfileError, get_profile
from marsutils.core.records import ExternalRecord, FindingsRecord
from marsutils.data.errors import DataError
from marsutils.stats.metrics import MetricsError
from marsutils.study.external.predictions import (
    ExternalFolder,
    external_folder,
    external_specs,
    predict_external,
)
from marsutils.study.external.scores import (
    class_drops,
    external_comparisons,
    model_scores,
    present_labels,
)

__all__ = ["external_study", "main", "release_overlap"]

_NOTEBOOK = {"unet": "baselines", "deeplabv3plus": "baselines"}
_RULE = (
    "twin of a train or val image of any family-split model by bytes or dihedral thumbnail "
    "(correlation > 0.99); whole external twin families left out"
)


def release_overlap(
    run_dir: str | os.PathLike,
    profile: Profile,
    ext: ExternalFolder,
    *,
    seed: int = 0,
    training_data_dir: str | os.PathLike | None = None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The overlap of the scored external images with the run's training images (module doc).

    Returns
    -------
    section : dict
        ``checked``; when True the counts of :meth:`marsutils.data.overlap.Overlap.counts`,
        ``n_training_images``, ``n_images_without_overlap`` and the ``rule``; else the
        ``reason``.
    overlapping : numpy.ndarray of bool, shape (n,), or None
        Per scored external image; None when the overlap could not be checked.

    Raises
    ------
    DataError
        ``training_data_dir`` does not exist, or a split file is malformed.
    """
    from marsutils.data import load_images
    from marsutils.data.overlap import training_overlap
    from marsutils.evaluate import training_images

    layout = RunLayout(run_dir)
    # the models of one split share its split file: each split's training rows are read once
    per_split = {s.split: s for specs in external_specs(profile, seed).values() for s in specs}
    found, dataset = [], None
    for spec in per_split.values():
        training = training_images(layout.files(spec.key, seed).best, training_data_dir)
        if isinstance(training, str):
            return {"checked": False, "reason": training}, None
        found.append(training.rows)
        dataset = training.dataset
    if dataset is None:
        return {"checked": False, "reason": "the profile has no family-split model"}, None
    rows = np.unique(np.concatenate(found))
    folder = ext.folder
    overlap = training_overlap(
        folder.dataset.subset(ext.rows),
        folder.images[ext.rows],
        ext.families,
        dataset.subset(rows),
        load_images(dataset, progress=False)[rows],
    )
    section = {
        "checked": True,
        "n_training_images": overlap.n_training,
        **overlap.counts(),
        "n_images_without_overlap": int((~overlap.overlapping).sum()),
        "rule": _RULE,
    }
    return section, overlap.overlapping


def _folder_section(ext: ExternalFolder) -> dict[str, Any]:
    folder = ext.folder
    names = list(paper.DATASET_CLASSES)
    return {
        "name": ext.name,
        "data_dir": str(folder.dataset.root),
        "data_fingerprint": ext.fingerprint,
        "n_folder_images": len(folder.dataset),
        "n_images": len(ext.rows),
        "n_families": len(np.unique(ext.families)),
        **folder.class_sections(names, ext.scored_labels),
        "class_counts": {names[j]: int((ext.y_true == j).sum()) for j in ext.scored_labels},
    }


def _model_entry(
    entry: dict, ext: ExternalFolder, subsets: dict, evidence: Any, settings: dict
) -> tuple[dict[str, Any], np.ndarray | None]:
    keys = [s.key for s in entry["specs"]]
    if entry["missing"]:
        return {"folds": keys, "missing": entry["missing"]}, None
    preds = np.stack([f["y_pred"].to_numpy() for f in entry["frames"]])
    labels = ext.scored_labels
    scores = model_scores(ext.y_true, preds, ext.families, labels, subsets, **settings)
    cm = np.zeros((len(paper.DATASET_CLASSES),) * 2, dtype=np.int64)
    for p in preds:
        np.add.at(cm, (ext.y_true, p), 1)
    out = {"folds": keys, "missing": {}, **scores, "confusion_matrix": cm.tolist()}
    if evidence is not None:
        y_in, _, g_in = evidence.runs[0]
        p_in = np.stack([p for _, p, _ in evidence.runs])
        out.update(
            class_drops(
                (y_in, p_in, g_in),
                (ext.y_true, preds, ext.families),
                labels,
                paper.DATASET_CLASSES,
                **settings,
            )
        )
    return out, preds


def _beside_findings(rows: list[dict], findings: FindingsRecord | None) -> None:
    """Add each claim's in-release verdict and whether the external one agrees (in place)."""
    verdicts = {} if findings is None else {f.claim: f.verdict for f in findings.findings}
    for row in rows:
        inside = verdicts.get(row["claim"])
        row["in_release_verdict"] = inside
        if inside is None:
            row["robustness"] = "no in-release verdict in this run"
        elif row["verdict"] == inside:
            row["robustness"] = "holds"
        else:
            row["robustness"] = f"differs: {inside} in-release, {row['verdict']} external"


def _score_models(
    run_dir: str | os.PathLike,
    profile: Profile,
    seed: int,
    ext: ExternalFolder,
    predicted: dict[str, dict],
    subsets: dict[str, np.ndarray],
    settings: dict[str, int],
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``models`` section of the record and each complete model's ``(K, n)`` predictions."""
    from marsutils.study.findings import RunEvidence

    evidence = RunEvidence(Path(run_dir), profile, seed)
    models, preds = {}, {}
    for model, entry in predicted.items():
        ev = evidence.evidence(_NOTEBOOK.get(model, "ablation"), model)
        models[model], p = _model_entry(entry, ext, subsets, ev, settings)
        if p is not None:
            preds[model] = p
    return models, preds


def _comparisons(
    preds: dict[str, np.ndarray], ext: ExternalFolder, mask: np.ndarray, settings: dict[str, int]
) -> list[dict[str, Any]]:
    """Claims C12-C18 on the images of ``mask`` (``preds`` already restricted to them)."""
    from marsutils.study.findings import COMPARISONS, table3_effect

    effects = {c[0]: c[6] if c[6] is not None else table3_effect(*c[3:6]) for c in COMPARISONS}
    return external_comparisons(
        COMPARISONS,
        preds,
        ext.y_true[mask],
        ext.families[mask],
        present_labels(ext.scored_labels, ext.y_true[mask]),
        effects={k: float(v) for k, v in effects.items()},
        **settings,
    )


def external_study(
    run_dir: str | os.PathLike,
    profile: Profile,
    data_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    training_data_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> ExternalRecord:
    """Score every compared classifier of the run on ``data_dir`` and write the record.

    Parameters
    ----------
    run_dir : path-like
        The run folder; ``results/external.json`` is written there (atomically).
    profile : Profile
        The run's profile: its plan, ``n_boot``, ``max_images`` and precision.
    data_dir : path-like, optional
        The external labelled folder (default: :func:`marsutils.data.locate_external_dir`,
        ``$MARS_EXTERNAL_DIR`` or the shared ``hirise-v1``).
    seed : int
        The run's seed (its models) and the seed of every resample.
    training_data_dir : path-like, optional
        The run's training folder, for the overlap (default as
        :func:`marsutils.evaluate.training_images`).

    Returns
    -------
    ExternalRecord

    Raises
    ------
    DataError
        A folder is missing or unreadable.
    marsutils.evaluate.checkpoint.CheckpointError
        A checkpoint does not fit its ``done.json``.
    """
    from marsutils.data import locate_external_dir

    ext = external_folder(
        locate_external_dir(data_dir), max_images=profile.max_images, seed=seed, progress=progress
    )
    predicted = predict_external(run_dir, profile, ext, seed=seed)
    overlap, overlapping = release_overlap(
        run_dir, profile, ext, seed=seed, training_data_dir=training_data_dir
    )
    every = np.ones(len(ext.rows), dtype=bool)
    subsets = {"all": every, "no_overlap": every if overlapping is None else ~overlapping}
    judged = "no_overlap" if overlapping is not None else "all"
    settings = {"n_boot": profile.n_boot, "random_state": seed}
    models, preds = _score_models(run_dir, profile, seed, ext, predicted, subsets, settings)
    mask = subsets[judged]
    comparisons = _comparisons({m: p[:, mask] for m, p in preds.items()}, ext, mask, settings)
    layout = RunLayout(run_dir)
    _beside_findings(comparisons, FindingsRecord.read(layout.result(FindingsRecord.FILE)))
    record = ExternalRecord(
        config={
            "profile": profile.name,
            "seed": seed,
            "n_boot": profile.n_boot,
            "judged_on": judged,
            "design": "the K models of each configuration as K repeats on the same images",
        },
        folder=_folder_section(ext),
        overlap=overlap,
        models=models,
        comparisons=comparisons,
    )
    record.to_json(layout.result(ExternalRecord.FILE))
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m marsutils.study.external",
        description="Score every compared classifier of a run on a second labelled release "
        "and write the run's results/external.json.",
    )
    parser.add_argument("--run-dir", required=True, type=Path, help="the run folder")
    parser.add_argument("--profile", required=True, help="the run's profile name")
    parser.add_argument(
        "--data-dir", type=Path, help="the external labelled folder (default: hirise-v1)"
    )
    parser.add_argument("--training-data-dir", type=Path, help="the run's training folder")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed")
    args = parser.parse_args(argv)
    try:
        record = external_study(
            args.run_dir,
            get_profile(args.profile),
            args.data_dir,
            seed=args.seed,
            training_data_dir=args.training_data_dir,
            progress=True,
        )
    except (ProfileError, DataError, MetricsError) as err:
        # bad input: one line naming the parameter or file, as `python -m marsutils` does
        print(f"error: {err}", file=sys.stderr)
        return 2
    done = [m for m, e in record.models.items() if not e["missing"]]
    print(f"{RunLayout(args.run_dir).result(ExternalRecord.FILE)}: {len(done)} models scored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
