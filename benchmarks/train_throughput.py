"""Training throughput (images/s) of the full proposed model: plain fp32 loop vs optimised loop.

For each backbone, in one process, on random 224 x 224 inputs with AdamW and cross-entropy:

* ``plain``: contiguous tensors, no autocast (fp32);
* ``optimised``: model and inputs in ``channels_last`` and ``marsutils.train.runtime.autocast``
  (bf16 only where the CPU/GPU supports it; a no-op on a CPU without native bf16).

Both loops start from identical weights. The last line of each backbone block is the ratio
optimised/plain. Heavy: run under the shared CPU lock, e.g.::

    flock /tmp/mars-cpu.lock python benchmarks/train_throughput.py --batch-size 4 --steps 3
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from torch import nn

from marsutils.atomic import write_json
from marsutils.models import BACKBONE_NAMES, build_model
from marsutils.train.runtime import (
    autocast,
    cpu_supports_bf16,
    resolve_device,
    to_channels_last,
)


def measure(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int,
    warmup: int,
    optimised: bool,
    device: torch.device,
) -> float:
    """Images per second of ``steps`` timed training steps after ``warmup`` untimed ones."""
    if optimised:
        model = to_channels_last(model, device)
        images = images.to(device=device, memory_format=torch.channels_last)
    else:
        model = model.to(device)
        images = images.to(device).contiguous()
    labels = labels.to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, enabled=optimised):
            loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return images.shape[0] * steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the benchmark and print images/s per backbone and loop, ratio last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=[*BACKBONE_NAMES, "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--output", type=Path, default=None, help="optional JSON result file")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("need --batch-size >= 1, --steps >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    if device.type == "cuda":
        precision = "CUDA AMP"
    else:
        precision = "bf16" if cpu_supports_bf16() else "none: no CPU bf16, fp32"
    backbones = BACKBONE_NAMES if args.backbone == "both" else (args.backbone,)
    print(
        f"device={device} threads={torch.get_num_threads()} batch={args.batch_size} "
        f"size={args.image_size} steps={args.steps} warmup={args.warmup} "
        f"optimised autocast={precision}"
    )
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=generator)
    labels = torch.randint(0, 8, (args.batch_size,), generator=generator)
    results: dict[str, dict[str, float]] = {}
    for backbone in backbones:
        torch.manual_seed(0)
        model = build_model("full", backbone=backbone, weights="none")
        common = {"steps": args.steps, "warmup": args.warmup, "device": device}
        plain = measure(copy.deepcopy(model), images, labels, optimised=False, **common)
        print(f"{backbone:>20}  plain fp32 contiguous          {plain:8.2f} images/s")
        fast = measure(copy.deepcopy(model), images, labels, optimised=True, **common)
        print(f"{backbone:>20}  channels_last + autocast       {fast:8.2f} images/s")
        print(f"{backbone:>20}  ratio optimised/plain          {fast / plain:8.3f}")
        results[backbone] = {"plain": plain, "optimised": fast, "ratio": fast / plain}
    if args.output:
        write_json(args.output, {"settings": vars(args) | {"output": str(args.output)}, **results})
    return results


if __name__ == "__main__":
    main()
