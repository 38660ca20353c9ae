"""Edge paths of the entrypoint and local runs: each bad input or late signal is handled."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from shim import idl
from shim.errors import ExecutorNotFoundError, TaskFailedError, UserError
from shim.local.runs import RunStore
from shim.runtime.args import parse_execute_args
from shim.runtime.entrypoint import run
from shim.runtime.resolver import load_executor_class
from shim.storage import Storage
from tests.support import executors as ex
from tests.support.execute import read_error, read_outputs, shim_execute, stage_task
from tests.support.tasks import echo_task, make_task


@pytest.fixture(autouse=True)
def _store(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))


class TermAfterOutputs(Storage):
    """Storage that receives SIGTERM right after outputs.pb has been written."""

    def put_bytes(self, url, data):
        super().put_bytes(url, data)
        if str(url).endswith("outputs.pb"):
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_after_outputs_written_keeps_the_task_done(tmp_path):
    s = stage_task(echo_task(int), {"x": 5}, str(tmp_path / "run"))
    rc = run(parse_execute_args(s.args), storage=TermAfterOutputs(), handle_sigterm=True)
    assert rc == 0
    assert read_error(s.outputs) is None and read_outputs(s.outputs) is not None


def test_bad_storage_setting_is_reported_in_an_error_document(tmp_path):
    s = stage_task(echo_task(int), {"x": 5}, str(tmp_path / "run"))
    for supervise in ("--no-supervise", "--supervise"):
        proc = shim_execute([supervise, *s.args], env={"SHIM_STORAGE_RETRIES": "abc"})
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        err = read_error(s.outputs)
        assert err is not None and err.code == "USER:InvalidConfig", (supervise, err)
        assert err.kind == idl.ContainerError.NON_RECOVERABLE


def test_executor_that_cannot_be_constructed_is_a_user_error(tmp_path):
    t = make_task(ex.NeedsArgument, outputs={"y": int})
    with pytest.raises(TaskFailedError) as ei:
        t()
    assert (ei.value.code, ei.value.kind, ei.value.origin) == (
        "USER:ExecutorInitFailed",
        "NON_RECOVERABLE",
        "USER",
    )


def test_input_that_cannot_be_decoded_is_a_user_error(tmp_path):
    s = stage_task(echo_task(dt.datetime), {"x": dt.datetime(2020, 1, 1)}, str(tmp_path / "r"))
    lm = idl.LiteralMap()
    lm.literals["x"].scalar.primitive.datetime.seconds = 10**12  # past datetime's year 9999
    Path(s.stage.inputs).write_bytes(idl.serialize(lm))
    shim_execute(s.args)
    err = read_error(s.outputs)
    assert err.code == "USER:InputMismatch" and "'x'" in err.message
    assert err.kind == idl.ContainerError.NON_RECOVERABLE


def test_executor_module_with_a_missing_dependency_is_named(tmp_path, monkeypatch):
    pkg = tmp_path / "shimtestx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "ex.py").write_text("import shimtest\n")  # a prefix of "shimtestx"
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ExecutorNotFoundError, match="importing executor module") as ei:
        load_executor_class("shimtestx.ex.Executor")
    assert "not installed" not in str(ei.value)


def test_database_url_named_like_the_results_directory(tmp_path):
    from shim_sqlite3 import SQLite3Config, SQLite3Task

    db = tmp_path / "db.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (7)")
    con.commit()
    con.close()
    Storage().put_file(db, "memory://shimtest/results")
    t = SQLite3Task(
        name="tests.results_name",
        query_template="SELECT x FROM t",
        task_config=SQLite3Config(uri="memory://shimtest/results"),
    )
    assert t().to_arrow().column("x").to_pylist() == [7]


def test_bad_local_timeout_setting(monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_TIMEOUT", "1h")
    with pytest.raises(UserError, match="SHIM_LOCAL_TIMEOUT"):
        echo_task(int)(x=1)


def test_relative_store_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = RunStore("relative-store").start(task="t", runner="inprocess").dir
    assert os.path.isabs(base) and base.startswith(str(tmp_path))


def test_concurrent_runs_see_their_own_env_vars():
    a = make_task(
        ex.EnvAfterSleep, outputs={"y": str}, name="tests.env_a", env_vars={"SHIM_TEST_VAR": "a"}
    )
    b = make_task(
        ex.EnvAfterSleep, outputs={"y": str}, name="tests.env_b", env_vars={"SHIM_TEST_VAR": "b"}
    )

    async def both():
        return await asyncio.gather(a.aio(), b.aio())

    assert asyncio.run(both()) == ["a", "b"]
    assert "SHIM_TEST_VAR" not in os.environ


def test_shim_run_refuses_a_file_that_shadows_a_module(tmp_path):
    from click.testing import CliRunner

    from shim.commands import cli

    path = tmp_path / "sqlite3.py"
    path.write_text("x = 1\n")
    r = CliRunner().invoke(cli, ["run", f"{path}:x"])
    assert r.exit_code == 2 and "rename the file" in r.stderr
    assert sys.modules["sqlite3"].__file__ != str(path)


# --- every step after the output prefix is known is inside the error path ---------------------


def test_no_scratch_directory_ends_in_an_error_document(tmp_path, monkeypatch):
    """An unusable temporary directory (missing here; read-only or full alike) is reported in
    error.pb instead of a traceback, and named."""
    import tempfile

    s = stage_task(echo_task(int), {"x": 5}, str(tmp_path / "run"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no" / "such" / "tmp"))
    assert run(parse_execute_args(s.args), handle_sigterm=True) == 0
    err = read_error(s.outputs)
    assert err is not None and err.code == "SYSTEM:ScratchUnavailable", err
    assert err.kind == idl.ContainerError.NON_RECOVERABLE
    assert str(tmp_path / "no" / "such" / "tmp") in err.message and "TMPDIR" in err.message


def test_a_full_scratch_disk_is_recoverable(tmp_path, monkeypatch):
    import errno
    import tempfile

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    s = stage_task(echo_task(int), {"x": 5}, str(tmp_path / "run"))
    monkeypatch.setattr(tempfile, "mkdtemp", full)
    assert run(parse_execute_args(s.args)) == 0
    err = read_error(s.outputs)
    assert err.code == "SYSTEM:ScratchUnavailable" and "No space left" in err.message
    assert err.kind == idl.ContainerError.RECOVERABLE


@pytest.mark.parametrize(
    "name, value, supervise",
    [
        ("SHIM_SUPERVISE", "sometimes", None),  # read only when no flag decides
        ("SHIM_TERM_GRACE", "-1", "--supervise"),  # read only by the supervisor
        *[
            (name, value, flag)
            for name, value in [
                ("FLYTE_FAIL_ON_ERROR", "maybe"),
                ("SHIM_TIMINGS", "verbose"),
                ("SHIM_STORAGE_DEADLINE", "soon"),
            ]
            for flag in ("--no-supervise", "--supervise")
        ],
    ],
)
def test_bad_settings_are_reported_by_name(tmp_path, name, value, supervise):
    """A setting that cannot be read is an InvalidConfig error document naming the variable
    (never silently replaced by a default, never a traceback)."""
    s = stage_task(echo_task(int), {"x": 5}, str(tmp_path / "run"))
    flags = [supervise] if supervise else []
    proc = shim_execute([*flags, *s.args], env={name: value})
    assert "Traceback" not in proc.stderr, proc.stderr
    err = read_error(s.outputs)
    assert err is not None and err.code == "USER:InvalidConfig", (proc.stderr, err)
    assert f"{name}={value!r}" in err.message
    assert err.kind == idl.ContainerError.NON_RECOVERABLE
    assert read_outputs(s.outputs) is None


def test_sigterm_while_error_pb_is_written_in_process(tmp_path):
    class TermOnErrorWrite(Storage):
        def put_bytes(self, url, data):
            if str(url).rsplit("/", 1)[-1].startswith("error"):
                os.kill(os.getpid(), signal.SIGTERM)
            super().put_bytes(url, data)

    t = make_task(ex.RaisesValueError, outputs={"y": int})
    s = stage_task(t, {}, str(tmp_path / "run"))
    rc = run(parse_execute_args(s.args), storage=TermOnErrorWrite(), handle_sigterm=True)
    assert rc == 0
    err = read_error(s.outputs)
    assert err is not None and err.code == "USER:ValueError"


# --- a missing Optional input is None, on both sides ---------------------------------------


def test_missing_optional_input_is_none_in_a_local_call():
    t = make_task(
        ex.EchoExecutor, inputs={"x": int | None}, outputs={"y": int | None}, name="opt.echo"
    )
    assert t() is None
    assert t(x=3) == 3
    with pytest.raises(TypeError, match=r"missing inputs \['x'\]"):
        echo_task(int)()


def test_missing_optional_input_in_inputs_pb_is_none(tmp_path):
    """On the runtime side, inputs.pb without an Optional input decodes it as None (flytekit
    1.16 leaves it out of the executor's arguments); a missing required input is named."""
    t = make_task(
        ex.EchoExecutor, inputs={"x": int | None}, outputs={"y": int | None}, name="opt.echo"
    )
    s = stage_task(t, {"x": 4}, str(tmp_path / "run"))
    Path(s.stage.inputs).write_bytes(idl.serialize(idl.LiteralMap()))
    proc = shim_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    out = read_outputs(s.outputs)
    assert out is not None, read_error(s.outputs)
    assert out.literals["y"].scalar.union.value.scalar.WhichOneof("value") == "none_type"
