"""Training throughput (images/s) of the full proposed model: plain fp32 loop vs optimised loop.

For each backbone, in one process, on random 224 x 224 inputs with AdamW and cross-entropy:

* ``plain``: contiguous tensors, no autocast (fp32);
* ``optimised``: model and inputs in ``channels_last`` and ``marsutils.train.runtime.autocast``
  in ``--precision`` (default: ``marsutils.train.runtime.resolve_precision``, i.e.
  ``$MARS_PRECISION``, else bf16 on a CPU with native bf16 and fp32 on one without).
  ``benchmarks/precision.py`` compares the precisions themselves.

Both loops start from identical weights; after ``--warmup`` steps each, ``--rounds`` rounds of
``--steps`` timed steps alternate between the two loops (so that changing load on a shared machine
hits both) and the median round is reported. The last line of each backbone block is the ratio
optimised/plain. Heavy: run under the shared CPU lock, e.g.::

    flock /tmp/mars-cpu.lock python benchmarks/train_throughput.py --batch-size 4 --steps 3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from marsutils.core.atomic import write_json
from marsutils.models import BACKBONE_NAMES, build_model
from marsutils.train.runtime import (
    PRECISIONS,
    autocast,
    resolve_device,
    resolve_precision,
    to_channels_last,
)


class TrainingLoop:
    """A model, its AdamW optimiser and one fixed random batch, in plain or optimised form."""

    def __init__(
        self,
        model: nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        optimised: bool,
        device: torch.device,
        precision: str = "fp32",
    ) -> None:
        if optimised:
            self.model = to_channels_last(model, device)
            self.images = images.to(device=device, memory_format=torch.channels_last)
        else:
            self.model = model.to(device)
            self.images = images.to(device).contiguous()
        self.labels = labels.to(device)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        self.loss_fn = nn.CrossEntropyLoss()
        self.precision = precision if optimised else "fp32"
        self.device = device

    def step(self) -> None:
        """One training step."""
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            loss = self.loss_fn(self.model(self.images), self.labels)
        loss.backward()
        self.optimizer.step()

    def images_per_second(self, steps: int) -> float:
        """Throughput of ``steps`` timed steps."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return self.images.shape[0] * steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float | list[float]]]:
    """Run the benchmark and print images/s per backbone and loop, ratio last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=[*BACKBONE_NAMES, "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=PRECISIONS, default=None, help="optimised loop")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--output", type=Path, default=None, help="optional JSON result file")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("need --batch-size, --steps, --rounds >= 1 and --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    backbones = BACKBONE_NAMES if args.backbone == "both" else (args.backbone,)
    print(
        f"device={device} threads={torch.get_num_threads()} batch={args.batch_size} "
        f"size={args.image_size} steps={args.steps}x{args.rounds} rounds warmup={args.warmup} "
        f"optimised autocast={precision}"
    )
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=generator)
    labels = torch.randint(0, 8, (args.batch_size,), generator=generator)
    results: dict[str, dict[str, float | list[float]]] = {}
    for backbone in backbones:
        torch.manual_seed(0)
        model = build_model("full", backbone=backbone, weights="none")
        loops = {
            name: TrainingLoop(
                copy.deepcopy(model),
                images,
                labels,
                optimised=optimised,
                device=device,
                precision=precision,
            )
            for name, optimised in (("plain", False), ("optimised", True))
        }
        for loop in loops.values():
            for _ in range(args.warmup):
                loop.step()
        rates: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(args.rounds):  # alternate the loops so that load changes hit both
            for name, loop in loops.items():
                rates[name].append(loop.images_per_second(args.steps))
        plain = statistics.median(rates["plain"])
        fast = statistics.median(rates["optimised"])
        for name, label in (
            ("plain", "plain fp32 contiguous"),
            ("optimised", f"channels_last + {precision}"),
        ):
            per_round = ", ".join(f"{r:.2f}" for r in rates[name])
            print(
                f"{backbone:>20}  {label:<26} {statistics.median(rates[name]):8.2f} images/s "
                f"(median of rounds: {per_round})"
            )
        print(f"{backbone:>20}  {'ratio optimised/plain':<26} {fast / plain:8.3f}")
        results[backbone] = {
            "plain": plain,
            "optimised": fast,
            "ratio": fast / plain,
            "plain_rounds": rates["plain"],
            "optimised_rounds": rates["optimised"],
        }
    if args.output:
        write_json(args.output, {"settings": vars(args) | {"output": str(args.output)}, **results})
    return results


if __name__ == "__main__":
    main()
