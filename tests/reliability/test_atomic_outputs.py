"""Atomic outputs: the worker is killed (SIGKILL) at many points of its upload phase; at no
moment is there an outputs.pb whose offloaded data is missing or partial, and a retried
attempt on the same prefix ends clean."""

from __future__ import annotations

import signal
import time

import pytest

from shim.storage import default_storage
from tests.reliability.helpers import read_error, run_execute, spawn_execute, wait_for
from tests.reliability.outputs_check import big_task, check_prefix
from tests.support.execute import stage_task

LOCAL = {"file_kb": 4096, "files": 120, "parts": 12}
S3 = {"file_kb": 1024, "files": 24, "parts": 4}


def with_raw(args: list[str], raw: str) -> list[str]:
    args = list(args)
    args[args.index("--raw-output-data-prefix") + 1] = raw
    return args


def total_files(inputs: dict) -> int:
    return 1 + inputs["files"] + inputs["parts"]


def kill_after(args: list[str], raw: str, env: dict, n_files: int) -> str:
    """Start the worker and SIGKILL it as soon as ``n_files`` of its raw files exist under
    ``raw``; ``"done"`` if it finished first, else ``"killed"``."""
    storage = default_storage()
    proc = spawn_execute(with_raw(args, raw), env)
    try:
        reached = lambda: len(storage.list(raw)) >= n_files  # noqa: E731
        wait_for(lambda: proc.poll() is not None or reached(), 60, 0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return "done" if proc.returncode == 0 else "killed"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def kill_many(base: str, inputs: dict, env: dict, points: int) -> dict[str, int]:
    s = stage_task(big_task(), inputs, base)
    total = total_files(inputs)
    # kill points spread over the whole upload: after 1 file ... after every file
    thresholds = sorted({1 + round(i * (total - 1) / (points - 1)) for i in range(points)})
    seen: dict[str, int] = {}
    t0 = time.monotonic()
    for i, n in enumerate(thresholds):
        state = kill_after(s.args, f"{base}/raw/attempt{i}", env, n)
        key = f"{state}/{check_prefix(s.outputs, inputs)}"
        seen[key] = seen.get(key, 0) + 1
    print(
        f"{len(thresholds)} kill points over {total} files in {time.monotonic() - t0:.1f}s: {seen}"
    )
    # a retried attempt on the same prefix (same raw prefix as a killed one) ends clean
    proc = run_execute(with_raw(s.args, f"{base}/raw/attempt0"), env)
    assert proc.returncode == 0, proc.stderr
    assert check_prefix(s.outputs, inputs) == "complete"
    assert read_error(s.outputs) is None
    return seen


@pytest.mark.slow
def test_sigkill_during_local_upload_never_exposes_partial_outputs(tmp_path):
    seen = kill_many(f"file://{tmp_path}/run", LOCAL, {}, points=16)
    # most kills landed in the middle of the upload, before outputs.pb
    assert seen.get("killed/none", 0) >= 8, seen


@pytest.mark.slow
def test_sigkill_during_s3_upload_never_exposes_partial_outputs(s3_env, s3_bucket):
    seen = kill_many(f"{s3_bucket}/run", S3, s3_env, points=8)
    assert seen.get("killed/none", 0) >= 4, seen
