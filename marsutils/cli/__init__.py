"""Layer 5, the command lines: :mod:`~marsutils.cli.main` (``python -m marsutils data|evaluate``)
and :mod:`~marsutils.cli.train` (``python -m marsutils train``).
"""
