"""``shim inspect`` on S3 (moto): one object, and a run directory given by its prefix."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import shim
from shim.commands import cli
from tests.support import executors as ex
from tests.support.tasks import make_task


def test_a_run_staged_on_s3_by_prefix_and_by_object(s3_bucket):
    task = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int}, name="s3.echo")
    assert shim.run_task(task, {"x": 5}, store=f"{s3_bucket}/runs") == 5
    from shim.storage import default_storage

    (task_pb,) = [u for u in default_storage().list(f"{s3_bucket}/runs") if u.endswith("task.pb")]
    run = task_pb.rsplit("/", 1)[0]
    for location in (run, run + "/"):
        r = CliRunner().invoke(cli, ["inspect", location])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["kind"] == "RunDirectory" and doc["status"] == "succeeded"
        assert doc["parts"]["outputs"]["location"] == f"{run}/outputs/outputs.pb"
    r = CliRunner().invoke(cli, ["inspect", task_pb, "--format", "table"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"kind: TaskTemplate\nlocation: {task_pb}\nname: s3.echo\n")


@pytest.mark.parametrize("suffix", ["nothing-here", "runs/nope.pb"])
def test_nothing_at_an_s3_location(s3_bucket, suffix):
    r = CliRunner().invoke(cli, ["inspect", f"{s3_bucket}/{suffix}"])
    assert r.exit_code == 1
    assert r.stderr.startswith("shim inspect: error: ") and "nothing at" in r.stderr
