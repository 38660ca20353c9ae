"""The docker connector against a real engine: container jobs run locally (success, failure,
retries, SIGKILL and resume, Ctrl-C, timeouts, secrets) and through `shim connectors serve`
driven by the platform stand-in, with the server killed and restarted between polls.

Creates are counted on the engine's side (its event stream and its containers, by label),
never in the test process. Run these holding the containers lock (see HELPERS/README).
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from shim import idl
from shim.connectors.base import Phase
from shim.connectors.local import run_connector_task
from shim.errors import TaskFailedError, TypeMismatchError
from tests.connectors.conftest import REPO, child_env
from tests.connectors.platform import PlatformStandIn

pytestmark = [pytest.mark.container, pytest.mark.slow]

IMAGE = "python:3.11-slim-bookworm"
FAST = {"first": 0.2, "factor": 1.5, "max_interval": 1.0}


@pytest.fixture(scope="module")
def image(docker_client: Any, request: pytest.FixtureRequest) -> str:
    """An image with python and sh: the slim python image (the base of shimkit's images), or
    shimkit-base built from this tree when the engine does not have it."""
    import docker.errors

    try:
        docker_client.images.get(IMAGE)
        return IMAGE
    except docker.errors.ImageNotFound:
        return request.getfixturevalue("base_image")


@pytest.fixture
def label() -> tuple[str, str]:
    return ("io.shimkit.test", uuid.uuid4().hex)


@pytest.fixture
def engine_counts(docker_client: Any, label: tuple[str, str]):
    """``counts()``: (creates seen in the engine's event stream, containers left) for the
    containers carrying this test's label."""
    t0 = int(time.time()) - 1
    selector = f"{label[0]}={label[1]}"

    def once() -> tuple[int, int]:
        events = docker_client.events(
            since=t0,
            until=int(time.time()) + 1,
            decode=True,
            filters={"label": selector, "event": "create"},
        )
        creates = sum(1 for e in events if (e.get("status") or e.get("Action")) == "create")
        left = len(docker_client.containers.list(all=True, filters={"label": selector}))
        return creates, left

    def counts() -> tuple[int, int]:
        # the engine records events asynchronously: read until two reads agree
        last = once()
        for _ in range(20):
            time.sleep(0.5)
            now = once()
            if now == last and now[0] >= now[1]:
                return now
            last = now
        return last

    yield counts
    for c in docker_client.containers.list(all=True, filters={"label": selector}):
        c.remove(force=True)


def job_task(image: str, label: tuple[str, str], script: str, **kwargs: Any):
    from shim_docker import ContainerJobTask

    from shim.connectors import PollPolicy

    class Task(ContainerJobTask):
        poll_policy = PollPolicy(**FAST)

    return Task(
        name=kwargs.pop("name", "tests.docker_job"),
        image=image,
        command=["sh", "-c", script],
        labels={label[0]: label[1]},
        pull=False,
        stop_grace=1,
        **kwargs,
    )


def test_job_succeeds_with_outputs_bound_by_name(image, label, engine_counts, store):
    script = (
        "cat /var/inputs/text | wc -w > /var/outputs/words; "
        "printf '%s' '{{ .inputs.text }}-{{.inputs.n}}' > /var/outputs/echo; "
        "echo true > /var/outputs/ok; "
        "cat /var/inputs/inputs.json > /var/outputs/all"
    )
    t = job_task(
        image,
        label,
        script,
        inputs={"text": str, "n": int},
        outputs={"words": int, "echo": str, "ok": bool, "all": dict},
    )
    out = t(text="to be or not", n=3, store=store)
    assert out.words == 4 and out.echo == "to be or not-3" and out.ok is True
    assert out.all == {"n": 3, "text": "to be or not"}
    assert engine_counts() == (1, 0)  # one job; released once its outputs were stored


def test_file_directory_and_dataframe_inputs_are_copied_into_the_job(
    image, label, engine_counts, store, tmp_path
):
    """A File arrives as the file /var/inputs/<name>, a Directory as the tree below it, a
    DataFrame as its parquet files below it; each placeholder and inputs.json name that path.
    (Before, such inputs were refused: "pass their URL as a str".)"""
    import pyarrow as pa

    from shim.types import DataFrame, Directory, File

    doc = tmp_path / "doc.txt"
    doc.write_text("one two three")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b.txt").write_text("bb")
    script = (
        "wc -w < {{ .inputs.doc }} > /var/outputs/words; "
        "cat {{ .inputs.tree }}/sub/b.txt > /var/outputs/nested; "
        "find {{ .inputs.tree }} -type f | wc -l > /var/outputs/files; "
        "for f in {{ .inputs.table }}/*; do head -c 4 $f; done > /var/outputs/magic; "
        "python -c \"import json; d = json.load(open('/var/inputs/inputs.json')); "
        "print(d['doc'], d['tree'], d['table'], d['n'])\" > /var/outputs/paths"
    )
    t = job_task(
        image,
        label,
        script,
        inputs={"doc": File, "tree": Directory, "table": DataFrame, "n": int},
        outputs={"words": int, "nested": str, "files": int, "magic": str, "paths": str},
    )
    table = DataFrame.from_arrow(pa.table({"x": [1, 2, 3]}))
    out = t(doc=File(doc), tree=Directory(tree), table=table, n=7, store=store)
    assert out.words == 3 and out.nested == "bb" and out.files == 2
    assert out.magic and set(out.magic.split("PAR1")) == {""}  # only parquet files
    assert out.paths.strip() == "/var/inputs/doc /var/inputs/tree /var/inputs/table 7"
    assert engine_counts() == (1, 0)


def test_a_file_input_that_is_not_a_file_is_refused_before_any_job(
    image, label, engine_counts, store, tmp_path
):
    from shim.types import Directory, File

    t = job_task(
        image,
        label,
        "echo 1 > /var/outputs/n",
        inputs={"doc": File, "tree": Directory},
        outputs={"n": int},
    )
    tree = tmp_path / "tree"
    tree.mkdir()
    with pytest.raises(TypeMismatchError, match=r"'doc'.*tree is not an existing file"):
        t(doc=File(tree), tree=Directory(tree), store=store)  # a directory given as a File
    with pytest.raises(TypeMismatchError, match=r"'tree'.*missing is not an existing directory"):
        t(doc=File(__file__), tree=Directory(tmp_path / "missing"), store=store)
    assert engine_counts() == (0, 0)  # refused when the inputs are encoded: no job was created


def test_job_failure_reports_exit_status_and_output(image, label, engine_counts, store):
    t = job_task(image, label, "echo 'no such table: t' >&2; exit 3", outputs={"x": int})
    with pytest.raises(TaskFailedError) as e:
        t(store=store)
    assert e.value.code == "USER:JobFailed" and e.value.origin == "USER"
    assert "exited with status 3" in e.value.error_message
    assert "no such table: t" in e.value.error_message
    assert engine_counts() == (1, 0)


def test_missing_output_file_fails_the_job(image, label, engine_counts, store):
    t = job_task(image, label, "true", outputs={"x": int})
    with pytest.raises(TaskFailedError) as e:
        t(store=store)
    assert "did not write its output 'x'" in e.value.error_message


def test_temporary_failure_is_retried_as_a_new_job(image, label, engine_counts, store):
    t = job_task(image, label, "echo flaky; exit 75", retries=1)
    with pytest.raises(TaskFailedError) as e:
        t(store=store)
    assert e.value.code == "USER:RetryableFailure" and e.value.kind == "RECOVERABLE"
    assert engine_counts() == (2, 0)  # attempt 1 and its retry, each its own container


RUNNER = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.INFO)
    import shim
    from shim.connectors import PollPolicy
    from shim.errors import TaskFailedError
    from shim_docker import ContainerJobTask
    image, key, value, store, run, script, timeout = sys.argv[1:8]
    t = ContainerJobTask(name="tests.killed", image=image, command=["sh", "-c", script],
                         outputs={"n": int}, labels={key: value}, pull=False, stop_grace=1,
                         timeout=float(timeout) if timeout != "-" else None)
    t.poll_policy = PollPolicy(first=0.2, max_interval=0.5)
    try:  # a named run of the local runs store
        print("RESULT", shim.with_runcontext(store=store, name=run).run(t), flush=True)
    except TaskFailedError as e:
        print("FAILED", e.code, e.error_message.replace(chr(10), " "), flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    """
)


def start_runner(
    tmp_path: Path, image: str, label, store: str, run: str, script: str, timeout: str = "-"
) -> subprocess.Popen:
    path = tmp_path / "runner.py"
    path.write_text(RUNNER)
    return subprocess.Popen(
        [sys.executable, str(path), image, label[0], label[1], store, run, script, timeout],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def wait_for(
    predicate, what: str, proc: subprocess.Popen | None = None, limit: float = 120
) -> None:
    end = time.monotonic() + limit
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended while waiting for {what}: {proc.communicate()}")
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def run_state(store: str, run: str) -> dict:
    path = Path(store) / run / "connector" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def run_record(store: str, run: str) -> dict:
    return json.loads((Path(store) / run / "run.json").read_text())


@pytest.mark.parametrize("resume", ["shim runs resume", "same run name"])
def test_sigkill_mid_poll_then_resume_creates_exactly_once(
    resume, image, label, engine_counts, store, tmp_path, docker_client
):
    script = "sleep 6; echo 42 > /var/outputs/n"
    first = start_runner(tmp_path, image, label, store, "k1", script)
    wait_for(lambda: run_state(store, "k1").get("last_phase") == "RUNNING", "polling", first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    creates, left = engine_counts()
    assert (creates, left) == (1, 1)  # the job outlives the process that started it
    (container,) = docker_client.containers.list(
        all=True, filters={"label": f"{label[0]}={label[1]}"}
    )
    assert container.status == "running"
    killed = run_record(store, "k1")  # the killed run's record: still "running" (lost)
    assert (killed["status"], killed["attempt"], killed["runner"]) == ("running", 1, "connector")
    shown = subprocess.run(
        [sys.executable, "-m", "shim", "runs", "show", "k1", "--store", store],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=child_env(),
    ).stdout
    assert re.search(r"^status +lost$", shown, re.M) and container.name in shown, shown
    assert re.search(r"^job phase +RUNNING$", shown, re.M)
    if resume == "shim runs resume":
        res = subprocess.run(
            [sys.executable, "-m", "shim", "runs", "resume", "k1", "--store", store],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=REPO,
            env=child_env(),
        )
        assert res.returncode == 0 and res.stdout.strip() == "42", (res.stdout, res.stderr)
        err = res.stderr
    else:  # the same call with the same run name
        second = start_runner(tmp_path, image, label, store, "k1", script)
        out, err = second.communicate(timeout=180)
        assert "RESULT 42" in out, (out, err)
    assert "create is not called again" in err
    assert engine_counts() == (1, 0)  # created once, by the first process; released at the end
    record = run_record(store, "k1")
    assert (record["status"], record["attempt"], record["error"]) == ("succeeded", 2, None)
    st = run_state(store, "k1")
    assert st["creates"] == 1 and st["resumes"] == 1 and st["outcome"] == "SUCCEEDED"


def test_ctrl_c_deletes_the_job(image, label, engine_counts, store, tmp_path):
    proc = start_runner(tmp_path, image, label, store, "int", "sleep 300")
    wait_for(lambda: run_state(store, "int").get("last_phase") == "RUNNING", "polling", proc)
    assert engine_counts() == (1, 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert out.strip() == "INTERRUPTED", (out, err)  # Ctrl-C stops the caller
    assert engine_counts() == (1, 0)  # the engine shows it gone
    assert run_record(store, "int")["status"] == "interrupted"
    doc = idl.ErrorDocument()
    doc.ParseFromString((Path(store) / "int" / "outputs" / "error.pb").read_bytes())
    assert doc.error.code == "SYSTEM:Terminated" and "the job was deleted" in doc.error.message


def test_task_timeout_deletes_the_job(image, label, engine_counts, store, tmp_path):
    proc = start_runner(tmp_path, image, label, store, "to", "sleep 300", timeout="3")
    out, err = proc.communicate(timeout=180)
    assert "FAILED USER:Timeout" in out and "task's timeout of 3s" in out, (out, err)
    assert engine_counts() == (1, 0)


def test_call_timeout_deletes_the_job(image, label, engine_counts, store):
    t = job_task(image, label, "sleep 300")
    with pytest.raises(TaskFailedError) as e:
        run_connector_task(t, {}, store=store, timeout=3)
    assert e.value.code == "USER:Timeout"
    assert engine_counts() == (1, 0)


def test_secret_reaches_the_job_and_nowhere_else(
    image, label, engine_counts, store, monkeypatch, caplog
):
    secret = "job-secret-value-31337"
    monkeypatch.setenv("_FSEC_SVC_TOKEN", secret)
    caplog.set_level("DEBUG")
    ok = job_task(
        image,
        label,
        "sha256sum /var/secrets/tok | cut -c1-64 > /var/outputs/digest",
        outputs={"digest": str},
        job_secrets={"tok": "svc/token"},
    )
    assert ok(store=store).strip() == hashlib.sha256(secret.encode()).hexdigest()
    leaky = job_task(
        image,
        label,
        "echo using $(cat /var/secrets/tok) >&2; exit 1",
        name="tests.leaky",
        job_secrets={"tok": "svc/token"},
    )
    with pytest.raises(TaskFailedError) as e:
        leaky(store=store)
    assert "using [redacted]" in e.value.error_message and secret not in e.value.error_message
    for path in Path(store).rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text
    assert engine_counts() == (2, 0)


def test_engine_down_is_a_specific_error(store, tmp_path, label):
    t = job_task(IMAGE, label, "true", engine=f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(TaskFailedError) as e:
        t(store=store)
    assert e.value.code == "SYSTEM:EngineUnavailable"
    assert "no-engine.sock does not answer" in e.value.error_message


def test_documented_example_runs(image, store):
    if image != IMAGE:
        pytest.skip(f"the example uses {IMAGE}")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "shim",
            "run",
            "connectors/docker/examples/word_count.py:word_count",
            "-i",
            "text=to be or not to be",
            "--store",
            store,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=child_env(),
    )
    assert out.returncode == 0, out.stderr
    assert "words: 6" in out.stdout and '"to",\n    "be"' in out.stdout  # a list: as JSON


# --- through the service, with the platform stand-in -----------------------------------------


def _request(task: Any, inputs: dict[str, Any], tmp_path: Path) -> tuple[Any, Any, Any]:
    from shim.task.serialize import to_idl
    from shim.types import TransferContext, python_to_literal_map

    tt = to_idl(task)
    lm = python_to_literal_map(inputs, task.interface.inputs, TransferContext(), what="input")
    execution = idl.TaskExecutionMetadata()
    ex = execution.task_execution_id
    ex.task_id.CopyFrom(tt.id)
    ex.node_execution_id.execution_id.name = f"f{uuid.uuid4().hex[:12]}"
    ex.node_execution_id.node_id = "n0"
    return tt, lm, execution


@pytest.fixture
def served(serve, docker_client):
    import os

    return serve(env=child_env(DOCKER_HOST=os.environ.get("DOCKER_HOST", "")))


def test_platform_stand_in_to_success_with_server_restarts(
    image, label, engine_counts, served, tmp_path
):
    task = job_task(
        image,
        label,
        "sleep 5; echo $(( $(cat /var/inputs/n) * 2 )) > /var/outputs/double",
        inputs={"n": int},
        outputs={"double": int},
    )
    tt, lm, execution = _request(task, {"n": 21}, tmp_path)
    platform = PlatformStandIn(lambda: served.target, tmp_path / "plugin-state.json")
    out_dir = tmp_path / "out"
    # CreateTask twice: one container (counted at the end; counting here, while the job
    # runs, took long enough on a loaded machine for the job to end before the first poll)
    platform.submit(tt, lm, f"file://{out_dir}", execution, duplicate_create=True)
    restarts = []

    def restart(n: int) -> None:
        served.kill()  # between two polls: the service dies
        served.start()  # and comes back
        restarts.append(n)

    result = platform.poll(interval=0.3, deadline=120, between_polls=restart)
    assert result.phase == Phase.SUCCEEDED and restarts, (result, restarts)
    written = idl.LiteralMap()
    written.ParseFromString((out_dir / "outputs.pb").read_bytes())
    assert written.literals["double"].scalar.primitive.integer == 42
    assert engine_counts()[0] == 1


def test_platform_stand_in_to_failure_with_server_down_between_polls(
    image, label, engine_counts, served, tmp_path
):
    task = job_task(image, label, "sleep 2; echo 'disk full' >&2; exit 4")
    tt, lm, execution = _request(task, {}, tmp_path)
    platform = PlatformStandIn(lambda: served.target, tmp_path / "plugin-state.json")
    platform.submit(tt, lm, f"file://{tmp_path}/out", execution)
    downs = []

    def down_then_up(n: int) -> None:
        if n == 1:
            served.kill()
            downs.append(1)
            time.sleep(1.0)  # polls in this window find the service down
            served.start()

    result = platform.poll(interval=0.3, deadline=120, between_polls=down_then_up)
    assert downs and result.phase == Phase.FAILED
    assert "exited with status 4" in result.message and "disk full" in result.message
    assert engine_counts()[0] == 1


def test_platform_stand_in_abort_removes_the_container(
    image, label, engine_counts, served, tmp_path
):
    task = job_task(image, label, "sleep 300")
    tt, lm, execution = _request(task, {}, tmp_path)
    platform = PlatformStandIn(lambda: served.target, tmp_path / "plugin-state.json")
    platform.submit(tt, lm, f"file://{tmp_path}/out", execution)
    assert platform.get_once().phase in (Phase.QUEUED, Phase.RUNNING)
    served.kill()
    served.start()  # abort after a restart: the service knows nothing but the resource meta
    platform.abort()
    assert engine_counts() == (1, 0)
    assert platform.get_once().phase == Phase.ABORTED
