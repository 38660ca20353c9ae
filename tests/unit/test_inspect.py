"""``shim inspect`` on every artifact shimkit writes: single documents (by content), a
``shim package`` archive, run directories (succeeded, failed, traced, a connector's), JSON
and table output, the kind always shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import shim
from shim import idl
from shim.commands import cli
from shim.package import package
from tests.support import executors as ex
from tests.support import fn_tasks as fn
from tests.support.tasks import make_task

ECHO = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int}, name="insp.echo")
FAILS = make_task(ex.RaisesValueError, outputs={"y": int}, name="insp.fails")


def inspect(*args: str):
    return CliRunner().invoke(cli, ["inspect", *args])


def as_json(*args: str) -> dict:
    r = inspect(*args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def kinds_everywhere(doc: dict) -> list[str]:
    """The kind of the answer and of every document inside it (each has one)."""
    out = [doc["kind"]]
    for m in doc.get("members", []):
        out += kinds_everywhere(m)
    for part in doc.get("parts", {}).values():
        out += kinds_everywhere(part)
    return out


def only_run(store: Path) -> Path:
    (run,) = [p for p in store.iterdir() if p.is_dir()]
    return run


@pytest.fixture
def pkg(tmp_path, monkeypatch) -> Path:
    mod = tmp_path / "src" / "insp_tasks.py"
    mod.parent.mkdir()
    mod.write_text(
        "from tests.support import executors as ex\n"
        "from tests.support.tasks import make_task\n"
        "a = make_task(ex.EchoExecutor, inputs={'x': int}, outputs={'y': int}, name='insp.a')\n"
        "b = make_task(ex.NoOpExecutor, name='insp.b')\n"
    )
    out = tmp_path / "flyte-package.tgz"
    package(["insp_tasks"], out, source=tmp_path / "src", images=["reg.example.com/x:1"])
    return out


def test_a_package_shows_each_task_spec(pkg):
    doc = as_json(str(pkg))
    assert doc["kind"] == "Package" and doc["location"] == str(pkg)
    assert [m["member"] for m in doc["members"]] == ["0_insp.a_1.pb", "1_insp.b_1.pb"]
    assert kinds_everywhere(doc) == ["Package", "TaskSpec", "TaskSpec"]
    template = doc["members"][0]["document"]["template"]
    assert template["id"]["name"] == "insp.a"
    assert template["container"]["image"] == "reg.example.com/x:1"
    table = inspect(str(pkg), "--format", "table").stdout
    assert table.startswith("kind: Package\n")
    assert "- 0_insp.a_1.pb (TaskSpec)" in table and "- 1_insp.b_1.pb (TaskSpec)" in table
    assert "image: reg.example.com/x:1" in table
    assert "runs: tests.support.executors.EchoExecutor" in table
    assert "inputs: x: integer" in table


def test_one_member_of_a_package_is_a_task_spec(pkg, tmp_path):
    from shim.package import read_package

    (name, spec), _ = read_package(pkg)
    for file_name in (name, "blob"):  # by content; the member's name is only a hint
        (tmp_path / file_name).write_bytes(idl.serialize(spec))
        doc = as_json(str(tmp_path / file_name))
        assert doc["kind"] == "TaskSpec"
        assert doc["document"]["template"]["id"]["name"] == "insp.a"


def test_workflow_and_launch_plan_members_and_an_unknown_one(tmp_path):
    """(pyflyte's own archives: tests/interop/test_inspect_pyflyte_package.py.) A member that
    is no document shimkit reads stays ``Unknown``; the others keep their kinds."""
    import gzip
    import io
    import tarfile

    wf = idl.WorkflowSpec()
    wf.template.id.name = "flows.wf"
    wf.template.interface.inputs.variables["x"].type.simple = idl.SimpleType.INTEGER
    lp = idl.LaunchPlan()
    lp.id.name = "flows.hourly"
    lp.spec.workflow_id.name = "flows.wf"
    lp.spec.entity_metadata.schedule.rate.value = 2
    lp.spec.entity_metadata.schedule.rate.unit = 1  # HOUR
    param = lp.spec.default_inputs.parameters["x"]
    param.required = True
    members = {
        "0_flows.wf_2.pb": idl.serialize(wf),
        "1_flows.hourly_3.pb": idl.serialize(lp),
        "2_notes_2.pb": b"\xff\x00 not a protobuf",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    archive = tmp_path / "mixed.tgz"
    archive.write_bytes(gzip.compress(buf.getvalue()))

    doc = as_json(str(archive))
    assert kinds_everywhere(doc) == ["Package", "WorkflowSpec", "LaunchPlan", "Unknown"]
    table = inspect(str(archive), "--format", "table").stdout.splitlines()
    assert "    inputs: x: integer" in table and "    nodes: 0" in table
    assert "    workflow: flows.wf" in table and "    schedule: every 2 hour(s)" in table
    assert "    inputs: x (required)" in table
    unknown = table.index("- 2_notes_2.pb (Unknown)")
    assert table[unknown + 1] == "    (not a document shimkit reads)"


def test_a_succeeded_run_directory(tmp_path):
    store = tmp_path / "runs"
    assert shim.run_task(ECHO, {"x": 41}, store=str(store)) == 41
    run = only_run(store)
    doc = as_json(str(run))
    assert doc["kind"] == "RunDirectory" and doc["status"] == "succeeded"
    assert set(doc["parts"]) >= {"template", "inputs", "outputs"} and "error" not in doc["parts"]
    assert doc["parts"]["template"]["kind"] == "TaskTemplate"
    assert doc["parts"]["inputs"]["document"]["literals"]["x"]["scalar"]["primitive"] == {
        "integer": "41"
    }
    table = inspect(str(run), "-f", "table").stdout
    assert table.startswith("kind: RunDirectory\n")
    assert "status: succeeded" in table
    assert "inputs (LiteralMap, inputs.pb):\n    x = 41" in table
    assert "outputs (LiteralMap, outputs.pb):\n    y = 41" in table


def test_a_failed_run_directory_shows_the_error_and_no_inputs(tmp_path):
    store = tmp_path / "runs"
    with pytest.raises(shim.TaskFailedError):
        shim.run_task(FAILS, {}, store=str(store))
    run = only_run(store)
    doc = as_json(str(run))
    assert doc["status"] == "failed (USER:ValueError)"
    assert doc["parts"]["error"]["kind"] == "ErrorDocument"
    assert doc["parts"]["inputs"]["kind"] == "LiteralMap"  # no inputs: an empty map, 0 bytes
    assert "Traceback" in doc["parts"]["error"]["document"]["error"]["message"]
    table = inspect(str(run), "-f", "table").stdout
    assert "USER:ValueError (NON_RECOVERABLE, USER): bad value in user logic" in table
    assert "(no values)" in table
    assert "Traceback" not in table  # the trace is in --format json
    # the error document on its own
    err = as_json(str(run / "outputs" / "error.pb"))
    assert err["kind"] == "ErrorDocument"


def test_a_traced_run_shows_its_spans(tmp_path):
    store = tmp_path / "runs"
    shim.run_task(fn.traced, {"x": 3}, store=str(store))
    run = only_run(store)
    doc = as_json(str(run))
    assert doc["parts"]["trace"]["kind"] == "Trace"
    assert doc["parts"]["trace"]["document"]["task"] == "fn.traced"
    table = inspect(str(run), "-f", "table").stdout
    assert "trace (Trace, trace.json):" in table
    assert "task: fn.traced, 7 spans" in table
    assert "\n      trace tests.support.fn_tasks.square: " in table  # nested in async_square
    assert "trace tests.support.fn_tasks.broken: " in table and ", error KeyError" in table
    trace = as_json(str(run / "outputs" / "trace.json"))
    assert trace["kind"] == "Trace" and trace["document"]["spans"]


def test_a_connector_run_directory(tmp_path):
    from shim.connectors.local import RunState

    run = tmp_path / "runs" / "r1"
    (run / "connector").mkdir(parents=True)
    (run / "task.pb").write_bytes(shim.to_bytes(ECHO))
    state = RunState(
        run="r1",
        task_type="filejob",
        task_type_version=0,
        connector="Files",
        max_attempts=3,
        status="running",
        resource_meta="e30=",
    )
    (run / "connector" / "state.json").write_bytes(state.to_json())
    doc = as_json(str(run))
    assert doc["status"] == "connector job running"
    assert doc["parts"]["connector"]["kind"] == "ConnectorState"
    table = inspect(str(run), "-f", "table").stdout
    assert "connector (ConnectorState, state.json):" in table
    assert "status: running, attempt 1/3" in table


def test_timings_when_a_run_has_them(tmp_path, monkeypatch):
    store = tmp_path / "runs"
    shim.run_task(ECHO, {"x": 1}, store=str(store))
    assert "timings" not in as_json(str(only_run(store)))["parts"]  # only with SHIM_TIMINGS
    monkeypatch.setenv("SHIM_TIMINGS", "1")
    timed = tmp_path / "timed"
    shim.run_task(ECHO, {"x": 1}, store=str(timed))
    run = only_run(timed)
    part = as_json(str(run))["parts"]["timings"]
    assert part["kind"] == "Timings" and part["location"] == f"{run}/outputs/timings.json"
    phases = part["document"]["timings"]
    assert {"load-template", "read-inputs", "execute", "write-outputs"} <= phases.keys()
    assert part["document"]["total"] == pytest.approx(sum(phases.values()), abs=1e-5)
    assert part["document"]["total"] > 0
    table = inspect(str(run), "--format", "table").stdout
    assert "timings (Timings, timings.json):" in table and "    execute: " in table


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: p.mkdir(), "not a run directory"),
        (lambda p: p.write_text('{"some": "json"}'), "is JSON but not a document"),
        (lambda p: p.write_bytes(b"\x1f\x8bnot gzip at all"), "not a package archive"),
    ],
)
def test_what_is_not_shimkits_is_refused_clearly(tmp_path, make, needle):
    target = tmp_path / "thing"
    make(target)
    r = inspect(str(target))
    assert r.exit_code == 1
    assert r.stderr.startswith("shim inspect: error: ") and needle in r.stderr
