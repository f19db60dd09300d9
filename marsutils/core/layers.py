"""The package's five layers: the folders of ``marsutils/`` are the layers.

A module imports only from its own layer or from layers below it. ``tests/test_layers.py`` reads
every module's imports (top level and inside functions, absolute and relative) with :mod:`ast` and
fails on an import from a layer above, on a module in a folder declared nowhere here, and on an
import circle (Tarjan's strongly connected components of the import graph).

A module's layer is the layer of its first folder under ``marsutils/``: ``marsutils.stats.rules``
is library because ``stats/`` is, ``marsutils.study.xai.report`` is study because ``study/`` is.
No module sits at the top of the package except ``__init__`` (empty) and ``__main__`` (the
command line's entry point).

How a result flows, bottom to top::

    5 book tooling   book/  notebook context, display, reporting, summary, glance, widgets,
                     explorer, pipeline, pdf, outputs;  cli/  the command lines
          ^  reads records, shows figures and tables, builds the book
    4 figures        figures/  plots, dataviz, xai, segmentation, external: Figures, no I/O
          ^  draws what the study computed
    3 study          study/  one module per chapter: experiments and grid (chapters 02-04),
                     comparisons, xai/ (05), efficiency (06), segmentation (07), findings (08),
                     external/ (09);
                     each runs the library under a profile and writes the chapter's records
          ^  calls
    2 library        data/ models/ train/ stats/ evaluate/ efficiency/ xai/ seg/: pure tools,
                     functions of their arguments; they know no chapter, notebook or figure
          ^  uses
    1 core           core/  atomic writes, layout (where a run's files live), records (the shapes
                     of the result files), cache, locks, profiles, parameters, progress, paper
                     (the paper's numbers as data), environment, layers (this map)

Why each folder sits where it does (the rule: a module's layer is what it *does*):

* **1 core** depends on nothing else of the package and is needed everywhere. ``paper`` is
  reference data read by the library (``stats.compare``, ``efficiency``) as well as by the
  chapters; ``progress`` is the progress-bar switch the training loops report through, so it
  sits below them although the notebook turns it on; ``environment`` records the installed
  packages and CPU of a run.
* **2 library**: ``data`` (reading, twin families, splits), ``models``, ``train`` (the training
  engine), ``stats`` (metrics, paired tests, cross-validation intervals, the verdict rules, the
  plateau rule, ours beside the paper's numbers), ``evaluate`` (a trained classifier on any
  labelled folder), ``efficiency`` (size and speed of any model), ``xai`` and ``seg``. Each is
  usable without the book.
* **3 study**: the chapters' computations. A new comparison touches one study module
  (``study/comparisons.py``: a function returning raw numbers), a record in ``core/records.py``,
  the chapter's notebook and the tests; to get a verdict too, a row in ``COMPARISONS`` of
  ``study/findings.py`` and the paper's number in ``core/paper.py``.
* **4 figures**: every plot is a pyplot-free :class:`matplotlib.figure.Figure` (seaborn draws on
  its axes where it helps), returned to the caller, saved only by
  :func:`marsutils.figures.plots.save_figure`.
* **5 book tooling**: what turns records into a book, and the command lines.

A package's ``__init__`` is imported by every import of one of its modules, so the checker counts
``from marsutils.xai.attribution import ...`` as an import of ``marsutils.xai`` too.

A new folder needs a row in :data:`LAYERS` (the test names it); a new module in an existing
folder needs nothing.
"""

from __future__ import annotations

__all__ = ["LAYERS", "LAYER_NAMES", "layer_of"]

#: Layer number -> name.
LAYER_NAMES: dict[int, str] = {
    1: "core",
    2: "library",
    3: "study",
    4: "figures",
    5: "book tooling",
}

#: Folder (or the one top-level module, ``__main__``) of ``marsutils/`` -> layer number.
LAYERS: dict[str, int] = {
    "core": 1,
    "data": 2,
    "efficiency": 2,
    "evaluate": 2,
    "models": 2,
    "seg": 2,
    "stats": 2,
    "train": 2,
    "xai": 2,
    "study": 3,
    "figures": 4,
    "book": 5,
    "cli": 5,
    "__main__": 5,
}


def layer_of(module: str) -> int | None:
    """The layer of ``module`` (``"marsutils.study.xai.report"`` or ``"study.xai.report"``).

    Parameters
    ----------
    module : str
        A dotted module name, with or without the leading ``marsutils``.

    Returns
    -------
    int or None
        The layer of the module's first folder (:data:`LAYERS`); 1 for the package itself (an
        empty ``__init__``); None for a folder or top-level module declared nowhere.

    Examples
    --------
    >>> layer_of("marsutils.xai.methods"), layer_of("figures.xai"), layer_of("marsutils")
    (2, 4, 1)
    """
    name = module.removeprefix("marsutils").removeprefix(".")
    if not name:
        return 1
    return LAYERS.get(name.split(".")[0])
