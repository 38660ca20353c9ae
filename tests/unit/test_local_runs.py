"""Local calls run the real serialize -> entrypoint -> decode path, in process."""

from __future__ import annotations

import pytest

from shim.errors import TaskFailedError, TypeMismatchError
from shim.local.runner import LocalRunError
from tests.support import executors as ex
from tests.support.tasks import echo_task, make_task, three_outputs_task


@pytest.fixture(autouse=True)
def _store(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))


@pytest.mark.parametrize(
    "py_type,value",
    [
        (int, 42),
        (str, "héllo"),
        (float, 2.5),
        (bool, True),
        (list[int], [1, 2, 3]),
        (dict[str, float], {"a": 1.5}),
    ],
)
def test_echo_round_trip(py_type, value):
    assert echo_task(py_type)(x=value) == value


def test_positional_inputs_bind_in_declaration_order():
    assert echo_task(int)(7) == 7


def test_three_outputs_bound_by_name():
    out = three_outputs_task()()
    assert (out.a, out.b, out.c) == (1, 2.5, "third")
    assert out._fields == ("a", "b", "c")


def test_named_tuple_bound_by_field_name():
    t = make_task(ex.NamedTupleExecutor, outputs={"a": int, "b": float, "c": str})
    out = t()
    assert (out.a, out.b, out.c) == (1, 2.5, "third")


def test_plain_tuple_for_several_outputs_is_an_output_error():
    t = make_task(ex.PlainTupleExecutor, outputs={"a": int, "b": float, "c": str})
    with pytest.raises(TaskFailedError) as ei:
        t()
    e = ei.value
    assert (e.code, e.kind, e.origin) == ("SYSTEM:OutputMismatch", "NON_RECOVERABLE", "SYSTEM")
    assert "NamedTuple" in e.error_message


def test_executor_value_error_is_user_non_recoverable():
    t = make_task(ex.RaisesValueError, outputs={"y": int})
    with pytest.raises(TaskFailedError) as ei:
        t()
    e = ei.value
    assert (e.code, e.kind, e.origin) == ("USER:ValueError", "NON_RECOVERABLE", "USER")
    assert e.error_message.startswith("Trace:\n\n    ")
    assert "\n\nMessage:\n\n    ValueError: bad value in user logic" in e.error_message


def test_recoverable_error_type():
    t = make_task(ex.RaisesRecoverable, outputs={"y": int})
    with pytest.raises(TaskFailedError) as ei:
        t()
    assert (ei.value.code, ei.value.kind, ei.value.origin) == (
        "USER:FlakyError",
        "RECOVERABLE",
        "USER",
    )


def test_wrong_output_type_is_system_non_recoverable():
    t = make_task(ex.WrongOutputType, outputs={"y": int})
    with pytest.raises(TaskFailedError) as ei:
        t()
    e = ei.value
    assert (e.code, e.kind, e.origin) == ("SYSTEM:OutputMismatch", "NON_RECOVERABLE", "SYSTEM")
    assert "'y'" in e.error_message and "int" in e.error_message


def test_wrong_input_type_fails_before_running():
    with pytest.raises(TypeMismatchError, match=r"'x'.*int.*str"):
        echo_task(int)(x="abc")


def test_unknown_and_missing_inputs():
    with pytest.raises(TypeError, match=r"unexpected inputs \['z'\]"):
        echo_task(int)(x=1, z=2)
    with pytest.raises(TypeError, match=r"missing inputs \['x'\]"):
        echo_task(int)()


def test_ignore_outputs_writes_neither_document():
    t = make_task(ex.IgnoresOutputs, outputs={"y": int})
    with pytest.raises(LocalRunError, match=r"neither outputs\.pb nor error\.pb"):
        t()


def test_typed_config_keeps_ints():
    t = make_task(
        ex.TypedConfigExecutor,
        outputs={"port_type": str, "port": int},
        task_config=ex.PortConfig(host="db", port=5432),
    )
    out = t()
    assert out.port_type == "int" and out.port == 5432


def test_max_inline_io_bytes_is_enforced_before_upload():
    t = make_task(ex.BigOutput, inputs={"n": int}, outputs={"y": str}, max_inline_io_bytes=1000)
    assert t(n=10) == "x" * 10
    with pytest.raises(TaskFailedError) as ei:
        t(n=5000)
    e = ei.value
    assert (e.code, e.kind, e.origin) == ("USER:InlineIOTooLarge", "NON_RECOVERABLE", "USER")


def test_no_outputs_returns_none():
    assert make_task(ex.NoOpExecutor)() is None


def test_execution_context_is_available():
    t = make_task(ex.ContextExecutor, outputs={"y": str})
    assert t().startswith("True|True|")


def test_unknown_runner():
    with pytest.raises(ValueError, match="runner"):
        echo_task(int)(x=1, runner="cloud")


def test_subprocess_runner_matches_inprocess():
    t = three_outputs_task()
    assert tuple(t(runner="subprocess")) == tuple(t(runner="inprocess"))


def test_local_runs_leave_no_temporary_directories(tmp_path, monkeypatch):
    import tempfile

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    three_outputs_task()()
    assert echo_task(int)(x=3) == 3
    assert list(temp.iterdir()) == []


def test_runs_in_a_remote_store_leave_no_temporary_directories(tmp_path, monkeypatch):
    """Outputs read from a remote store get a scratch directory only when one is downloaded
    (each run, nested children included, left an empty one behind)."""
    import tempfile
    from pathlib import Path

    import shim
    from tests.support import fn_tasks as fn

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    remote = shim.with_runcontext(store=f"memory://leak-{tmp_path.name}")
    assert remote.run(fn.fan_out, n=3) == [0, 2, 4]
    assert remote.run(three_outputs_task()) == (1, 2.5, "third")
    assert [p.name for p in temp.iterdir()] == []
    (f,) = remote.run(fn.collects_files, n=1)
    assert Path(f.download()).read_text() == "child 0"  # downloaded on first use


def test_in_process_failure_is_reported_once_as_the_exception(capfd):
    """The runtime's own report (traceback, phase line) is not printed by an in-process run:
    the TaskFailedError carries it, once."""
    t = make_task(ex.RaisesValueError, outputs={"y": int})
    with pytest.raises(TaskFailedError) as ei:
        t()
    out = capfd.readouterr()
    assert out.err == "" and out.out == ""
    assert str(ei.value) == "USER:ValueError (NON_RECOVERABLE, USER): bad value in user logic"
