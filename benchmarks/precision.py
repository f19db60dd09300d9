"""Training speed per precision: fp32, bf16 and what ``"auto"`` chooses, side by side.

For each backbone (the ``full`` model, random weights: speed does not depend on them), in one
process, on one random batch with AdamW and cross-entropy, channels_last:

1. ``auto`` is decided first, exactly as :func:`marsutils.train.fit` decides it
   (:func:`marsutils.train.runtime.choose_precision` with
   :func:`marsutils.train.runtime.probe_training_speed`), against a fresh cache folder so that
   the probe really runs; its wall time is printed as the cost of the decision;
2. then three loops (fp32, bf16 forced, and the precision ``auto`` chose) each get ``--warmup``
   untimed steps, and ``--rounds`` rounds time one step of each loop in turn (so load changes
   hit all three alike). Medians of the rounds are printed, then the best round of each (less
   sensitive to other work on a shared machine), with the ratios to fp32.

bf16 is forced even on a CPU without native bf16 (where it is emulated and slow: that is the
point of ``auto``). Small sizes by default so the whole run takes a few minutes on 2 cores.
``--output`` writes the settings, the machine and the timings as JSON; the README quotes
``results/benchmarks/precision_128px.json``::

    flock /tmp/mars-cpu.lock python benchmarks/precision.py --image-size 128 \
        --output results/benchmarks/precision_128px.json
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from marsutils.core.atomic import write_json
from marsutils.core.environment import environment_record
from marsutils.models import BACKBONE_NAMES, build_model
from marsutils.train.runtime import (
    choose_precision,
    cpu_supports_bf16,
    probe_key,
    probe_training_speed,
    resolve_device,
    time_interleaved_steps,
    training_step,
)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    """Run the benchmark; print one block per backbone, the ratios to fp32 last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=[*BACKBONE_NAMES, "all"], default="all")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--output", type=Path, default=None, help="optional JSON result file")
    args = parser.parse_args(argv)
    if min(args.batch_size, args.rounds, args.image_size) < 1 or args.warmup < 0:
        parser.error("need --batch-size, --rounds, --image-size >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    fixed = ("bf16", "fp16") if device.type == "cuda" else ("fp32", "bf16")
    print(
        f"device={device} capability={torch.backends.cpu.get_cpu_capability()} "
        f"native_bf16={cpu_supports_bf16()} threads={torch.get_num_threads()} "
        f"torch={torch.__version__} batch={args.batch_size} size={args.image_size} "
        f"rounds={args.rounds} warmup={args.warmup}"
    )
    generator = torch.Generator().manual_seed(0)
    size, batch = args.image_size, args.batch_size
    x = torch.randn(batch, 3, size, size, generator=generator)
    x = x.to(device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 8, (batch,), generator=generator).to(device)
    backbones = BACKBONE_NAMES if args.backbone == "all" else (args.backbone,)
    results: dict[str, dict] = {}
    header = f"{'backbone':>20} " + " ".join(f"{p:>10}" for p in fixed)
    print(f"{header} {'auto':>16}   training images/s")
    for backbone in backbones:
        torch.manual_seed(0)
        model = build_model("full", backbone=backbone, weights="none")
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            choice = choose_precision(
                "auto",
                device,
                key=probe_key(backbone, size, batch, device),
                probe=lambda c, m=model: probe_training_speed(
                    m, c, image_size=size, batch_size=batch, device=device
                ),
                cache_dir=cache,
            )
            probe_s = time.perf_counter() - started
        loops = {p: training_step(copy.deepcopy(model), x, y, p, device) for p in fixed}
        loops["auto"] = training_step(copy.deepcopy(model), x, y, choice.precision, device)
        seconds = time_interleaved_steps(loops, rounds=args.rounds, warmup=args.warmup)
        speed = {name: batch / statistics.median(s) for name, s in seconds.items()}
        best = {name: batch / min(s) for name, s in seconds.items()}
        base = fixed[0]
        for label, rate in (("median", speed), ("best", best)):
            auto = f"{rate['auto']:.2f} ({choice.precision})"
            cells = " ".join(f"{rate[p]:10.2f}" for p in fixed)
            ratios = ", ".join(
                f"{p}/{base} x{rate[p] / rate[base]:.2f}" for p in (*fixed[1:], "auto")
            )
            print(f"{backbone:>20} {cells} {auto:>16}   {label}: {ratios}")
        print(f"{'':>20} auto decided in {probe_s:.1f} s: {choice.reason}")
        results[backbone] = {
            "images_per_s": speed,
            "best_images_per_s": best,
            "auto_precision": choice.precision,
            "auto_reason": choice.reason,
            "probe_timings": choice.timings,
            "probe_seconds": probe_s,
            "step_seconds": seconds,
        }
    if args.output:
        settings = vars(args) | {"output": str(args.output)}
        environment = environment_record(include_packages=False)
        write_json(args.output, {"settings": settings, "environment": environment, **results})
    return results


if __name__ == "__main__":
    main()
