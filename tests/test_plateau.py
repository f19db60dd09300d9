"""The plateau rule on constructed learning curves."""

import pytest

from marsutils.stats.plateau import plateau_status


def _history(values, key="val_macro_f1"):
    return [{"epoch": e, key: v} for e, v in enumerate(values, start=1)]


def test_rising_curve_is_still_improving():
    status = plateau_status(_history([0.53, 0.67]), window=1)
    assert status.still_improving
    assert status.recent_gain == pytest.approx(0.14)
    assert status.best_epoch == 2
    assert "still improving" in status.sentence


def test_flat_tail_has_levelled_off():
    status = plateau_status(_history([0.5, 0.8, 0.805, 0.79]), window=2, min_delta=0.01)
    assert not status.still_improving
    assert status.recent_gain == pytest.approx(0.005)
    assert status.best_epoch == 3
    assert "levelled off" in status.sentence


def test_gain_exactly_at_threshold_is_not_improvement():
    # binary-exact values: the gain equals the threshold exactly
    status = plateau_status(_history([0.5, 0.75, 0.875]), window=1, min_delta=0.125)
    assert status.recent_gain == 0.125
    assert not status.still_improving


def test_loss_mode_min():
    falling = plateau_status(
        _history([1.0, 0.6, 0.4], "val_loss"), metric="val_loss", mode="min", window=1
    )
    assert falling.still_improving and falling.recent_gain == pytest.approx(0.2)
    flat = plateau_status(
        _history([1.0, 0.4, 0.41, 0.405], "val_loss"), metric="val_loss", mode="min"
    )
    assert not flat.still_improving


def test_too_short_counts_as_still_improving():
    status = plateau_status(_history([0.5, 0.6]), window=2)
    assert status.still_improving and status.recent_gain is None
    assert "too short" in status.sentence


@pytest.mark.parametrize(
    "kwargs, history, match",
    [
        ({}, [], "empty"),
        ({}, [{"epoch": 1}], "lacks"),
        ({}, [{"epoch": 1, "val_macro_f1": float("nan")}], "finite"),
        ({"mode": "up"}, [{"epoch": 1, "val_macro_f1": 0.5}], "mode"),
        ({"window": 0}, [{"epoch": 1, "val_macro_f1": 0.5}], "window"),
        ({"min_delta": -1}, [{"epoch": 1, "val_macro_f1": 0.5}], "min_delta"),
    ],
)
def test_bad_input_names_the_problem(kwargs, history, match):
    with pytest.raises(ValueError, match=match):
        plateau_status(history, **kwargs)


def test_committed_reference_unet_was_still_improving():
    """The issue's example: U-Net under the first published run's ablation budget (2 epochs)."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "results" / "reference-v1" / "experiments"
    path = root / "family" / "unet-efficientnet_lite0-imagenet-128px-2ep-3000spe" / "history.json"
    assert path.is_file(), f"{path}: the first published run's records are missing"
    status = plateau_status(json.loads(path.read_text()), window=1)
    assert status.still_improving


def test_learning_curves_plot_one_line_per_model():
    from marsutils.figures.plots import plot_learning_curves

    histories = {
        "a": [
            {"epoch": 1, "val_macro_f1": 0.5, "val_loss": 1.0},
            {"epoch": 2, "val_macro_f1": 0.6, "val_loss": 0.8},
        ],
        "b": [{"epoch": 1, "val_macro_f1": 0.4, "val_loss": 1.2}],
    }
    fig = plot_learning_curves(histories)
    assert len(fig.axes) == 2
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    with pytest.raises(ValueError, match="no history has"):
        plot_learning_curves(histories, metrics=("val_accuracy",))
