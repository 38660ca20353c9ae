"""``shim inspect`` reads every member of a ``pyflyte package`` archive: tasks (TaskSpec),
workflows (WorkflowSpec) and launch plans (LaunchPlan), packaged by flytekit itself.

Before, only TaskSpec members were read; a workflow or launch plan member showed as
``Unknown`` with no content."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

FLOWS = """
from flytekit import CronSchedule, LaunchPlan, task, workflow


@task
def double(x: int) -> int:
    return 2 * x


@task
def label(n: int, prefix: str) -> str:
    return f"{prefix}{n}"


@workflow
def pipeline(x: int = 3, prefix: str = "n=") -> str:
    return label(n=double(x=x), prefix=prefix)


nightly = LaunchPlan.get_or_create(
    pipeline,
    name="flows.nightly",
    fixed_inputs={"prefix": "night:"},
    schedule=CronSchedule(schedule="0 3 * * *"),
)
"""


def shim_inspect(path: Path, fmt: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "shim", "inspect", "--format", fmt, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def archive(fk, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pyflyte-workflows")
    (root / "flows").mkdir()
    (root / "flows" / "__init__.py").write_text("")
    (root / "flows" / "jobs.py").write_text(textwrap.dedent(FLOWS))
    proc = fk.command(
        "pyflyte", "--pkgs", "flows", "package", "--image", "example.com/i:1", "-f", "-o",
        "fk.tgz", cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "fk.tgz"


def test_every_member_has_its_kind(archive):
    doc = json.loads(shim_inspect(archive, "json"))
    kinds = {m["member"].split("_", 1)[1]: m["kind"] for m in doc["members"]}
    assert kinds == {
        "flows.jobs.double_1.pb": "TaskSpec",
        "flows.jobs.label_1.pb": "TaskSpec",
        "flows.jobs.pipeline_2.pb": "WorkflowSpec",
        "flows.jobs.pipeline_3.pb": "LaunchPlan",  # the workflow's default launch plan
        "flows.nightly_3.pb": "LaunchPlan",
    }
    by_name = {m["member"].split("_", 1)[1]: m["document"] for m in doc["members"]}
    workflow = by_name["flows.jobs.pipeline_2.pb"]["template"]
    assert workflow["id"]["name"] == "flows.jobs.pipeline"
    nightly = by_name["flows.nightly_3.pb"]["spec"]
    assert nightly["workflow_id"]["name"] == "flows.jobs.pipeline"
    assert nightly["entity_metadata"]["schedule"]["cron_schedule"]["schedule"] == "0 3 * * *"


def test_table_shows_nodes_defaults_and_fixed_inputs(archive):
    text = shim_inspect(archive, "table")
    assert "(Unknown)" not in text
    lines = [line.strip() for line in text.splitlines()]
    member = lines.index(next(x for x in lines if x.endswith("pipeline_2.pb (WorkflowSpec)")))
    name, inputs, outputs = lines[member + 1 : member + 4]
    assert name == "name: flows.jobs.pipeline"
    assert inputs.startswith("inputs: ")  # in the order of the interface's protobuf map
    assert set(inputs.removeprefix("inputs: ").split(", ")) == {"x: integer", "prefix: string"}
    assert outputs == "outputs: o0: string"
    assert "n0: task flows.jobs.double" in lines and "n1: task flows.jobs.label" in lines
    nightly = lines.index(next(x for x in lines if x.endswith("nightly_3.pb (LaunchPlan)")))
    assert lines[nightly + 1 : nightly + 6] == [
        "name: flows.nightly",
        "workflow: flows.jobs.pipeline",
        "inputs: x = 3",
        'fixed inputs: prefix = "night:"',
        "schedule: 0 3 * * *",
    ]
