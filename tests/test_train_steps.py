"""The steps ``fit()`` is composed of: the training state, one epoch with any loss step, the
model-selection rule; each alone, on a tiny linear model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marsutils.train import BatchLoss, EpochRun, TrainState, run_epochs, train_one_epoch
from marsutils.train.checkpoint import load_checkpoint, save_checkpoint
from marsutils.train.engine import FitConfig, early_stop, select_weights
from marsutils.train.schedule import cosine
from marsutils.train.state import EpochLosses

CPU = torch.device("cpu")


def _state(**kwargs) -> TrainState:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    return TrainState.new(
        model, lr=0.1, weight_decay=0.01, total_steps=10, warmup_steps=2, device=CPU, **kwargs
    )


def _batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(5, 4, generator=generator), torch.arange(5) % 3) for _ in range(n)]


def _cross_entropy(model: torch.nn.Module, batch) -> BatchLoss:
    x, y = batch
    return BatchLoss(torch.nn.functional.cross_entropy(model(x), y), len(y))


def test_a_state_restored_from_its_checkpoint_continues_bit_for_bit(tmp_path) -> None:
    straight = _state(fingerprint="abc")
    for batches in (_batches(3), _batches(3)):
        train_one_epoch(straight, batches, _cross_entropy)

    first = _state(fingerprint="abc")
    train_one_epoch(first, _batches(3), _cross_entropy)
    first.epoch, first.best_f1, first.best_epoch, first.bad_epochs = 1, 0.5, 1, 0
    first.history.append({"epoch": 1})
    save_checkpoint(tmp_path / "checkpoint.pt", first.to_checkpoint())
    torch.manual_seed(123)  # a fresh process: another RNG state, fresh weights
    resumed = TrainState.from_checkpoint(
        torch.nn.Linear(4, 3),
        load_checkpoint(tmp_path / "checkpoint.pt", "abc"),  # weights_only=True
        lr=0.1,
        weight_decay=0.01,
        total_steps=10,
        warmup_steps=2,
        device=CPU,
        fingerprint="abc",
    )
    assert (resumed.epoch, resumed.best_f1, resumed.best_epoch, resumed.history) == (
        1,
        0.5,
        1,
        [{"epoch": 1}],
    )
    assert resumed.lr == first.lr
    train_one_epoch(resumed, _batches(3), _cross_entropy)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_skipped_batch_still_steps_the_schedule() -> None:
    every = _state(schedule=cosine)
    some = _state(schedule=cosine)
    train_one_epoch(every, _batches(4), _cross_entropy)

    def skip_odd(model, batch, calls=[]):  # noqa: B006 (a call counter)
        calls.append(1)
        return None if len(calls) % 2 == 0 else _cross_entropy(model, batch)

    losses = train_one_epoch(some, _batches(4), skip_odd)
    assert len(losses.losses) == 2 and losses.count == 10
    assert some.lr == every.lr == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 4 / 10)))
    assert not torch.equal(every.model.weight, some.model.weight)


def test_epoch_losses_mean_and_weighted_mean() -> None:
    losses = EpochLosses(losses=[1.0, 4.0], weights=[3, 1])
    assert losses.mean == 2.5 and losses.weighted_mean == pytest.approx(7.0 / 4)
    assert losses.count == 4
    assert np.isnan(EpochLosses().mean) and np.isnan(EpochLosses().weighted_mean)


def test_the_scaler_is_enabled_only_for_fp16() -> None:
    assert not _state(precision="fp32").scaler.is_enabled()
    assert not _state(precision="bf16").scaler.is_enabled()


def test_selection_rules(tmp_path) -> None:
    best = tmp_path / "best_model.pt"
    state = _state(fingerprint="abc")
    config = FitConfig(selection="best_val_macro_f1", patience=2)
    for epoch, f1 in enumerate([0.5, 0.5 + 1e-12, 0.4, 0.7], start=1):
        state.epoch = epoch
        select_weights(state, config.selection, f1, best)
        if epoch == 1:
            assert best.is_file() and load_checkpoint(best, "abc")["model"].keys()
        if epoch == 3:  # a gain under 1e-9 is no gain: two epochs without one
            assert (state.best_epoch, state.bad_epochs) == (1, 2) and early_stop(state, config)
    assert (state.best_epoch, state.best_f1, state.bad_epochs) == (4, 0.7, 0)

    last = _state()
    for epoch, f1 in enumerate([0.9, 0.1], start=1):
        last.epoch = epoch
        select_weights(last, "last", f1, tmp_path / "unused.pt")
    assert (last.best_epoch, last.best_f1) == (2, 0.1) and not (tmp_path / "unused.pt").exists()
    assert not early_stop(last, FitConfig(selection="last", patience=0))
    with pytest.raises(ValueError, match="selection must be one of"):
        select_weights(last, "best_val_loss", 0.5, best)


def test_the_epoch_loop_resumes_records_and_stops() -> None:
    state = _state(schedule=cosine)
    state.epoch = 1  # resumed after epoch 1
    seen, after = [], []

    def record(run: EpochRun) -> dict[str, float]:
        seen.append(run)
        return {"epoch": run.epoch, "lr": run.lr, "train_loss": run.losses.mean}

    run_epochs(
        state,
        4,
        lambda index: train_one_epoch(state, _batches(2), _cross_entropy),
        record,
        stop=lambda s: s.epoch == 3,  # checked before each epoch: epochs 2 and 3 run
        after_epoch=lambda s, r: after.append((s.epoch, r["epoch"])),
    )
    assert [r["epoch"] for r in state.history] == [2, 3] and state.epoch == 3
    assert after == [(2, 2), (3, 3)]
    assert seen[0].lr == 0.1 and seen[1].lr == pytest.approx(0.1 * 0.5 * (1 + np.cos(np.pi * 0.2)))
    assert len(seen[0].losses.losses) == 2 and seen[0].started <= seen[1].started


@pytest.mark.parametrize("interactive", [None, False])
def test_the_progress_display_does_not_change_the_training(interactive, monkeypatch) -> None:
    """tqdm.auto's bar (interactive None) once iterated a DataLoader twice: the second iterator
    drew its base seed from the global generator and shifted every later augmentation draw, so
    a notebook run alone trained differently from the pipeline's (MARS_INTERACTIVE=0)."""
    from marsutils.core import progress

    def draws() -> list[torch.Tensor]:
        torch.manual_seed(0)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.arange(8.0)), batch_size=4, shuffle=True
        )
        seen = [x for (x,) in progress.progress_bar(loader, disable=True)]
        return [*seen, torch.rand(3)]  # the global generator after the epoch

    monkeypatch.setattr(progress, "_interactive", False)
    text_mode = draws()
    monkeypatch.setattr(progress, "_interactive", interactive)
    monkeypatch.delenv(progress.INTERACTIVE_ENV, raising=False)
    for a, b in zip(text_mode, draws(), strict=True):
        assert torch.equal(a, b)
