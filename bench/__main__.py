"""`make bench`: every benchmark in turn, each in its own process; stops at the first failure."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("ingest", "processing", "grpc_reads", "sync", "instructions")


def main() -> int:
    for name in BENCHMARKS:
        print(f"\n=== bench/{name}.py ===\n", flush=True)
        code = subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
