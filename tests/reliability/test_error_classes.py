"""Failures are classified by what a retry can fix (README, "Errors").

A value that cannot be encoded or decoded fails the same way on every attempt: it is
NON_RECOVERABLE, named by its variable, whatever the converter raised. Local OS errors a
retry cannot fix (a path too long, a directory where a file goes) are NON_RECOVERABLE too;
a full disk stays RECOVERABLE (another node may have room).
"""

from __future__ import annotations

import enum
import errno
from pathlib import Path

import pytest

from shim import DataFrame, idl
from shim.errors import StorageError
from shim.runtime.errordoc import classify
from shim.storage import Storage
from shim.storage.local import retry_can_fix
from tests.reliability import executors as rex
from tests.reliability.helpers import (
    classification,
    error_message,
    make_task,
    read_outputs,
    run_execute,
)
from tests.support.execute import stage_task


def failed(tmp_path: Path, task, inputs: dict, supervise: bool = False, args=None):
    s = stage_task(task, inputs, str(tmp_path / "run"))
    proc = run_execute(args(s) if args else s.args, supervise=supervise)
    assert proc.returncode == 0, proc.stderr
    assert read_outputs(s.outputs) is None
    return s


@pytest.mark.parametrize("supervise", [False, True])
def test_untyped_dict_with_an_int_above_64_bits(tmp_path, supervise):
    task = make_task(rex.BadOutputs, inputs={"what": str}, outputs={"o": dict})
    s = failed(tmp_path, task, {"what": "bigint"}, supervise)
    assert classification(s.outputs) == ("SYSTEM:OutputMismatch", "NON_RECOVERABLE", "SYSTEM")
    msg = error_message(s.outputs)
    assert "output 'o'" in msg and "OverflowError" in msg


def test_arrow_conversion_error(tmp_path):
    task = make_task(rex.BadOutputs, inputs={"what": str}, outputs={"o": DataFrame})
    s = failed(tmp_path, task, {"what": "arrow"})
    assert classification(s.outputs) == ("SYSTEM:OutputMismatch", "NON_RECOVERABLE", "SYSTEM")
    msg = error_message(s.outputs)
    assert "output 'o'" in msg and "Arrow" in msg


class Odd(enum.Enum):
    """Legal Flyte enum values that Python cannot use as member names."""

    MRO = "mro"
    EMPTY = ""
    DUNDER = "__init__"
    PLAIN = "plain"


@pytest.mark.parametrize("value", list(Odd))
def test_enum_values_python_cannot_name_round_trip(tmp_path, value):
    task = make_task(rex.Echo, inputs={"c": Odd}, outputs={"c": Odd}, name="tests.odd_enum")
    s = stage_task(task, {"c": value}, str(tmp_path / "run"))
    proc = run_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    out = read_outputs(s.outputs)
    assert out is not None, error_message(s.outputs)
    assert out.literals["c"].scalar.primitive.string_value == value.value


def test_unknown_legacy_schema_column_type(tmp_path):
    """A template whose output is a legacy schema with a column type shimkit does not know
    (a newer flyteidl): the template's problem, USER and not retried; no KeyError."""
    task = make_task(rex.BadOutputs, inputs={"what": str}, outputs={"o": DataFrame})
    s = stage_task(task, {"what": "arrow"}, str(tmp_path / "run"))
    tt = idl.TaskTemplate()
    tt.ParseFromString(Path(s.stage.template).read_bytes())
    lt = tt.interface.outputs.variables["o"].type
    lt.Clear()
    lt.schema.columns.add(name="when", type=4)
    lt.schema.columns.add(name="blob", type=99)
    Path(s.stage.template).write_bytes(idl.serialize(tt))
    proc = run_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    assert classification(s.outputs) == ("USER:UnsupportedType", "NON_RECOVERABLE", "USER")
    assert "'blob'" in error_message(s.outputs) and "KeyError" not in error_message(s.outputs)


def test_raw_output_path_too_long_is_not_retried(tmp_path):
    """ENAMETOOLONG while uploading outputs: the same path fails on every attempt."""
    task = make_task(rex.OneFile, inputs={"kb": int}, outputs={"f": rex.File})

    def long_raw(s):
        args = list(s.args)
        args[args.index("--raw-output-data-prefix") + 1] = str(tmp_path / ("r" * 300))
        return args

    s = failed(tmp_path, task, {"kb": 1}, args=long_raw)
    assert classification(s.outputs) == ("SYSTEM:StorageError", "NON_RECOVERABLE", "SYSTEM")
    assert "File name too long" in error_message(s.outputs)


def test_local_storage_errors_by_errno(tmp_path):
    """Real failures of local operations: a name too long and a directory where the object
    goes cannot pass on a retry."""
    st = Storage()
    with pytest.raises(StorageError) as e:
        st.put_bytes(str(tmp_path / ("n" * 300)), b"x")
    assert e.value.recoverable is False and "File name too long" in str(e.value)
    (tmp_path / "dir").mkdir()
    with pytest.raises(StorageError) as e:
        st.put_bytes(str(tmp_path / "dir"), b"x")
    assert e.value.recoverable is False


@pytest.mark.parametrize(
    "code, recoverable",
    [
        pytest.param(getattr(errno, name), ok, id=name)
        for name, ok in [
            ("ENAMETOOLONG", False),
            ("EINVAL", False),
            ("EACCES", False),
            ("EPERM", False),
            ("EROFS", False),
            ("ENOTDIR", False),
            ("EISDIR", False),
            ("ENOSPC", True),
            ("EIO", True),
            ("EMFILE", True),
            ("EAGAIN", True),
        ]
    ],
)
def test_os_errors_outside_the_executor(code, recoverable):
    exc = OSError(code, "simulated")
    assert retry_can_fix(exc) is recoverable
    c = classify(exc, phase="write-outputs")
    assert (c.code, c.recoverable, c.origin) == (
        f"SYSTEM:{type(exc).__name__}",
        recoverable,
        "SYSTEM",
    )
    # raised by the executor itself, it is the task's failure, never retried
    assert classify(exc, phase="execute").recoverable is False
