"""Layer 3, study: one module per chapter, each runs the library under a profile and writes the
chapter's records.

* :mod:`~marsutils.study.experiments` (chapters 02-04: the classifier runs) and
  :mod:`~marsutils.study.grid` (which trains them on an executor);
* :mod:`~marsutils.study.comparisons`: their paired tests, yardsticks and saved predictions;
* :mod:`marsutils.study.xai` (chapter 05): the model and inputs to explain, the record, verdicts;
* :mod:`~marsutils.study.efficiency` (chapter 06);
* :mod:`~marsutils.study.segmentation` (chapter 07);
* :mod:`~marsutils.study.findings` (chapter 08: every claim judged from the other records).
"""
