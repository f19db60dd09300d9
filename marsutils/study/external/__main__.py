"""``python -m marsutils.study.external``: :func:`marsutils.study.external.study.main`."""

import sys

from marsutils.study.external.study import main

sys.exit(main())
