"""Has a training run levelled off? A rule on the validation learning curve.

A comparison between two models is fair only if both were trained long enough for their
validation metric to level off. :func:`plateau_status` applies one stated rule to a run's
per-epoch history (the ``history.json`` that :func:`marsutils.train.fit` writes):

    A run is **still improving** when the best value of ``metric`` over its last ``window``
    epochs beats the best value of all earlier epochs by more than ``min_delta``; it has
    **levelled off** otherwise. A run with ``window`` epochs or fewer cannot show a plateau and
    counts as still improving.

**The learning-rate schedule.** With ``lr_fraction`` set, a gain made in an epoch that started
at a learning rate below ``lr_fraction`` times the run's peak does not count: near the end of a
cosine schedule the weights only settle (a few hundredths of a nat of validation loss), and more
epochs of the same schedule would not continue that. An epoch starts at the rate recorded at the
end of the epoch before it (``history.json`` records ``lr`` after each epoch's last step).

The defaults (validation macro F1, the last 2 epochs, 0.01 = one point) are a working choice, not
a standard: on a validation set of a few hundred images a difference of one point is about one
image of a rare class, so smaller changes are noise. The rule is applied to the validation
*loss* as well (``metric="val_loss"``, ``mode="min"``) where a noisy macro F1 is the concern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["PlateauStatus", "plateau_status"]


@dataclass(frozen=True)
class PlateauStatus:
    """The verdict of :func:`plateau_status` on one learning curve.

    Attributes
    ----------
    still_improving : bool
        True when the last ``window`` epochs beat the earlier ones by more than ``min_delta``.
    metric, mode : str
        The history key judged, and whether larger (``"max"``) or smaller (``"min"``) is better.
    epochs : int
        Number of epochs in the history.
    best_epoch : int
        Epoch (1-based, as recorded) of the best value.
    recent_gain : float or None
        Best of the last ``window`` epochs minus best of the earlier ones, signed so that a
        positive value is an improvement; None when there are no earlier epochs.
    window : int
    min_delta : float
    annealing_epochs : int
        Epochs of the window left out because they started below ``lr_fraction`` of the peak
        learning rate (0 without that rule).
    """

    still_improving: bool
    metric: str
    mode: str
    epochs: int
    best_epoch: int
    recent_gain: float | None
    window: int
    min_delta: float
    annealing_epochs: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return asdict(self)

    @property
    def sentence(self) -> str:
        """One sentence for a table or a caption."""
        if self.recent_gain is None:
            return f"only {self.epochs} epoch(s): too short to show a plateau of {self.metric}"
        verb = "was still improving" if self.still_improving else "had levelled off"
        skipped = (
            f", {self.annealing_epochs} annealing epoch(s) not counted"
            if self.annealing_epochs
            else ""
        )
        return (
            f"{verb} at its last epoch ({self.metric}: {self.recent_gain:+.3f} over the last "
            f"{self.window} epochs; threshold {self.min_delta:g}{skipped})"
        )


def plateau_status(
    history: Sequence[Mapping[str, Any]],
    *,
    metric: str = "val_macro_f1",
    mode: Literal["max", "min"] = "max",
    window: int = 2,
    min_delta: float = 0.01,
    lr_fraction: float | None = None,
) -> PlateauStatus:
    """Judge whether a learning curve has levelled off (rule in the module docstring).

    Parameters
    ----------
    history : sequence of mapping
        Per-epoch records in training order, each with ``"epoch"`` and ``metric`` keys, as in
        ``history.json``.
    metric : str, default="val_macro_f1"
        The history key to judge.
    mode : {"max", "min"}, default="max"
        Whether larger or smaller values of ``metric`` are better.
    window : int, default=2
        Number of final epochs compared with all earlier ones; at least 1.
    min_delta : float, default=0.01
        Smallest improvement, in the units of ``metric``, that counts; at least 0.
    lr_fraction : float, optional
        Leave out of the window the epochs that started below this fraction of the peak
        learning rate (module docstring); needs ``lr`` in every entry. None: every epoch counts.

    Returns
    -------
    PlateauStatus

    Raises
    ------
    ValueError
        If ``history`` is empty, an entry lacks ``epoch`` or ``metric``, a value is not a finite
        number, or ``mode``, ``window`` or ``min_delta`` is invalid.

    Examples
    --------
    >>> h = [{"epoch": e, "val_macro_f1": v} for e, v in enumerate([0.5, 0.7, 0.8], 1)]
    >>> plateau_status(h).still_improving
    True
    >>> h = [{"epoch": e, "val_macro_f1": v} for e, v in enumerate([0.5, 0.8, 0.8, 0.805], 1)]
    >>> plateau_status(h).still_improving
    False
    """
    _check_rule(mode, window, min_delta)
    values, epochs = _curve(history, metric)
    sign = 1.0 if mode == "max" else -1.0
    scores = [sign * v for v in values]
    best_index = max(range(len(scores)), key=lambda i: (scores[i], -i))
    if len(scores) <= window:
        return PlateauStatus(
            True, metric, mode, len(scores), epochs[best_index], None, window, float(min_delta)
        )
    recent = list(range(len(scores) - window, len(scores)))
    if lr_fraction is not None:
        recent = _not_annealing(history, recent, lr_fraction)
    skipped = window - len(recent)
    # every epoch of the window only annealed: nothing there counts as a gain
    gain = max(scores[i] for i in recent) - max(scores[:-window]) if recent else 0.0
    return PlateauStatus(
        still_improving=gain > min_delta,
        metric=metric,
        mode=mode,
        epochs=len(scores),
        best_epoch=epochs[best_index],
        recent_gain=float(gain),
        window=window,
        min_delta=float(min_delta),
        annealing_epochs=skipped,
    )


def _check_rule(mode: str, window: int, min_delta: float) -> None:
    """Raise ``ValueError`` for an invalid ``mode``, ``window`` or ``min_delta``."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min'; got {mode!r}")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an integer >= 1; got {window!r}")
    if not min_delta >= 0:
        raise ValueError(f"min_delta must be >= 0; got {min_delta!r}")


def _curve(history: Sequence[Mapping[str, Any]], metric: str) -> tuple[list[float], list[int]]:
    """The values of ``metric`` and the epoch numbers of a non-empty, well-formed history."""
    if not history:
        raise ValueError("history is empty: no epoch was recorded")
    values: list[float] = []
    epochs: list[int] = []
    for i, entry in enumerate(history):
        if "epoch" not in entry or metric not in entry:
            raise ValueError(f"history entry {i} lacks 'epoch' or {metric!r}: {sorted(entry)}")
        value = entry[metric]
        if not isinstance(value, int | float) or value != value or abs(value) == float("inf"):
            raise ValueError(f"history entry {i}: {metric} = {value!r} is not a finite number")
        values.append(float(value))
        epochs.append(int(entry["epoch"]))
    return values, epochs


def _not_annealing(
    history: Sequence[Mapping[str, Any]], recent: list[int], lr_fraction: float
) -> list[int]:
    """The epochs of ``recent`` that started at ``lr_fraction`` of the peak rate or above."""
    rates = []
    for i, entry in enumerate(history):
        if not isinstance(entry.get("lr"), int | float):
            raise ValueError(f"history entry {i} has no learning rate 'lr': {sorted(entry)}")
        rates.append(float(entry["lr"]))
    peak = max(rates)
    # epoch i starts at the rate recorded after epoch i - 1
    return [i for i in recent if i > 0 and rates[i - 1] >= lr_fraction * peak]
