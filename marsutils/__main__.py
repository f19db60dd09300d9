"""``python -m marsutils data|evaluate|train``: the command line of :mod:`marsutils.cli.main`."""

import sys

from marsutils.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
