"""Peak RSS of a command, measured correctly.

On Linux a process's ``ru_maxrss`` includes the memory it had *before* ``exec``; a child of a
large process (pytest, vforked by ``subprocess``) therefore reports at least the parent's
RSS. This launcher is a small process that forks and execs the command, so the command's
``ru_maxrss`` starts from the launcher's few MiB.

Usage: ``python -S tests/support/peak_rss.py OUT_FILE CMD ARGS...`` writes
``<peak RSS in KiB> <wall seconds>`` to OUT_FILE (the wall time is measured from the fork to
the command's end, so the launcher's own start-up is not counted) and exits with the
command's status. ``bench/run.py`` measures through it too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run_with_peak_rss(
    cmd: list[str], *, workdir: Path, **run: Any
) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd`` (``run`` as for ``subprocess.run``); return it and its peak RSS in MiB."""
    out = workdir / f"peak-{os.getpid()}-{len(os.listdir(workdir))}.kib"
    proc = subprocess.run([sys.executable, "-S", __file__, str(out), *cmd], **run)
    return proc, int(out.read_text().split()[0]) / 1024


def _main(argv: list[str]) -> int:
    out, cmd = argv[0], argv[1:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - replaced by exec
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    Path(out).write_text(f"{usage.ru_maxrss} {wall:.6f}")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]) & 0xFF)
