"""The two studies of the segmentation chapter, resumable and driven by a profile.

* :func:`run_seg_study`: the proposed model's dense head, U-Net and DeepLabV3+ trained under one
  protocol (same encoder, weights, crops, epochs, optimiser and folds by tile) and cross-validated
  on mars-orbital-seg-53. Every finished (model, fold) is cached in ``run_dir/seg/<model>/``, so
  an interrupted run continues and a re-run only loads.
* :func:`run_pointing_study`: the pointing game of a HiRISE classifier's crater-class saliency
  (Grad-CAM, IG with black and blurred baselines) on the tiles that contain craters, against
  random points and against a model-free control (image edges). Each method's result is cached
  in ``run_dir/seg/pointing/``.

Both write their results JSON atomically into ``run_dir/results/``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from marsutils.core.cache import CacheEntry
from marsutils.core.layout import RunLayout
from marsutils.core.profiles import Profile
from marsutils.core.progress import progress_bar
from marsutils.core.records import SegPointingRecord, SegStudyRecord
from marsutils.models import build_model
from marsutils.seg.classes import CLASS_NAMES, CRATER_MASK_ID, NUM_CLASSES
from marsutils.seg.folds import tile_folds
from marsutils.seg.pointing import PointingResult, edge_map, pointing_game, target_regions
from marsutils.seg.tiles import SegTile, load_tiles
from marsutils.seg.train import CrossValidation, cross_validate
from marsutils.seg.windows import tile_saliency
from marsutils.stats.rules import ALPHA, holm
from marsutils.train.runtime import resolve_device
from marsutils.xai import AttributionSettings, explain

__all__ = [
    "EDGE_SIGMA",
    "HIRISE_CROP",
    "POINTING_LABELS",
    "POINTING_METHODS",
    "SEG_BATCH_SIZE",
    "SEG_LR",
    "SEG_MODELS",
    "SEG_MODEL_LABELS",
    "PointingStudy",
    "SegStudy",
    "model_digest",
    "run_pointing_study",
    "run_seg_study",
    "select_tiles",
]

#: The dense models compared, as :func:`marsutils.models.build_model` names.
SEG_MODELS: tuple[str, ...] = ("full", "unet", "deeplabv3plus")
SEG_MODEL_LABELS: dict[str, str] = {
    "full": "proposed (dense head)",
    "unet": "U-Net",
    "deeplabv3plus": "DeepLabV3+",
}
#: Crops per optimiser step and AdamW learning rate, the same for every model.
SEG_BATCH_SIZE = 8
SEG_LR = 1e-3
#: Maps of the pointing game: :data:`marsutils.xai.METHODS` names and the model-free control.
POINTING_METHODS: tuple[str, ...] = ("gradcam", "ig_black", "ig_blur", "edges")
POINTING_LABELS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "ig_black": "IG (black baseline)",
    "ig_blur": "IG (blurred baseline)",
    "edges": "image edges (control)",
}
#: Side of the HiRISE landmark crops the classifier was trained on.
HIRISE_CROP = 227
#: Smoothing of the edge control, in pixels.
EDGE_SIGMA = 2.0


def select_tiles(tiles: Sequence[SegTile], max_tiles: int | None) -> list[SegTile]:
    """The first ``max_tiles`` tiles in natural stem order (all when None)."""
    if max_tiles is None:
        return list(tiles)
    if max_tiles < 2:
        raise ValueError(f"max_tiles must be None or >= 2, got {max_tiles}.")
    return list(tiles)[:max_tiles]


# ------------------------------------------------------------------------------------------------
# Supervised segmentation
# ------------------------------------------------------------------------------------------------


@dataclass
class SegStudy:
    """Cross-validation results per model (keys of :data:`SEG_MODELS`) on the same folds."""

    results: dict[str, CrossValidation]
    tiles: list[SegTile] = field(repr=False)
    config: dict[str, Any]

    def per_fold(self) -> pd.DataFrame:
        """Columns ``model, fold, class, iou, n_val_tiles`` (class includes ``mIoU``)."""
        return pd.concat(
            [
                cv.per_fold.assign(model=SEG_MODEL_LABELS.get(m, m))
                for m, cv in self.results.items()
            ],
            ignore_index=True,
        )[["model", "fold", "class", "iou", "n_val_tiles"]]

    def summary(self) -> pd.DataFrame:
        """One row per (model, class): fold mean, std, min, max, n_folds and the pooled IoU."""
        frames = []
        for name, cv in self.results.items():
            pooled = cv.pooled.as_dict(CLASS_NAMES)
            frame = cv.summary.assign(
                model=SEG_MODEL_LABELS.get(name, name),
                pooled=[pooled[c] for c in cv.summary["class"]],
            )
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)[
            ["model", "class", "mean", "std", "min", "max", "n_folds", "pooled"]
        ]

    def wide_summary(self, decimals: int = 3) -> pd.DataFrame:
        """Models as rows, classes as columns, cells ``"mean ± std"`` over folds."""
        frame = self.summary()
        cells = [
            f"{m:.{decimals}f} ± {s:.{decimals}f}" if np.isfinite(s) else f"{m:.{decimals}f}"
            for m, s in zip(frame["mean"], frame["std"], strict=True)
        ]
        wide = frame.assign(cell=cells).pivot(index="model", columns="class", values="cell")
        models = list(dict.fromkeys(frame["model"]))
        classes = list(dict.fromkeys(frame["class"]))
        return wide.loc[models, classes].rename_axis(index=None, columns=None)

    def comparison_sentences(self, reference: str = "full") -> list[str]:
        """Sentences ranking the models by mean held-out mIoU and counting, fold by fold, how
        often ``reference`` beats each other model (computed, for the chapter's text)."""
        miou = self.per_fold().query("`class` == 'mIoU'")
        table = miou.pivot(index="fold", columns="model", values="iou")
        means = table.mean().sort_values(ascending=False)
        ranking = ", ".join(f"{m} ({v:.3f})" for m, v in means.items())
        sentences = [f"Ranked by mean held-out mIoU over {len(table)} folds: {ranking}."]
        ref = SEG_MODEL_LABELS.get(reference, reference)
        if ref not in table:
            return sentences
        for other in table.columns.drop(ref):
            wins = int((table[ref] > table[other]).sum())
            sentences.append(
                f"{ref} scores a higher mIoU than {other} in {wins} of {len(table)} folds."
            )
        return sentences

    def predictions(self, model: str) -> dict[str, np.ndarray]:
        """Out-of-fold predicted model class ids per tile stem for ``model``."""
        return self.results[model].out_of_fold_predictions()

    def training_seconds(self) -> dict[str, float]:
        """Summed training + evaluation time of every model's folds (as first trained)."""
        return {
            SEG_MODEL_LABELS.get(m, m): float(sum(f.seconds for f in cv.fits))
            for m, cv in self.results.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the whole study."""
        return {
            "config": self.config,
            "class_names": list(CLASS_NAMES),
            "models": {m: cv.to_dict() for m, cv in self.results.items()},
        }


def _seg_config(profile: Profile, seed: int, tiles: Sequence[SegTile]) -> dict[str, Any]:
    return {
        "profile": profile.name,
        "backbone": profile.backbone,
        "weights": str(profile.weights),
        "epochs": profile.seg_epochs,
        "folds": profile.seg_folds,
        "crop": profile.seg_crop,
        "image_size": profile.seg_image_size,
        "batch_size": SEG_BATCH_SIZE,
        "lr": SEG_LR,
        "seed": seed,
        "tiles": [t.stem for t in tiles],
        "ignore_index": "unlabelled pixels (mask 0) are ignored by the loss and the metric",
    }


def run_seg_study(
    profile: Profile,
    run_dir: str | os.PathLike,
    *,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    seg_dir: str | os.PathLike | None = None,
    tiles: Sequence[SegTile] | None = None,
    models: Sequence[str] = SEG_MODELS,
    progress: bool = True,
) -> SegStudy:
    """Cross-validate ``models`` on the tiles under ``profile``'s ``seg_*`` budget.

    Every model is built by :func:`marsutils.models.build_model` with ``num_classes=4`` and the
    profile's backbone and weights, and trained by
    :func:`~marsutils.seg.train.fit_segmentation` on the same ``profile.seg_folds`` folds by tile.
    Training and evaluation run in ``profile.precision`` where the profile fixes one (else
    :func:`~marsutils.train.runtime.resolve_precision` decides). The study is written to
    ``run_dir/results/seg_study.json``.
    """
    run_dir = Path(run_dir)
    all_tiles = list(tiles) if tiles is not None else load_tiles(seg_dir, with_polygons=False)
    chosen = select_tiles(all_tiles, profile.seg_max_tiles)
    splits = tile_folds(len(chosen), n_splits=profile.seg_folds, seed=seed)
    config = _seg_config(profile, seed, chosen)
    results: dict[str, CrossValidation] = {}
    for name in progress_bar(models, desc="models", disable=not progress):

        def factory(name: str = name) -> nn.Module:
            return build_model(
                name, num_classes=NUM_CLASSES, backbone=profile.backbone, weights=profile.weights
            )

        results[name] = cross_validate(
            factory,
            folds=splits,
            tiles=chosen,
            seed=seed,
            cache_dir=RunLayout(run_dir).seg / name,
            cache_key={"model": name, "backbone": profile.backbone, "weights": profile.weights},
            epochs=profile.seg_epochs,
            crop=profile.seg_crop,
            image_size=profile.seg_image_size,
            batch_size=SEG_BATCH_SIZE,
            lr=SEG_LR,
            device=device,
            # the profile's one precision; None (older profiles): $MARS_PRECISION, then auto,
            # and the fold identity stays as it was recorded before profiles fixed one
            **({"precision": profile.precision} if profile.precision else {}),
        )
    study = SegStudy(results=results, tiles=chosen, config=config)
    record = SegStudyRecord.from_dict(study.to_dict())
    record.to_json(RunLayout(run_dir).result(record.FILE))
    return study


# ------------------------------------------------------------------------------------------------
# Pointing game
# ------------------------------------------------------------------------------------------------


def model_digest(model: nn.Module) -> str:
    """SHA-1 of a model's state dict (names, shapes and values): identifies trained weights."""
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class PointingStudy:
    """Pointing-game results per ``(method, tolerance)`` and example maps for figures.

    ``examples[method]`` holds the saliency maps ``(n, H, W)`` of the tiles ``example_stems``.
    """

    results: dict[tuple[str, int], PointingResult]
    example_stems: list[str]
    examples: dict[str, np.ndarray] = field(repr=False)
    config: dict[str, Any]

    def table(self, alpha: float = ALPHA) -> pd.DataFrame:
        """One row per (method, tolerance): hit rate, its CI, the random baseline, the one-sided
        p-value, its Holm-adjusted value over all rows (``p_holm``, the book's one
        multiple-testing rule, :func:`marsutils.stats.rules.holm`) and ``above_random`` when
        ``p_holm < alpha``."""
        rows = []
        for (method, tolerance), res in self.results.items():
            p = res.p_value_exact if res.p_value_exact is not None else res.p_value_monte_carlo
            rows.append(
                {
                    "method": method,
                    "tolerance_px": tolerance,
                    "hit_rate": res.hit_rate,
                    "ci_low": res.ci_low,
                    "ci_high": res.ci_high,
                    "random_baseline": res.baseline_expected,
                    "p_value": p,
                    "n_tiles": res.n_tiles,
                    "n_flat_maps": res.n_flat_maps,
                }
            )
        table = pd.DataFrame(rows)
        reject, adjusted = holm(table["p_value"].to_numpy() if rows else [], alpha)
        table.insert(7 if rows else 0, "p_holm", adjusted)
        table.insert(8 if rows else 0, "above_random", reject)
        return table

    def verdicts(self, alpha: float = ALPHA, labels: dict[str, str] | None = None) -> list[str]:
        """One sentence per (method, tolerance), computed from the result, for the text
        (Holm over all rows, as in :meth:`table`)."""
        sentences = []
        for row in self.table(alpha).itertuples():
            name = (labels or {}).get(row.method, row.method)
            verdict = (
                f"above the random baseline (one-sided p = {row.p_value:.3g}, Holm-adjusted "
                f"{row.p_holm:.3g} < {alpha:g})"
                if row.above_random
                else f"not distinguishable from random points (p = {row.p_value:.3g}, "
                f"Holm-adjusted {row.p_holm:.3g})"
            )
            sentences.append(
                f"{name}, tolerance {row.tolerance_px} px: hit rate {row.hit_rate:.2f} "
                f"(95% CI {row.ci_low:.2f}-{row.ci_high:.2f}) on {row.n_tiles} tiles vs "
                f"{row.random_baseline:.2f} for random points: {verdict}."
            )
        return sentences

    def against_control(self, control: str = "edges", alpha: float = ALPHA) -> pd.DataFrame:
        """Each method against ``control`` on the same tiles, per tolerance: tiles hit by the
        method only and by the control only, the two-sided exact sign test (binomial) on
        those discordant tiles, its Holm-adjusted p-value over the rows (``p_holm``) and
        ``above_control`` (the two differ) when ``p_holm < alpha``."""
        rows = []
        for (method, tolerance), res in self.results.items():
            if method == control or (control, tolerance) not in self.results:
                continue
            ours = res.per_tile.set_index("tile")["score"]
            theirs = self.results[(control, tolerance)].per_tile.set_index("tile")["score"]
            ours, theirs = ours.align(theirs, join="inner")
            only_method = int((ours > theirs).sum())
            only_control = int((theirs > ours).sum())
            discordant = only_method + only_control
            p = stats.binomtest(only_method, discordant).pvalue if discordant else 1.0
            rows.append(
                {
                    "method": method,
                    "tolerance_px": tolerance,
                    "hit_rate": float(ours.mean()),
                    "control_hit_rate": float(theirs.mean()),
                    "only_method": only_method,
                    "only_control": only_control,
                    "p_value": float(p),
                }
            )
        table = pd.DataFrame(rows)
        reject, adjusted = holm(table["p_value"].to_numpy() if rows else [], alpha)
        table["p_holm"] = adjusted
        table["above_control"] = reject
        return table

    def control_sentences(
        self, control: str = "edges", alpha: float = ALPHA, labels: dict[str, str] | None = None
    ) -> list[str]:
        """One sentence per row of :meth:`against_control` (Holm over its rows)."""
        table = self.against_control(control, alpha)
        control_name = (labels or {}).get(control, control)
        sentences = []
        for row in table.itertuples():
            name = (labels or {}).get(row.method, row.method)
            if row.above_control:
                side = "more" if row.only_method > row.only_control else "fewer"
                verdict = (
                    f"{name} hits {side} tiles than {control_name} (p = {row.p_value:.3g}, "
                    f"Holm-adjusted {row.p_holm:.3g})"
                )
            else:
                verdict = (
                    f"{name} and {control_name} are not distinguishable "
                    f"(p = {row.p_value:.3g}, Holm-adjusted {row.p_holm:.3g})"
                )
            tiles = "tile" if row.only_method == 1 else "tiles"
            sentences.append(
                f"Tolerance {row.tolerance_px} px: {row.only_method} {tiles} hit by {name} only, "
                f"{row.only_control} by {control_name} only; {verdict}."
            )
        return sentences

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (per-tile tables included)."""
        return {
            "config": self.config,
            "results": [
                {"method": m, "tolerance": t, **res.to_dict()}
                for (m, t), res in self.results.items()
            ],
        }


def _method_entry(cache_dir: Path, method: str) -> CacheEntry:
    """``<method>.json`` (identity, results per tolerance) and ``<method>_examples.npz``."""
    return CacheEntry(cache_dir, method, arrays_suffix="_examples")


def _pointing_from_dict(record: dict[str, Any]) -> PointingResult:
    values = {k: v for k, v in record.items() if k != "per_tile"}
    return PointingResult(**values, per_tile=pd.DataFrame(record["per_tile"]))


def _load_method(
    cache_dir: Path, method: str, identity: dict
) -> tuple[dict[int, PointingResult], np.ndarray] | None:
    cached = _method_entry(cache_dir, method).load(identity, arrays=("maps",))
    if cached is None:
        return None
    record, arrays = cached
    results = {int(r["tolerance"]): _pointing_from_dict(r) for r in record["results"]}
    return results, arrays["maps"]


def _save_method(
    cache_dir: Path,
    method: str,
    identity: dict,
    results: dict[int, PointingResult],
    examples: np.ndarray,
) -> None:
    _method_entry(cache_dir, method).save(
        identity,
        {"maps": examples.astype(np.float32)},
        {"results": [r.to_dict() for r in results.values()]},
    )


def _saliency(
    method: str,
    images: np.ndarray,
    classifier: nn.Module,
    target: int,
    profile: Profile,
    device: torch.device,
) -> np.ndarray:
    """Tile-sized maps of one method: the edge control, or an xai method through the windows."""
    if method == "edges":
        return edge_map(images, sigma=EDGE_SIGMA)
    settings = AttributionSettings(n_steps=profile.ig_steps, internal_batch_size=64)

    def attribute(batch: torch.Tensor) -> torch.Tensor:
        return explain(classifier, batch.to(device), target, method, settings)

    return tile_saliency(
        images,
        attribute,
        mode=profile.seg_saliency_mode,
        window=HIRISE_CROP,
        input_size=profile.image_size,
    )


def run_pointing_study(
    classifier: nn.Module,
    profile: Profile,
    run_dir: str | os.PathLike,
    *,
    target_class: int,
    classifier_key: str = "",
    seed: int = 0,
    device: str | torch.device | None = "auto",
    seg_dir: str | os.PathLike | None = None,
    tiles: Sequence[SegTile] | None = None,
    methods: Sequence[str] = POINTING_METHODS,
    tolerances: Sequence[int] = (0, 15),
    target_source: str = "polygons",
    n_examples: int = 3,
    progress: bool = True,
) -> PointingStudy:
    """Play the pointing game with ``classifier``'s ``target_class`` saliency on crater tiles.

    Saliency comes from :func:`marsutils.xai.explain` (Grad-CAM in ``[0, 1]``, IG with
    ``profile.ig_steps`` steps reduced to its absolute value) through
    :func:`~marsutils.seg.windows.tile_saliency` in ``profile.seg_saliency_mode``, with 227-pixel
    windows resized to the classifier's ``profile.image_size`` as in its training; ``"edges"`` is
    the model-free control :func:`~marsutils.seg.pointing.edge_map`. The tiles are those of
    :func:`select_tiles` that contain craters; the target region comes from
    :func:`~marsutils.seg.pointing.target_regions` with ``target_source`` (default: the union of
    the crater polygons as drawn). Results (every tolerance) are cached per method in
    ``run_dir/seg/pointing/`` and written to ``run_dir/results/seg_pointing.json``.
    """
    unknown = sorted(set(methods) - set(POINTING_METHODS))
    if unknown:
        raise ValueError(f"unknown pointing method(s) {unknown}; choose from {POINTING_METHODS}")
    run_dir = Path(run_dir)
    device = resolve_device(device)
    classifier = classifier.to(device).eval()
    all_tiles = list(tiles) if tiles is not None else load_tiles(seg_dir, with_polygons=True)
    images, regions, stems, example_idx = _crater_tiles(
        select_tiles(all_tiles, profile.seg_max_tiles), target_source, n_examples
    )
    config = _pointing_config(
        classifier,
        profile,
        classifier_key,
        int(target_class),
        stems,
        tolerances,
        target_source,
        seed,
    )
    cache_dir = RunLayout(run_dir).seg / "pointing"
    results: dict[tuple[str, int], PointingResult] = {}
    examples: dict[str, np.ndarray] = {}
    for method in progress_bar(methods, desc="saliency", disable=not progress):
        identity = {**config, "method": method}
        cached = _load_method(cache_dir, method, identity)
        if cached is None:
            maps = _saliency(method, images, classifier, int(target_class), profile, device)
            by_tolerance = _pointing_by_tolerance(maps, regions, tolerances, seed, stems)
            _save_method(cache_dir, method, identity, by_tolerance, maps[example_idx])
            cached = by_tolerance, maps[example_idx]
        by_tolerance, examples[method] = cached
        for tol, res in by_tolerance.items():
            results[(method, tol)] = res
    study = PointingStudy(
        results=results,
        example_stems=[stems[i] for i in example_idx],
        examples=examples,
        config=config,
    )
    record = SegPointingRecord.from_dict(study.to_dict())
    record.to_json(RunLayout(run_dir).result(record.FILE))
    return study


def _crater_tiles(
    chosen: Sequence[SegTile], target_source: str, n_examples: int
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Images, regions, stems of the crater tiles and the positions of the most cratered few."""
    regions = target_regions(chosen, CRATER_MASK_ID, source=target_source)
    keep = np.flatnonzero(regions.any(axis=(1, 2)))
    if keep.size == 0:
        raise ValueError("none of the selected tiles contains a crater; raise seg_max_tiles.")
    regions = regions[keep]
    images = np.stack([chosen[i].image for i in keep])
    stems = [chosen[i].stem for i in keep]
    order = np.argsort(-regions.mean(axis=(1, 2)), kind="stable")
    example_idx = np.sort(order[: min(n_examples, len(order))])
    return images, regions, stems, example_idx


def _pointing_config(
    classifier: nn.Module,
    profile: Profile,
    classifier_key: str,
    target_class: int,
    stems: list[str],
    tolerances: Sequence[int],
    target_source: str,
    seed: int,
) -> dict[str, Any]:
    """What a pointing result depends on (its cache identity, less the method)."""
    return {
        "classifier": classifier_key,
        "classifier_sha1": model_digest(classifier),
        "target_class": target_class,
        "mode": profile.seg_saliency_mode,
        "window": HIRISE_CROP,
        "input_size": profile.image_size,
        "ig_steps": profile.ig_steps,
        "ig_reduce": "abs",
        "edge_sigma": EDGE_SIGMA,
        "tiles": stems,
        "tolerances": [int(t) for t in tolerances],
        "target_source": target_source,
        "seed": seed,
    }


def _pointing_by_tolerance(
    maps: np.ndarray,
    regions: np.ndarray,
    tolerances: Sequence[int],
    seed: int,
    stems: list[str],
) -> dict[int, PointingResult]:
    """The pointing game of one method's ``maps`` at every tolerance."""
    return {
        int(tol): pointing_game(maps, regions, tolerance=int(tol), seed=seed, names=stems)
        for tol in tolerances
    }
