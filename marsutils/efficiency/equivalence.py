"""Whether the optimised inference path computes what the plain one does."""

from __future__ import annotations

from collections.abc import Callable

import torch

from marsutils.train.runtime import comparison_tolerance

__all__ = ["EquivalenceError", "check_equivalence"]


class EquivalenceError(AssertionError):
    """The optimised path's outputs differ from the plain path's beyond the tolerance."""


def check_equivalence(
    reference: Callable[[torch.Tensor], torch.Tensor],
    candidate: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    *,
    precision: str = "fp32",
) -> dict[str, float]:
    """Compare two inference paths on ``images``; raise :class:`EquivalenceError` if they differ.

    The candidate, run in ``precision``, is judged on its logits with
    :func:`~marsutils.train.runtime.comparison_tolerance` ``(precision)`` (bf16: 0.0156, fp32:
    1e-5), relative to each image's logit scale ``s = max_j |reference logit_j|``:

    * every logit lies within ``atol + rtol x s`` of the reference's, once a constant per image
      is removed (softmax does not see one: the difference minus its mean over the classes is
      compared). A low precision rounds
      every activation relative to its size (bf16 keeps 8 significant bits), and a logit is a
      sum of such terms, so its error scales with the image's largest logits, not with its own
      value: an untrained ResNet-50 whose logits reach 50 moves them by up to about 0.3
      (measured at 224 px), which can move a softmax probability near a tie by 0.05 or more.
      Probabilities are therefore reported (``max_prob_diff``) but not judged;
    * its top-1 class equals the reference's on every image whose two best reference logits are
      more than ``2 (atol + rtol x s)`` apart. Closer than that, the tolerance itself allows the
      two to swap, so such a near-tie is not a disagreement (``top1_decisive`` counts the images
      judged).

    A broken optimisation (a wrongly folded batch norm, a dropped layer) moves logits by far more
    than these relative errors and fails.

    Returns:
        ``max_abs_diff`` (of the logits), ``max_prob_diff`` (for information),
        ``top1_agreement`` (fraction of equal argmax over all images), ``top1_decisive``
        (images whose top-1 was judged) and ``prob_atol`` (the tolerance's ``atol``).
    """
    expected = reference(images).float()
    got = candidate(images).float()
    if expected.shape != got.shape:
        raise EquivalenceError(
            f"output shapes differ: {tuple(expected.shape)} vs {tuple(got.shape)}"
        )
    tol = comparison_tolerance(precision)
    shift = got - expected
    diff = (shift - shift.mean(dim=1, keepdim=True)).abs()  # a constant per image is no change
    max_abs = float(diff.max())
    max_prob = float((torch.softmax(expected, 1) - torch.softmax(got, 1)).abs().max())
    allowed = tol.atol + tol.rtol * expected.abs().amax(dim=1, keepdim=True)  # per image
    same = expected.argmax(1) == got.argmax(1)
    agreement = float(same.float().mean())
    if expected.shape[1] > 1:
        top2 = expected.topk(2, dim=1).values
        decisive = (top2[:, 0] - top2[:, 1]) > 2 * allowed[:, 0]
    else:
        decisive = torch.ones(len(expected), dtype=torch.bool)
    summary = (
        f"max |logit diff| = {max_abs:.3g} (allowed atol + rtol x the image's largest |logit|, "
        f"atol = rtol = {tol.atol:.3g} for {precision}); top-1 agreement {agreement:.3f}; "
        f"max |probability diff| = {max_prob:.3g}"
    )
    if bool((diff > allowed).any()):
        raise EquivalenceError(f"optimised outputs differ from plain ones: {summary}")
    if not bool(same[decisive].all()):
        wrong = int((~same & decisive).sum())
        raise EquivalenceError(
            f"optimised outputs differ from plain ones: top-1 class changed on {wrong} of "
            f"{int(decisive.sum())} images without a near-tie; {summary}"
        )
    return {
        "max_abs_diff": max_abs,
        "max_prob_diff": max_prob,
        "top1_agreement": agreement,
        "top1_decisive": int(decisive.sum()),
        "prob_atol": tol.atol,
    }
