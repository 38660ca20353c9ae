"""Function tasks through the subprocess runner, `shim run`, `shim package` and `shim execute`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import shim
from shim import TaskFailedError
from shim.commands import cli
from shim.package import read_package
from tests.support import fn_tasks as t

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> str:
    return str(tmp_path / "runs")


def test_subprocess_runner(store):
    assert shim.run_task(t.add, {"a": 1, "b": 2}, runner="subprocess", store=store) == 3
    assert shim.run_task(t.double, {"x": 21}, runner="subprocess", store=store) == 42
    assert shim.run_task(t.fan_out, {"n": 3}, runner="subprocess", store=store) == [0, 2, 4]
    assert shim.run_task(t.catches_child, {"message": "m"}, runner="subprocess", store=store) == (
        "caught ChildFailed USER:ChildFailed"
    )
    assert shim.run_task(t.environ, {"name": "FN_ENV"}, runner="subprocess", store=store) == (
        "from-env"
    )
    with pytest.raises(TaskFailedError) as e:
        shim.run_task(t.fails, {"message": "boom"}, runner="subprocess", store=store)
    assert e.value.code == "USER:ChildFailed"


def test_subprocess_runner_writes_traces(store):
    shim.run_task(t.traced, {"x": 2}, runner="subprocess", store=store)
    (doc,) = [json.loads(p.read_text()) for p in Path(store).glob("*/outputs/trace.json")]
    assert doc["task"] == "fn.traced" and len(doc["spans"]) >= 6


TASK_FILE = """
import asyncio
from shim import TaskEnvironment

env = TaskEnvironment(name="cli")

@env.task
def scale(x: int, factor: int = 3) -> int:
    return x * factor

@env.task
async def total(n: int) -> int:
    return sum(await asyncio.gather(*(scale.aio(i) for i in range(n))))
"""


@pytest.mark.parametrize("runner", ["inprocess", "subprocess"])
def test_shim_run_function_task_file(tmp_path, monkeypatch, runner):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    path = tmp_path / "cli_fn_tasks.py"
    path.write_text(TASK_FILE)
    r = CliRunner().invoke(cli, ["run", f"{path}:scale", "-i", "x=4", "--runner", runner])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "12"  # the default factor applies
    r = CliRunner().invoke(cli, ["run", f"{path}:total", "-i", "n=4", "--runner", runner])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "18"


def test_shim_package_function_tasks(tmp_path):
    pkg = tmp_path / "src" / "flows"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "jobs.py").write_text(TASK_FILE)
    out = tmp_path / "p.tgz"
    r = CliRunner().invoke(
        cli,
        [
            "package",
            "--pkgs",
            "flows",
            "--source",
            str(tmp_path / "src"),
            "--image",
            "reg/img:1",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    members = dict(read_package(out))
    assert sorted(members) == ["0_cli.scale_1.pb", "1_cli.total_1.pb"]
    tt = members["0_cli.scale_1.pb"].template
    assert tt.type == "python-task" and tt.container.image == "reg/img:1"
    assert list(tt.container.args)[-4:] == ["task-module", "flows.jobs", "task-name", "scale"]


def test_shim_execute_runs_a_staged_function_task(tmp_path):
    """The cluster's path by hand: task.pb and inputs.pb on disk, `shim execute` in a fresh
    process with the code on PYTHONPATH (as an image provides it)."""
    from tests.support.execute import read_outputs, shim_execute, stage_task

    staged = stage_task(t.add, {"a": 2, "b": 5}, str(tmp_path))
    proc = shim_execute(staged.args)
    assert proc.returncode == 0, proc.stderr
    assert read_outputs(staged.outputs).literals["o0"].scalar.primitive.integer == 7


#: what a plain sync function task's `shim execute` must not import (start-up is a feature:
#: bench/functions.py holds it to 0.15x flytekit's @task); each is needed on another path only
NOT_ON_THE_LEAN_PATH = (
    "asyncio",  # async bodies, plugins' pre/post, nested gather
    "msgpack",  # dict and dataclass values
    "hashlib",  # cache="auto" versions
    "socket",  # the error document's worker name
    "uuid",  # distributed error file names
    "pyarrow",
    "pandas",
    "s3fs",
)


def test_a_plain_function_task_starts_lean(tmp_path):
    from tests.support import fn_noop
    from tests.support.execute import read_outputs, shim_execute, stage_task

    staged = stage_task(fn_noop.noop, {"x": 4}, str(tmp_path))
    proc = shim_execute(["--no-supervise", *staged.args], env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0, proc.stderr
    assert read_outputs(staged.outputs).literals["o0"].scalar.primitive.integer == 4
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "shim" in imported  # the report is there
    assert sorted(imported & set(NOT_ON_THE_LEAN_PATH)) == []


def test_module_missing_in_the_image_is_a_clear_user_error(tmp_path):
    from tests.support.execute import read_error, stage_task

    staged = stage_task(t.add, {"a": 2, "b": 5}, str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "shim", "execute", "--no-supervise", *staged.args],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # the repository is not on sys.path: the module is missing
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    err = read_error(staged.outputs)
    assert err.code == "USER:TaskNotFound"
    assert "tests.support.fn_tasks" in err.message and "not importable" in err.message


def test_run_target_that_is_not_a_task(tmp_path, monkeypatch):
    path = tmp_path / "cli_not_task.py"
    path.write_text("x = 1\n")
    r = CliRunner().invoke(cli, ["run", f"{path}:x"])
    assert r.exit_code == 2 and "not a shimkit task" in r.stderr


def test_script_with_runner_subprocess_in_a_package(tmp_path):
    """A task in a package module, run from another directory through a subprocess."""
    pkg = tmp_path / "proj" / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "flows.py").write_text(TASK_FILE)
    code = textwrap.dedent(
        """
        import shim
        from mypkg.flows import total
        print(shim.run_task(total, {"n": 3}, runner="subprocess"))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path / "proj",
        env={"PATH": "/usr/bin:/bin", "SHIM_LOCAL_STORE": str(tmp_path / "runs")},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "9"
