"""``python -m adapters.ga4.fake``."""

import sys

from adapters.ga4.fake.cli import main

sys.exit(main(sys.argv[1:]))
