# SPDX-License-Identifier: MIT
"""Run every ``bench_*.py`` in this folder, one after the other.

Why: ``make bench`` is one command for every benchmark of the project;
each script prints its own figures and its ratios against baselines it
measures in the same run.  Scripts run in their own process (with this
interpreter) so that one benchmark's memory and threads cannot disturb
the next.  The exit status is 1 if any benchmark failed.

Usage: ``python benchmarks/run_all.py [NAME-SUBSTRING ...]``
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks whose names contain any given substring."""
    wanted = sys.argv[1:] if argv is None else argv
    scripts = sorted(HERE.glob("bench_*.py"))
    if wanted:
        scripts = [s for s in scripts if any(w in s.name for w in wanted)]
    failed = []
    for script in scripts:
        print(f"=== {script.name} ===", flush=True)
        t0 = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], check=False)
        secs = time.perf_counter() - t0
        status = "ok" if result.returncode == 0 else "FAILED"
        print(f"=== {script.name}: {status} in {secs:.1f} s ===\n", flush=True)
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
