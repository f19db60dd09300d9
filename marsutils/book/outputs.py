"""What a published notebook may show, a check for it, and a cosmetic clean-up of old runs.

A chapter of the book must not show:

* a traceback (``Traceback``);
* an absolute path of the machine that ran it (``/root/``, ``/home/``, ``/work/``, ``/tmp/``);
* a live-widget output (``application/vnd.jupyter.widget-view+json``): the static book has no
  kernel, so it renders a dead view (e.g. a progress bar frozen at "epoch 1/5: 0%").

:func:`output_problems` checks an executed notebook's outputs, :func:`html_problems` a built
book. :func:`clean_notebook` repairs notebooks executed before the pipeline ran kernels in text
mode; it changes presentation only: it removes widget views and the saved widget state, removes
stderr runs that consist of nothing but torch's DataLoader-worker message
"Exception ignored in ... _MultiProcessingDataLoaderIter.__del__ ... AssertionError: can only
test a child process" (printed by a forked worker, see :mod:`marsutils.book.notebook`), and rewrites
given absolute path prefixes (e.g. ``/work/main/`` -> ``""``). Every other output is kept as is.

``python -m marsutils.book.outputs check FILE...`` lists problems (exit 1 if any);
``python -m marsutils.book.outputs clean FILE... --replace /work/main/= ...`` cleans in place.

:func:`rasterize_figures` applies the figure rule of the chapters to an exported figures folder
of an older run: a figure whose SVG only wraps a raster image (heat maps, image grids: an
``<image`` element) is kept as one JPEG made from its PNG, and its SVG and PNG are removed; line
plots keep their SVG and PNG. It changes the file format of the same executed figure, not what
it shows (``python -m marsutils.book.outputs rasterize figures``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from marsutils.core.atomic import atomic_write

__all__ = [
    "FORBIDDEN",
    "WIDGET_VIEW_MIME",
    "output_problems",
    "html_problems",
    "clean_notebook",
    "main",
]

FORBIDDEN = ("Traceback", "/root/", "/home/", "/work/", "/tmp/")
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
_TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")

_LOADER_HEADER = re.compile(
    r"Exception ignored in: <function _MultiProcessingDataLoaderIter\.__del__ at 0x[0-9a-f]+>"
)
_LOADER_LINES = [
    _LOADER_HEADER,
    re.compile(r"Traceback \(most recent call last\):"),
    re.compile(r'\s*File ".*/torch/utils/data/dataloader\.py", line \d+, in \w+'),
    re.compile(r'\s*File ".*/multiprocessing/process\.py", line \d+, in (is_alive|join)'),
    re.compile(r"\s*self\._shutdown_workers\(\)"),
    re.compile(r"\s*if w\.is_alive\(\):"),
    re.compile(r"\s*w\.join\(.*\)"),
    re.compile(
        r"\s*assert self\._parent_pid == os\.getpid\(\), 'can only (test|join) a child process'"
    ),
    re.compile(r"AssertionError: can only (test|join) a child process"),
    re.compile(r"[\s^~]*"),
]


def _output_texts(output: dict[str, Any]) -> Iterable[str]:
    if output.get("output_type") == "stream":
        yield _text(output.get("text", ""))
    elif output.get("output_type") == "error":
        yield "Traceback"  # an error output is a traceback, whatever its text
        yield _text(output.get("evalue", ""))
    for mime, value in output.get("data", {}).items():
        if mime in _TEXT_MIMES or mime.endswith("json"):
            yield _text(value) if not isinstance(value, dict) else str(value)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def output_problems(nb: Any, name: str = "notebook") -> list[str]:
    """Every forbidden output of executed notebook ``nb`` (nbformat v4), as readable lines."""
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            where = f"{name} cell {index} ({output.get('output_type')})"
            if WIDGET_VIEW_MIME in output.get("data", {}):
                problems.append(
                    f"{where}: widget view {_text(output['data'].get('text/plain', ''))!r}"
                )
            for text in _output_texts(output):
                for needle in FORBIDDEN:
                    if needle in text:
                        at = text.index(needle)
                        problems.append(
                            f"{where}: {needle!r} in {text[max(0, at - 60) : at + 60]!r}"
                        )
    return problems


def html_problems(html_dir: str | Path) -> list[str]:
    """Every forbidden string (or widget-view MIME type) in the ``*.html`` pages of a built book."""
    problems = []
    for page in sorted(Path(html_dir).rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for needle in (*FORBIDDEN, WIDGET_VIEW_MIME):
            if needle in text:
                at = text.index(needle)
                problems.append(f"{page.name}: {needle!r} in {text[max(0, at - 80) : at + 80]!r}")
    return problems


def _is_loader_noise(text: str) -> bool:
    lines = text.splitlines()
    return any(_LOADER_HEADER.fullmatch(line) for line in lines) and all(
        any(p.fullmatch(line) for p in _LOADER_LINES) for line in lines
    )


def _drop_loader_noise(outputs: Sequence[Any]) -> tuple[list[Any], int]:
    """``outputs`` without the stderr runs that are only DataLoader-worker messages."""
    kept: list[Any] = []
    run: list[Any] = []  # consecutive stderr stream outputs
    removed = 0
    for output in [*outputs, None]:
        is_stderr = output is not None and output.get("output_type") == "stream"
        if is_stderr and output.get("name") == "stderr":
            run.append(output)
            continue
        text = "".join(_text(o["text"]) for o in run)
        if run and _is_loader_noise(text):
            removed += sum(bool(_LOADER_HEADER.fullmatch(line)) for line in text.splitlines())
        else:
            kept.extend(run)
        run = []
        if output is not None:
            kept.append(output)
    return kept, removed


def _replace(value: Any, replacements: Sequence[tuple[str, str]]) -> tuple[Any, int]:
    if isinstance(value, list):
        pairs = [_replace(v, replacements) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if not isinstance(value, str):
        return value, 0
    count = 0
    for old, new in replacements:
        count += value.count(old)
        value = value.replace(old, new)
    return value, count


def clean_notebook(nb: Any, replacements: Sequence[tuple[str, str]] = ()) -> dict[str, int]:
    """Clean executed notebook ``nb`` in place (see the module docstring); returns counts.

    ``replacements`` are ``(absolute prefix, replacement)`` pairs applied to output text, e.g.
    ``("/work/main/", "")`` for the repository the run used. Returns the number of widget
    views, DataLoader-worker messages and path replacements removed or made.
    """
    counts = {"widget_views": 0, "loader_messages": 0, "paths": 0}
    if nb.get("metadata", {}).pop("widgets", None) is not None:
        counts["widget_state"] = 1
    for cell in nb.get("cells", []):
        outputs = [o for o in cell.get("outputs", []) if WIDGET_VIEW_MIME not in o.get("data", {})]
        counts["widget_views"] += len(cell.get("outputs", [])) - len(outputs)
        kept, removed = _drop_loader_noise(outputs)
        counts["loader_messages"] += removed
        for output in kept:
            if "text" in output:
                output["text"], n = _replace(output["text"], replacements)
                counts["paths"] += n
            for mime in list(output.get("data", {})):
                if mime in _TEXT_MIMES:
                    output["data"][mime], n = _replace(output["data"][mime], replacements)
                    counts["paths"] += n
        if "outputs" in cell:
            cell["outputs"] = kept
    return counts


def _replacement(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old.startswith("/"):
        raise argparse.ArgumentTypeError(
            f"--replace takes /ABSOLUTE/PREFIX=REPLACEMENT; got {text!r}"
        )
    return old, new


def rasterize_figures(folder: str | Path, *, quality: int = 85) -> list[Path]:
    """Keep each raster-only figure of ``folder`` as a single JPEG.

    Parameters
    ----------
    folder : path
        A figures folder with ``<name>.png`` and ``<name>.svg`` pairs.
    quality : int, default=85
        JPEG quality, as :meth:`marsutils.book.notebook.NotebookContext.save_raster` uses.

    Returns
    -------
    list of Path
        The JPEGs written, one per figure whose SVG holds an ``<image`` element and that has a
        PNG beside it; their PNG and SVG are removed. Other figures are left as they are.
    """
    from PIL import Image

    written = []
    for svg in sorted(Path(folder).glob("*.svg")):
        png = svg.with_suffix(".png")
        if not png.is_file() or "<image" not in svg.read_text(errors="replace"):
            continue
        jpg = svg.with_suffix(".jpg")
        with Image.open(png) as image:
            rgb = image.convert("RGB")
        atomic_write(jpg, lambda tmp, rgb=rgb: rgb.save(tmp, format="JPEG", quality=quality))
        png.unlink()
        svg.unlink()
        written.append(jpg)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``check`` or ``clean`` executed notebooks, or ``rasterize`` a figures folder; returns the
    exit status."""
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m marsutils.book.outputs", description=__doc__)
    parser.add_argument("command", choices=("check", "clean", "rasterize"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--replace", action="append", default=[], type=_replacement)
    args = parser.parse_args(argv)
    if args.command == "rasterize":
        for folder in args.notebooks:
            for jpg in rasterize_figures(folder):
                print(f"{jpg}: JPEG only")
        return 0
    status = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.command == "clean":
            counts = clean_notebook(nb, args.replace)
            atomic_write(path, lambda tmp, nb=nb: nbformat.write(nb, tmp))
            print(f"{path.name}: {counts}")
        problems = output_problems(nb, path.name)
        for problem in problems:
            print(problem)
        status = status or int(bool(problems))
    return status


if __name__ == "__main__":
    sys.exit(main())
