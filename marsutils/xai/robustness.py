"""captum's infidelity and max-sensitivity metrics (Yeh et al. 2019) for 2-D saliency maps.

*Infidelity*: the expected squared error between ``sum(map * I)`` and ``f(x) - f(x - I)`` for
random perturbations ``I``, here Gaussian noise of standard deviation ``noise_std`` (in normalised
units) that is the same on the three channels, so ``sum(attribution * I)`` equals
``sum(map * noise)`` for a channel-summed map. It is computed on the target *logit* (what
Grad-CAM and IG explain) with ``normalize=True``, which rescales each map optimally first: the
metric is then blind to the arbitrary scale of Grad-CAM. For IG pass the *signed* map.

*Max-sensitivity*: the largest relative change of the map under uniform input noise of radius
``radius``; it re-runs the explanation ``n_perturb_samples`` times, so it is the costly one.
Lower is better for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from captum.metrics import infidelity, sensitivity_max
from torch import Tensor, nn

from marsutils.xai.attribution import TargetLike, check_inputs, eval_mode, resolve_target
from marsutils.xai.methods import AttributionSettings, explain

__all__ = ["infidelity_scores", "sensitivity_scores"]

MapsLike = Tensor | np.ndarray


def _ids(image_ids: Sequence[str] | None, n: int) -> list[str]:
    ids = list(image_ids) if image_ids is not None else [str(i) for i in range(n)]
    if len(ids) != n:
        raise ValueError(f"image_ids has {len(ids)} entries for {n} images")
    return ids


def infidelity_scores(
    model: nn.Module,
    inputs: Tensor,
    maps: Mapping[str, MapsLike],
    target: TargetLike = None,
    *,
    noise_std: float = 0.1,
    n_perturb_samples: int = 8,
    image_ids: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Per image and method, captum's normalised infidelity of ``(B, H, W)`` maps.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; the explained output is the target logit.
    inputs : Tensor of shape (B, 3, H, W)
        The normalised images.
    maps : mapping of str to array of shape (B, h, w)
        Each method's channel-summed map (IG signed), resized bilinearly to ``(H, W)``.
    target : int, sequence or Tensor, optional
        The class explained for each image (default: the predicted one).
    noise_std : float, default=0.1
        Standard deviation of the perturbations, in normalised units.
    n_perturb_samples : int, default=8
        Perturbations per image; the same seeded ones for every method.
    image_ids, seed
        Row names (default ``"0"``, ``"1"``, ...) and the perturbations' seed.

    Returns
    -------
    pandas.DataFrame
        Columns ``image``, ``method``, ``infidelity`` (lower is better).

    Raises
    ------
    ValueError
        For ``noise_std <= 0``, a map that is not ``(B, h, w)`` or ``image_ids`` of another
        length (and, as :func:`~marsutils.xai.attribution.check_inputs`, for bad ``inputs``).
    """
    check_inputs(inputs)
    if noise_std <= 0:
        raise ValueError(f"noise_std must be > 0; got {noise_std}")
    ids = _ids(image_ids, inputs.shape[0])
    generator = torch.Generator(device=inputs.device)

    def perturb(batch: Tensor) -> tuple[Tensor, Tensor]:
        shape = (batch.shape[0], 1, *batch.shape[-2:])
        noise = torch.randn(shape, generator=generator, device=batch.device) * noise_std
        noise = noise.expand_as(batch)
        return noise, batch - noise

    rows = []
    with eval_mode(model):
        options = {
            "target": resolve_target(model, inputs, target),
            "n_perturb_samples": n_perturb_samples,
        }
        for method, method_maps in maps.items():
            attributions = _channel_attributions(method, method_maps, inputs)
            generator.manual_seed(seed)
            scores = infidelity(model, perturb, inputs, attributions, normalize=True, **options)
            rows += _score_rows(ids, method, "infidelity", scores)
    return pd.DataFrame(rows)


def _channel_attributions(method: str, maps: MapsLike, inputs: Tensor) -> Tensor:
    """A ``(B, H, W)`` map resized to the inputs and spread evenly over their channels."""
    values = torch.as_tensor(np.asarray(maps)).float().to(inputs.device)
    if values.ndim != 3 or values.shape[0] != inputs.shape[0]:
        raise ValueError(f"maps[{method!r}] must be (B, H, W); got {tuple(values.shape)}")
    if values.shape[-2:] != inputs.shape[-2:]:
        values = F.interpolate(values[:, None], inputs.shape[-2:], mode="bilinear")[:, 0]
    return (values[:, None] / inputs.shape[1]).expand_as(inputs)


def sensitivity_scores(
    model: nn.Module,
    inputs: Tensor,
    methods: Sequence[str],
    target: TargetLike = None,
    *,
    settings: AttributionSettings | None = None,
    radius: float = 0.02,
    n_perturb_samples: int = 4,
    image_ids: Sequence[str] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Per image and method, captum's ``sensitivity_max`` of the (reduced) maps of ``methods``.

    Every method is explained again on ``n_perturb_samples`` noisy copies of ``inputs``, so this
    is the costly measure; the maps compared are those :func:`~marsutils.xai.methods.explain`
    returns (Grad-CAM in ``[0, 1]``, IG reduced as ``settings`` says).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier whose explanations are re-run.
    inputs : Tensor of shape (B, 3, H, W)
        The normalised images.
    methods : sequence of str
        :data:`~marsutils.xai.methods.METHODS` names.
    target : int, sequence or Tensor, optional
        The class explained for each image (default: the predicted one).
    settings : AttributionSettings, optional
        The explanations' settings (default: :class:`~marsutils.xai.methods.AttributionSettings`).
    radius : float, default=0.02
        Radius of the uniform input noise, in normalised units.
    n_perturb_samples : int, default=4
        Noisy copies per image (each re-runs the explanation).
    image_ids, seed
        Row names (default ``"0"``, ``"1"``, ...) and the noise's seed, reset for every method
        (the global generator is restored afterwards).

    Returns
    -------
    pandas.DataFrame
        Columns ``image``, ``method``, ``sensitivity`` (the largest relative change of the map;
        lower is better).

    Raises
    ------
    ValueError
        For ``image_ids`` of another length (and, as
        :func:`~marsutils.xai.attribution.check_inputs`, for bad ``inputs``).
    """
    check_inputs(inputs)
    settings = settings or AttributionSettings()
    ids = _ids(image_ids, inputs.shape[0])
    options = {
        "target": resolve_target(model, inputs, target),
        "n_perturb_samples": n_perturb_samples,
    }
    rows = []
    for method in methods:

        def explanation(batch: Tensor | tuple[Tensor, ...], target: Tensor, *, m: str = method):
            batch = batch[0] if isinstance(batch, tuple) else batch
            return (explain(model, batch, target, m, settings),)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            scores = sensitivity_max(explanation, inputs, perturb_radius=radius, **options)
        rows += _score_rows(ids, method, "sensitivity", scores)
    return pd.DataFrame(rows)


def _score_rows(ids: Sequence[str], method: str, column: str, scores: Tensor) -> list[dict]:
    """One row ``{"image", "method", column}`` per image."""
    return [
        {"image": i, "method": method, column: float(s)}
        for i, s in zip(ids, scores.detach().cpu(), strict=True)
    ]
