"""Command line: ``python -m marsutils data report|verify|validate`` and
``python -m marsutils train`` (:mod:`marsutils.cli_train`)."""

from __future__ import annotations

import argparse
import json
import sys

from .data.errors import DataError

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m marsutils", description=__doc__)
    sub = parser.add_subparsers(dest="group", required=True)
    data = sub.add_parser("data", help="inspect and check the HiRISE landmark data")
    cmds = data.add_subparsers(dest="command", required=True)
    report = cmds.add_parser("report", help="class counts, twin families and split leakage")
    report.add_argument("--json", action="store_true", help="print JSON instead of text")
    verify = cmds.add_parser("verify", help="check every file against MANIFEST.sha256")
    validate = cmds.add_parser("validate", help="decode every labelled image and check its size")
    for cmd in (report, verify, validate):
        cmd.add_argument("--data-dir", default=None, help="default: $MARS_DATA_DIR or ../shared")
    report.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a data problem)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # python -m marsutils train: see cli_train.py
        from .cli_train import main as train_main

        return train_main(argv[1:])
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "report":
            from .data.report import data_report, format_report

            report = data_report(args.data_dir, seed=args.seed)
            print(json.dumps(report, indent=2) if args.json else format_report(report))
        elif args.command == "verify":
            from .data import locate_data_dir, verify_manifest

            root = locate_data_dir(args.data_dir)
            print(f"{root}: {verify_manifest(root)['checked']} files match MANIFEST.sha256")
        else:
            from .data import load_dataset, load_images

            dataset = load_dataset(args.data_dir)
            images = load_images(dataset)
            print(f"{dataset.root}: {len(images)} images decoded, all {images.shape[1:]} uint8")
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
