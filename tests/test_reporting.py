"""Chapter tables: interval formatting and paired comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marsutils.metrics import evaluate_predictions
from marsutils.reporting import format_ci, headline_table, paired_comparisons


def test_format_ci():
    assert format_ci(0.9312, {"low": 0.92, "high": 0.941}) == "93.1 [92.0, 94.1]"
    assert format_ci(0.5, None) == "50.0"
    assert format_ci(None, None) == "n/a"


def test_headline_table():
    y = np.arange(40) % 4
    ev = evaluate_predictions(y, y, class_names=list("abcd"), n_boot=50)
    table = headline_table({"perfect": ev})
    # every image right: the bootstrap cannot vary, so the interval is the exact binomial one
    assert table.loc["perfect", "accuracy"] == "100.0 [91.2, 100.0]"
    assert table.loc["perfect", "test images"] == 40


def test_paired_comparisons():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = pd.DataFrame({"row": np.arange(300), "y_true": y, "y_pred": y})
    noisy = pd.DataFrame({"row": np.arange(300), "y_true": y, "y_pred": rng.integers(0, 3, 300)})
    table = paired_comparisons({"good": good, "noisy": noisy}, [("good", "noisy")], n_boot=200)
    assert list(table["metric"]) == ["accuracy", "macro_f1"]
    assert table["a better (CI above 0)"].all()
    assert not table["b better (CI below 0)"].any()
    shifted = good.assign(row=good["row"] + 1)
    with pytest.raises(ValueError, match="same images"):
        paired_comparisons({"good": good, "shifted": shifted}, [("good", "shifted")])
