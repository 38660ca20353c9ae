"""The runs store: named runs, records, pruning, `shim runs`, the run directory of failures."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import shim
from shim.commands import cli
from shim.errors import TaskFailedError, UserError
from shim.local.runs import (
    RunInProgressError,
    RunNotFoundError,
    RunRecord,
    RunStore,
    hold,
    keep_runs,
    new_run_name,
    release,
)
from tests.support import executors as ex
from tests.support.tasks import echo_task, make_task


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(root))
    monkeypatch.delenv("SHIM_LOCAL_KEEP_RUNS", raising=False)
    return root


def record_file(root: Path, name: str) -> dict:
    return json.loads((root / name / "run.json").read_text())


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def fake_run(root: Path, name: str, *, status: str, started: str, pid: int = 0) -> None:
    (root / name).mkdir(parents=True)
    rec = RunRecord(name=name, task="t", runner="inprocess", status=status, started_at=started)
    rec.pid, rec.host = pid, socket.gethostname()
    (root / name / "run.json").write_bytes(rec.to_json())


def test_a_run_has_a_directory_and_a_record(store):
    assert echo_task(int)(x=2) == 2
    (run_dir,) = list(store.iterdir())
    rec = record_file(store, run_dir.name)
    assert rec["task"] == "tests.echo_int" and rec["runner"] == "inprocess"
    assert rec["status"] == "succeeded" and rec["pid"] == os.getpid()
    assert rec["started_at"] <= rec["ended_at"] and rec["attempt"] == 1
    assert (run_dir / "outputs" / "outputs.pb").is_file()


def test_generated_names_sort_by_start_time():
    import datetime as dt

    a = new_run_name(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    b = new_run_name(dt.datetime(2024, 1, 2, 3, 4, 6, tzinfo=dt.UTC))
    assert a.startswith("20240102-030405-") and a < b


def test_failure_carries_the_run_directory(store):
    t = make_task(ex.RaisesValueError, outputs={"y": int})
    with pytest.raises(TaskFailedError) as ei:
        shim.with_runcontext(name="bad-one").run(t)
    e = ei.value
    assert e.run_name == "bad-one" and e.run_dir == str(store / "bad-one")
    assert (Path(e.run_dir) / "outputs" / "error.pb").is_file()
    rec = record_file(store, "bad-one")
    assert (rec["status"], rec["error"]) == ("failed", "USER:ValueError")


def test_a_name_used_again_is_a_new_attempt_in_the_same_directory(store):
    ctx = shim.with_runcontext(name="nightly")
    assert ctx.run(echo_task(int), x=1) == 1
    assert ctx.run(echo_task(int), x=2) == 2
    assert [p.name for p in store.iterdir()] == ["nightly"]
    assert record_file(store, "nightly")["attempt"] == 2


def test_a_named_run_that_still_runs_is_refused(store):
    fake_run(store, "busy", status="running", started="2024-01-01T00:00:00+00:00", pid=os.getpid())
    with pytest.raises(RunInProgressError, match=r"run 'busy' is still running \(pid"):
        shim.with_runcontext(name="busy").run(echo_task(int), x=1)
    assert record_file(store, "busy")["status"] == "running"  # untouched


def test_a_named_run_whose_process_is_gone_can_start_again(store):
    fake_run(store, "lost", status="running", started="2024-01-01T00:00:00+00:00", pid=dead_pid())
    assert RunStore(str(store)).get("lost").state == "lost"
    run = RunStore(str(store)).start(task="t", runner="inprocess", name="lost")
    assert run.previous is not None and run.previous.status == "running"
    assert run.record.attempt == 2


def test_keeps_the_newest_runs(store, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_KEEP_RUNS", "3")
    names = []
    for i in range(6):
        shim.with_runcontext(name=f"r{i}").run(echo_task(int), x=i)
        names.append(f"r{i}")
        time.sleep(0.002)  # distinct start times (milliseconds)
    assert sorted(p.name for p in store.iterdir()) == ["r3", "r4", "r5"]


def test_pruning_never_removes_a_running_run(store, monkeypatch):
    fake_run(store, "old-running", status="running", started="2000-01-01T00:00:00+00:00")
    rec = json.loads((store / "old-running" / "run.json").read_text())
    rec["pid"] = os.getpid()
    (store / "old-running" / "run.json").write_text(json.dumps(rec))
    fake_run(store, "old-lost", status="running", started="2000-01-01T00:00:01+00:00")
    monkeypatch.setenv("SHIM_LOCAL_KEEP_RUNS", "1")
    echo_task(int)(x=1)
    echo_task(int)(x=2)
    left = {p.name for p in store.iterdir()}
    assert "old-running" in left  # its process (this one) is alive
    assert "old-lost" not in left  # pid 0: no process
    assert len(left) == 2


def test_a_held_run_is_never_pruned_or_removed_until_released(store, monkeypatch):
    # a killed run (record "running", its process gone: lost) whose job may still run elsewhere
    fake_run(store, "held", status="running", started="2000-01-01T00:00:00+00:00", pid=dead_pid())
    fake_run(store, "done", status="succeeded", started="2000-01-01T00:00:01+00:00")
    why = "its job may still be running: `shim runs resume held` carries on"
    hold(str(store / "held"), why)
    runs = RunStore(str(store))
    assert runs.get("held").state == "lost" and runs.get("held").held == why
    assert runs.prune(0) == ["done"]
    monkeypatch.setenv("SHIM_LOCAL_KEEP_RUNS", "1")
    echo_task(int)(x=1)  # a new run prunes to one: the held run stays
    assert (store / "held").is_dir()
    with pytest.raises(RunInProgressError, match="shim runs resume held"):
        runs.remove("held")
    r = invoke("runs", "clean", "--all")
    assert r.exit_code == 0 and f"kept held: {why}" in r.stdout
    assert re.search(rf"^kept +{re.escape(why)}$", invoke("runs", "show", "held").stdout, re.M)
    release(str(store / "held"))
    assert "held" in runs.prune(0)


def test_pruning_skips_unknown_directories_and_removes_the_old_layout(store):
    store.mkdir()
    (store / "my-notes").mkdir()  # not a run: never touched
    legacy = store / "0123456789abcdef"
    legacy.mkdir()
    (legacy / "task.pb").write_bytes(b"")
    os.utime(legacy, (0, 0))
    removed = RunStore(str(store)).prune(0)
    assert removed == ["0123456789abcdef"]
    assert [p.name for p in store.iterdir()] == ["my-notes"]


def test_bad_keep_setting(store, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_KEEP_RUNS", "many")
    with pytest.raises(UserError, match="SHIM_LOCAL_KEEP_RUNS='many'"):
        echo_task(int)(x=1)
    assert not store.exists()
    assert keep_runs({"SHIM_LOCAL_KEEP_RUNS": " 7 "}) == 7
    assert keep_runs({}) == 50


def test_records_tolerate_unknown_and_damaged_content(store):
    fake_run(store, "newer", status="succeeded", started="2024-01-01T00:00:00+00:00")
    data = record_file(store, "newer")
    data["written_by_a_newer_version"] = {"x": 1}
    (store / "newer" / "run.json").write_text(json.dumps(data))
    (store / "broken").mkdir()
    (store / "broken" / "run.json").write_text("{not json")
    records = {r.name: r for r in RunStore(str(store)).list()}
    assert records["newer"].status == "succeeded"
    assert records["broken"].status == "unknown"


def test_lookup_by_unique_prefix(store):
    fake_run(store, "alpha-1", status="succeeded", started="2024-01-01T00:00:00+00:00")
    fake_run(store, "alpha-2", status="succeeded", started="2024-01-01T00:00:01+00:00")
    runs = RunStore(str(store))
    assert runs.get("alpha-2").name == "alpha-2"
    with pytest.raises(RunNotFoundError, match="matches 2 runs"):
        runs.get("alpha")
    with pytest.raises(RunNotFoundError, match="no run 'beta'"):
        runs.get("beta")


def test_listing_a_thousand_runs(store):
    """Listing reads one small file per run (newest first); bench/ has no figure to meet,
    this checks the order and that every run is there."""
    store.mkdir()
    for i in range(1000):
        d = store / f"run-{i:04d}"
        d.mkdir()
        rec = RunRecord(
            name=d.name,
            status="succeeded",
            started_at=f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00",
        )
        (d / "run.json").write_bytes(rec.to_json())
    records = RunStore(str(store)).list()
    assert len(records) == 1000
    assert records[0].name == "run-0999" and records[-1].name == "run-0000"


# --- shim run / shim runs ----------------------------------------------------------------------

TASKS = """
from tests.support import executors as ex
from tests.support.tasks import make_task

