"""Plain vs optimised CPU inference on a tiny CNN (no timing assertions)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from marsutils import efficiency as E


class TinyCNN(nn.Module):
    """Conv-BN-ReLU twice, global pooling, linear: enough for Conv-BN folding to matter."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def _trained_like_model() -> TinyCNN:
    """A tiny model whose BN statistics are not the identity (so folding changes weights)."""
    torch.manual_seed(0)
    model = TinyCNN()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 32, 32) * 2 + 0.5)
    return model.eval()


@pytest.mark.parametrize("method", ["jit_freeze", "fx_fuse", "eager"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_optimised_matches_plain(method: str, channels_last: bool) -> None:
    model = _trained_like_model()
    images = torch.randn(4, 3, 32, 32)
    plain = E.plain_inference(model)
    fast = E.optimise_for_cpu(
        model, example=images[:1], method=method, channels_last=channels_last, bf16=False
    )
    assert fast.method == method
    result = E.check_equivalence(plain, fast, images, atol=1e-4, rtol=1e-4)
    assert result["max_abs_diff"] < 1e-4
    assert result["top1_agreement"] == 1.0
    assert ("channels_last" in fast.steps) == channels_last


def test_conv_bn_is_folded() -> None:
    model = _trained_like_model()
    example = torch.randn(1, 3, 32, 32)
    frozen = E.optimise_for_cpu(model, example=example, method="jit_freeze", bf16=False)
    assert "batch_norm" not in str(frozen.module.graph)
    fused = E.optimise_for_cpu(model, example=example, method="fx_fuse", bf16=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.module.modules())


def test_original_model_is_untouched() -> None:
    model = _trained_like_model().train()
    weight = model.features[0].weight.detach().clone()
    E.optimise_for_cpu(model, example=torch.randn(1, 3, 32, 32), method="fx_fuse", bf16=False)
    assert model.training
    assert torch.equal(model.features[0].weight, weight)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_auto_falls_back_and_says_why(monkeypatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("cannot trace")

    monkeypatch.setitem(E._BUILDERS, "jit_freeze", broken)
    fast = E.optimise_for_cpu(_trained_like_model(), example=torch.randn(1, 3, 32, 32))
    assert fast.method == "fx_fuse"
    assert "jit_freeze failed" in fast.notes[0]
    with pytest.raises(RuntimeError, match="jit_freeze failed"):
        E.optimise_for_cpu(
            _trained_like_model(), example=torch.randn(1, 3, 32, 32), method="jit_freeze"
        )


def test_mismatch_is_reported() -> None:
    model = _trained_like_model()
    other = _trained_like_model()
    with torch.no_grad():
        other.fc.bias += 1.0
    with pytest.raises(E.EquivalenceError, match="differ"):
        E.check_equivalence(
            E.plain_inference(model), E.plain_inference(other), torch.randn(2, 3, 32, 32)
        )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        E.optimise_for_cpu(TinyCNN(), example=torch.randn(1, 3, 8, 8), method="turbo")
    with pytest.raises(ValueError, match="repeats"):
        E.time_interleaved({"a": lambda x: x}, torch.zeros(1), repeats=0)


def test_benchmark_row_and_paper_comparison() -> None:
    df = E.benchmark_model(
        _trained_like_model(),
        name="tiny",
        image_size=32,
        latency_batch=1,
        throughput_batch=4,
        repeats=2,
        warmup=1,
        bf16=False,
    )
    assert len(df) == 1
    row = df.iloc[0]
    n_params = sum(p.numel() for p in TinyCNN().parameters())
    assert row["params"] == n_params
    assert row["gflops"] > 0 and row["gmacs"] == pytest.approx(row["gflops"] / 2)
    for col in ("plain_ms_per_image", "optimised_ms_per_image", "plain_images_per_s",
                "optimised_images_per_s", "latency_speedup", "throughput_speedup"):  # fmt: skip
        assert row[col] > 0, col
    assert row["method"] == "jit_freeze" and row["top1_agreement"] == 1.0
    table = E.compare_efficiency_with_paper(df)
    latency = table[table["metric"].str.startswith("batch-1")]
    assert len(latency) == 2
    expected = latency["ours"] <= 25.0
    assert (latency["meets_paper_latency"].astype(bool) == expected).all()
    assert table.loc[table["metric"] == "parameters (M)", "paper"].item() == 25.0


def test_timing_statistics() -> None:
    t = E.Timing(batch_size=4, seconds=(0.4, 0.1, 0.2))
    assert t.median_s == 0.2
    assert t.ms_per_image == pytest.approx(50.0)
    assert t.images_per_s == pytest.approx(20.0)
