"""Layer 2, library: the statistics of the study, functions of their arguments.

* :mod:`~marsutils.stats.metrics`: accuracy, macro and weighted F1, Jaccard (scikit-learn), and
  twin-family bootstrap weights;
* :mod:`~marsutils.stats.significance`: paired tests and seed summaries;
* :mod:`~marsutils.stats.crossval`: intervals and paired differences on pooled out-of-fold
  predictions;
* :mod:`~marsutils.stats.rules`: the verdict rules (functions of intervals and p-values);
* :mod:`~marsutils.stats.plateau`: the one plateau rule of a learning curve;
* :mod:`~marsutils.stats.compare`: our numbers beside the paper's.
"""
