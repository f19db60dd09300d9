"""The book as one PDF: ``make pdf`` (``python -m marsutils.book.pdf``).

Jupyter Book 1 offers two PDF builders, and neither works offline here: ``pdfhtml`` needs
pyppeteer, which downloads its own Chromium, and ``pdflatex`` needs a TeX Live installation and
turns the HTML tables and widgets into LaTeX that loses the verdict colours. This module instead
builds the ``singlehtml`` edition of the book (every page in one HTML file, figures embedded as
files beside it) and prints that file with headless Chromium's ``--print-to-pdf``, the browser the
tests already install (Debian's ``chromium``). The PDF is what a reader sees in the browser,
without the navigation bars.

By default it prints the published book (``book/notebooks`` and ``figures/``); ``--notebooks``
and ``--figures`` print another executed run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from marsutils.book.chapters import PipelineError
from marsutils.book.notebook import REPO_ROOT

__all__ = ["DEFAULT_PDF", "build_pdf", "main"]

#: Where ``make pdf`` writes the published book's PDF.
DEFAULT_PDF = REPO_ROOT / "book" / "_build" / "book.pdf"


def _root_page(staging: Path) -> str:
    """The book's root document (``root:`` of ``_toc.yml``), the page that holds all the others
    in a single-HTML build."""
    for line in (staging / "_toc.yml").read_text(encoding="utf-8").splitlines():
        if line.startswith("root:"):
            return line.partition(":")[2].strip()
    raise PipelineError(f"{staging / '_toc.yml'} has no 'root:' entry")


def build_pdf(
    staging: Path,
    output: Path,
    *,
    chromium: str | None = None,
    timeout_s: float = 600,
) -> Path:
    """Build a staged book (:func:`marsutils.book.pipeline.stage_book`) as one PDF.

    Parameters
    ----------
    staging : Path
        A staged book folder (``_config.yml``, ``_toc.yml``, pages, executed notebooks).
    output : Path
        The PDF to write (its folder is created); replaced atomically, so a failed build
        leaves an earlier PDF whole.
    chromium : str, optional
        The browser executable; default ``chromium`` on the ``PATH``.
    timeout_s : float
        Limit in seconds for each of the two steps.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    PipelineError
        If Chromium is missing, the single-HTML build fails, or no PDF is written.
    """
    browser = chromium or shutil.which("chromium")
    if not browser:
        raise PipelineError(
            "make pdf prints the book with headless Chromium: install Debian's chromium "
            "(make test's browser step does: apt-get install chromium chromium-driver)"
        )
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mars-pdf-") as tmp:
        exe = Path(sys.executable).with_name("jupyter-book")
        built = Path(tmp) / "singlehtml"
        done = subprocess.run(
            [str(exe), "build", str(staging), "--builder", "singlehtml", "--path-output",
             str(built), "-q"],
            capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
        page = built / "_build" / "singlehtml" / f"{_root_page(staging)}.html"
        if done.returncode != 0 or not page.is_file():
            raise PipelineError(
                "the single-HTML book did not build:\n" + (done.stdout + done.stderr)[-4000:]
            )
        partial = output.with_name(output.name + ".partial")
        printed = subprocess.run(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-pdf-header-footer",
             "--run-all-compositor-stages-before-draw", "--virtual-time-budget=30000",
             f"--print-to-pdf={partial}", page.as_uri()],
            capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
        if printed.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
            raise PipelineError("Chromium wrote no PDF:\n" + printed.stderr[-3000:])
        partial.replace(output)
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marsutils.book.pdf [--output FILE] [--notebooks DIR] [--figures DIR]``."""
    from marsutils.book.pipeline import BOOK_DIR, stage_book

    parser = argparse.ArgumentParser(prog="python -m marsutils.book.pdf", description=__doc__)
    parser.add_argument("--output", default=str(DEFAULT_PDF), help=f"default: {DEFAULT_PDF}")
    parser.add_argument("--notebooks", default=str(BOOK_DIR / "notebooks"))
    parser.add_argument("--figures", default=str(REPO_ROOT / "figures"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="mars-pdf-stage-") as tmp:
            staging = stage_book(Path(args.notebooks), Path(args.figures), Path(tmp) / "book")
            pdf = build_pdf(staging, Path(args.output))
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    size = pdf.stat().st_size / 2**20
    print(f"[pdf] wrote {pdf} ({size:.1f} MB) in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
