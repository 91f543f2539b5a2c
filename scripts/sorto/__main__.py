"""Allow ``python3 -m sorto``."""

import sys

from .cli import main

sys.exit(main())
