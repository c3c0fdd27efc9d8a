"""``python -m entrypoints.fake_ghl``."""

import sys

from entrypoints.fake_ghl.cli import main

sys.exit(main(sys.argv[1:]))
