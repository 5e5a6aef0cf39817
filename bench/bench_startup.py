"""Start-up benchmark: wall time of small commands next to a bare interpreter start.

Runs each command N times in a fresh process and reports the median; the target is
under 0.5 s for `annotate --help` and `annotate progress --json` on an empty DB.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7


def median_seconds(args: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ANNOTATE_DB": str(Path(tmp) / "e.db")}
        subprocess.run(
            [sys.executable, "-m", "annotate", "init"], env=env, check=True, capture_output=True
        )
        bare = median_seconds([sys.executable, "-c", "pass"], env)
        print(f"python -c pass:                 {bare:.3f} s (baseline)")
        for label, args in (
            ("annotate --help", ["--help"]),
            ("annotate progress --json", ["progress", "--json"]),
        ):
            seconds = median_seconds([sys.executable, "-m", "annotate", *args], env)
            print(f"{label:<31} {seconds:.3f} s  ({seconds / bare:.1f}x baseline)")


if __name__ == "__main__":
    main()
