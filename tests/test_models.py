"""Model package: shapes, ablation flags, attention placement, pooling, errors, cost."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from marsutils.models import (
    ABLATION_FLAGS,
    MODEL_NAMES,
    AttentionSegClassifier,
    AttentiveBackbone,
    CamLayerModel,
    ChannelSpatialAttention,
    DenseClassifier,
    DenseScorer,
    ScorePooling,
    build_backbone,
    build_model,
    count_flops,
    count_parameters,
    model_cost,
)
from marsutils.train.runtime import autocast

NUM_CLASSES = 5


@pytest.fixture(scope="module")
def lite0_backbone():
    """One randomly initialised efficientnet_lite0 backbone; tests deep-copy it."""
    torch.manual_seed(0)
    return build_backbone("efficientnet_lite0", "none")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def resnet50_backbone():
    """One randomly initialised resnet50 backbone (slow to build); tests deep-copy it."""
    torch.manual_seed(0)
    return build_backbone("resnet50", "none")


def _check_outputs(model: nn.Module, images: torch.Tensor) -> None:
    """Image logits (B, K), dense scores (B, K, H, W) and dense probabilities summing to 1."""
    model.eval()
    with torch.no_grad():
        logits = model(images)
        dense = model.forward_dense(images)
        proba = model.predict_proba_dense(images)
    batch, _, height, width = images.shape
    assert logits.shape == (batch, NUM_CLASSES)
    assert dense.shape == (batch, NUM_CLASSES, height, width)
    assert torch.isfinite(logits).all() and torch.isfinite(dense).all()
    torch.testing.assert_close(proba.sum(dim=1), torch.ones(batch, height, width))
    assert any(module is model.cam_layer for module in model.modules())
    _check_protocol(model, images)


def _check_protocol(model: nn.Module, images: torch.Tensor) -> None:
    """The DenseClassifier contract: forward = forward_head(forward_features), score map shape."""
    assert isinstance(model, DenseClassifier)
    assert isinstance(model, DenseScorer) and isinstance(model, CamLayerModel)
    model.eval()
    with torch.no_grad():
        features = model.forward_features(images)
        scores = model.score_map(images)
        assert features.ndim == 4 and features.shape[0] == images.shape[0]
        assert torch.equal(model.forward_head(features), model(images))
        assert scores.shape[:2] == (images.shape[0], NUM_CLASSES)
        torch.testing.assert_close(model.pool(scores), model(images))


def test_a_plain_module_is_not_a_dense_classifier() -> None:
    class LogitsOnly(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    class DenseOnly(LogitsOnly):
        def forward_dense(self, x: torch.Tensor) -> torch.Tensor:
            return x

    assert not isinstance(LogitsOnly(), DenseScorer)
    assert isinstance(DenseOnly(), DenseScorer)
    assert not isinstance(DenseOnly(), DenseClassifier)
    assert not isinstance(DenseOnly(), CamLayerModel)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_lite0_model_gives_image_logits_and_dense_scores(
    name: str, images: torch.Tensor
) -> None:
    model = build_model(
        name, num_classes=NUM_CLASSES, backbone="efficientnet_lite0", weights="none"
    )
    _check_outputs(model, images)
    assert model.config["name"] == name
    assert model.config["backbone"] == "efficientnet_lite0"
    assert model.config["weights"] == "none"
    assert model.config["pooling"] == "avg"


@pytest.mark.parametrize("name", ["plain", "head", "attention", "full"])
def test_every_resnet50_ablation_gives_image_logits_and_dense_scores(
    name: str, resnet50_backbone, images: torch.Tensor
) -> None:
    attention, head = ABLATION_FLAGS[name]
    model = AttentionSegClassifier(
        copy.deepcopy(resnet50_backbone), NUM_CLASSES, attention=attention, head=head
    )
    _check_outputs(model, images)
    assert model.config["name"] == name
    assert model.config["backbone"] == "resnet50"


@pytest.mark.parametrize("name", ["unet", "deeplabv3plus"])
def test_resnet50_baselines_give_image_logits_and_dense_scores(
    name: str, images: torch.Tensor
) -> None:
    model = build_model(name, num_classes=NUM_CLASSES, backbone="resnet50", weights="none")
    _check_outputs(model, images)
    assert model.config["smp_encoder"] == "resnet50"
    assert model.cam_layer is model.model.encoder.layer4


def test_ablation_flags_and_config(lite0_backbone) -> None:
    expected = {
        "plain": (False, False, "class_activation_map"),
        "head": (False, True, "segmentation_head"),
        "attention": (True, False, "class_activation_map"),
        "full": (True, True, "segmentation_head"),
    }
    for name, (attention, head, dense_output) in expected.items():
        model = AttentionSegClassifier(
            copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=attention, head=head
        )
        config = model.config
        assert (config["name"], config["attention"], config["head"]) == (name, attention, head)
        assert config["dense_output"] == dense_output
        assert isinstance(model.backbone, AttentiveBackbone) is attention
        assert config["attention_stages"] == ([1, 2, 3, 4] if attention else [])
        assert config["head_channels"] == (256 if head else None)
        n_attention = sum(isinstance(m, ChannelSpatialAttention) for m in model.modules())
        assert n_attention == (4 if attention else 0)


def test_plain_classifier_is_gap_plus_linear(lite0_backbone, images: torch.Tensor) -> None:
    model = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=False, head=False
    ).eval()
    with torch.no_grad():
        features = model.backbone(images)[-1]
        conv = model.head.classifier
        expected = features.mean(dim=(2, 3)) @ conv.weight.flatten(1).T + conv.bias
        torch.testing.assert_close(model(images), expected, rtol=1e-5, atol=1e-5)
        # the dense output is the CAM, upsampled from the stride-32 map
        assert model.score_map(images).shape == (2, NUM_CLASSES, 2, 2)


def test_cam_layer_is_the_last_stage_and_not_duplicated(lite0_backbone) -> None:
    model = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=True, head=True
    )
    assert model.cam_layer is model.backbone.stages[-1]
    assert not any(key.startswith("cam_layer") for key in model.state_dict())


@pytest.mark.parametrize("stages", [(2, 4), (0,), (1, 2, 3, 4)])
def test_attention_blocks_sit_after_the_chosen_stages(
    stages: tuple[int, ...], lite0_backbone, images: torch.Tensor
) -> None:
    wrapped = AttentiveBackbone(copy.deepcopy(lite0_backbone), stages)
    assert wrapped.attention_stages == stages
    assert sorted(wrapped.attention) == [str(s) for s in stages]
    for stage in stages:
        assert (
            wrapped.attention[str(stage)].channel.fc2.out_features
            == (lite0_backbone.stage_channels[stage])
        )
    calls: list[str] = []
    for index, stage in enumerate(wrapped.stages):
        stage.register_forward_hook(lambda *_, i=index: calls.append(f"stage{i}"))
    for key, block in wrapped.attention.items():
        block.register_forward_hook(lambda *_, k=key: calls.append(f"attention{k}"))
    outputs = wrapped(images)
    expected = []
    for index in range(5):
        expected.append(f"stage{index}")
        if index in stages:
            expected.append(f"attention{index}")
    assert calls == expected
    assert [o.shape[1] for o in outputs] == lite0_backbone.stage_channels


def test_bad_attention_stages_are_rejected(lite0_backbone) -> None:
    with pytest.raises(ValueError, match=r"from \(0, 1, 2, 3, 4\)"):
        AttentiveBackbone(lite0_backbone, (5,))
    with pytest.raises(ValueError, match="attention=False"):
        AttentionSegClassifier(
            lite0_backbone, NUM_CLASSES, attention=False, head=True, attention_stages=(1,)
        )


def test_fresh_attention_is_identity_and_trained_attention_is_not(
    lite0_backbone, images: torch.Tensor
) -> None:
    torch.manual_seed(1)
    with_attention = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=True, head=True
    ).eval()
    without = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=False, head=True
    ).eval()
    without.head.load_state_dict(with_attention.head.state_dict())
    with torch.no_grad():
        assert torch.equal(with_attention(images), without(images))
        block = with_attention.backbone.attention["4"]
        nn.init.normal_(block.channel.fc2.weight, std=0.5)
        nn.init.normal_(block.spatial.conv.weight, std=0.5)
        assert not torch.allclose(with_attention(images), without(images))
    literal = ChannelSpatialAttention(16, identity_init=False)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(literal(x), x)


def test_score_pooling_modes() -> None:
    scores = torch.randn(3, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    flat = scores.flatten(2)
    torch.testing.assert_close(ScorePooling("avg")(scores), flat.mean(2))
    torch.testing.assert_close(ScorePooling("max")(scores), flat.amax(2))
    r = 3.0
    expected_lse = torch.log(torch.exp(r * flat).mean(2)) / r
    torch.testing.assert_close(ScorePooling("lse", r)(scores), expected_lse)
    lse = ScorePooling("lse", r)(scores)
    assert (lse >= flat.mean(2) - 1e-6).all() and (lse <= flat.amax(2) + 1e-6).all()
    torch.testing.assert_close(ScorePooling("lse", 1e4)(scores), flat.amax(2), atol=1e-3, rtol=0)


@pytest.mark.parametrize("pooling", ["max", "lse"])
def test_pooling_reaches_the_model(pooling: str, lite0_backbone, images: torch.Tensor) -> None:
    model = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=False, head=True, pooling=pooling
    ).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(images), model.pool(model.score_map(images)))
    assert model.config["pooling"] == pooling
    assert model.config["lse_temperature"] == (5.0 if pooling == "lse" else None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "segformer"}, r"unknown model 'segformer'; valid choices: \('plain', 'head'"),
        ({"name": "full", "backbone": "vgg16"}, r"unknown backbone 'vgg16'; valid choices"),
        ({"name": "full", "weights": "/nonexistent/w.pt"}, r"'imagenet', 'none'.*no such file"),
        ({"name": "unet", "pooling": "median"}, r"unknown pooling 'median'.*'avg', 'max', 'lse'"),
        ({"name": "unet", "attention_stages": (1,)}, r"does not apply"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs: dict, message: str) -> None:
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=message):
        build_model(name, weights=kwargs.pop("weights", "none"), **kwargs)


def test_full_model_backward_reaches_every_part(lite0_backbone, images: torch.Tensor) -> None:
    model = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=True, head=True
    ).train()
    loss = nn.functional.cross_entropy(model(images), torch.tensor([0, 3]))
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["backbone.backbone.stages.0.0.weight"].abs().sum() > 0
    assert grads["head.classifier.weight"].abs().sum() > 0
    # zero-initialised gate layers still learn: their gradients are non-zero from the start
    assert grads["backbone.attention.4.channel.fc2.weight"].abs().sum() > 0
    assert grads["backbone.attention.4.spatial.conv.weight"].abs().sum() > 0


def test_channels_last_and_autocast(
    lite0_backbone, images: torch.Tensor, forced_precision: str
) -> None:
    model = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=True, head=True
    ).eval()
    x = images.to(memory_format=torch.channels_last)
    with torch.no_grad():
        reference = model(images)
        model = model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x), reference, rtol=1e-4, atol=1e-4)
    model.train()
    with autocast(torch.device("cpu"), forced_precision):  # the project's helper
        logits = model(x)
    assert logits.dtype == (torch.bfloat16 if forced_precision == "bf16" else torch.float32)
    logits.float().sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    # explicit bf16 autocast, whatever the CPU supports
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x)
        dense = model.forward_dense(x)
    assert low.dtype == torch.bfloat16 and torch.isfinite(low.float()).all()
    assert dense.shape == (2, NUM_CLASSES, 64, 64)


def test_non_square_input(lite0_backbone) -> None:
    model = AttentionSegClassifier(
        copy.deepcopy(lite0_backbone), NUM_CLASSES, attention=True, head=True
    ).eval()
    with torch.no_grad():
        assert model.forward_dense(torch.randn(1, 3, 64, 96)).shape == (1, NUM_CLASSES, 64, 96)


def test_flops_counter_units() -> None:
    layer = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
    assert count_flops(layer, image_size=4) == 2 * 48 * 10  # multiply-add = 2 FLOPs
    assert count_parameters(layer) == 48 * 10 + 10


def test_full_resnet50_cost_matches_the_paper_scale(resnet50_backbone) -> None:
    model = AttentionSegClassifier(
        copy.deepcopy(resnet50_backbone), 8, attention=True, head=True
    ).train()
    cost = model_cost(model, image_size=224)
    # paper Table 2: ~25M parameters, ~4 GFLOPs (which are MACs for ResNet-50)
    assert 25e6 <= cost["params"] <= 30e6
    assert 3.8e9 <= cost["macs"] <= 4.6e9
    assert cost["macs"] == cost["flops"] // 2
    assert math.isclose(cost["gmacs"], cost["macs"] / 1e9, rel_tol=1e-6)
    assert model.training  # count_flops restores the mode
