"""Captioned tables and figures, rounding to the interval, p-values from resamples."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.figure import Figure

from marsutils.book.display import (
    decimals_for_interval,
    figure_bundle,
    format_p_value,
    markdown_table,
    show_figure,
    table_bundle,
)


@pytest.mark.parametrize(
    "low, high, decimals",
    [
        (92.6, 94.8, 1),
        (85.9, 93.1, 1),
        (60.0, 90.0, 0),
        (0.912, 0.918, 4),
        (40, 80, 0),
        (1.0, 1.0, 1),
    ],
)
def test_decimals_follow_the_interval_width(low, high, decimals):
    assert decimals_for_interval(low, high) == decimals


def test_p_value_from_resamples_never_prints_zero():
    assert format_p_value(0.0, resamples=1000) == "< 1/1000"
    assert format_p_value(0.001, resamples=1000) == "< 1/1000"
    assert format_p_value(0.052) == "0.052"
    assert format_p_value(0.5) == "0.5"
    with pytest.raises(ValueError, match="p must lie"):
        format_p_value(1.2)
    with pytest.raises(ValueError, match="resamples"):
        format_p_value(0.1, resamples=0)


def test_table_bundle_has_caption_label_and_both_views():
    frame = pd.DataFrame({"model": ["a|b", "c"], "F1": ["90.1", None]})
    bundle = table_bundle(frame, name="tab-demo", caption="Look at   the F1 column.")
    assert "<caption>Look at the F1 column.</caption>" in bundle["text/html"]
    md = bundle["text/markdown"]
    assert md.startswith("```{table} Look at the F1 column.\n:name: tab-demo\n")
    assert "| a\\|b | 90.1 |" in md and "| c |  |" in md
    assert markdown_table(frame).count("\n") == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [({"name": "Tab_X", "caption": "c"}, "label"), ({"name": "tab-x", "caption": " "}, "caption")],
)
def test_table_bundle_rejects_bad_labels_and_empty_captions(kwargs, match):
    with pytest.raises(ValueError, match=match):
        table_bundle(pd.DataFrame({"a": [1]}), **kwargs)


def test_figure_bundle_points_at_the_staged_figures_folder(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = tmp_path / "curve.png"
    fig.savefig(path)
    plt.close(fig)
    bundle = figure_bundle(path, name="fig-curve", caption="The curve rises.")
    assert bundle["text/markdown"].startswith("```{figure} ../figures/curve.png\n:name: fig-curve")
    assert bundle["text/html"].startswith('<figure><img src="data:image/png;base64,')
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        figure_bundle(tmp_path / "missing.png", name="fig-x", caption="c")
    (tmp_path / "x.svg").write_text("<svg/>")
    with pytest.raises(ValueError, match="PNG and JPEG"):
        figure_bundle(tmp_path / "x.svg", name="fig-x", caption="c")


def test_html_columns_pass_trusted_html_and_escape_every_other_cell():
    from marsutils.book.summary import verdict_badge

    frame = pd.DataFrame({"claim": ["a <b> c"], "verdict": [verdict_badge("confirmed")]})
    bundle = table_bundle(frame, name="tab-v", caption="Verdicts.", html_columns=["verdict"])
    assert '<span class="verdict verdict-confirmed">confirmed</span>' in bundle["text/html"]
    assert "a &lt;b&gt; c" in bundle["text/html"]
    assert "<span" in bundle["text/markdown"]  # MyST passes inline HTML through
    assert "<span" not in bundle["text/plain"] and "confirmed" in bundle["text/plain"]
    escaped = table_bundle(frame, name="tab-v", caption="Verdicts.")["text/html"]
    assert "&lt;span" in escaped
    with pytest.raises(ValueError, match="html_columns"):
        table_bundle(frame, name="tab-v", caption="Verdicts.", html_columns=["nope"])


def test_format_frame_rounds_floats_keeps_ints_and_moves_the_index():
    from marsutils.book.display import format_frame

    frame = pd.DataFrame({"x": [92.607636, float("nan")], "n": [3, 4]}, index=["a", "b"])
    out = format_frame(frame, decimals=1, index="model")
    assert out.to_dict(orient="list") == {"model": ["a", "b"], "x": ["92.6", ""], "n": [3, 4]}
    assert format_frame(pd.Series([0.5], name="v")).to_dict(orient="list") == {"v": ["0.500"]}


def test_family_summary_counts_the_families_of_a_subset():
    import numpy as np

    from marsutils.data.report import family_summary

    summary = family_summary(np.array([7, 7, 40, 3]))
    assert summary["families"] == 3 and summary["largest_family"] == 2
    assert summary["share_with_twin"] == 0.5


def test_claims_views_split_the_findings_table_with_badges_and_formatted_p_values():
    from marsutils.book.reporting import claims_views
    from marsutils.study.findings import COLUMNS

    row = dict.fromkeys(COLUMNS, None)
    row |= {"claim": "A beats B", "paper": "+2.6", "ours": "+1.0 [-0.5, 2.4]"}
    row |= {"verdict": "inconclusive", "p (Holm)": 0.0004, "contains 0": True, "n families": 37}
    verdicts, details = claims_views(pd.DataFrame([row], columns=COLUMNS))
    assert list(verdicts.columns) == ["#", "claim", "paper", "ours", "verdict"]
    assert verdicts.loc[0, "verdict"] == (
        '<span class="verdict verdict-inconclusive">inconclusive</span>'
    )
    assert details.loc[0, "p (Holm)"] == "4e-04" and details.loc[0, "contains 0"] == "yes"
    assert details.loc[0, "n families"] == "37" and details.loc[0, "why"] == ""
    bundle = table_bundle(verdicts, name="tab-f", caption="Verdicts.", html_columns=["verdict"])
    assert "verdict-inconclusive" in bundle["text/html"] and "&lt;span" not in bundle["text/html"]


def test_merge_intervals_rounds_each_estimate_to_its_interval():
    from marsutils.book.display import format_frame, merge_intervals

    frame = pd.DataFrame(
        {
            "pair": ["a", "b"],
            "mean": [0.1234, -0.00004],
            "ci_low": [0.05, -0.2],
            "ci_high": [0.2, 0.2],
            "auc": [0.5, 0.6],
            "auc_ci_low": [0.4, float("nan")],
            "auc_ci_high": [0.6, float("nan")],
            "n_families": [4.0, 6.0],
        }
    )
    out = format_frame(merge_intervals(frame))
    assert list(out.columns) == ["pair", "mean [95% CI]", "auc [95% CI]", "n_families"]
    assert out["mean [95% CI]"].tolist() == ["0.123 [0.050, 0.200]", "0.00 [-0.20, 0.20]"]
    assert out["auc [95% CI]"].tolist() == ["0.50 [0.40, 0.60]", "0.600"]
    assert out["n_families"].tolist() == ["4", "6"]  # whole-number floats print as integers


def test_show_figure_displays_a_png(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    show_figure(fig)
    assert isinstance(shown[0], IPython.display.Image) and shown[0].data.startswith(b"\x89PNG")
    show_figure(fig, image_format="jpeg")
    assert shown[1].data.startswith(b"\xff\xd8") and shown[1].format == "jpeg"
    with pytest.raises(ValueError, match="image_format"):
        show_figure(fig, image_format="gif")
