"""The owners of the error path: phases, the document writer, the outputs-stand rule, the
reason a local caller sees."""

from __future__ import annotations

import pytest

from shim import idl
from shim.errors import TaskFailedError, reason_of
from shim.runtime import errordoc
from shim.runtime.entrypoint import Progress, run
from shim.runtime.phases import Event, Phase
from shim.runtime.supervisor import classify_death
from shim.storage import Storage
from tests.support import executors as ex
from tests.support.execute import read_error, stage_task
from tests.support.tasks import echo_task, make_task


def test_the_entrypoint_reports_phases_and_events_of_the_enums(tmp_path):
    """What travels to the supervisor is exactly the enums' values, in order."""
    seen: list[str] = []
    s = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, str(tmp_path / "r"))
    from shim.runtime.args import parse_execute_args

    run(parse_execute_args(s.args), progress=Progress(on_change=seen.append), quiet=True)
    assert seen == [
        Phase.LOAD_TEMPLATE,
        Phase.READ_INPUTS,
        Phase.EXECUTE,
        "=" + Event.ERROR_WRITTEN,
    ]
    assert all(Phase.parse(p) is not None for p in seen[:-1])


def test_phases_are_named_through_the_enum_only():
    """No module passes a phase as a string of its own (``phase="execute"``): the enum is
    the one owner of the names."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    files = [*(repo / "shim").rglob("*.py"), *(repo / "executors").glob("*/shim_*/*.py")]
    files += [*(repo / "connectors").glob("*/shim_*/*.py")]
    offenders = []
    for path in sorted(files):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.keyword) and node.arg == "phase":
                value = node.value
                if isinstance(value, ast.Constant) and Phase.parse(str(value.value)):
                    offenders.append(f"{path.relative_to(repo)}:{value.lineno}")
    assert offenders == []


def test_phase_parse_and_user_code():
    assert Phase.parse("execute") is Phase.EXECUTE and Phase.EXECUTE.user_code
    assert Phase.parse("some-future-phase") is None
    assert not any(p.user_code for p in Phase if p is not Phase.EXECUTE)
    # the supervisor and the classification agree on whose code was running
    assert classify_death(-11, "execute", oom=False, terminated=False)[0] == "USER:WorkerCrashed"
    assert classify_death(-11, "load-template", oom=False, terminated=False)[0] == (
        "SYSTEM:WorkerCrashed"
    )
    assert errordoc.classify(ValueError("x"), phase=Phase.EXECUTE).code == "USER:ValueError"
    assert errordoc.classify(ValueError("x"), phase="read-inputs").code == "SYSTEM:ValueError"


def test_write_names_the_file_by_strategy_and_falls_back_to_one_line(tmp_path, capfd, monkeypatch):
    c = errordoc.Classified("USER:X", False, "USER", "Message:\n\n    X: boom")
    assert errordoc.write(c, str(tmp_path / "a"), Storage(), redact=str, summary="boom")
    assert (tmp_path / "a" / "error.pb").exists()
    monkeypatch.setenv("_F_DES", "1")
    assert errordoc.write(c, str(tmp_path / "b"), Storage(), redact=str, summary="boom")
    (name,) = [p.name for p in (tmp_path / "b").iterdir()]
    assert name.startswith("error-") and len(name) == len("error-.pb") + 32
    blocked = tmp_path / "file"
    blocked.write_text("")
    capfd.readouterr()
    assert not errordoc.write(c, str(blocked / "out"), Storage(), redact=str, summary="boom")
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not write the error document" in err[0]
    assert "the failure was USER:X: boom" in err[0]


@pytest.mark.parametrize("value, status", [(None, 0), ("true", 1), ("0", 0), ("garbage", 1)])
def test_exit_status(monkeypatch, value, status):
    if value is None:
        monkeypatch.delenv("FLYTE_FAIL_ON_ERROR", raising=False)
    else:
        monkeypatch.setenv("FLYTE_FAIL_ON_ERROR", value)
    assert errordoc.exit_status(True) == status
    assert errordoc.exit_status(False) == 1


def test_outputs_stand_only_after_outputs_pb_in_the_last_phase(tmp_path):
    st = Storage()
    prefix = str(tmp_path)
    assert not errordoc.outputs_stand(st, prefix, Phase.WRITE_OUTPUTS)
    st.put_bytes(str(tmp_path / "outputs.pb"), b"")
    assert errordoc.outputs_stand(st, prefix, Phase.WRITE_OUTPUTS)
    assert errordoc.outputs_stand(st, prefix, "write-outputs")  # as read from the pipe
    assert not errordoc.outputs_stand(st, prefix, Phase.EXECUTE)


def test_a_late_failure_after_outputs_pb_does_not_undo_the_task(tmp_path):
    """Any failure after outputs.pb was written (here: a lost reply that makes the last put
    raise although it succeeded) leaves the task done, as the supervisor would judge it."""

    class PutThenFail(Storage):
        def put_bytes(self, url, data):
            super().put_bytes(url, data)
            if str(url).endswith("outputs.pb"):
                raise ConnectionResetError("reply lost")

    from shim.runtime.args import parse_execute_args

    s = stage_task(echo_task(int), {"x": 5}, str(tmp_path / "run"))
    assert run(parse_execute_args(s.args), storage=PutThenFail(), quiet=True) == 0
    assert read_error(s.outputs) is None


@pytest.mark.parametrize(
    "message, reason",
    [
        (
            "Trace:\n\n    Traceback ...\n    x\n\nMessage:\n\n    QueryError: near "
            '"SELEC": syntax error\n    query: SELEC 1',
            'near "SELEC": syntax error\nquery: SELEC 1',
        ),
        (
            "Trace:\n\n    last 1 lines of the worker's stderr:\n      Message:\n\nMessage:\n\n"
            "    WorkerKilled: the worker process was killed",
            "the worker process was killed",
        ),
        ("a foreign message\nwith two lines", "a foreign message\nwith two lines"),
    ],
)
def test_reason_is_the_message_part(message, reason):
    code = "USER:QueryError" if "Query" in message else "SYSTEM:WorkerKilled"
    assert reason_of(message, code) == reason
    e = TaskFailedError(code, "NON_RECOVERABLE", "USER", message)
    assert str(e) == f"{code} (NON_RECOVERABLE, USER): {reason}"


def test_error_document_round_trip_keeps_the_reason(tmp_path):
    from shim.local.runner import read_error

    c = errordoc.classify(ValueError("bad value\nsecond line"), phase="execute")
    Storage().put_bytes(str(tmp_path / "error.pb"), idl.serialize(errordoc.error_document(c)))
    e = read_error(Storage(), str(tmp_path))
    assert str(e) == "USER:ValueError (NON_RECOVERABLE, USER): bad value\nsecond line"


def test_an_error_document_with_values_this_flyteidl_does_not_name_is_read(tmp_path):
    """A newer (or corrupt) writer's kind and origin: read as UNKNOWN(n), never a crash."""
    from shim.local.runner import read_error

    doc = idl.ErrorDocument()
    doc.error.code = "USER:Future"
    doc.error.message = "from a newer writer"
    doc.error.kind = 7
    doc.error.origin = 9
    Storage().put_bytes(str(tmp_path / "error.pb"), idl.serialize(doc))
    e = read_error(Storage(), str(tmp_path))
    assert (e.kind, e.origin) == ("UNKNOWN(7)", "UNKNOWN(9)")
    assert str(e) == "USER:Future (UNKNOWN(7), UNKNOWN(9)): from a newer writer"