echo = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int}, name="cli.echo")
fails = make_task(ex.RaisesValueError, outputs={"y": int}, name="cli.fails")
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def task_file(tmp_path, store):
    path = tmp_path / "runs_cli_tasks.py"
    path.write_text(TASKS)
    return path


def test_shim_run_prints_the_run_directory(task_file, store):
    r = invoke("run", f"{task_file}:echo", "-i", "x=5", "--name", "first")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "5"
    assert f"run first: {store / 'first'}" in r.stderr
    r = invoke("run", f"{task_file}:fails", "--name", "second")
    assert r.exit_code == 1
    assert f"run second: {store / 'second'}" in r.stderr


def test_shim_runs_list_show_clean(task_file, store):
    for name in ("a1", "a2", "a3"):
        assert invoke("run", f"{task_file}:echo", "-i", "x=1", "--name", name).exit_code == 0
        time.sleep(0.002)
    assert invoke("run", f"{task_file}:fails", "--name", "b1").exit_code == 1

    r = invoke("runs")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["NAME", "STATUS", "TASK", "RUNNER"]
    assert [ln.split()[0] for ln in lines[1:]] == ["b1", "a3", "a2", "a1"]
    assert lines[1].split()[1:4] == ["failed", "cli.fails", "inprocess"]

    r = invoke("runs", "list", "--json", "-n", "1")
    (only,) = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert (only["name"], only["status"], only["error"]) == ("b1", "failed", "USER:ValueError")

    r = invoke("runs", "show", "b1")
    assert r.exit_code == 0, r.output
    fields = dict(ln.split(None, 1) for ln in r.stdout.splitlines())
    assert fields["status"] == "failed" and fields["directory"] == str(store / "b1")
    assert "USER:ValueError" in fields["error"]
    r = invoke("runs", "show", "a2")
    assert dict(ln.split(None, 1) for ln in r.stdout.splitlines())["outputs"].endswith("outputs.pb")

    r = invoke("runs", "show", "zz")
    assert r.exit_code == 2 and "no run 'zz'" in r.stderr

    r = invoke("runs", "clean", "--keep", "2")
    assert r.exit_code == 0 and "removed 2 runs" in r.stdout
    assert sorted(p.name for p in store.iterdir()) == ["a3", "b1"]
    r = invoke("runs", "clean", "--all")
    assert "removed 2 runs" in r.stdout and list(store.iterdir()) == []


