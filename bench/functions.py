"""`make bench`, function tasks: cold start through `shim execute` vs flytekit's `@task`
through `pyflyte-execute`, and the per-call overhead of a nested in-process call.

Uses the environments and the fork/exec measuring launcher of bench/run.py. Writes
``bench/.work/FUNCTIONS.md`` and replaces the function-task section of ``bench/RESULTS.md``
(between ``<!-- functions -->`` markers; appended when absent). ``--quick`` runs fewer times.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as harness  # noqa: E402 - bench/run.py: venvs, launcher, medians

START, END = "<!-- functions -->", "<!-- /functions -->"
TARGET = 0.15


def stage(side: str, where: Path) -> list[str]:
    py = harness.vpy(harness.SHIM_VENV if side == "shim" else harness.FK_VENV)
    r = harness.run_once([py, str(BENCH / "fn_side.py"), side, str(where)], harness.base_env())
    return json.loads(r.out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    cfg = ap.parse_args()
    runs, warm = (3, 1) if cfg.quick else (9, 2)
    harness.ensure_venvs()
    where = harness.WORK / "fn-cold"
    shutil.rmtree(where, ignore_errors=True)
    env = harness.base_env()
    stats, imports = {}, {}
    for side in ("shim", "flytekit"):
        w = where / side
        args = stage(side, w)
        stats[side] = harness.measure(
            lambda i, s=side, a=args, w=w: harness.command(s, a, w, str(i)),
            env,
            runs,
            warm,
            after=harness.check_outputs(w),
        )
        imports[side] = harness.count_imports(harness.command(side, args, w, "imp"), env)[0]
    n = 20
    nested = json.loads(
        harness.run_once(
            [harness.vpy(harness.SHIM_VENV), str(BENCH / "fn_nested.py"), str(n), str(runs)], env
        )
        .out.strip()
        .splitlines()[-1]
    )
    shim_s, fk_s = stats["shim"].wall, stats["flytekit"].wall
    ratio = shim_s / fk_s
    met = "**yes**" if ratio <= TARGET else "**no**"
    text = "\n".join(
        [
            START,
            "## 7. Function tasks",
            "",
            f"A no-op function task (`x: int -> int`), fresh process each run, median of {runs} "
            f"after {warm} warm-up; both sides measured in the same run on the same machine.",
            "",
            "| | shimkit | flytekit 1.16 | ratio | target | met |",
            "|---|---|---|---|---|---|",
            f"| cold start: `shim execute` vs `pyflyte-execute` of `@task` | {shim_s:.3f} s | "
            f"{fk_s:.3f} s | {ratio:.2f}{harness.TIMES} | ≤ {TARGET}{harness.TIMES} | {met} |",
            f"| peak RSS | {stats['shim'].rss_mib:.0f} MiB | {stats['flytekit'].rss_mib:.0f} MiB "
            "| | | |",
            f"| modules imported | {imports['shim']} | {imports['flytekit']} | | | |",
            "",
            f"Nested call, in-process: a parent task calling a no-op child {n} times; per call "
            f"(parent with {n} calls minus parent with none, / {n}): "
            f"**{nested['per_call'] * 1000:.1f} ms**. A top-level `run_task` of the same child: "
            f"{nested['top_level'] * 1000:.1f} ms.",
            END,
        ]
    )
    harness.WORK.mkdir(parents=True, exist_ok=True)
    (harness.WORK / "FUNCTIONS.md").write_text(text + "\n")
    results = BENCH / "RESULTS.md"
    if not cfg.quick:
        old = results.read_text() if results.exists() else ""
        pat = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        new = pat.sub(lambda m: text, old) if pat.search(old) else old.rstrip() + "\n\n" + text
        results.write_text(new.rstrip() + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
