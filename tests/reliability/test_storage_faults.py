"""Storage faults through a fault-injecting proxy in front of moto (loopback only).

Transient faults: the task succeeds and its outputs are complete and correct. A persistent
fault: the runtime gives up within a bounded time, with a SYSTEM RECOVERABLE error document
when the error location is writable, else a non-zero exit and one line on stderr.
"""

from __future__ import annotations

import time

import pytest

from tests.reliability.helpers import classification, error_message, read_outputs, run_execute
from tests.reliability.outputs_check import big_task, check_prefix
from tests.support.execute import stage_task

INPUTS = {"file_kb": 256, "files": 6, "parts": 2}
FAST = {  # small bounds so that giving up takes seconds, not minutes
    "SHIM_STORAGE_DEADLINE": "2",
    "SHIM_STORAGE_BACKOFF": "0.05",
    "SHIM_STORAGE_READ_TIMEOUT": "1",
    "SHIM_STORAGE_CONNECT_TIMEOUT": "1",
}


def env_for(proxy, s3_env, **extra):
    return {**s3_env, "FLYTE_AWS_ENDPOINT": proxy.endpoint, **FAST, **extra}


@pytest.mark.parametrize(
    "kind, n, methods",
    [
        ("500", 3, None),
        ("503", 3, None),
        ("reset", 3, None),
        ("close", 3, None),
        ("stall", 2, ("PUT",)),
        ("stall", 1, ("GET",)),
    ],
)
def test_transient_faults_end_in_complete_outputs(
    faulty_proxy, s3_env, s3_bucket, kind, n, methods
):
    s = stage_task(big_task(), INPUTS, f"{s3_bucket}/run")
    faulty_proxy.stall_seconds = 60  # only the client's read timeout ends a stall early
    faulty_proxy.fail_next(n, kind, methods=methods)
    t0 = time.monotonic()
    proc = run_execute(s.args, env_for(faulty_proxy, s3_env))
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert faulty_proxy.faults == n, "the faults were not all injected"
    assert check_prefix(s.outputs, INPUTS) == "complete", proc.stderr
    assert elapsed < 20


def test_faults_on_every_other_request(faulty_proxy, s3_env, s3_bucket):
    s = stage_task(big_task(), INPUTS, f"{s3_bucket}/run")
    # strictly alternating on consecutive requests: fault, success, fault, success, ...
    # (with method filters the GETs used to take six 503s in a row, which only s3fs's own
    # re-try inside shimkit's attempts absorbed; now the attempts are SHIM_STORAGE_RETRIES)
    for _ in range(6):
        for kind in ("503", "ok", "reset", "ok"):
            faulty_proxy.fail_next(1, kind)
    proc = run_execute(s.args, env_for(faulty_proxy, s3_env))
    assert proc.returncode == 0, proc.stderr
    assert faulty_proxy.faults == 12, "the faults were not all injected"
    assert check_prefix(s.outputs, INPUTS) == "complete"


@pytest.mark.parametrize("kind, supervise", [("503", False), ("stall", True)])
def test_persistent_fault_on_data_gives_up_with_an_error_document(
    faulty_proxy, s3_env, s3_bucket, kind, supervise
):
    s = stage_task(big_task(), INPUTS, f"{s3_bucket}/run")
    faulty_proxy.stall_seconds = 30
    faulty_proxy.fail_always(kind, methods=("PUT",), path_contains="/raw/")
    t0 = time.monotonic()
    proc = run_execute(s.args, env_for(faulty_proxy, s3_env), supervise=supervise)
    elapsed = time.monotonic() - t0
    faulty_proxy.heal()
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("SYSTEM:StorageError", "RECOVERABLE", "SYSTEM")
    assert "/raw/" in error_message(s.outputs)
    assert read_outputs(s.outputs) is None
    assert elapsed < 20, elapsed
    print(f"gave up after {elapsed:.1f}s ({kind})")


@pytest.mark.parametrize("kind, supervise", [("500", True), ("stall", False)])
def test_persistent_fault_everywhere_exits_non_zero_with_one_line(
    faulty_proxy, s3_env, s3_bucket, kind, supervise
):
    s = stage_task(big_task(), INPUTS, f"{s3_bucket}/run")
    faulty_proxy.stall_seconds = 30
    faulty_proxy.fail_always(kind)
    t0 = time.monotonic()
    proc = run_execute(s.args, env_for(faulty_proxy, s3_env), supervise=supervise)
    elapsed = time.monotonic() - t0
    faulty_proxy.heal()
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "could not write the error document" in last and "SYSTEM:StorageError" in last
    assert proc.stderr.count("could not write the error document") == 1
    assert elapsed < 25, elapsed
    print(f"gave up after {elapsed:.1f}s ({kind})")


def test_s3_timeouts_come_from_the_environment():
    from shim.errors import UserError
    from shim.storage import s3_options

    cfg = s3_options({})["config_kwargs"]
    assert (cfg["connect_timeout"], cfg["read_timeout"]) == (5.0, 30.0)
    env = {"SHIM_STORAGE_CONNECT_TIMEOUT": "1.5", "SHIM_STORAGE_READ_TIMEOUT": "7"}
    cfg = s3_options(env)["config_kwargs"]
    assert (cfg["connect_timeout"], cfg["read_timeout"]) == (1.5, 7.0)
    with pytest.raises(UserError, match="SHIM_STORAGE_READ_TIMEOUT"):
        s3_options({"SHIM_STORAGE_READ_TIMEOUT": "0"})
