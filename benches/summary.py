#!/usr/bin/env python3
"""Prints the medians of the last criterion run as one Markdown table.

    python3 benches/summary.py [CRITERION_DIR] [GROUP_PREFIX ...]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion.
Each row: the benchmark, its median time per iteration, and the throughput
(payload MB/s and messages/s, or elements/s) from that median.
"""

import json
import os
import re
import sys
from pathlib import Path


def human_time(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main() -> None:
    args = sys.argv[1:]
    default = Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "criterion"
    root = Path(args.pop(0)) if args and Path(args[0]).is_dir() else default
    prefixes = args
    rows = []
    def natural(path: Path):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]

    for est in sorted(root.glob("**/new/estimates.json"), key=natural):
        meta = est.parent / "benchmark.json"
        if not meta.exists():  # still being written
            continue
        bench = json.loads(meta.read_text())
        name = bench["full_id"]
        if prefixes and not any(name.startswith(p) for p in prefixes):
            continue
        ns = json.loads(est.read_text())["median"]["point_estimate"]
        per_s = 1e9 / ns
        tp = bench.get("throughput") or {}
        mbs = msgs = ""
        if "ElementsAndBytes" in tp:
            mbs = f"{tp['ElementsAndBytes']['bytes'] * per_s / 1e6:,.0f}"
            msgs = f"{tp['ElementsAndBytes']['elements'] * per_s:,.0f}"
        elif "Bytes" in tp:
            mbs = f"{tp['Bytes'] * per_s / 1e6:,.0f}"
        elif "Elements" in tp:
            msgs = f"{tp['Elements'] * per_s:,.0f}"
        rows.append((name, human_time(ns), mbs, msgs))
    print("| benchmark | median / iteration | MB/s | msgs/s |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
