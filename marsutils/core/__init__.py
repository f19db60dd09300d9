"""Layer 1, core: what every other layer needs and that needs nothing of the package.

* :mod:`~marsutils.core.atomic`: atomic writes, JSON reading and writing, live-process checks;
* :mod:`~marsutils.core.layout`: where a run folder's files live (:class:`RunLayout`);
* :mod:`~marsutils.core.records`: the typed shapes of every result file;
* :mod:`~marsutils.core.cache`: computed arrays kept under the identity of what computed them;
* :mod:`~marsutils.core.locks`: one writer per experiment and cache entry;
* :mod:`~marsutils.core.profiles` and :mod:`~marsutils.core.parameters`: validated settings;
* :mod:`~marsutils.core.progress`: the progress-bar switch;
* :mod:`~marsutils.core.paper`: the paper's printed numbers, as data with their source;
* :mod:`~marsutils.core.environment`: the installed packages, Python and CPU of a run;
* :mod:`~marsutils.core.layers`: the map of the layers (this folder tree).
"""
