"""`shim execute` end to end with every prefix on S3 (moto server over HTTP on loopback)."""

from __future__ import annotations

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


def test_echo_on_s3(s3_env, s3_bucket, tmp_path):
    s = stage_task(echo_task(str), {"x": "over s3"}, f"{s3_bucket}/run1")
    proc = shim_execute(s.args, env=s3_env)
    assert proc.returncode == 0, proc.stderr
    lm = read_outputs(s.outputs)
    from shim.storage import default_storage

    ctx = TransferContext(
        storage=default_storage(), raw_output_prefix=f"{s3_bucket}/r", scratch_dir=tmp_path
    )
    assert to_python(lm.literals["y"], str, ctx, name="y") == "over s3"


def test_three_outputs_on_s3(s3_env, s3_bucket):
    s = stage_task(three_outputs_task(), {}, f"{s3_bucket}/run2")
    assert shim_execute(s.args, env=s3_env).returncode == 0
    lm = read_outputs(s.outputs)
    assert lm.literals["a"].scalar.primitive.integer == 1
    assert lm.literals["c"].scalar.primitive.string_value == "third"


def test_error_document_on_s3(s3_env, s3_bucket):
    s = stage_task(make_task(ex.RaisesValueError, outputs={"y": int}), {}, f"{s3_bucket}/run3")
    assert shim_execute(s.args, env=s3_env).returncode == 0
    err = read_error(s.outputs)
    assert (err.code, kind_name(err), origin_name(err)) == (
        "USER:ValueError",
        "NON_RECOVERABLE",
        "USER",
    )


def test_unreachable_storage_is_system_recoverable(s3_env, tmp_path):
    s = stage_task(echo_task(int), {"x": 1}, str(tmp_path))
    args = list(s.args)
    args[args.index("--inputs") + 1] = "s3://bucket/inputs.pb"
    env = dict(
        s3_env,
        FLYTE_AWS_ENDPOINT="http://127.0.0.1:9",
        SHIM_STORAGE_DEADLINE="3",
        SHIM_STORAGE_RETRIES="3",
    )
    proc = shim_execute(args, env=env)
    assert proc.returncode == 0, proc.stderr
    err = read_error(s.outputs)
    assert (err.code, kind_name(err), origin_name(err)) == (
        "SYSTEM:StorageError",
        "RECOVERABLE",
        "SYSTEM",
    )
