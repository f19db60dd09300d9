"""Model-parameter randomisation test (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

If a saliency method explains the *model*, its maps must change when the model's learned weights
are destroyed. The cascading test re-initialises the weights from the top (the classifier) down,
one stage more at each step, recomputes the maps for the same images and the same target classes,
and reports the Spearman rank correlation between the original and the randomised maps (at a
common resolution, see :mod:`marsutils.xai.consistency`). The last step has every parameter
re-initialised: the whole-model test. Maps that stay highly correlated are edge detectors, not
explanations.

Re-initialisation calls each module's own ``reset_parameters()`` (the layer's default init; batch
norm also resets its running statistics); a module without one gets ``N(0, 0.02)`` weights. The
work happens on a deep copy: the caller's model is never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from marsutils.xai.attribution import TargetLike, check_inputs, resolve_target
from marsutils.xai.consistency import spearman_maps
from marsutils.xai.methods import AttributionSettings, explain

__all__ = [
    "ExplainFn",
    "cascading_stages",
    "parameterized_modules",
    "randomization_check",
    "reinitialize",
    "summarize_randomization",
]

ExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]


def parameterized_modules(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters directly, in registration (≈ forward) order."""
    return [
        name
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]


def cascading_stages(model: nn.Module, stages: int | Sequence[str] = 4) -> list[list[str]]:
    """Top-first groups of parameterised module names for the cascade.

    An int splits the parameterised modules, last registered first, into that many contiguous
    groups of near-equal size. A sequence of module names (top first) makes one group of each
    named module's parameterised descendants; the modules not covered form a final group, so the
    last cascade step always randomises the whole model.
    """
    names = parameterized_modules(model)
    if not names:
        raise ValueError("model has no parameters to randomise")
    if isinstance(stages, int):
        if stages < 1:
            raise ValueError(f"stages must be >= 1; got {stages}")
        top_first = names[::-1]
        return [list(part) for part in np.array_split(top_first, min(stages, len(names)))]
    known = {name for name, _ in model.named_modules()}
    groups: list[list[str]] = []
    used: set[str] = set()
    for stage in stages:
        if stage not in known:
            raise ValueError(f"model has no submodule named {stage!r}")
        members = [
            n
            for n in names
            if n not in used and (n == stage or n.startswith(f"{stage}.") or stage == "")
        ]
        if not members:
            raise ValueError(f"stage {stage!r} owns no parameters not already in an earlier stage")
        groups.append(members)
        used.update(members)
    rest = [n for n in names[::-1] if n not in used]
    if rest:
        groups.append(rest)
    return groups


def reinitialize(model: nn.Module, names: Sequence[str], *, seed: int = 0) -> None:
    """Re-initialise, in place, the parameters owned by the named modules (seeded)."""
    modules = dict(model.named_modules())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            module = modules[name]
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
                continue
            with torch.no_grad():
                for param in module.parameters(recurse=False):
                    param.normal_(0.0, 0.02)


def _stage_label(group: Sequence[str]) -> str:
    first, last = group[0] or "<root>", group[-1] or "<root>"
    return first if len(group) == 1 else f"{first} … {last}"


def randomization_check(
    model: nn.Module,
    inputs: Tensor,
    method: str | ExplainFn,
    target: TargetLike = None,
    *,
    settings: AttributionSettings | None = None,
    stages: int | Sequence[str] = 4,
    resolution: int | None = 32,
    image_ids: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Cascading randomisation: Spearman between original and randomised maps, per step and image.

    ``method`` is a method name (see :mod:`marsutils.xai.methods`, computed with ``settings``,
    IG reduced by ``settings.ig_reduce``) or a callable ``(model, inputs, target) -> (B, H, W)``
    that must look its layers up on the model it is given (a name, not a module object). The
    targets are fixed before randomising (default: the original model's predictions).

    Returns one row per step and image: ``step`` (1 = top stage only), ``randomized`` (a label of
    the stage added at this step), ``n_modules`` (re-initialised so far), ``fraction_params``
    (share of parameters re-initialised so far), ``image``, ``spearman`` (NaN where a map is
    constant) and ``constant_map`` (the randomised map is constant, e.g. an all-zero Grad-CAM when
    no location supports the class any more: a change the correlation cannot express).
    """
    check_inputs(inputs)
    settings = settings or AttributionSettings()
    ids = list(image_ids) if image_ids is not None else [str(i) for i in range(inputs.shape[0])]
    if len(ids) != inputs.shape[0]:
        raise ValueError(f"image_ids has {len(ids)} entries for {inputs.shape[0]} images")

    def run(net: nn.Module, targets: Tensor) -> Tensor:
        if callable(method):
            return method(net, inputs, targets)
        return explain(net, inputs, targets, method, settings)

    targets = resolve_target(model, inputs, target)
    original = run(model, targets)
    randomized = copy.deepcopy(model)
    modules = dict(randomized.named_modules())
    total = sum(p.numel() for p in randomized.parameters())
    rows = []
    done = 0
    n_params = 0
    for step, group in enumerate(cascading_stages(randomized, stages), start=1):
        reinitialize(randomized, group, seed=seed + step)
        done += len(group)
        n_params += sum(p.numel() for n in group for p in modules[n].parameters(recurse=False))
        maps = run(randomized, targets)
        rho = spearman_maps(original, maps, resolution=resolution)
        flat = maps.reshape(maps.shape[0], -1)
        constant = (flat.amax(dim=1) == flat.amin(dim=1)).cpu().numpy()
        for image, value, is_constant in zip(ids, rho, constant, strict=True):
            rows.append(
                {
                    "step": step,
                    "randomized": _stage_label(group),
                    "n_modules": done,
                    "fraction_params": n_params / total,
                    "image": image,
                    "spearman": float(value),
                    "constant_map": bool(is_constant),
                }
            )
    return pd.DataFrame(rows)


def summarize_randomization(table: pd.DataFrame) -> pd.DataFrame:
    """Per cascade step: mean and standard error of the Spearman correlation over the images
    where it is defined, how many those are, and the share of randomised maps that are constant.
    """
    grouped = table.groupby(["step", "randomized", "n_modules", "fraction_params"], sort=True)
    out = grouped.agg(
        spearman_mean=("spearman", "mean"),
        spearman_sem=("spearman", "sem"),
        n_defined=("spearman", "count"),
        constant_share=("constant_map", "mean"),
    )
    return out.reset_index()
