"""The two CPU inference paths that are timed: plain and optimised.

* *plain* (:func:`plain_inference`): fp32 eager, ``model.eval()`` under ``torch.no_grad()``,
  NCHW input;
* *optimised* (:func:`optimise_for_cpu`): ``model.eval()``, ``torch.inference_mode()``,
  channels_last weights and input, Conv-BN folding, and the precision of
  :func:`marsutils.train.runtime.resolve_precision` (``precision`` argument, then
  ``$MARS_PRECISION``; ``"auto"`` is bf16 autocast on a CPU with native bf16, fp32 elsewhere).
  Folding is done by one of :data:`OPTIMISATION_METHODS`: ``"jit_freeze"`` (TorchScript trace +
  ``torch.jit.freeze``, which folds Conv-BN and constants), ``"fx_fuse"`` (``torch.fx`` Conv-BN
  fusion, eager), ``"compile"`` (``torch.compile`` with inductor freezing; needs a C++ compiler
  and minutes of compile time) or ``"eager"`` (no folding). ``"auto"`` tries ``jit_freeze``,
  then ``fx_fuse``, then ``eager``, and records why a method was skipped. With bf16 the trace
  runs under autocast, so the frozen graph holds bf16 convolutions (the copy's weights are
  frozen with ``requires_grad=False`` first: TorchScript cannot freeze autocast's casts of
  trainable weights).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from marsutils.train.runtime import autocast, resolve_precision

__all__ = ["OPTIMISATION_METHODS", "CpuInference", "optimise_for_cpu", "plain_inference"]

OPTIMISATION_METHODS: tuple[str, ...] = ("auto", "jit_freeze", "fx_fuse", "compile", "eager")
_FALLBACK_ORDER: tuple[str, ...] = ("jit_freeze", "fx_fuse", "eager")


@dataclass
class CpuInference:
    """An inference callable: images in, fp32 logits out, with how it was built.

    ``precision`` is the resolved precision it runs under (``"fp32"`` or ``"bf16"``).
    """

    module: Callable[[torch.Tensor], torch.Tensor]
    method: str
    channels_last: bool = False
    precision: str = "fp32"
    inference_mode: bool = False
    steps: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of ``images`` (fp32, no autograd)."""
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        grad_off = torch.inference_mode() if self.inference_mode else torch.no_grad()
        with grad_off, autocast(torch.device("cpu"), self.precision):
            out = self.module(images)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"model must return a logits tensor; got {type(out).__name__}")
        return out.float()


def plain_inference(model: nn.Module) -> CpuInference:
    """fp32 eager inference: a copy of ``model`` in eval mode under ``torch.no_grad()``."""
    module = copy.deepcopy(model).eval()
    return CpuInference(module, "plain", steps=("eval", "no_grad", "fp32", "NCHW"))


def optimise_for_cpu(
    model: nn.Module,
    *,
    example: torch.Tensor,
    method: str = "auto",
    channels_last: bool = True,
    precision: str | None = None,
) -> CpuInference:
    """Build the optimised CPU inference path of a copy of ``model`` (``model`` is untouched).

    Args:
        model: maps images to a logits tensor.
        example: an input batch used for tracing/compiling (its values do not matter).
        method: one of :data:`OPTIMISATION_METHODS` (see the module docstring).
        channels_last: convert weights and inputs to channels_last.
        precision: ``"fp32"``, ``"bf16"`` or ``"auto"``; None reads ``$MARS_PRECISION``
            (:func:`marsutils.train.runtime.resolve_precision`). Both precisions try the same
            methods in the same order, so ``notes`` (why a method was skipped) do not depend on
            the CPU.

    Raises:
        ValueError: unknown ``method`` or ``precision``.
        RuntimeError: the requested (non-auto) method fails on this model.
    """
    if method not in OPTIMISATION_METHODS:
        raise ValueError(f"unknown method {method!r}; valid choices: {OPTIMISATION_METHODS}")
    precision = resolve_precision(precision, "cpu")
    use_bf16 = precision == "bf16"
    base = copy.deepcopy(model).eval().requires_grad_(False)  # inference only
    if channels_last:
        base = base.to(memory_format=torch.channels_last)
        example = example.contiguous(memory_format=torch.channels_last)
    candidates = _FALLBACK_ORDER if method == "auto" else (method,)
    notes: list[str] = []
    for candidate in candidates:
        try:
            module = _BUILDERS[candidate](base, example, precision)
        except Exception as exc:  # a model a method cannot handle: try the next one
            if method != "auto":
                raise RuntimeError(f"{candidate} failed on this model: {exc}") from exc
            notes.append(f"{candidate} failed: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        steps = ["eval", "inference_mode"]
        steps += ["channels_last"] if channels_last else []
        steps += [_STEP_NAMES[candidate]] if candidate != "eager" else []
        steps += ["bf16_autocast"] if use_bf16 else ["fp32"]
        return CpuInference(
            module,
            candidate,
            channels_last=channels_last,
            precision=precision,
            inference_mode=True,
            steps=tuple(steps),
            notes=notes,
        )
    raise RuntimeError(f"no optimisation method worked: {notes}")  # pragma: no cover - eager


def _build_jit_freeze(model: nn.Module, example: torch.Tensor, precision: str) -> nn.Module:
    """TorchScript trace (under autocast for bf16), frozen: Conv-BN and constants folded."""
    with warnings.catch_warnings(), torch.no_grad(), autocast(torch.device("cpu"), precision):
        warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings
        traced = torch.jit.trace(model, example)
        return torch.jit.freeze(traced)


def _build_fx_fuse(model: nn.Module, example: torch.Tensor, precision: str) -> nn.Module:
    """``torch.fx`` Conv-BN fusion of a copy, kept channels_last when the example is."""
    from torch.fx.experimental.optimization import fuse

    fused = fuse(model, inplace=False)
    if example.is_contiguous(memory_format=torch.channels_last):
        fused = fused.to(memory_format=torch.channels_last)  # fused convs get new weights
    return fused


def _build_compile(model: nn.Module, example: torch.Tensor, precision: str) -> Callable:
    """``torch.compile`` (inductor, freezing), compiled on ``example`` before it is timed."""
    compiled = torch.compile(model, backend="inductor", options={"freezing": True})
    with torch.inference_mode(), autocast(torch.device("cpu"), precision):
        compiled(example)  # compile now, not inside the first timed run
    return compiled


def _build_eager(model: nn.Module, example: torch.Tensor, precision: str) -> nn.Module:
    """The model itself: no folding."""
    return model


_BUILDERS: dict[str, Callable[[nn.Module, torch.Tensor, str], Callable]] = {
    "jit_freeze": _build_jit_freeze,
    "fx_fuse": _build_fx_fuse,
    "compile": _build_compile,
    "eager": _build_eager,
}
_STEP_NAMES = {
    "jit_freeze": "torchscript_freeze(conv_bn_fold)",
    "fx_fuse": "fx_conv_bn_fuse",
    "compile": "torch_compile(inductor,freezing)",
}
