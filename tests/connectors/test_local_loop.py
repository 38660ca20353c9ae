"""The local loop against the file-job system: outcomes, retries, timeouts, resumption,
persistence before the first poll, secrets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shim.connectors import PollPolicy, RunStateError, describe_run, resume_connector_run
from shim.connectors.local import run_connector_task
from shim.errors import TaskFailedError
from shim.local.runner import read_error
from shim.storage import default_storage
from tests.connectors.conftest import child_env
from tests.connectors.filejobs import FileJobTask, all_records, count_calls


def task(jobs_dir: str, name: str = "tests.filejob", **custom) -> FileJobTask:
    outputs = custom.pop("_outputs", {"total": int, "label": str})
    kwargs = custom.pop("_task", {})
    return FileJobTask(
        name, {"jobs_dir": jobs_dir, **custom}, inputs={"n": int}, outputs=outputs, **kwargs
    )


def state_of(store: str, run: str) -> dict:
    return json.loads((Path(store) / run / "connector" / "state.json").read_text())


def test_success_binds_outputs_by_name_and_persists_meta_before_first_poll(jobs_dir, store):
    probe = str(Path(store) / "r1" / "connector" / "state.json")
    t = task(
        jobs_dir,
        script=["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"],
        # the job gives its outputs in another order than the task declares them
        outputs={"label": "done", "total": 42},
        probe=probe,
    )
    result = run_connector_task(t, {"n": 3}, store=store, run_name="r1")
    assert result.total == 42 and result.label == "done"
    (rec,) = all_records(jobs_dir)
    assert rec["inputs"] == {"n": 3}
    assert rec["polls"] == 4
    assert rec["state_seen_at_first_get"] is True  # resource meta durable before the first get
    st = state_of(store, "r1")
    assert st["status"] == "done" and st["outcome"] == "SUCCEEDED" and st["creates"] == 1


def test_failed_job_is_a_user_error_with_the_connectors_message(jobs_dir, store):
    t = task(jobs_dir, script=["RUNNING", "FAILED"], message="table t does not exist")
    with pytest.raises(TaskFailedError) as e:
        t(n=1, store=store)
    assert e.value.code == "USER:JobFailed"
    assert e.value.origin == "USER" and e.value.kind == "NON_RECOVERABLE"
    assert "table t does not exist" in e.value.error_message


def test_aborted_job(jobs_dir, store):
    t = task(jobs_dir, script=["ABORTED"], message="cancelled by an operator")
    with pytest.raises(TaskFailedError) as e:
        t(n=1, store=store)
    assert e.value.code == "USER:JobAborted" and "cancelled by an operator" in e.value.error_message


def test_retryable_failure_ends_the_attempt_and_retries_apply(jobs_dir, store):
    t = task(
        jobs_dir,
        script=["RUNNING", "RETRYABLE_FAILED"],
        message="spot instance lost",
        _task={"retries": 2},
    )
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(t, {"n": 1}, store=store, run_name="retry")
    assert e.value.code == "USER:RetryableFailure" and e.value.kind == "RECOVERABLE"
    assert count_calls(jobs_dir, "create") == 3  # 1 + 2 retries, each a new job
    assert len(all_records(jobs_dir)) == 3
    st = state_of(store, "retry")
    assert [h["attempt"] for h in st["history"]] == [1, 2, 3]


def test_no_retries_means_one_attempt(jobs_dir, store):
    t = task(jobs_dir, script=["RETRYABLE_FAILED"])
    with pytest.raises(TaskFailedError):
        t(n=1, store=store)
    assert count_calls(jobs_dir, "create") == 1


def test_create_that_raises_is_reported_with_its_type(jobs_dir, store):
    t = task(jobs_dir, create_error="quota exceeded for project p")
    with pytest.raises(TaskFailedError) as e:
        t(n=1, store=store)
    assert e.value.code == "USER:RuntimeError"
    assert "quota exceeded for project p" in e.value.error_message
    assert "create failed" in e.value.error_message


def test_a_few_failed_polls_are_tolerated(jobs_dir, store):
    t = task(jobs_dir, script=["SUCCEEDED"], outputs={"total": 1, "label": "x"}, get_errors=2)
    assert t(n=1, store=store).total == 1


def test_service_down_leaves_the_run_resumable_and_resume_does_not_create_again(jobs_dir, store):
    t = task(
        jobs_dir, script=["RUNNING", "SUCCEEDED"], outputs={"total": 7, "label": "x"}, get_errors=3
    )  # FAST tolerates 2: the first call gives up
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(t, {"n": 1}, store=store, run_name="down")
    assert e.value.code == "SYSTEM:ConnectorUnavailable" and e.value.kind == "RECOVERABLE"
    assert "shim runs resume" in e.value.error_message
    assert state_of(store, "down")["status"] == "running"
    # the same call with the same run name picks the same job up again
    result = run_connector_task(t, {"n": 1}, store=store, run_name="down")
    assert result.total == 7
    assert count_calls(jobs_dir, "create") == 1
    assert state_of(store, "down")["resumes"] == 1


def test_a_finished_run_returns_its_stored_outcome(jobs_dir, store):
    t = task(jobs_dir, script=["SUCCEEDED"], outputs={"total": 5, "label": "y"})
    run_connector_task(t, {"n": 1}, store=store, run_name="once")
    gets = count_calls(jobs_dir, "get")
    again = run_connector_task(t, {"n": 1}, store=store, run_name="once")
    assert again.total == 5
    assert count_calls(jobs_dir, "get") == gets and count_calls(jobs_dir, "create") == 1
    assert resume_connector_run(str(Path(store) / "once")).total == 5


def test_same_run_name_with_other_inputs_or_task_is_refused(jobs_dir, store):
    t = task(jobs_dir, script=["SUCCEEDED"], outputs={"total": 5, "label": "y"})
    run_connector_task(t, {"n": 1}, store=store, run_name="mine")
    with pytest.raises(RunStateError, match="other inputs"):
        run_connector_task(t, {"n": 2}, store=store, run_name="mine")
    other = task(jobs_dir, name="tests.other", script=["SUCCEEDED"])
    with pytest.raises(RunStateError, match="another task"):
        run_connector_task(other, {"n": 1}, store=store, run_name="mine")


def test_task_timeout_deletes_the_job_then_retries(jobs_dir, store):
    t = task(jobs_dir, script=["RUNNING"], _task={"timeout": 1, "retries": 1})
    start = time.monotonic()
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(t, {"n": 1}, store=store, run_name="slow")
    assert time.monotonic() - start < 20
    assert e.value.code == "USER:Timeout"
    assert "the task's timeout of 1s expired in attempt 2" in e.value.error_message
    recs = all_records(jobs_dir)
    assert len(recs) == 2 and all(r["deleted"] for r in recs)


def test_call_timeout_deletes_the_job(jobs_dir, store):
    t = task(jobs_dir, script=["RUNNING"], _task={"retries": 3})
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(t, {"n": 1}, store=store, run_name="bounded", timeout=0.5)
    assert e.value.code == "USER:Timeout" and "call's timeout of 0.5s" in e.value.error_message
    (rec,) = all_records(jobs_dir)  # a call timeout ends the run: no retry
    assert rec["deleted"] is True
    assert state_of(store, "bounded")["status"] == "done"


def test_backoff_starts_soon_grows_and_is_capped():
    p = PollPolicy(first=0.1, factor=2.0, max_interval=1.0, jitter=0.0)
    it = p.intervals()
    assert [round(next(it), 3) for _ in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    jittered = PollPolicy(first=1.0, factor=1.0, jitter=0.1).intervals()
    assert all(0.9 <= next(jittered) <= 1.1 for _ in range(20))
    with pytest.raises(ValueError):
        PollPolicy(first=1.0, max_interval=0.5)


def test_secrets_are_resolved_at_run_time_and_never_stored_or_reported(
    jobs_dir, store, monkeypatch, caplog
):
    secret = "s3cr3t-token-value-4242"
    monkeypatch.setenv("_FSEC_SVC_TOKEN", secret)
    caplog.set_level("DEBUG", logger="shim.connectors")
    ok = task(
        jobs_dir,
        script=["SUCCEEDED"],
        outputs={"total": 1, "label": "x"},
        secrets={"api_token": {"group": "svc", "key": "token"}},
    )
    run_connector_task(ok, {"n": 1}, store=store, run_name="sec")
    (rec,) = all_records(jobs_dir)
    import hashlib

    assert rec["token_sha"] == hashlib.sha256(secret.encode()).hexdigest()  # it was passed
    leaky = task(jobs_dir, name="tests.leaky", leak=True, secrets={"api_token": "svc/token"})
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(leaky, {"n": 1}, store=store, run_name="leak")
    assert secret not in str(e.value) and secret not in e.value.error_message
    assert "[redacted]" in e.value.error_message
    for path in Path(store).rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text


def test_missing_secret_names_where_it_was_looked_for(jobs_dir, store, monkeypatch):
    monkeypatch.delenv("_FSEC_NOPE_KEY", raising=False)
    monkeypatch.setenv("FLYTE_SECRETS_DEFAULT_DIR", str(Path(store) / "no-secrets"))
    t = task(jobs_dir, secrets={"api_token": "nope/key"})
    with pytest.raises(TaskFailedError) as e:
        t(n=1, store=store)
    assert e.value.code == "USER:SecretNotFound" and "_FSEC_NOPE_KEY" in e.value.error_message
    assert count_calls(jobs_dir, "create") == 0


def test_a_missing_secret_on_resume_leaves_the_job_to_a_later_run(jobs_dir, store, monkeypatch):
    monkeypatch.setenv("_FSEC_SVC_TOKEN", "token-value-1234")
    t = task(
        jobs_dir,
        script=["RUNNING", "SUCCEEDED"],
        outputs={"total": 2, "label": "x"},
        get_errors=3,
        secrets={"api_token": "svc/token"},
    )
    with pytest.raises(TaskFailedError):  # the service is down: resumable
        run_connector_task(t, {"n": 1}, store=store, run_name="later")
    monkeypatch.delenv("_FSEC_SVC_TOKEN")
    monkeypatch.setenv("FLYTE_SECRETS_DEFAULT_DIR", str(Path(store) / "no-secrets"))
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(t, {"n": 1}, store=store, run_name="later")
    assert e.value.code == "USER:SecretNotFound"
    assert state_of(store, "later")["status"] == "running"  # not given up: the job lives on
    monkeypatch.setenv("_FSEC_SVC_TOKEN", "token-value-1234")
    assert run_connector_task(t, {"n": 1}, store=store, run_name="later").total == 2
    assert count_calls(jobs_dir, "create") == 1


def test_unknown_task_type_is_a_specific_error(store):
    from shim.connectors import ConnectorNotFound

    t = FileJobTask("tests.orphan", {}, task_type="no_such_type")
    with pytest.raises(ConnectorNotFound, match="no connector for task type 'no_such_type'"):
        t(store=store)


def test_the_template_has_no_container(jobs_dir):
    from shim.task.serialize import to_idl

    tt = to_idl(task(jobs_dir))
    assert tt.type == "test_file_job" and not tt.HasField("container")
    assert tt.custom.fields["jobs_dir"].string_value == jobs_dir


def test_container_runner_is_refused(jobs_dir):
    with pytest.raises(ValueError, match="run by a connector"):
        task(jobs_dir)(n=1, runner="container")


def test_corrupt_state_is_a_specific_error(jobs_dir, store):
    t = task(jobs_dir, script=["SUCCEEDED"], outputs={"total": 5, "label": "y"})
    run_connector_task(t, {"n": 1}, store=store, run_name="c")
    (Path(store) / "c" / "connector" / "state.json").write_text("{not json")
    with pytest.raises(RunStateError, match="not a shimkit connector run state"):
        run_connector_task(t, {"n": 1}, store=store, run_name="c")


def test_unknown_version_of_stored_resource_meta_is_reported(jobs_dir, store):
    import base64

    t = task(
        jobs_dir, script=["RUNNING", "SUCCEEDED"], outputs={"total": 1, "label": "x"}, get_errors=3
    )
    with pytest.raises(TaskFailedError):
        run_connector_task(t, {"n": 1}, store=store, run_name="v")
    path = Path(store) / "v" / "connector" / "state.json"
    st = json.loads(path.read_text())
    st["resource_meta"] = base64.b64encode(b'{"@v": 9, "jobs_dir": "x", "job_id": "y"}').decode()
    path.write_text(json.dumps(st))
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(t, {"n": 1}, store=store, run_name="v")
    assert e.value.code == "USER:BadResourceMeta" and "format version 9" in e.value.error_message


SCRIPT = textwrap.dedent(
    """
    import sys, logging
    logging.basicConfig(level=logging.INFO)
    from shim.errors import TaskFailedError
    from shim.connectors.local import run_connector_task
    from tests.connectors.filejobs import FileJobTask
    t = FileJobTask("tests.sig", {"jobs_dir": sys.argv[1], "script": ["RUNNING"]},
                    inputs={"n": int}, outputs={"total": int})
    try:
        run_connector_task(t, {"n": 1}, store=sys.argv[2], run_name="sig")
    except TaskFailedError as e:
        print("FAILED", e.code, e.error_message, flush=True)
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_deletes_the_job(jobs_dir, store, tmp_path, sig):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), jobs_dir, store],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while count_calls(jobs_dir, "get") < 2:  # polling
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    (rec,) = all_records(jobs_dir)
    assert rec["deleted"] is True
    assert describe_run(str(Path(store) / "sig"))["outcome"] == "TERMINATED"
    if sig == signal.SIGINT:  # Ctrl-C: the caller stops too, as after any local run
        assert out.strip() == "KeyboardInterrupt", (out, err)
        run_dir = Path(store) / "sig"
        assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
        error = read_error(default_storage(), str(run_dir / "outputs"))
        assert error.code == "SYSTEM:Terminated" and "interrupted (SIGINT)" in error.error_message
    else:
        assert "FAILED SYSTEM:Terminated" in out, (out, err)
        assert f"interrupted ({sig.name})" in out


