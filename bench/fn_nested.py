"""Per-call overhead of a nested in-process call: ``python fn_nested.py N REPEATS``.

A parent function task calls the no-op child N times in a row (each child goes through the
whole path: serialize, stage inputs.pb, run the entrypoint in-process, decode outputs.pb);
the parent with N=0 is the baseline. Prints JSON: per-call seconds (median over REPEATS).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time

from shim_fn_tasks import noop, parent

import shim


def timed(n: int, store: str) -> float:
    t0 = time.perf_counter()
    assert shim.run_task(parent, {"n": n}, store=store) == n * (n - 1) // 2
    return time.perf_counter() - t0


def main() -> None:
    n, repeats = int(sys.argv[1]), int(sys.argv[2])
    with tempfile.TemporaryDirectory() as store:
        timed(2, store)  # warm-up: imports, first run
        base = statistics.median(timed(0, store) for _ in range(repeats))
        full = statistics.median(timed(n, store) for _ in range(repeats))
        top = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            shim.run_task(noop, {"x": 1}, store=store)
            top.append(time.perf_counter() - t0)
    print(json.dumps({"per_call": (full - base) / n, "top_level": statistics.median(top)}))


if __name__ == "__main__":
    main()
