"""The paper's own backbone where a GPU is lent: ResNet-50 at 224 px, from scratch, on CV folds.

``python scripts/gpu_paper_backbone.py [--epochs 5] [--samples 6400] [--folds 5] [--smoke]``

The ``paper`` profile's ResNet-50 at 224 px trains the proposed model (``full``) and ``plain``
on the family-grouped, class-stratified 5-fold cross-validation of seed 0, from random
initialisation (``weights="none"``: no ImageNet weights can be fetched on the lent machine
either), in mixed precision (``precision=None`` resolves to bf16 on a GPU that has it, else fp16
with a gradient scaler: :func:`marsutils.train.runtime.choose_precision`). One experiment at a
time, through the same :func:`marsutils.study.grid.train_grid` as every other run, so a killed
run resumes from its last epoch's checkpoint; after each experiment its small records are copied
to ``results/<name>/`` (``reference-gpu`` by default; :func:`reference_run.copy_records`), with
its wall time in ``grid_log.json``.

The budget (``--epochs`` x ``--samples`` draws) is sized for the device tool's 15 minutes of GPU
time in all: 2 models x 5 folds x 5 epochs x 6,400 draws is 320,000 training images, about
3 minutes at 2,000 images/s, plus decoding and start-up.

``--smoke`` runs the same code on the CPU at smoke size (64 px, 1 epoch, 240 images, 2 folds,
fp32) into ``runs/gpu-smoke`` and ``--records`` (no default copy under ``results/``): it is what
``tests/test_gpu_script.py`` runs, so the script is tested where no GPU is lent.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from reference_run import copy_records  # noqa: E402

from marsutils.core.atomic import write_json  # noqa: E402
from marsutils.core.layout import RunLayout  # noqa: E402
from marsutils.core.profiles import Profile, get_profile, split_names  # noqa: E402
from marsutils.study.experiments import ClassifierSpec  # noqa: E402
from marsutils.study.grid import Executor, train_grid  # noqa: E402

#: The two classifiers the issue compares on the paper's backbone.
MODELS: tuple[str, ...] = ("full", "plain")


def gpu_profile(epochs: int, samples: int, folds: int, *, smoke: bool) -> Profile:
    """The ``paper`` profile from scratch on ``folds``-fold family CV (or its smoke-size twin).

    Raises
    ------
    ValueError
        For a non-positive ``epochs``, ``samples`` or fewer than 2 ``folds``.
    """
    if epochs < 1 or samples < 1 or folds < 2:
        raise ValueError(
            f"need epochs >= 1, samples >= 1, folds >= 2; got {epochs, samples, folds}"
        )
    paper = get_profile("paper")
    settings: dict = dict(
        name="reference-gpu",
        purpose="ResNet-50 from scratch at 224 px on family-grouped CV, mixed precision, GPU.",
        weights="none",
        splits=("family",),
        seeds=(0,),
        cv_folds=folds,
        epochs=epochs,
        samples_per_epoch=samples,
        precision=None,
    )
    if smoke:
        smoke_profile = get_profile("smoke")
        settings |= dict(
            name="gpu-smoke",
            image_size=smoke_profile.image_size,
            batch_size=smoke_profile.batch_size,
            max_images=smoke_profile.max_images,
            epochs=1,
            samples_per_epoch=None,
            cv_folds=2,
            precision="fp32",
            n_boot=smoke_profile.n_boot,
        )
    return dataclasses.replace(paper, **settings)


def gpu_specs(profile: Profile) -> list[ClassifierSpec]:
    """One spec per model and fold, fold by fold (a partial run covers whole folds first)."""
    return [
        ClassifierSpec(
            model,
            split,
            backbone=profile.backbone,
            weights=profile.weights,
            image_size=profile.image_size,
            epochs=profile.epochs,
            samples_per_epoch=profile.samples_per_epoch,
            group="gpu",
            seed=0,
            precision=profile.precision,
        )
        for split in split_names(profile)
        for model in MODELS
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=6400, help="draws per epoch")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="CPU, smoke size (the test)")
    parser.add_argument("--run-dir", default=None, help="default: runs/<profile name>")
    parser.add_argument("--records", default=None, help="default: results/<profile name>")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args(argv)
    try:
        profile = gpu_profile(args.epochs, args.samples, args.folds, smoke=args.smoke)
    except ValueError as err:
        parser.error(str(err))
    run_dir = Path(args.run_dir or REPO / "runs" / profile.name).resolve()
    if args.smoke and args.records is None:
        parser.error("--smoke needs --records (a smoke run never writes under results/)")
    records = Path(args.records or REPO / "results" / profile.name).resolve()
    executor = Executor(threads_per_worker=args.threads or os.cpu_count() or 1)
    log = []
    for spec in gpu_specs(profile):
        start = time.perf_counter()
        (result,) = train_grid([spec], profile, run_dir, executor)
        log.append(
            {
                "run_key": spec.run_key,
                "trained": bool(result["trained"]),
                "wall_s": round(time.perf_counter() - start, 1),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
        write_json(RunLayout(run_dir).grid_log, log)
        copy_records(run_dir, records)
        write_json(records / "grid_log.json", log)
        print(f"[gpu] {spec.run_key}: {log[-1]['wall_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