def test_resume_command_and_status(jobs_dir, store):
    t = task(
        jobs_dir, script=["RUNNING", "SUCCEEDED"], outputs={"total": 3, "label": "z"}, get_errors=3
    )
    with pytest.raises(TaskFailedError):
        run_connector_task(t, {"n": 1}, store=store, run_name="cli")
    run_dir = str(Path(store) / "cli")
    env = child_env()
    status = subprocess.run(
        [sys.executable, "-m", "shim", "connectors", "status", run_dir],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "running"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "shim",
            "runs",
            "resume",
            "cli",
            "--store",
            store,
            "-m",
            "tests.connectors.filejobs",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "total: 3" in res.stdout and "create is not called again" in res.stderr
    assert count_calls(jobs_dir, "create") == 1
    shown = subprocess.run(
        [sys.executable, "-m", "shim", "runs", "show", "cli", "--store", store, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    record = json.loads(shown.stdout)
    assert (record["status"], record["attempt"], record["runner"]) == ("succeeded", 2, "connector")


def test_resume_refuses_a_run_that_is_not_a_connector_run(store):
    from shim.local.runs import RunStore

    RunStore(store).start(task="tests.plain", runner="inprocess", name="plain").finish("failed")
    res = subprocess.run(
        [sys.executable, "-m", "shim", "runs", "resume", "plain", "--store", store],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    assert "is not a connector run" in res.stderr and "Traceback" not in res.stderr


def test_same_run_name_through_with_runcontext_resumes(jobs_dir, store):
    import shim

    t = task(
        jobs_dir, script=["RUNNING", "SUCCEEDED"], outputs={"total": 4, "label": "w"}, get_errors=3
    )
    with pytest.raises(TaskFailedError):
        shim.with_runcontext(store=store, name="ctx").run(t, n=1)
    assert shim.with_runcontext(store=store, name="ctx").run(t, n=1).total == 4
    assert count_calls(jobs_dir, "create") == 1


def test_resume_abort_deletes(jobs_dir, store):
    t = task(jobs_dir, script=["RUNNING"], get_errors=3)
    with pytest.raises(TaskFailedError):
        run_connector_task(t, {"n": 1}, store=store, run_name="ab")
    with pytest.raises(TaskFailedError) as e:
        resume_connector_run(str(Path(store) / "ab"), abort=True)
    assert e.value.code == "SYSTEM:Terminated" and "aborted on request" in e.value.error_message
    (rec,) = all_records(jobs_dir)
    assert rec["deleted"] is True


def test_resume_of_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(RunStateError, match="not a run directory"):
        resume_connector_run(str(tmp_path))
