"""A worker killed by the kernel's OOM killer, for real, in a memory cgroup of its own.

Needs a writable cgroup v1 memory hierarchy (root in a VM or privileged container); skipped
elsewhere. The fake-counter variant in test_supervisor.py runs everywhere.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.reliability import executors as rex
from tests.reliability.helpers import (
    classification,
    error_message,
    make_task,
    read_outputs,
    spawn_execute,
)
from tests.support.execute import stage_task

CGROUP_V1 = Path("/sys/fs/cgroup/memory")
LIMIT = 200 * 1024 * 1024


@pytest.fixture
def memory_cgroup():
    path = CGROUP_V1 / f"shim-test-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir()
        (path / "memory.limit_in_bytes").write_text(str(LIMIT))
    except OSError as e:
        pytest.skip(f"cannot create a memory cgroup here ({e})")
    try:
        yield path
    finally:
        try:
            path.rmdir()
        except OSError:
            pass


def test_real_oom_kill_is_reported_as_user_oom(tmp_path, memory_cgroup):
    task = make_task(rex.Hog, inputs={"max_mb": int}, outputs={"n": int})
    s = stage_task(task, {"max_mb": 4096}, str(tmp_path / "run"))
    procs = str(memory_cgroup / "cgroup.procs")

    def enter_cgroup() -> None:  # runs in the supervisor process before exec
        with open(procs, "w") as f:
            f.write(str(os.getpid()))

    proc = spawn_execute(s.args, supervise=True, preexec_fn=enter_cgroup)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert classification(s.outputs) == ("USER:OOMKilled", "RECOVERABLE", "USER")
    msg = error_message(s.outputs)
    assert "SIGKILL" in msg and "phase 'execute'" in msg and "allocating" in msg
    assert read_outputs(s.outputs) is None
