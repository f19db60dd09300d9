"""Numbered, captioned figures and tables for the book, readable in JupyterLab too.

Every figure and table of a chapter is shown through :func:`show_table` or
:func:`show_figure_file` (an uncaptioned figure object through :func:`show_figure`). Each emits
one display bundle with two views of the same content:

* ``text/html``: a ``<table>`` with a ``<caption>``, or a ``<figure>`` with the image inlined and a
  ``<figcaption>``. JupyterLab and classic Jupyter pick this view.
* ``text/markdown``: a MyST ``{table}`` or ``{figure}`` directive with a ``:name:`` label. The
  book's configuration (``book/_config.yml``: ``nb_render_markdown_format: myst`` and
  ``nb_mime_priority_overrides``) makes the HTML builder pick this view, so Sphinx numbers the
  figure or table, and prose can cross-reference it with ``{numref}`` (e.g. ``{numref}`fig-x```).

Figures are referred to by their file in the run's figures folder, which the pipeline stages as
``figures/`` beside ``notebooks/``; the directive therefore points to ``../figures/<name>.png``.

Numbers are rounded to the precision their interval supports (:func:`decimals_for_interval`), and
a bootstrap p-value with no resample beyond the observed value prints as ``< 1/B``
(:func:`format_p_value`).
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "decimals_for_interval",
    "format_p_value",
    "markdown_table",
    "format_frame",
    "merge_intervals",
    "table_bundle",
    "figure_bundle",
    "show_table",
    "show_figure_file",
    "show_figure",
]

_LABEL = re.compile(r"^[a-z][a-z0-9-]*$")
_TAG = re.compile(r"<[^>]+>")


def _check_label(name: str) -> str:
    if not isinstance(name, str) or not _LABEL.match(name):
        raise ValueError(
            f"label {name!r} must be lower-case letters, digits and '-', starting with a letter"
        )
    return name


def _check_caption(caption: str) -> str:
    caption = " ".join(str(caption).split())
    if not caption:
        raise ValueError("a caption is required: one sentence saying what to look at")
    return caption


def decimals_for_interval(low: float, high: float, *, significant: int = 2) -> int:
    """Decimals that show an interval's half-width with ``significant`` significant digits.

    Parameters
    ----------
    low, high : float
        Interval bounds, in the units of the value (e.g. percentage points).
    significant : int, default=2
        Significant digits of the half-width to keep.

    Returns
    -------
    int
        Between 0 and 4. An interval of zero width (or non-finite bounds) gets 1.

    Examples
    --------
    >>> decimals_for_interval(92.6, 94.8)  # half-width 1.1 -> one decimal
    1
    >>> decimals_for_interval(0.912, 0.918)  # half-width 0.003 -> four decimals
    4
    >>> decimals_for_interval(40, 80)  # half-width 20 -> no decimals
    0
    """
    half = (high - low) / 2
    if not (math.isfinite(half) and half > 0):
        return 1
    magnitude = math.floor(math.log10(half))
    return int(min(4, max(0, significant - 1 - magnitude)))


def format_p_value(p: float, *, resamples: int | None = None) -> str:
    """A p-value for a table: ``< 1/B`` when a resampling test saw no more extreme resample.

    Parameters
    ----------
    p : float
        The p-value, in [0, 1].
    resamples : int, optional
        B, the number of resamples (or permutations) behind ``p``. A p-value at or below 1/B
        (including an estimate of 0) is printed as ``< 1/B`` with B spelled out, never as 0.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``p`` is outside [0, 1] or ``resamples`` < 1.

    Examples
    --------
    >>> format_p_value(0.0, resamples=1000)
    '< 1/1000'
    >>> format_p_value(0.0321)
    '0.032'
    >>> format_p_value(0.00004)
    '4e-05'
    """
    if not 0 <= p <= 1 or p != p:
        raise ValueError(f"p must lie in [0, 1]; got {p!r}")
    if resamples is not None:
        if resamples < 1:
            raise ValueError(f"resamples must be >= 1; got {resamples!r}")
        if p <= 1 / resamples:
            return f"< 1/{resamples}"
    if p >= 0.001:
        return f"{p:.2g}" if p < 0.01 else f"{p:.3f}".rstrip("0").rstrip(".")
    return f"{p:.0e}"


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def format_frame(
    frame: pd.DataFrame | pd.Series, *, decimals: int = 3, index: str | None = None
) -> pd.DataFrame:
    """``frame`` ready for :func:`show_table`: floats as fixed-decimal strings, index as a column.

    Parameters
    ----------
    frame : DataFrame or Series
        The table (a Series becomes one column named after it, or ``value``).
    decimals : int, default=3
        Decimals of every float cell (integers and text are left as they are; NaN, None and NA
        are empty).
        Use :func:`decimals_for_interval` where a column has an interval.
    index : str, optional
        Name of the column the index becomes; by default the index is dropped.

    Returns
    -------
    DataFrame
        A new frame with a plain ``RangeIndex``.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(frame.name if frame.name is not None else "value")
    out = frame.reset_index(drop=True) if index is None else frame.rename_axis(index).reset_index()

    def text(value: object, places: int) -> object:
        if value is None or value is pd.NA:
            return ""
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.{places}f}"
        return value

    for column in out.columns:
        values = [v for v in out[column] if isinstance(v, float) and not math.isnan(v)]
        whole = bool(values) and all(v.is_integer() and abs(v) < 1e15 for v in values)
        out[column] = out[column].map(lambda v, p=0 if whole else decimals: text(v, p))
    return out


