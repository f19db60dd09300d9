"""Layer 5, book tooling: what turns records into the book.

* :mod:`~marsutils.book.notebook`: the context every chapter opens with (``setup``);
* :mod:`~marsutils.book.display`: numbered tables and figures, all display formatting;
* :mod:`~marsutils.book.reporting`: the chapters' display tables;
* :mod:`~marsutils.book.summary` and :mod:`~marsutils.book.glance`: the summary page and the
  README's table;
* :mod:`~marsutils.book.widgets` and :mod:`~marsutils.book.explorer`: interactive and offline
  heat-map explorers;
* :mod:`~marsutils.book.chapters`, :mod:`~marsutils.book.pipeline`, :mod:`~marsutils.book.pdf`:
  the chapter list, the pipeline that executes and builds the book, the PDF;
* :mod:`~marsutils.book.outputs`: what a published notebook may show.
"""
