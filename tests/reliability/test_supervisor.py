"""``shim execute --supervise``: abrupt deaths of the worker still end in an error document."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.reliability import executors as rex
from tests.reliability.helpers import (
    classification,
    error_message,
    make_task,
    read_error,
    read_outputs,
    run_execute,
    spawn_execute,
    wait_for,
)
from tests.support.execute import stage_task


def dies(tmp_path: Path, how: str, lines: int = 5, env: dict | None = None):
    task = make_task(rex.PrintsThenDies, inputs={"how": str, "lines": int}, outputs={"y": int})
    s = stage_task(task, {"how": how, "lines": lines}, str(tmp_path / "run"))
    proc = run_execute(s.args, env, supervise=True)
    return s, proc


def test_sigkill_is_reported_with_signal_phase_and_output_tail(tmp_path):
    s, proc = dies(tmp_path, "kill")
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("SYSTEM:WorkerKilled", "RECOVERABLE", "SYSTEM")
    msg = error_message(s.outputs)
    assert "SIGKILL (9)" in msg and "phase 'execute'" in msg
    assert "lines of the worker's stdout:\n      out line 0" in msg
    assert "  last words on stdout" in msg and "  last words on stderr" in msg
    assert msg.strip().splitlines()[-1].strip().startswith("WorkerKilled:")  # summary last
    assert read_outputs(s.outputs) is None
    # the output was passed through while the worker ran
    assert "last words on stdout" in proc.stdout and "last words on stderr" in proc.stderr
    assert "SYSTEM:WorkerKilled" in proc.stderr.strip().splitlines()[-1]


def test_segfault_in_user_code_is_a_user_crash(tmp_path):
    s, proc = dies(tmp_path, "segv")
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:WorkerCrashed", "NON_RECOVERABLE", "USER")
    msg = error_message(s.outputs)
    assert "SIGSEGV (11)" in msg and "phase 'execute'" in msg and "last words" in msg


def test_abort_is_a_crash(tmp_path):
    s, _ = dies(tmp_path, "abort")
    assert classification(s.outputs) == ("USER:WorkerCrashed", "NON_RECOVERABLE", "USER")
    assert "SIGABRT" in error_message(s.outputs)


@pytest.mark.parametrize("how, status", [("exit3", 3), ("exit0", 0)])
def test_exit_without_report(tmp_path, how, status):
    s, proc = dies(tmp_path, how)
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:WorkerExited", "NON_RECOVERABLE", "USER")
    assert f"exited with status {status}" in error_message(s.outputs)


def test_oom_kill_counted_by_the_cgroup_is_a_user_error(tmp_path):
    events = tmp_path / "memory.events"
    events.write_text("oom 0\noom_kill 7\n")
    s, proc = dies(tmp_path, "oom", env={"SHIM_OOM_EVENTS_FILE": str(events)})
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:OOMKilled", "RECOVERABLE", "USER")
    msg = error_message(s.outputs)
    assert "SIGKILL" in msg and "memory" in msg


def test_fail_on_error_makes_the_supervisor_exit_non_zero(tmp_path):
    s, proc = dies(tmp_path, "kill", env={"FLYTE_FAIL_ON_ERROR": "true"})
    assert proc.returncode == 1
    assert read_error(s.outputs).code == "SYSTEM:WorkerKilled"


def test_output_tail_is_bounded(tmp_path):
    s, proc = dies(tmp_path, "kill", lines=20000)
    msg = error_message(s.outputs)
    assert len(msg) < 40_000
    assert "out line 19999" in msg and "err line 19999" in msg
    # 20 lines of each: 19 numbered ones and the last words
    assert "out line 19980\n" not in msg and "out line 19981\n" in msg
    assert proc.stdout.count("\n") >= 20000  # everything was passed through


def test_unwritable_error_location_one_line(tmp_path):
    task = make_task(rex.PrintsThenDies, inputs={"how": str, "lines": int}, outputs={"y": int})
    s = stage_task(task, {"how": "kill", "lines": 1}, str(tmp_path / "run"))
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    args = list(s.args)
    args[args.index("--output-prefix") + 1] = str(blocked / "out")
    proc = run_execute(args, supervise=True)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "could not write the error document" in last and "SYSTEM:WorkerKilled" in last


def test_success_passes_through(tmp_path):
    task = make_task(rex.Sleeps, inputs={"seconds": float}, outputs={"o": str})
    s = stage_task(task, {"seconds": 0.0}, str(tmp_path / "run"))
    proc = run_execute(s.args, supervise=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "sleeping\n"
    assert read_outputs(s.outputs).literals["o"].scalar.primitive.string_value == "woke up"
    assert read_error(s.outputs) is None


def test_reported_errors_are_left_to_the_worker(tmp_path):
    """A failure the worker reports itself is not reported twice."""
    task = make_task(
        rex.UsesSecret, inputs={"group": str, "key": str, "mode": str}, outputs={"n": int}
    )
    s = stage_task(task, {"group": "g", "key": "k", "mode": "ok"}, str(tmp_path / "run"))
    proc = run_execute(
        s.args, {"FLYTE_SECRETS_DEFAULT_DIR": str(tmp_path / "none")}, supervise=True
    )
    assert proc.returncode == 0
    assert classification(s.outputs) == ("USER:SecretNotFound", "NON_RECOVERABLE", "USER")
    assert len(os.listdir(s.outputs)) == 1


def sleeping(tmp_path: Path, seconds: float, ignore_term: bool, env: dict):
    task = make_task(rex.Sleeps, inputs={"seconds": float, "ignore_term": bool}, outputs={"o": str})
    s = stage_task(task, {"seconds": seconds, "ignore_term": ignore_term}, str(tmp_path / "run"))
    ready = tmp_path / "ready"
    proc = spawn_execute(s.args, {**env, rex.READY_ENV: str(ready)}, supervise=True)
    assert wait_for(ready.exists, 20), proc.communicate()
    return s, proc


def test_sigterm_is_forwarded_and_reported_by_the_worker(tmp_path):
    s, proc = sleeping(tmp_path, 60, False, {})
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    latency = time.monotonic() - t0
    assert proc.returncode == 0, err
    print(f"SIGTERM to error document: {latency:.2f}s")
    assert latency < 5
    assert classification(s.outputs) == ("SYSTEM:Terminated", "RECOVERABLE", "SYSTEM")
    assert "SIGTERM during phase 'execute'" in error_message(s.outputs)


def test_worker_ignoring_sigterm_is_killed_after_the_grace(tmp_path):
    s, proc = sleeping(tmp_path, 60, True, {"SHIM_TERM_GRACE": "1.5"})
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # a second one changes nothing
    _, err = proc.communicate(timeout=15)
    latency = time.monotonic() - t0
    assert proc.returncode == 0, err
    print(f"SIGTERM to error document: {latency:.2f}s")
    assert 1.4 < latency < 6
    assert classification(s.outputs) == ("SYSTEM:Terminated", "RECOVERABLE", "SYSTEM")
    msg = error_message(s.outputs)
    assert "SIGKILL" in msg and "1.5s grace" in msg and "phase 'execute'" in msg
    assert "stdout:\n      sleeping" in msg
