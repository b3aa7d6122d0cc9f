"""Startup cost: `python run.py --cfg job` vs `python -c pass` (target: <= 1.0 s extra).

.venv/bin/python benchmarks/startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    base = median_seconds([sys.executable, "-c", "pass"], args.repeat)
    cfg = median_seconds([sys.executable, "run.py", "--cfg", "job"], args.repeat)
    helps = median_seconds([sys.executable, "run.py", "--help"], args.repeat)
    print(f"python -c pass      : {base:.3f} s (median of {args.repeat})")
    print(f"run.py --cfg job    : {cfg:.3f} s  (+{cfg - base:.3f} s)")
    print(f"run.py --help       : {helps:.3f} s  (+{helps - base:.3f} s)")
    print("target (<= 1.0 s extra):", "met" if cfg - base <= 1.0 else "NOT met")


if __name__ == "__main__":
    main()
