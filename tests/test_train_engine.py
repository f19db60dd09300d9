"""The training engine: outputs, exact resume, refusal of foreign checkpoints, in fp32 and in
bf16 whatever the CPU has; the measured precision policy with injected (fake) timings."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import torch

from marsutils.core.atomic import read_json
from marsutils.train import (
    CheckpointError,
    FitConfig,
    TrainingInterrupted,
    fit,
    runtime,
    seed_everything,
)
from marsutils.train.checkpoint import load_checkpoint
from marsutils.train.schedule import warmup_cosine


@pytest.fixture(scope="module")
def toy():
    """96 random 'images' whose class is visible in their mean brightness."""
    rng = np.random.default_rng(0)
    labels = np.arange(96) % 3
    images = (rng.integers(0, 60, (96, 227, 227)) + 80 * labels[:, None, None]).astype(np.uint8)
    subset = np.array(["train"] * 60 + ["val"] * 18 + ["test"] * 18)
    split = pd.DataFrame(
        {
            "row": np.arange(96),
            "image": [f"{i}.jpg" for i in range(96)],
            "label": labels,
            "subset": subset,
        }
    )
    return images, split


def tiny_model() -> torch.nn.Module:
    seed_everything(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, 2, 1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 3),
    )


CONFIG = FitConfig(epochs=3, batch_size=12, image_size=32, num_workers=0, patience=5, lr=3e-3)


def test_outputs(toy, tmp_path, forced_precision):
    images, split = toy
    result = fit(tiny_model(), images, split, CONFIG, tmp_path, progress=False)
    assert result.precision == forced_precision
    done = read_json(tmp_path / "done.json")
    assert done["precision"] == forced_precision and done["precision_reason"] == (
        "forced by MARS_PRECISION"
    )
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert {"train_loss", "val_macro_f1", "lr", "images_per_s", "epoch_time_s"} <= set(
        result.history[0]
    )
    preds = pd.read_csv(tmp_path / "predictions_test.csv")
    assert list(preds.columns[:4]) == ["image", "row", "y_true", "y_pred"]
    assert np.allclose(preds[[f"prob_{k}" for k in range(3)]].sum(axis=1), 1, atol=1e-5)
    assert len(preds) == 18
    # brightness encodes the class: the toy task is learnable
    assert result.best_val_macro_f1 > 0.5
    for name in ("checkpoint.pt", "best_model.pt", "history.json", "done.json"):
        assert (tmp_path / name).is_file()


def test_interrupted_run_resumes_to_the_same_result(toy, tmp_path, forced_precision):
    images, split = toy
    straight = tiny_model()
    reference = fit(straight, images, split, CONFIG, tmp_path / "a", progress=False)
    interrupted = tiny_model()
    with pytest.raises(TrainingInterrupted):
        fit(interrupted, images, split, CONFIG, tmp_path / "b", progress=False, stop_after_epoch=2)
    resumed_model = tiny_model()  # a fresh process would start from a fresh model
    resumed = fit(resumed_model, images, split, CONFIG, tmp_path / "b", progress=False)
    assert resumed.resumed_from_epoch == 2
    for (name, a), b in zip(
        straight.state_dict().items(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert reference.test_predictions.equals(resumed.test_predictions)
    assert [h["val_macro_f1"] for h in reference.history] == [
        h["val_macro_f1"] for h in resumed.history
    ]


def test_finished_run_is_loaded_not_retrained(toy, tmp_path):
    images, split = toy
    first = fit(tiny_model(), images, split, CONFIG, tmp_path, progress=False)
    again_model = tiny_model()
    again = fit(again_model, images, split, CONFIG, tmp_path, progress=False)
    assert first.trained and not again.trained
    assert again.test_predictions.equals(first.test_predictions)


def test_same_seed_same_metrics(toy, tmp_path, forced_precision):
    images, split = toy
    a = fit(tiny_model(), images, split, CONFIG, tmp_path / "a", progress=False)
    b = fit(tiny_model(), images, split, CONFIG, tmp_path / "b", progress=False)
    assert a.test_predictions.equals(b.test_predictions)
    other = fit(
        tiny_model(),
        images,
        split,
        FitConfig(**{**CONFIG.__dict__, "seed": 1}),
        tmp_path / "c",
        progress=False,
    )
    assert not other.test_predictions.equals(a.test_predictions)


def test_foreign_checkpoint_refused(toy, tmp_path):
    images, split = toy
    with pytest.raises(TrainingInterrupted):
        fit(tiny_model(), images, split, CONFIG, tmp_path, progress=False, stop_after_epoch=1)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    other = FitConfig(**{**CONFIG.__dict__, "lr": 1e-2})
    with pytest.raises(CheckpointError, match="different configuration"):
        fit(tiny_model(), images, split, other, tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before, "nothing may be lost"


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)


def test_empty_subset_rejected(toy, tmp_path):
    images, split = toy
    with pytest.raises(ValueError, match="no test images"):
        fit(
            tiny_model(), images, split[split["subset"] != "test"], CONFIG, tmp_path, progress=False
        )


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, total_steps=100, warmup_steps=10)
    lrs = []
    for _ in range(100):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[5] < lrs[9] <= 1.0
    assert max(lrs) == pytest.approx(1.0, abs=0.02)
    assert lrs[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))


# --- the precision policy (no timing: the probe is replaced by fake timings) -----------------


def _never(candidates):
    raise AssertionError(f"no probe expected; asked for {candidates}")


def _fake(**timings: float):
    calls: list[tuple[str, ...]] = []

    def probe(candidates):
        calls.append(tuple(candidates))
        return {name: timings[name] for name in candidates}

    probe.calls = calls
    return probe


@pytest.fixture()
def auto_env(monkeypatch, tmp_path):
    """No forced precision, and a private policy cache."""
    monkeypatch.delenv("MARS_PRECISION", raising=False)
    monkeypatch.delenv("MARS_DISABLE_BF16", raising=False)
    monkeypatch.setenv("MARS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _cpu(monkeypatch, bf16: bool) -> None:
    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: bf16)


KEY = {"backbone": "resnet50", "image_size": 96}


def test_requested_precision_order(monkeypatch, auto_env):
    assert runtime.requested_precision() == ("auto", "default")
    monkeypatch.setenv("MARS_DISABLE_BF16", "1")
    assert runtime.requested_precision() == ("fp32", "MARS_DISABLE_BF16")
    monkeypatch.setenv("MARS_PRECISION", "BF16")
    assert runtime.requested_precision() == ("bf16", "MARS_PRECISION")
    assert runtime.requested_precision("fp32") == ("fp32", "argument")
    monkeypatch.setenv("MARS_PRECISION", "half")
    with pytest.raises(ValueError, match=r"\$MARS_PRECISION is 'half'; valid choices"):
        runtime.requested_precision()
    # a profile's fixed precision does not hide a misspelt variable
    with pytest.raises(ValueError, match=r"\$MARS_PRECISION is 'half'"):
        runtime.requested_precision("fp32")
    monkeypatch.delenv("MARS_PRECISION")
    with pytest.raises(ValueError, match="the precision parameter is 'int8'"):
        runtime.requested_precision("int8")
    with pytest.raises(ValueError, match=r"fp16.*is for CUDA"):
        runtime.choose_precision("fp16", "cpu")


def test_forced_precision_ignores_the_cpu(monkeypatch, auto_env):
    _cpu(monkeypatch, False)  # an AVX2-only CPU still runs bf16 when asked
    choice = runtime.choose_precision("bf16", "cpu", key=KEY, probe=_never)
    assert (choice.precision, choice.source, choice.timings) == ("bf16", "argument", None)
    _cpu(monkeypatch, True)  # and a bf16 CPU runs fp32 when asked
    monkeypatch.setenv("MARS_PRECISION", "fp32")
    assert runtime.choose_precision(None, "cpu", key=KEY, probe=_never).precision == "fp32"


def test_auto_on_a_cpu_without_native_bf16_is_fp32_without_a_probe(monkeypatch, auto_env):
    _cpu(monkeypatch, False)
    choice = runtime.choose_precision(None, "cpu", key=KEY, probe=_never)
    assert choice.precision == "fp32" and "no native bf16" in choice.reason
    assert not runtime.policy_cache_path().exists()


@pytest.mark.parametrize(
    ("fp32", "bf16", "expected"),
    [
        (10.0, 22.0, "bf16"),  # ResNet-50 on an AMX CPU: bf16 about 2x faster
        (10.0, 8.0, "fp32"),  # EfficientNet-Lite0: bf16 0.8x (depthwise convolutions)
        (10.0, 10.4, "fp32"),  # within the probe's noise margin: keep the precise one
    ],
)
def test_auto_picks_the_measured_faster_precision(monkeypatch, auto_env, fp32, bf16, expected):
    _cpu(monkeypatch, True)
    probe = _fake(fp32=fp32, bf16=bf16)
    choice = runtime.choose_precision("auto", "cpu", key=KEY, probe=probe)
    assert choice.precision == expected and probe.calls == [("fp32", "bf16")]
    assert choice.timings == {"fp32": fp32, "bf16": bf16} and "probe" in choice.reason


def test_auto_without_a_probe_uses_native_bf16(monkeypatch, auto_env):
    _cpu(monkeypatch, True)
    assert runtime.resolve_precision(None, "cpu") == "bf16"


def test_the_probe_result_is_cached_per_key(monkeypatch, auto_env):
    _cpu(monkeypatch, True)
    runtime.choose_precision(None, "cpu", key=KEY, probe=_fake(fp32=10.0, bf16=20.0))
    cache = json.loads(runtime.policy_cache_path().read_text())
    assert [r["timings"] for r in cache.values()] == [{"fp32": 10.0, "bf16": 20.0}]
    assert next(iter(cache.values()))["cpus"] >= 1
    again = runtime.choose_precision(None, "cpu", key=dict(KEY), probe=_never)
    assert again.precision == "bf16" and "cached probe" in again.reason
    other = _fake(fp32=10.0, bf16=5.0)  # another backbone is probed on its own
    key = {**KEY, "backbone": "efficientnet_lite0"}
    assert runtime.choose_precision(None, "cpu", key=key, probe=other).precision == "fp32"
    assert len(other.calls) == 1 and len(json.loads(runtime.policy_cache_path().read_text())) == 2
    cache = json.loads(runtime.policy_cache_path().read_text())
    for record in cache.values():
        record["loadavg_1min"], record["cpus"] = 9.0, 2
    runtime.policy_cache_path().write_text(json.dumps(cache))
    busy = runtime.choose_precision(None, "cpu", key=KEY, probe=_never)
    assert busy.precision == "bf16" and "under load: 1-min load average 9.0 on 2" in busy.reason
    runtime.policy_cache_path().write_text("{not json")  # a damaged cache is only a cache
    fresh = _fake(fp32=10.0, bf16=20.0)
    assert runtime.choose_precision(None, "cpu", key=KEY, probe=fresh).precision == "bf16"
    assert len(fresh.calls) == 1


def test_probe_key_names_what_the_speed_depends_on(monkeypatch):
    key = runtime.probe_key("resnet50", 96, 16, "cpu")
    assert {"hardware", "torch", "threads", "backbone", "image_size", "batch_size"} <= set(key)
    assert key["threads"] == torch.get_num_threads() and key["torch"] == torch.__version__


def test_auto_on_cuda_chooses_between_bf16_and_fp16(monkeypatch, auto_env):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    probe = _fake(bf16=30.0, fp16=40.0)
    assert runtime.choose_precision(None, "cuda", key=KEY, probe=probe).precision == "fp16"
    assert runtime.resolve_precision(None, "cuda") == "bf16"  # no probe: bf16 needs no scaler
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert runtime.choose_precision(None, "cuda", key=KEY, probe=_never).precision == "fp16"


def test_probe_trains_copies_and_restores_the_rng():
    model = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    speeds = runtime.probe_training_speed(
        model, ("fp32", "bf16"), image_size=16, batch_size=2, rounds=1, warmup=0
    )
    assert set(speeds) == {"fp32", "bf16"} and all(v > 0 for v in speeds.values())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert torch.equal(torch.get_rng_state(), rng)


def test_comparison_tolerance_follows_the_unit_roundoff():
    assert runtime.comparison_tolerance("bf16").atol == 4 * 2.0**-8
    assert runtime.comparison_tolerance(torch.bfloat16) == runtime.comparison_tolerance("bf16")
    assert runtime.comparison_tolerance("fp16").rtol == 4 * 2.0**-11
    assert runtime.comparison_tolerance("fp32").atol == 1e-5
    with pytest.raises(ValueError, match="precision must be one of"):
        runtime.comparison_tolerance("int8")


def test_fit_records_the_measured_choice(toy, tmp_path, monkeypatch, auto_env):
    _cpu(monkeypatch, True)
    images, split = toy
    one_epoch = FitConfig(**{**CONFIG.__dict__, "epochs": 1})
    probe = _fake(fp32=10.0, bf16=25.0)
    described = {"name": "tiny", "backbone": "toy"}
    result = fit(
        tiny_model(),
        images,
        split,
        one_epoch,
        tmp_path,
        model_config=described,
        progress=False,
        precision_probe=probe,
    )
    assert result.precision == "bf16" and len(probe.calls) == 1
    (key,) = json.loads(runtime.policy_cache_path().read_text())
    assert json.loads(key)["backbone"] == "tiny/toy" and json.loads(key)["image_size"] == 32
    done = read_json(tmp_path / "done.json")
    assert done["precision"] == "bf16" and done["precision_timings"] == {"fp32": 10.0, "bf16": 25.0}
    assert done["precision_note"] is None
    again = fit(
        tiny_model(), images, split, one_epoch, tmp_path, model_config=described, progress=False
    )
    assert not again.trained and again.precision == "bf16"


def test_resumed_run_keeps_its_precision_and_says_so(toy, tmp_path, monkeypatch, auto_env):
    images, split = toy
    monkeypatch.setenv("MARS_PRECISION", "bf16")
    with pytest.raises(TrainingInterrupted):
        fit(tiny_model(), images, split, CONFIG, tmp_path / "a", progress=False, stop_after_epoch=1)
    assert load_checkpoint(tmp_path / "a" / "checkpoint.pt")["precision"] == "bf16"
    monkeypatch.setenv("MARS_PRECISION", "fp32")  # not part of the fingerprint: no refusal
    with pytest.warns(UserWarning, match="resumed with the checkpoint's precision bf16"):
        resumed = fit(tiny_model(), images, split, CONFIG, tmp_path / "a", progress=False)
    assert resumed.resumed_from_epoch == 1 and resumed.precision == "bf16"
    done = read_json(tmp_path / "a" / "done.json")
    assert done["precision"] == "bf16" and "fp32" in done["precision_note"]

    # under "auto" a resumed run takes the checkpoint's precision without probing again
    with pytest.raises(TrainingInterrupted):
        fit(tiny_model(), images, split, CONFIG, tmp_path / "b", progress=False, stop_after_epoch=1)
    monkeypatch.delenv("MARS_PRECISION")
    _cpu(monkeypatch, True)
    resumed = fit(
        tiny_model(), images, split, CONFIG, tmp_path / "b", progress=False, precision_probe=_never
    )
    assert (
        resumed.precision == "fp32"
        and read_json(tmp_path / "b" / "done.json")["precision_note"] is None
    )
