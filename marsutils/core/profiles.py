"""Execution profiles: the one place that decides how long every notebook takes.

A profile is a frozen dataclass. :func:`get_profile` returns a named profile, optionally with some
fields overridden; an unknown profile name or field raises :class:`ProfileError` with the valid
choices in the message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PRECISIONS",
    "Profile",
    "ProfileError",
    "PROFILES",
    "get_profile",
    "profile_names",
    "split_names",
]

#: The precisions a profile may fix for every classifier of its comparisons (None: the
#: per-machine probe of :mod:`marsutils.train.runtime` chooses, outside comparisons only).
PRECISIONS = ("fp32", "bf16", "fp16")


#: The allowed values of a profile's text fields with a fixed choice.
_CHOICES = {"seg_saliency_mode": ("window", "resize"), "selection": ("last", "best_val_macro_f1")}


class ProfileError(ValueError):
    """Raised for an unknown profile name, an unknown field, or an invalid value."""


@dataclass(frozen=True)
class Profile:
    """Every knob that sets the cost of a run.

    Training fields apply to the proposed model: ``epochs`` of ``samples_per_epoch`` class-balanced
    draws (None = as many as the training part holds) at ``image_size`` pixels. The ablation
    configurations and the baselines are all trained (a "full" model included, for a
    like-for-like table) under one shared budget: ``ablation_image_size``, ``ablation_epochs``
    and ``ablation_samples`` (0 / None = the main value). When that budget equals the main one,
    the main model is reused rather than retrained. On the paper split the ablation trains
    ``paper_split_ablation`` plus "full" (an empty tuple: no paper-split ablation).
    ``scratch_*`` set the ResNet-50-from-scratch runs (``scratch_epochs=0``: none).
    ``seeds`` are the seeds every classifier experiment is trained under (the study's seed axis,
    see :func:`marsutils.study.experiments.grid`); ``python -m marsutils.book.pipeline --seeds``
    overrides them. ``paper_split_seeds`` = n trains the paper-split experiments under the first n
    of those seeds only (None: all): the leaky paper split is a reference, not a compared model.
    ``selection`` is the model-selection rule of :class:`marsutils.train.FitConfig`: ``"last"``
    (train the whole budget, keep the final weights) or ``"best_val_macro_f1"`` (early stopping
    on validation macro F1 with ``patience``).

    ``cv_folds`` = K > 0 replaces each hold-out split of ``splits`` by K cross-validation folds
    (:func:`split_names`; :func:`marsutils.data.splits.make_split`): every image is tested once
    per seed, and each seed draws the folds anew (a *repeat*). 0 keeps the hold-out design.
    ``precision`` and ``torch_threads`` are fixed for every classifier the profile trains, so
    that two compared models never differ in either (None: the precision probe / torch's
    default; the findings refuse to compare runs whose recorded values differ).
    ``precision_effect`` also trains the plain fine-tune in bf16 on the same folds, to measure
    what precision alone does. ``n_boot`` is the number of bootstrap resamples of every
    interval and test of the findings (raised adaptively where a p-value lies near its
    threshold: :func:`marsutils.stats.rules.needs_more_resamples`). ``plateau_window``,
    ``plateau_min_delta`` and ``plateau_lr_fraction`` are the one training-length rule
    (:func:`marsutils.stats.rules.training_check`).
    """

    name: str
    # --- classifier recipe -------------------------------------------------------------------
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    image_size: int = 160
    epochs: int = 3
    samples_per_epoch: int | None = None
    batch_size: int = 48
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    patience: int = 3
    selection: str = "last"
    balance_power: float = 0.5
    label_smoothing: float = 0.0
    pooling: str = "avg"
    tta_views: int = 1
    precision: str | None = None
    torch_threads: int | None = None
    # --- data --------------------------------------------------------------------------------
    max_images: int | None = None
    splits: tuple[str, ...] = ("family", "paper")
    seeds: tuple[int, ...] = (0,)
    paper_split_seeds: int | None = None
    cv_folds: int = 0
    # --- the other classifiers ---------------------------------------------------------------
    ablation_image_size: int = 0
    ablation_epochs: int = 0
    ablation_samples: int | None = None
    paper_split_ablation: tuple[str, ...] = ("plain",)
    scratch_epochs: int = 0
    scratch_image_size: int = 128
    scratch_samples: int | None = None
    precision_effect: bool = False
    # --- statistics --------------------------------------------------------------------------
    n_boot: int = 10000
    plateau_window: int = 2
    plateau_min_delta: float = 0.01
    plateau_lr_fraction: float = 0.1
    # --- explainability ----------------------------------------------------------------------
    xai_images: int = 64
    ig_steps: int = 32
    deletion_steps: int = 16
    # --- efficiency --------------------------------------------------------------------------
    timing_repeats: int = 10
    # --- real segmentation (mars-orbital-seg-53) ---------------------------------------------
    seg_epochs: int = 10
    seg_folds: int = 3
    seg_crop: int = 256
    seg_image_size: int = 512
    seg_max_tiles: int | None = None
    seg_saliency_mode: str = "window"
    # --- free-form notes shown in the book ---------------------------------------------------
    purpose: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size % 32:
            raise ProfileError(f"image_size must be a multiple of 32, >= 32; got {self.image_size}")
        for name in ("epochs", "batch_size", "seg_folds", "ig_steps", "deletion_steps"):
            if getattr(self, name) < 1:
                raise ProfileError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.max_images is not None and self.max_images < 16:
            raise ProfileError(f"max_images must be None or >= 16; got {self.max_images}")
        if not 1 <= self.tta_views <= 8:
            raise ProfileError(f"tta_views must be 1-8 (dihedral views); got {self.tta_views}")
        if self.seg_max_tiles is not None and self.seg_max_tiles < 2 * self.seg_folds:
            raise ProfileError(
                f"seg_max_tiles must be None or >= 2 * seg_folds; got {self.seg_max_tiles}"
            )
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ProfileError(
                    f"{name} must be {' or '.join(map(repr, allowed))}; got {getattr(self, name)!r}"
                )
        seeds = self.seeds
        if (
            not isinstance(seeds, tuple)
            or not seeds
            or any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in seeds)
            or len(set(seeds)) != len(seeds)
        ):
            raise ProfileError(
                f"seeds must be a non-empty tuple of distinct non-negative integers; got {seeds!r}"
            )
        n_paper = self.paper_split_seeds
        if n_paper is not None and (
            isinstance(n_paper, bool) or not isinstance(n_paper, int) or n_paper < 1
        ):
            raise ProfileError(f"paper_split_seeds must be None or >= 1; got {n_paper!r}")
        unknown = set(self.splits) - {"family", "paper", "official"}
        if unknown:
            raise ProfileError(f"unknown split(s) {sorted(unknown)}; use family, paper, official")
        if self.cv_folds and (self.cv_folds < 2 or "official" in self.splits):
            raise ProfileError(
                f"cv_folds must be 0 (hold-out) or >= 2, without the official split; got "
                f"{self.cv_folds} with splits {self.splits}"
            )
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ProfileError(
                f"precision must be None or one of {list(PRECISIONS)}; got {self.precision!r}"
            )
        if self.torch_threads is not None and self.torch_threads < 1:
            raise ProfileError(f"torch_threads must be None or >= 1; got {self.torch_threads}")
        if self.n_boot < 1000:
            raise ProfileError(f"n_boot must be >= 1000; got {self.n_boot}")
        if self.plateau_window < 1 or self.plateau_min_delta < 0:
            raise ProfileError(
                f"plateau_window must be >= 1 and plateau_min_delta >= 0; got "
                f"{self.plateau_window}, {self.plateau_min_delta}"
            )
        if not 0 <= self.plateau_lr_fraction < 1:
            raise ProfileError(
                f"plateau_lr_fraction must lie in [0, 1); got {self.plateau_lr_fraction}"
            )

    def as_dict(self) -> dict:
        """All fields as a plain dict (for JSON records)."""
        return dataclasses.asdict(self)


#: The segmentation setting that "quick" and "reference-v1" share: 128 px crops at 256 px, the
#: saliency maps of the tile resized to the classifier's input.
_CPU_SEGMENTATION: dict[str, Any] = dict(
    seg_crop=128, seg_image_size=256, seg_saliency_mode="resize"
)

#: The first published run's profile (records in ``results/reference-v1``); "reference" is
#: derived from it.
_REFERENCE_V1 = Profile(
    name="reference-v1",
    purpose=(
        "The first published run (records in results/reference-v1): main model 160 px with early "
        "stopping, short ablation and baseline budgets, one seed; 2.5 hours on 2 CPU cores."
    ),
    epochs=5,
    selection="best_val_macro_f1",
    tta_views=8,
    ablation_image_size=128,
    ablation_epochs=2,
    ablation_samples=3000,
    scratch_epochs=3,
    scratch_image_size=96,
    scratch_samples=2000,
    xai_images=96,
    seg_epochs=20,
    **_CPU_SEGMENTATION,
)

#: The published run (records in ``results/reference``): 3 seeds, each its own 80/20 family
#: hold-out; read and re-judged under the current rules, and kept for its records.
_REFERENCE = dataclasses.replace(
    _REFERENCE_V1,
    name="reference",
    purpose=(
        "The published book: every compared classifier under one shared budget, 3 seeds; "
        "hours on 2 CPU cores, resumable across sessions."
    ),
    image_size=128,
    epochs=10,
    samples_per_epoch=2400,
    selection="last",
    seeds=(0, 1, 2),
    paper_split_seeds=1,
    ablation_image_size=0,
    ablation_epochs=0,
    ablation_samples=None,
    scratch_epochs=0,
    scratch_image_size=128,
    scratch_samples=None,
)

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        purpose="CI: every notebook end to end on a tiny subset, in minutes.",
        image_size=64,
        epochs=1,
        batch_size=16,
        max_images=240,
        tta_views=2,
        scratch_epochs=1,
        scratch_image_size=64,
        xai_images=6,
        ig_steps=4,
        deletion_steps=4,
        timing_repeats=2,
        seg_epochs=1,
        seg_folds=2,
        seg_crop=64,
        seg_image_size=128,
        seg_max_tiles=16,
        seg_saliency_mode="resize",
        cv_folds=2,
        precision="fp32",
        precision_effect=True,
        n_boot=1000,
    ),
    "quick": Profile(
        name="quick",
        purpose=(
            "README default: the whole book on full data, every image tested by family-grouped "
            "5-fold cross-validation under a short budget, on 2 CPU cores."
        ),
        cv_folds=5,
        precision="fp32",
        precision_effect=True,
        image_size=96,
        epochs=3,
        samples_per_epoch=1000,
        ablation_image_size=96,
        ablation_epochs=3,
        ablation_samples=500,
        paper_split_ablation=(),
        scratch_epochs=0,
        xai_images=16,
        ig_steps=16,
        deletion_steps=8,
        timing_repeats=3,
        seg_epochs=3,
        seg_folds=2,
        **_CPU_SEGMENTATION,
    ),
    # The published run keeps the first run's explainability, efficiency and segmentation
    # settings; only the classifier budget, the seeds and the selection rule change.
    "reference": _REFERENCE,
    "reference-v1": _REFERENCE_V1,
    # The next published run (issue "Publish the reference run on cross-validation"): the
    # reference budget on family-grouped, class-stratified 5-fold CV, every image tested once,
    # the paper's random split as 5 folds for the leakage comparison, fp32 for every model.
    "reference-cv": dataclasses.replace(
        _REFERENCE,
        name="reference-cv",
        purpose=(
            "The reference budget on family-grouped stratified 5-fold cross-validation, one "
            "repeat, fp32 and one thread count for every model: the next published run."
        ),
        seeds=(0,),
        paper_split_seeds=None,
        cv_folds=5,
        precision="fp32",
        torch_threads=2,
    ),
    "paper": Profile(
        name="paper",
        purpose="The paper's own setting, ResNet-50 at 224 with ImageNet weights: for GPU users.",
        backbone="resnet50",
        weights="imagenet",
        image_size=224,
        epochs=30,
        batch_size=32,
        lr=3e-4,
        balance_power=1.0,
        ablation_epochs=30,
        paper_split_ablation=("plain", "head", "attention"),
        scratch_epochs=30,
        scratch_image_size=224,
        xai_images=256,
        ig_steps=64,
        deletion_steps=20,
        timing_repeats=50,
        seg_epochs=60,
        seg_folds=5,
        seg_image_size=512,
        seeds=(0, 1, 2),
    ),
}


def split_names(profile: Profile) -> tuple[str, ...]:
    """The split names the profile trains on: ``profile.splits``, each as its ``cv_folds`` folds.

    A fold's name is ``"<kind>-cv<K>-f<k>"`` (e.g. ``"family-cv5-f0"``), read by
    :func:`marsutils.data.splits.parse_split`; with ``cv_folds=0`` the names are the hold-out
    splits themselves (``"family"``, ``"paper"``).
    """
    if not profile.cv_folds:
        return tuple(profile.splits)
    k = profile.cv_folds
    return tuple(f"{kind}-cv{k}-f{fold}" for kind in profile.splits for fold in range(k))


def profile_names() -> list[str]:
    """The names of the defined profiles."""
    return list(PROFILES)


def get_profile(name: str | Profile, /, **overrides: object) -> Profile:
    """Return profile ``name`` with ``overrides`` applied.

    Raises :class:`ProfileError` for an unknown profile or field, naming the valid choices.
    """
    if isinstance(name, Profile):
        base = name
    else:
        if name not in PROFILES:
            raise ProfileError(f"unknown profile {name!r}; choose one of {profile_names()}")
        base = PROFILES[name]
    fields = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ProfileError(f"unknown profile field(s) {unknown}; valid fields: {sorted(fields)}")
    if "name" in overrides:
        raise ProfileError("a profile's name cannot be overridden; pick another profile instead")
    tuples = ("splits", "paper_split_ablation", "seeds")
    overrides = {
        k: tuple(v) if k in tuples and isinstance(v, (list, tuple)) else v
        for k, v in overrides.items()
    }
    return dataclasses.replace(base, **overrides)
