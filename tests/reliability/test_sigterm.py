"""SIGTERM to an unsupervised worker: a RECOVERABLE ``SYSTEM:Terminated`` error document,
written within a grace period, while the executor blocks and while outputs upload."""

from __future__ import annotations

import signal
import time

import pytest

from shim import File
from shim.storage import default_storage
from tests.reliability import executors as rex
from tests.reliability.helpers import (
    classification,
    error_message,
    make_task,
    read_outputs,
    spawn_execute,
    wait_for,
)
from tests.reliability.outputs_check import big_task
from tests.support.execute import stage_task

GRACE = 5.0


def test_sigterm_while_the_executor_blocks(tmp_path):
    task = make_task(rex.Sleeps, inputs={"seconds": float}, outputs={"o": str})
    s = stage_task(task, {"seconds": 60.0}, str(tmp_path / "run"))
    ready = tmp_path / "ready"
    proc = spawn_execute(s.args, {rex.READY_ENV: str(ready)})
    assert wait_for(ready.exists, 20)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    latency = time.monotonic() - t0
    assert proc.returncode == 0, err
    print(f"SIGTERM to error document: {latency:.2f}s")
    assert latency < GRACE, latency
    assert classification(s.outputs) == ("SYSTEM:Terminated", "RECOVERABLE", "SYSTEM")
    assert "SIGTERM during phase 'execute'" in error_message(s.outputs)
    assert read_outputs(s.outputs) is None


def test_sigterm_during_local_upload(tmp_path):
    inputs = {"file_kb": 4096, "files": 300, "parts": 8}
    s = stage_task(big_task(), inputs, f"file://{tmp_path}/run")
    raw = s.args[s.args.index("--raw-output-data-prefix") + 1]
    storage = default_storage()
    proc = spawn_execute(s.args)
    assert wait_for(lambda: len(storage.list(raw)) >= 3 or proc.poll() is not None, 30, 0.001)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    latency = time.monotonic() - t0
    assert proc.returncode == 0, err
    print(f"SIGTERM to error document: {latency:.2f}s")
    assert latency < GRACE, latency
    assert classification(s.outputs) == ("SYSTEM:Terminated", "RECOVERABLE", "SYSTEM")
    assert "phase 'write-outputs'" in error_message(s.outputs)
    assert read_outputs(s.outputs) is None


def test_sigterm_while_an_s3_upload_stalls(faulty_proxy, s3_env, s3_bucket):
    """The raw data upload hangs (the server never answers); SIGTERM still produces the error
    document (on the same S3, whose other paths work) within the grace period."""
    task = make_task(rex.OneFile, inputs={"kb": int}, outputs={"f": File})
    s = stage_task(task, {"kb": 64}, f"{s3_bucket}/run")
    faulty_proxy.fail_always("stall", methods=("PUT",), path_contains="/raw/")
    env = {**s3_env, "FLYTE_AWS_ENDPOINT": faulty_proxy.endpoint}
    proc = spawn_execute(s.args, env)
    assert wait_for(lambda: faulty_proxy.faults >= 1 or proc.poll() is not None, 30)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    latency = time.monotonic() - t0
    faulty_proxy.heal()
    assert proc.returncode == 0, err
    print(f"SIGTERM to error document: {latency:.2f}s")
    assert latency < GRACE, latency
    assert classification(s.outputs) == ("SYSTEM:Terminated", "RECOVERABLE", "SYSTEM")
    assert "phase 'write-outputs'" in error_message(s.outputs)
    assert read_outputs(s.outputs) is None


def test_sigterm_while_concurrent_s3_uploads_stall(faulty_proxy, s3_env, s3_bucket):
    """Several uploads hang at once: the error document does not wait for them."""
    from tests.reliability.helpers import read_error

    s = stage_task(big_task(), {"file_kb": 16, "files": 8, "parts": 2}, f"{s3_bucket}/run")
    faulty_proxy.fail_always("stall", methods=("PUT",), path_contains="/raw/")
    env = {**s3_env, "FLYTE_AWS_ENDPOINT": faulty_proxy.endpoint}
    proc = spawn_execute(s.args, env)
    try:
        assert wait_for(lambda: faulty_proxy.faults >= 4 or proc.poll() is not None, 30)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: read_error(s.outputs) is not None, GRACE, 0.05)
        latency = time.monotonic() - t0
    finally:
        faulty_proxy.heal()
        proc.kill()
        proc.communicate()
    print(f"SIGTERM to error document: {latency:.2f}s")
    assert latency < GRACE, latency
    assert classification(s.outputs) == ("SYSTEM:Terminated", "RECOVERABLE", "SYSTEM")
    assert read_outputs(s.outputs) is None


# --- a SIGTERM while the error document is being written ------------------------------------


def term_during_error_write(s, supervise: bool, env: dict | None = None):
    import subprocess
    import sys
    from pathlib import Path

    from tests.reliability.helpers import child_env

    script = Path(__file__).with_name("term_on_error_write.py")
    flag = "--supervise" if supervise else "--no-supervise"
    return subprocess.run(
        [sys.executable, str(script), flag, *s.args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("supervise", [False, True])
def test_sigterm_while_the_worker_writes_error_pb(tmp_path, supervise):
    """The executor fails; SIGTERM lands as its error document is written: the document of
    the failure is written whole, and the exit status says so."""
    task = make_task(rex.LeaksSecret, inputs={"group": str, "key": str, "mode": str})
    s = stage_task(task, {"group": "g", "key": "k", "mode": "message"}, str(tmp_path / "run"))
    proc = term_during_error_write(s, supervise, {"_FSEC_G_K": "some-credential"})
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:ValueError", "NON_RECOVERABLE", "USER")
    assert "could not write" not in proc.stderr


def test_sigterm_while_the_supervisor_writes_error_pb(tmp_path):
    """The worker is killed; SIGTERM reaches the supervisor as it writes the error document:
    the supervisor keeps going and the document stands."""
    task = make_task(rex.PrintsThenDies, inputs={"how": str, "lines": int}, outputs={"y": int})
    s = stage_task(task, {"how": "kill", "lines": 1}, str(tmp_path / "run"))
    proc = term_during_error_write(s, True)
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("SYSTEM:WorkerKilled", "RECOVERABLE", "SYSTEM")