def _interval_cell(value: float, low: float, high: float) -> str:
    if any(v is None or v != v for v in (value, low, high)):
        return "" if value is None or value != value else f"{value:.3f}"
    d = decimals_for_interval(low, high)
    cells = [round(v, d) + 0.0 for v in (value, low, high)]  # + 0.0: no "-0"
    return "{:.{d}f} [{:.{d}f}, {:.{d}f}]".format(*cells, d=d)


def merge_intervals(
    frame: pd.DataFrame, *, estimates: tuple[str, ...] = ("mean", "hit_rate", "spearman")
) -> pd.DataFrame:
    """Merge each estimate with its interval bounds into one ``value [low, high]`` column.

    A column ``X`` with ``X_ci_low`` and ``X_ci_high`` becomes ``X [95% CI]``; plain ``ci_low``
    and ``ci_high`` belong to the first of ``estimates`` present. Each cell is rounded to the
    decimals its interval supports (:func:`decimals_for_interval`); a row without bounds shows
    the estimate alone.

    Returns
    -------
    DataFrame
        A copy with the bound columns removed.
    """
    out = frame.copy()
    pairs = [(c, f"{c}_ci_low", f"{c}_ci_high") for c in frame.columns]
    if "ci_low" in frame and "ci_high" in frame:
        first = next((c for c in estimates if c in frame), None)
        if first is not None:
            pairs.append((first, "ci_low", "ci_high"))
    for column, low, high in pairs:
        if low not in out or high not in out or column not in out:
            continue
        merged = [
            _interval_cell(float(v), float(lo), float(hi))
            for v, lo, hi in zip(out[column], out[low], out[high], strict=True)
        ]
        position = out.columns.get_loc(column)
        out = out.drop(columns=[column, low, high])
        out.insert(position, f"{column} [95% CI]", merged)
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (index dropped; cells as ``str``, missing values empty)."""
    header = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *rows])


def table_bundle(
    frame: pd.DataFrame, *, name: str, caption: str, html_columns: Sequence[str] = ()
) -> dict[str, str]:
    """The MIME bundle of a captioned table (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        Already formatted for display: rounded strings or numbers; the index is not shown.
    name : str
        The cross-reference label, e.g. ``"tab-ablation"`` (lower case, digits and ``-``).
    caption : str
        One sentence saying what to look at.
    html_columns : sequence of str, optional
        Columns whose cells are trusted inline HTML (e.g.
        :func:`marsutils.book.summary.verdict_badge`), passed to the HTML view unescaped; every
        other cell is escaped. The MyST view passes inline HTML through in any case, and the
        plain-text view strips the tags.

    Returns
    -------
    dict
        ``text/html``, ``text/markdown`` and ``text/plain`` views.

    Raises
    ------
    ValueError
        If ``name`` is not a valid label, ``caption`` is empty, ``frame`` has no columns or an
        entry of ``html_columns`` is not one of its columns.
    """
    _check_label(name)
    caption = _check_caption(caption)
    if frame.shape[1] == 0:
        raise ValueError(f"table {name!r} has no columns")
    trusted = list(html_columns)
    unknown = [c for c in trusted if c not in frame.columns]
    if unknown:
        raise ValueError(f"table {name!r}: html_columns {unknown} are not columns of the table")
    escaped = frame.copy()
    for column in escaped.columns:
        if column not in trusted:
            escaped[column] = escaped[column].map(
                lambda v: v if v is None or isinstance(v, float) else html.escape(str(v))
            )
    table_html = escaped.to_html(index=False, na_rep="", escape=False, border=0)
    plain = frame.copy()
    for column in trusted:
        plain[column] = plain[column].map(lambda v: _TAG.sub("", str(v)))
    table_html = table_html.replace(
        "<thead>", f"<caption>{html.escape(caption)}</caption>\n  <thead>", 1
    )
    markdown = f"```{{table}} {caption}\n:name: {name}\n\n{markdown_table(frame)}\n```\n"
    return {
        "text/html": table_html,
        "text/markdown": markdown,
        "text/plain": f"{caption}\n{plain.to_string(index=False)}",
    }


def figure_bundle(path: str | Path, *, name: str, caption: str) -> dict[str, str]:
    """The MIME bundle of a captioned figure file (PNG or JPEG) in the run's figures folder.

    Parameters
    ----------
    path : str or Path
        The image file; the book refers to it as ``../figures/<file name>``.
    name : str
        The cross-reference label, e.g. ``"fig-confusion"``.
    caption : str
        One sentence saying what to look at.

    Returns
    -------
    dict
        ``text/html`` (image inlined), ``text/markdown`` (MyST figure) and ``text/plain`` views.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not PNG or JPEG, ``name`` is invalid or ``caption`` is empty.
    """
    _check_label(name)
    caption = _check_caption(caption)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"figure file {path} does not exist; save the figure first")
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        path.suffix.lower()
    )
    if mime is None:
        raise ValueError(f"figure {path.name}: only PNG and JPEG files can be shown")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    escaped = html.escape(caption)
    figure_html = (
        f'<figure><img src="data:{mime};base64,{data}" alt="{escaped}" style="max-width:100%">'
        f"<figcaption>{escaped}</figcaption></figure>"
    )
    markdown = f"```{{figure}} ../figures/{path.name}\n:name: {name}\n\n{caption}\n```\n"
    return {"text/html": figure_html, "text/markdown": markdown, "text/plain": caption}


def _display(bundle: Mapping[str, str]) -> None:
    from IPython.display import display

    display(dict(bundle), raw=True)


def show_table(
    frame: pd.DataFrame, *, name: str, caption: str, html_columns: Sequence[str] = ()
) -> None:
    """Display a numbered, captioned table (arguments as in :func:`table_bundle`)."""
    _display(table_bundle(frame, name=name, caption=caption, html_columns=html_columns))


def show_figure_file(path: str | Path, *, name: str, caption: str) -> None:
    """Display a numbered, captioned figure (arguments as in :func:`figure_bundle`)."""
    _display(figure_bundle(path, name=name, caption=caption))


#: ``Figure.savefig`` options of each format :func:`show_figure` renders.
_SAVEFIG_OPTIONS: dict[str, dict[str, object]] = {
    "png": {},
    "jpeg": {"pil_kwargs": {"quality": 85}},
}


def show_figure(fig: Figure, *, dpi: int = 100, image_format: str = "png") -> None:
    """Display ``fig`` in a notebook as a PNG or JPEG image, uncaptioned.

    The book's figures are built without pyplot (see :mod:`marsutils.core.layers`), so no notebook
    backend knows how to show them; this renders the image itself, which works in any kernel and
    in the static book. JPEG keeps grids of speckled heat maps several times smaller than PNG;
    keep PNG for line plots.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to show.
    dpi : int, default=100
        Resolution of the rendered image, in dots per inch.
    image_format : {"png", "jpeg"}, default="png"
        The image format.

    Raises
    ------
    ValueError
        For another ``image_format``.
    """
    from IPython.display import Image, display

    options = _SAVEFIG_OPTIONS.get(image_format)
    if options is None:
        raise ValueError(f"image_format must be 'png' or 'jpeg'; got {image_format!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=image_format, dpi=dpi, bbox_inches="tight", **options)
    display(Image(data=buffer.getvalue(), format=image_format))
