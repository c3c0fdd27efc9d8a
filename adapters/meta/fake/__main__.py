"""``python -m adapters.meta.fake``."""

import sys

from adapters.meta.fake.cli import main

sys.exit(main(sys.argv[1:]))
