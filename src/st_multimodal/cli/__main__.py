"""``python -m st_multimodal.cli``: the same as the ``st-multimodal`` console script."""

import sys

from . import main

sys.exit(main())