def test_shim_runs_clean_keeps_running_runs(store):
    fake_run(store, "live", status="running", started="2000-01-01T00:00:00+00:00", pid=os.getpid())
    r = invoke("runs", "clean", "--all")
    assert r.exit_code == 0 and "removed 0 runs" in r.stdout
    assert invoke("runs").stdout.splitlines()[1].split()[:2] == ["live", "running"]


def test_shim_runs_refuses_a_remote_store():
    r = CliRunner().invoke(cli, ["runs", "list", "--store", "s3://bucket/runs"])
    assert r.exit_code == 2 and "local store only" in r.stderr


def test_shim_runs_clean_usage(store):
    r = CliRunner().invoke(cli, ["runs", "clean", "--all", "--keep", "3"])
    assert r.exit_code == 2 and "not both" in r.output


def test_shim_runs_store_given_to_the_group_applies_to_its_subcommands(store, tmp_path):
    """``shim runs --store X show|clean|list`` works in X, never in the default store (here
    SHIM_LOCAL_STORE, whose runs ``clean`` must not touch); the group takes list's options."""
    other = tmp_path / "other"
    for i, name in enumerate(("o1", "o2", "o3")):
        fake_run(other, name, status="succeeded", started=f"2024-01-01T00:00:0{i}+00:00")
    for i, name in enumerate(("d1", "d2")):
        fake_run(store, name, status="succeeded", started=f"2024-01-01T00:00:0{i}+00:00")

    r = invoke("runs", "--store", str(other), "show", "o2")
    assert r.exit_code == 0, r.output
    assert dict(ln.split(None, 1) for ln in r.stdout.splitlines())["directory"] == str(other / "o2")
    r = invoke("runs", "--store", str(other), "list", "-n", "1")
    assert [ln.split()[0] for ln in r.stdout.splitlines()[1:]] == ["o3"]
    r = invoke("runs", "--store", str(other), "-n", "2", "--json")
    assert [json.loads(ln)["name"] for ln in r.stdout.splitlines()] == ["o3", "o2"]

    r = invoke("runs", "--store", str(other), "clean", "--keep", "1")
    assert r.exit_code == 0 and f"removed 2 runs from {other}" in r.stdout
    assert sorted(p.name for p in other.iterdir()) == ["o3"]
    assert sorted(p.name for p in store.iterdir()) == ["d1", "d2"]
    # a subcommand's own --store wins over the group's
    r = invoke("runs", "--store", str(other), "show", "d1", "--store", str(store))
    assert r.exit_code == 0, r.output
