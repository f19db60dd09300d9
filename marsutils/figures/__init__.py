"""Layer 4, figures: every plot, as a pyplot-free :class:`matplotlib.figure.Figure`.

* :mod:`~marsutils.figures.plots`: training, evaluation and efficiency chapters, and
  :func:`~marsutils.figures.plots.save_figure`;
* :mod:`~marsutils.figures.dataviz`: the data chapter;
* :mod:`~marsutils.figures.xai`: the explainability chapter;
* :mod:`~marsutils.figures.segmentation`: the segmentation chapter;
* :mod:`~marsutils.figures.external`: the external-validation chapter.
"""
