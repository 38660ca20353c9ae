"""`shim execute` as a real process: outputs, error documents and exit statuses (WIRE.md 4)."""

from __future__ import annotations

import os
from pathlib import Path

from shim import idl
from shim.types import TransferContext, to_python
from tests.support import executors as ex
from tests.support.execute import (
    kind_name,
    origin_name,
    read_error,
    read_outputs,
    shim_execute,
    stage_task,
)
from tests.support.tasks import echo_task, make_task, three_outputs_task


def classification(prefix: str) -> tuple[str, str, str]:
    err = read_error(prefix)
    assert err is not None, f"no error document under {prefix}"
    return err.code, kind_name(err), origin_name(err)


def decode(lm, name, py_type, tmp_path):
    from shim.storage import default_storage

    ctx = TransferContext(
        storage=default_storage(), raw_output_prefix=str(tmp_path / "r"), scratch_dir=tmp_path
    )
    return to_python(lm.literals[name], py_type, ctx, name=name)


def test_echo_file_prefixes(tmp_path):
    s = stage_task(echo_task(int), {"x": 41}, f"file://{tmp_path}/run")
    proc = shim_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    lm = read_outputs(s.outputs)
    assert decode(lm, "y", int, tmp_path) == 41
    assert read_error(s.outputs) is None


def test_three_outputs_in_20_fresh_processes(tmp_path):
    task = three_outputs_task()
    for i in range(20):
        s = stage_task(task, {}, str(tmp_path / f"run{i}"))
        proc = shim_execute(s.args, env={"PYTHONHASHSEED": str(i)})
        assert proc.returncode == 0, proc.stderr
        lm = read_outputs(s.outputs)
        got = {n: decode(lm, n, t, tmp_path) for n, t in (("a", int), ("b", float), ("c", str))}
        assert got == {"a": 1, "b": 2.5, "c": "third"}, f"run {i}"


def test_corrupt_template(tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    Path(s.stage.template).write_bytes(b"\xff\xfe not a protobuf \x00\x01")
    proc = shim_execute(s.args)
    assert proc.returncode == 0
    code, kind, origin = classification(s.outputs)
    assert (code, kind, origin) == ("USER:TemplateCorrupt", "NON_RECOVERABLE", "USER")
    assert "Traceback" not in proc.stderr and "TemplateCorrupt" in proc.stderr


def test_missing_template(tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    os.remove(s.stage.template)
    shim_execute(s.args)
    assert classification(s.outputs) == ("USER:TemplateNotFound", "NON_RECOVERABLE", "USER")


def test_missing_inputs(tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    os.remove(s.stage.inputs)
    shim_execute(s.args)
    assert classification(s.outputs) == ("USER:InputsNotFound", "NON_RECOVERABLE", "USER")


def test_input_of_wrong_type(tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    lm = idl.LiteralMap()
    lm.literals["x"].scalar.primitive.string_value = "forty-two"
    Path(s.stage.inputs).write_bytes(idl.serialize(lm))
    shim_execute(s.args)
    assert classification(s.outputs) == ("USER:InputMismatch", "NON_RECOVERABLE", "USER")
    assert "'x'" in read_error(s.outputs).message


def test_missing_and_extra_inputs(tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    lm = idl.LiteralMap()
    lm.literals["z"].scalar.primitive.integer = 1
    Path(s.stage.inputs).write_bytes(idl.serialize(lm))
    shim_execute(s.args)
    err = read_error(s.outputs)
    assert err.code == "USER:InputMismatch"
    assert "missing inputs ['x']" in err.message and "unexpected inputs ['z']" in err.message


def test_executor_raises_value_error(tmp_path):
    s = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, str(tmp_path))
    proc = shim_execute(s.args)
    assert proc.returncode == 0
    assert classification(s.outputs) == ("USER:ValueError", "NON_RECOVERABLE", "USER")
    assert read_outputs(s.outputs) is None


def test_executor_not_importable(tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    args = [*s.args[:-1], "no_such_package.module.Executor"]
    proc = shim_execute(args)
    assert classification(s.outputs) == ("USER:ExecutorNotFound", "NON_RECOVERABLE", "USER")
    assert "no_such_package" in proc.stderr


def test_fail_on_error_sets_exit_status(tmp_path):
    s = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, str(tmp_path))
    assert shim_execute(s.args, env={"FLYTE_FAIL_ON_ERROR": "true"}).returncode == 1
    assert read_error(s.outputs).code == "USER:ValueError"


def test_distributed_error_strategy_names_file_and_worker(tmp_path):
    s = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, str(tmp_path))
    shim_execute(s.args, env={"_F_DES": "1", "_F_WN": "worker-3"})
    names = os.listdir(s.outputs)
    assert len(names) == 1 and names[0].startswith("error-") and len(names[0]) == 6 + 32 + 3
    assert read_error(s.outputs).worker == "worker-3"


def test_unwritable_error_location_exits_nonzero_with_one_line(tmp_path):
    s = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, str(tmp_path))
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    args = list(s.args)
    args[args.index("--output-prefix") + 1] = str(blocked / "out")
    proc = shim_execute(args)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "could not write the error document" in last and "USER:ValueError" in last


def test_missing_output_prefix_is_a_usage_failure(tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    args = list(s.args)
    args[args.index("--output-prefix") + 1] = "{{.outputPrefix}}"
    proc = shim_execute(args)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


def test_retry_on_same_prefix_ends_clean(tmp_path):
    bad = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, str(tmp_path))
    shim_execute(bad.args)
    assert read_error(bad.outputs) is not None
    good = stage_task(echo_task(int), {"x": 5}, str(tmp_path))
    assert shim_execute(good.args).returncode == 0
    assert read_error(good.outputs) is None and read_outputs(good.outputs) is not None
