"""`bench/run.py --only connectors` (what `make bench` runs for connectors) works from a fresh
checkout and renders the Connectors section. Only that it runs is checked: figures are
bench's business, never a test's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_connector_bench_runs_from_a_fresh_checkout(tmp_path):
    bench = tmp_path / "bench"  # a copy without bench/.work, as a fresh clone has
    shutil.copytree(REPO / "bench", bench, ignore=shutil.ignore_patterns(".work", "__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, str(bench / "run.py"), "--only", "connectors", "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = (bench / ".work" / "RESULTS-quick.md").read_text()
    assert "## 6. Connectors" in report
    for row in ("local loop: overhead per poll", "CreateTask latency", "GetTask latency"):
        assert row in report
