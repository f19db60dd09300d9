"""The package's five layers, declared once: how results flow, and who may import whom.

A module imports only from its own layer or from layers below it. ``tests/test_layers.py`` reads
every module's imports (top level and inside functions, absolute and relative) with :mod:`ast` and
fails on an import from a layer above, and on a module that is declared nowhere here.

How a result flows, bottom to top::

    5 book tooling   notebook.setup(...)  pipeline  glance  summary  widgets  explorer  display
          ^  reads records, shows figures and tables, builds the book
    4 figures        plots  dataviz  xai.figures  seg.figures: a Figure from results, no I/O
          ^  draws what the study computed
    3 study          experiments  grid  efficiency_report  xai.report/record/verdicts
                     seg.experiment  findings: one module per chapter, runs the library for a
                     profile, writes the chapter's records into the run folder
          ^  calls
    2 library        data  models  train  metrics  significance  rules  compare  efficiency
                     evaluate  xai  seg: pure tools, functions of their arguments; they know no
                     chapter, no notebook and no figure
          ^  uses
    1 core           atomic (writes)  layout (where a run's files live)  records (the shapes of
                     the result files)  cache (identity-keyed npz + json)  profiles  parameters
                     progress  paper (the paper's numbers as data)  layers (this map)

Why each module sits where it does (the rule: a module's layer is what it *does*):

* **1 core**: depends on nothing else of the package and is needed everywhere. ``atomic`` writes
  files; ``layout`` knows the run-folder paths and ``records`` the shape of every result file
  (typed dataclasses with a schema version); ``cache`` keeps computed arrays under the identity
  of what computed them and refuses them when it differs; ``profiles`` and ``parameters`` are
  validated settings; ``paper`` is reference data (the paper's printed numbers with their
  source), read by the library (``compare``, ``efficiency``) as well as by the chapters.
  ``progress`` is the progress-bar switch: the training loops of the library report through it,
  so it must sit below them, although the notebook turns it on.
* **2 library**: the packages ``data``, ``models``, ``train``, ``xai`` and ``seg`` (except the
  modules named below), and the single modules ``metrics``, ``significance`` (paired tests),
  ``rules`` (the verdict rules: functions of intervals and p-values), ``compare`` (ours next to
  the paper's numbers), ``efficiency`` (size and speed measurement of any model, including the
  per-model table of :func:`~marsutils.efficiency.efficiency_table`) and ``evaluate`` (a trained
  classifier on any labelled folder). Each is usable without the book.
* **3 study**: one module per chapter that runs the library under a profile and returns that
  chapter's numbers as records of :mod:`marsutils.records` (the chapter's notebook saves them with
  ``record.to_json(ctx.layout.result(record.FILE))``; the experiment runs write their own
  ``metrics.json`` through :class:`~marsutils.records.ClassifierMetrics`): ``experiments`` (the
  classifier runs of chapters 02-04) and ``grid`` (which trains them on an executor),
  ``comparisons`` (their paired tests, yardsticks and saved predictions), ``xai.report``,
  ``xai.record`` and ``xai.verdicts`` (chapter 05: the model and inputs to explain, its tested
  numbers and record, sentences from that record), ``efficiency_report`` (chapter 06: what each
  profile times, the paper comparison, the verdict and the record), ``seg.experiment`` (chapter
  07) and ``findings`` (chapter 08, which reads the other chapters' records). They live inside
  ``xai`` and ``seg`` for history; the layer, not the folder, says what they are.
* **4 figures**: every plot, built the same way: a pyplot-free
  :class:`matplotlib.figure.Figure` (seaborn draws on its axes where it helps), returned to the
  caller, never shown or saved here except by :func:`marsutils.plots.save_figure`. ``plots``
  (training, evaluation and efficiency chapters), ``dataviz`` (data chapter), ``xai.figures``,
  ``seg.figures``.
* **5 book tooling**: what turns records into a book. ``notebook`` (the context every chapter
  opens with), ``display`` (numbered tables and figures; all display formatting), ``reporting``
  (the chapters' display tables: it formats what ``comparisons`` and the records hold, through
  ``display`` and ``summary``), ``glance`` and
  ``summary`` (README table and front page), ``widgets`` and ``explorer`` (interactive and offline
  heat-map explorers), ``pipeline``, ``cli_train`` and ``__main__`` (command lines),
  ``book_outputs`` (what a published notebook may show) and ``environment`` (the compute record
  of the book).

A package's ``__init__`` is imported by every import of one of its modules, so the checker counts
``from marsutils.xai.attribution import ...`` as an import of ``marsutils.xai`` too: a package
declared at layer 2 may re-export only modules of layer 2 or below (``xai`` does not re-export its
figures, ``seg`` not its study).

A new module needs a row here (the test names it). Entries are dotted names relative to
``marsutils``; a package's entry covers its modules unless one has its own entry.
"""

from __future__ import annotations

__all__ = ["LAYER_NAMES", "LAYERS", "layer_of"]

#: Layer number -> name.
LAYER_NAMES: dict[int, str] = {
    1: "core",
    2: "library",
    3: "study",
    4: "figures",
    5: "book tooling",
}

#: Module or package (dotted, relative to ``marsutils``) -> layer number.
LAYERS: dict[str, int] = {
    # 1 core
    "atomic": 1,
    "cache": 1,
    "records": 1,
    "layers": 1,
    "layout": 1,
    "locks": 1,
    "paper": 1,
    "parameters": 1,
    "profiles": 1,
    "progress": 1,
    # 2 library
    "compare": 2,
    "crossval": 2,
    "data": 2,
    "efficiency": 2,
    "evaluate": 2,
    "metrics": 2,
    "models": 2,
    "rules": 2,
    "seg": 2,
    "significance": 2,
    "train": 2,
    "xai": 2,
    # 3 study
    "efficiency_report": 3,
    "comparisons": 3,
    "experiments": 3,
    "findings": 3,
    "grid": 3,
    "seg.experiment": 3,
    "xai.record": 3,
    "xai.report": 3,
    "xai.verdicts": 3,
    # 4 figures
    "dataviz": 4,
    "plots": 4,
    "seg.figures": 4,
    "xai.figures": 4,
    # 5 book tooling
    "__main__": 5,
    "book_outputs": 5,
    "chapters": 5,
    "cli_train": 5,
    "display": 5,
    "environment": 5,
    "explorer": 5,
    "glance": 5,
    "notebook": 5,
    "pdf": 5,
    "pipeline": 5,
    "reporting": 5,
    "summary": 5,
    "widgets": 5,
}


def layer_of(module: str) -> int | None:
    """The layer of ``module`` (``"marsutils.xai.report"`` or ``"xai.report"``), or None.

    The longest declared prefix wins: ``xai.report`` has its own entry, ``xai.methods`` falls
    under ``xai``. The package ``marsutils`` itself (an empty ``__init__``) is core.

    Examples
    --------
    >>> layer_of("marsutils.xai.methods"), layer_of("xai.figures"), layer_of("marsutils")
    (2, 4, 1)
    """
    name = module.removeprefix("marsutils").removeprefix(".")
    if not name:
        return 1
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    return None
