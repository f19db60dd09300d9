"""Model cost: parameter count and FLOPs/MACs of one forward pass.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which counts matrix
products and convolutions only (not BN, activations, pooling or interpolation) and counts one
multiply-add as **2** FLOPs. Papers usually quote multiply-accumulates (MACs) as "FLOPs": the
"~4 GFLOPs" of ResNet-50 at 224x224 is ~4.1 GMACs = ~8.2 GFLOPs in FlopCounterMode's units. Both
are reported, with ``macs = flops // 2``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "count_parameters", "model_cost"]


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of (shared parameters counted once) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, image_size: int = 224, *, in_channels: int = 3) -> int:
    """FLOPs (multiply-add = 2) of one forward pass on one ``image_size`` x ``image_size`` image.

    The model is run in eval mode without gradients; its training mode is restored afterwards.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    x = torch.zeros(1, in_channels, image_size, image_size, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def model_cost(model: nn.Module, image_size: int = 224) -> dict[str, float | int]:
    """``params``, ``flops``, ``macs`` (= flops // 2), ``gflops`` and ``gmacs`` of ``model``."""
    flops = count_flops(model, image_size)
    return {
        "image_size": image_size,
        "params": count_parameters(model),
        "flops": flops,
        "macs": flops // 2,
        "gflops": flops / 1e9,
        "gmacs": flops / 2e9,
    }
