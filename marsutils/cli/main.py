"""Command line: ``python -m marsutils data report|verify|validate`` and
``python -m marsutils evaluate`` and ``python -m marsutils train`` (:mod:`marsutils.cli.train`)."""

from __future__ import annotations

import argparse
import json
import sys

from marsutils.data.errors import DataError

__all__ = ["main"]


def _add_data(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="inspect and check the HiRISE landmark data")
    cmds = data.add_subparsers(dest="command", required=True)
    report = cmds.add_parser("report", help="class counts, twin families and split leakage")
    report.add_argument("--json", action="store_true", help="print JSON instead of text")
    report.add_argument(
        "--official-drop-augmented",
        action="store_true",
        help="v3.2 only: drop the augmented copies the published split puts in val and test",
    )
    verify = cmds.add_parser("verify", help="check every file against MANIFEST.sha256")
    validate = cmds.add_parser("validate", help="decode every labelled image and check its size")
    for cmd in (report, verify, validate):
        cmd.add_argument(
            "--data-dir",
            default=None,
            help="default: $MARS_DATA_DIR, then ../shared/data/hirise-landmarks",
        )
    report.add_argument("--seed", type=int, default=0)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "evaluate",
        help="score a trained classifier on a labelled folder (any layout)",
        description="Classes are matched by name; intervals resample twin families.",
    )
    ev.add_argument("--checkpoint", default=None, help="best_model.pt with done.json beside it")
    ev.add_argument("--run-dir", default=None, help="a run directory (with --model-key)")
    ev.add_argument(
        "--model-key",
        default=None,
        help="e.g. family-cv5-f0/full-efficientnet_lite0-.../seed0 (a CV fold) or "
        "family/full-efficientnet_lite0-.../seed1 (a hold-out split; default seed0)",
    )
    ev.add_argument("--data-dir", required=True, help="labelled folder of any supported layout")
    ev.add_argument("--n-boot", type=int, default=1000)
    ev.add_argument("--confidence", type=float, default=0.95)
    ev.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (not of the model)")
    ev.add_argument("--views", type=int, default=1, help="dihedral test-time views (1-8)")
    ev.add_argument("--device", default=None)
    ev.add_argument(
        "--training-data-dir",
        default=None,
        help="the folder the model was trained on, to count scored twins of its training images "
        "(default: $MARS_DATA_DIR, then ../shared/data/hirise-landmarks)",
    )
    ev.add_argument(
        "--no-overlap", action="store_true", help="do not look for twins of training images"
    )
    ev.add_argument("--out", default=None, help="also write the result as JSON here")
    ev.add_argument("--json", action="store_true", help="print JSON instead of text")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m marsutils", description=__doc__)
    sub = parser.add_subparsers(dest="group", required=True)
    _add_data(sub)
    _add_evaluate(sub)
    sub.add_parser(
        "train",
        help="train experiments of the grid by key (python -m marsutils train --help)",
        add_help=False,
    )  # dispatched to marsutils.cli.train before this parser runs
    return parser


def _run_data(args: argparse.Namespace) -> None:
    if args.command == "report":
        from marsutils.data.report import data_report, format_report

        report = data_report(
            args.data_dir, seed=args.seed, official_drop_augmented=args.official_drop_augmented
        )
        print(json.dumps(report, indent=2) if args.json else format_report(report))
    elif args.command == "verify":
        from marsutils.data import locate_data_dir, verify_manifest

        root = locate_data_dir(args.data_dir)
        print(f"{root}: {verify_manifest(root)['checked']} files match MANIFEST.sha256")
    else:
        from marsutils.data import load_dataset, load_images

        dataset = load_dataset(args.data_dir)
        images = load_images(dataset)
        print(
            f"{dataset.root} ({dataset.layout} layout): {len(images)} images decoded, "
            f"all {images.shape[1:]} uint8"
        )


def _run_evaluate(args: argparse.Namespace) -> None:
    from marsutils.evaluate import (
        evaluate_folder,
        format_evaluation,
        load_classifier,
        training_images,
        write_evaluation,
    )

    if (args.checkpoint is None) == (args.run_dir is None and args.model_key is None):
        raise ValueError("give --checkpoint, or --run-dir with --model-key (not both)")
    model, info = load_classifier(args.checkpoint, run_dir=args.run_dir, model_key=args.model_key)
    training = (
        None if args.no_overlap else training_images(info["checkpoint"], args.training_data_dir)
    )
    result = evaluate_folder(
        model,
        info["class_names"],
        args.data_dir,
        image_size=info["image_size"],
        n_boot=args.n_boot,
        confidence=args.confidence,
        seed=args.seed,
        views=args.views,
        device=args.device,
        training=training,
    )
    result["checkpoint"] = info["checkpoint"]
    if args.out:
        write_evaluation(result, args.out)
    print(json.dumps(result, indent=2) if args.json else format_evaluation(result))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a data, checkpoint or usage problem)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # python -m marsutils train: see cli/train.py
        from marsutils.cli.train import main as train_main

        return train_main(argv[1:])
    from marsutils.train.checkpoint import CheckpointError

    args = _build_parser().parse_args(argv)
    try:
        if args.group == "data":
            _run_data(args)
        elif args.group == "evaluate":
            _run_evaluate(args)
    except (DataError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
