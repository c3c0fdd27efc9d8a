"""``python -m adapters.ghl.fake``."""

import sys

from adapters.ghl.fake.cli import main

sys.exit(main(sys.argv[1:]))
