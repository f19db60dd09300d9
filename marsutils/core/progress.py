"""Progress bars: live widgets in an interactive frontend, a few plain text lines elsewhere.

tqdm's own choice (:mod:`tqdm.auto`) shows an ipywidgets bar in every Jupyter kernel, including
the one papermill starts; the static book then shows dead widget views ("epoch 1/5: 0%"). So
the choice is explicit here: :func:`set_interactive` (called by
:func:`marsutils.book.notebook.setup` with the notebook's resolved ``interactive`` setting), else
the ``MARS_INTERACTIVE`` environment variable (the pipeline sets it to ``0``), else tqdm's detection
(:mod:`tqdm.auto`: a widget in a kernel) **and the stream**: outside a kernel, tqdm's redrawn bar
only where the bar's stream is a terminal (:func:`use_bars`). A bar redraws itself with carriage
returns, which a terminal overwrites but a file or pipe keeps (``nohup python -m marsutils train ...
&`` wrote megabytes of redrawn lines), so any other stream gets text lines. ``MARS_INTERACTIVE=0``
forces text lines everywhere; the training loop prints one summary line per epoch as well.

In text mode a bar prints whole lines, at most one per :data:`TEXT_INTERVAL_S` seconds and none
for loops shorter than that, so an executed notebook holds a handful of readable lines instead
of hundreds of carriage-return updates.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import std as tqdm_std

__all__ = [
    "INTERACTIVE_ENV",
    "TEXT_INTERVAL_S",
    "env_interactive",
    "interactive_setting",
    "progress_bar",
    "set_interactive",
    "use_bars",
]

#: Environment variable with the default of the ``interactive`` setting (true/false, 1/0...).
INTERACTIVE_ENV = "MARS_INTERACTIVE"
#: Seconds between two text progress lines (and before the first one).
TEXT_INTERVAL_S = 60.0

_interactive: bool | None = None


def set_interactive(interactive: bool | None) -> None:
    """Set the process-wide choice: True widgets, False text lines, None back to the default."""
    global _interactive
    _interactive = None if interactive is None else bool(interactive)


def interactive_setting() -> bool | None:
    """The explicit choice: :func:`set_interactive`, else ``$MARS_INTERACTIVE``, else None.

    Raises :class:`~marsutils.core.parameters.ParameterError` for an unreadable environment value.
    """
    if _interactive is not None:
        return _interactive
    return env_interactive()


def env_interactive() -> bool | None:
    """``$MARS_INTERACTIVE`` as a bool, or None when unset or empty.

    Raises :class:`~marsutils.core.parameters.ParameterError` naming the variable for a value that
    is not a yes/no spelling.
    """
    raw = os.environ.get(INTERACTIVE_ENV)
    if raw is None or not raw.strip():
        return None
    from marsutils.core.parameters import parse_bool

    return parse_bool(raw, f"${INTERACTIVE_ENV}")


def use_bars(stream: Any) -> bool:
    """Whether ``stream`` suits tqdm's redrawn bar: True only for a terminal.

    Parameters
    ----------
    stream : file-like
        Where the bar would write (tqdm's default is ``sys.stderr``).

    Returns
    -------
    bool
        ``stream.isatty()``; False for a stream without ``isatty`` or a closed one (whose
        ``isatty`` raises ``ValueError``). Where False, :func:`progress_bar` writes text lines.
    """
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (ValueError, OSError):
        return False


class _LineWriter(io.TextIOBase):
    """A file for tqdm that turns each carriage-return refresh into one whole line."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


class _TextBar(tqdm_std.tqdm):
    """tqdm whose postfix/description changes wait for the next timed refresh (no extra line)."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        super().set_postfix_str(s, refresh=False)


def progress_bar(
    iterable: Iterable | None = None, *, interactive: bool | None = None, **kwargs: Any
) -> tqdm_std.tqdm:
    """A tqdm bar over ``iterable`` (same keyword arguments as :class:`tqdm.tqdm`).

    ``interactive`` overrides :func:`interactive_setting` for this bar: True gives the notebook
    widget bar (:mod:`tqdm.notebook`), False plain text lines (at most one per
    :data:`TEXT_INTERVAL_S`, no carriage return; ``leave=False`` bars print no final line) on
    ``file`` if given, else ``sys.stdout``; None tqdm's detection (:mod:`tqdm.auto`) in a Jupyter
    kernel, else tqdm's redrawn bar where ``file`` (default ``sys.stderr``) is a terminal
    (:func:`use_bars`) and text lines anywhere else (a log file, a pipe, a grid worker).

    The bar iterates ``iter(iterable)``, made once here: :mod:`tqdm.auto`'s bar (the asyncio
    variant) would otherwise call ``iter()`` on it a second time, and a second iterator of a
    ``DataLoader`` draws its base seed from torch's global generator (and starts its worker
    processes), so the same seed would train differently with and without a terminal bar.
    ``total`` defaults to ``len(iterable)`` where it has one.
    """
    if iterable is not None:
        if "total" not in kwargs and hasattr(iterable, "__len__"):
            kwargs["total"] = len(iterable)
        iterable = iter(iterable)
    choice = interactive if interactive is not None else interactive_setting()
    stream = kwargs.pop("file", None)
    if choice is None:
        from tqdm.auto import tqdm as auto_tqdm
        from tqdm.notebook import tqdm as notebook_tqdm

        in_kernel = issubclass(auto_tqdm, notebook_tqdm)  # tqdm.auto's own detection
        if in_kernel or use_bars(sys.stderr if stream is None else stream):
            return auto_tqdm(iterable, file=stream, **kwargs)
        choice = False
    if choice:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(iterable, **kwargs)
    text = {
        "file": _LineWriter(sys.stdout if stream is None else stream),
        "mininterval": TEXT_INTERVAL_S,
        "maxinterval": TEXT_INTERVAL_S,
        "delay": TEXT_INTERVAL_S,
        "ascii": True,
        "ncols": 88,
        "dynamic_ncols": False,
    }
    return _TextBar(iterable, **{**kwargs, **text})
