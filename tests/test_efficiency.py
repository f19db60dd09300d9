"""Plain vs optimised CPU inference on a tiny CNN, in fp32 and in bf16 whatever the CPU has
(no timing assertions)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from marsutils import efficiency as E
from marsutils.efficiency import inference
from marsutils.train.runtime import comparison_tolerance


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
def test_optimised_matches_plain(method: str, channels_last: bool, forced_precision: str) -> None:
    model = _trained_like_model()
    images = torch.randn(4, 3, 32, 32)
    plain = E.plain_inference(model)
    fast = E.optimise_for_cpu(model, example=images[:1], method=method, channels_last=channels_last)
    assert fast.method == method and fast.precision == forced_precision
    assert fast.steps[-1] == ("bf16_autocast" if forced_precision == "bf16" else "fp32")
    result = E.check_equivalence(plain, fast, images, precision=fast.precision)
    tol = comparison_tolerance(forced_precision)
    assert result["max_prob_diff"] <= tol.atol + tol.rtol
    assert result["top1_agreement"] == 1.0 and result["prob_atol"] == tol.atol
    assert ("channels_last" in fast.steps) == channels_last
    if forced_precision == "bf16":  # bf16 really ran: fp32 outputs are not reproduced exactly
        assert result["max_abs_diff"] > 0


def test_conv_bn_is_folded() -> None:
    model = _trained_like_model()
    example = torch.randn(1, 3, 32, 32)
    frozen = E.optimise_for_cpu(model, example=example, method="jit_freeze", precision="fp32")
    assert "batch_norm" not in str(frozen.module.graph)
    fused = E.optimise_for_cpu(model, example=example, method="fx_fuse", precision="fp32")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.module.modules())


def test_original_model_is_untouched() -> None:
    model = _trained_like_model().train()
    weight = model.features[0].weight.detach().clone()
    E.optimise_for_cpu(model, example=torch.randn(1, 3, 32, 32), method="fx_fuse", precision="fp32")
    assert model.training
    assert torch.equal(model.features[0].weight, weight)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_auto_falls_back_and_says_why(monkeypatch, forced_precision: str) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("cannot trace")

    monkeypatch.setitem(inference._BUILDERS, "jit_freeze", broken)
    fast = E.optimise_for_cpu(_trained_like_model(), example=torch.randn(1, 3, 32, 32))
    assert fast.method == "fx_fuse" and fast.precision == forced_precision
    assert fast.notes == ["jit_freeze failed: RuntimeError: cannot trace"]
    with pytest.raises(RuntimeError, match="jit_freeze failed"):
        E.optimise_for_cpu(
            _trained_like_model(), example=torch.randn(1, 3, 32, 32), method="jit_freeze"
        )


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_mismatch_is_reported(precision: str) -> None:
    model = _trained_like_model()
    images = torch.randn(4, 3, 32, 32)
    plain = E.plain_inference(model)
    shifted = _trained_like_model()
    with torch.no_grad():
        shifted.fc.bias += 1.0  # the same shift for every class: softmax is unchanged
    E.check_equivalence(plain, E.plain_inference(shifted), images, precision=precision)
    other = _trained_like_model()
    with torch.no_grad():
        other.fc.bias[0] += 0.2  # one class: probabilities move by more than bf16's tolerance
    with pytest.raises(E.EquivalenceError, match="probability diff"):
        E.check_equivalence(plain, E.plain_inference(other), images, precision=precision)


def test_top1_is_judged_except_on_near_ties() -> None:
    def fixed(logits: list[list[float]]):
        return lambda images: torch.tensor(logits)

    tie = fixed([[0.0, 1e-3, -5.0], [3.0, 0.0, 0.0]])
    swapped = fixed([[1e-3, 0.0, -5.0], [3.0, 0.0, 0.0]])
    # the first image is a near-tie (margin below 2 atol): a swap there is not a disagreement
    result = E.check_equivalence(tie, swapped, torch.zeros(2), precision="bf16")
    assert result["top1_agreement"] == 0.5 and result["top1_decisive"] == 1
    with pytest.raises(E.EquivalenceError, match="probability diff"):
        E.check_equivalence(tie, swapped, torch.zeros(2), precision="fp32")
    clear = fixed([[0.0, 0.2, -5.0]])
    flipped = fixed([[0.2, 0.0, -5.0]])
    with pytest.raises(E.EquivalenceError):
        E.check_equivalence(clear, flipped, torch.zeros(1), precision="bf16")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        E.optimise_for_cpu(TinyCNN(), example=torch.randn(1, 3, 8, 8), method="turbo")
    with pytest.raises(ValueError, match="repeats"):
        E.time_interleaved({"a": lambda x: x}, torch.zeros(1), repeats=0)


def test_measure_speed_row_and_paper_comparison(forced_precision: str) -> None:
    row = E.measure_speed(
        _trained_like_model(),
        image_size=32,
        latency_batch=1,
        throughput_batch=4,
        latency_repeats=2,
        warmup=1,
    )
    assert list(row) == list(E.SPEED_COLUMNS)
    for col in ("latency_ms_plain", "latency_ms_optimised", "throughput_plain",
                "throughput_optimised", "speedup_latency", "speedup_throughput"):  # fmt: skip
        assert row[col] > 0, col
    assert row["speedup_latency"] == pytest.approx(
        row["latency_ms_plain"] / row["latency_ms_optimised"]
    )
    assert len(row["latency_seconds"]["plain"]) == len(row["throughput_seconds"]["plain"]) == 2
    assert row["precision"] == forced_precision and row["top1_agreement"] == 1.0
    assert row["max_prob_diff"] <= comparison_tolerance(forced_precision).atol
    assert row["method"] == "jit_freeze" and row["notes"] == ""
    untimed = E.measure_speed(_trained_like_model(), image_size=32, latency=False, throughput=False)
    assert untimed["latency_repeats"] == 0 and untimed["precision"] is None

    n_params = sum(p.numel() for p in TinyCNN().parameters())
    results = pd.DataFrame(
        [{"model": "tiny", "params": n_params, "gmacs": 0.01, "gflops": 0.02, **row}]
    )
    table = E.compare_efficiency_with_paper(results)
    latency = table[table["metric"].str.startswith("batch-1")]
    assert len(latency) == 2
    assert list(latency["ours"]) == [row["latency_ms_plain"], row["latency_ms_optimised"]]
    expected = latency["ours"] <= 25.0
    assert (latency["meets_paper_latency"].astype(bool) == expected).all()
    assert table.loc[table["metric"] == "parameters (M)", "paper"].item() == 25.0
    assert table.loc[table["metric"] == "parameters (M)", "ours"].item() == n_params / 1e6


def test_timing_statistics() -> None:
    t = E.Timing(batch_size=4, seconds=(0.4, 0.1, 0.2))
    assert t.median_s == 0.2
    assert t.ms_per_image == pytest.approx(50.0)
    assert t.images_per_s == pytest.approx(20.0)


def test_large_logits_are_judged_by_their_relative_bf16_rounding():
    """An untrained ResNet-50 at 224 px gives logits near 50; bf16 moves them by ~0.3 (relative
    0.6%), which can move a near-tie probability by 0.05. That passes; a real error fails."""
    import torch

    from marsutils.efficiency import EquivalenceError, check_equivalence

    logits = torch.tensor([[47.0, 46.6, -3.0, 10.0], [-20.0, 5.0, 30.0, 1.0]])

    def reference(_images):
        return logits

    def rounded(_images):  # every logit off by a relative 0.6%: what bf16 rounding does
        return logits * torch.tensor([1.006, 0.994, 1.006, 0.994])

    def broken(_images):  # one logit off by 2 units: a wrong fold or a dropped layer
        out = logits.clone()
        out[1, 3] += 2.0
        return out

    result = check_equivalence(reference, rounded, torch.zeros(2, 3, 8, 8), precision="bf16")
    assert result["max_prob_diff"] > 0.05  # the probabilities near the tie moved a lot
    assert result["top1_decisive"] == 1  # the first image is a near-tie, the second is not
    with pytest.raises(EquivalenceError, match="logit diff"):
        check_equivalence(reference, broken, torch.zeros(2, 3, 8, 8), precision="bf16")
