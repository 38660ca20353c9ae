"""The function-task snippets of README.md and docs/plugins.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

import shim
from shim.commands import cli

REPO = Path(__file__).resolve().parents[2]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_function_task_example(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Function tasks and environments", 1)[1].split("\n## ", 1)[0]
    (code,) = python_blocks(section)
    path = tmp_path / "readme_etl.py"
    path.write_text(code)
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "runs"))
    r = CliRunner().invoke(cli, ["run", f"{path}:count", "-i", "word= Hello "])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "5"
    r = CliRunner().invoke(cli, ["run", f"{path}:total", "-i", 'words=["a", "bb "]'])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "3"


def test_plugins_guide_command(tmp_path, monkeypatch):
    guide = (REPO / "docs" / "plugins.md").read_text()
    (cmd,) = re.findall(r"`(shim run examples/plugins/tasks\.py:\S+ -i \S+)`", guide)
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "runs"))
    r = CliRunner().invoke(cli, cmd.split()[1:])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "5"


def test_plugins_guide_echo_example():
    blocks = python_blocks((REPO / "docs" / "plugins.md").read_text())
    namespace: dict = {"__name__": "guide"}
    exec(blocks[1], namespace)  # the environment using the example plugin
    pb = shim.to_idl(namespace["greet"])
    assert pb.type == "echo" and dict(pb.custom) == {"message": "hello", "repeat": 1.0}


def test_readme_function_task_calls_as_written(tmp_path, monkeypatch):
    """The section's inline calls: the plain call, `shim.run(count, word="x")`, and
    `shim inspect <output prefix>/trace.json` on the run's spans."""
    import importlib
    import json

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Function tasks and environments", 1)[1].split("\n## ", 1)[0]
    (code,) = python_blocks(section)
    (tmp_path / "readme_etl_calls.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "runs"))
    mod = importlib.import_module("readme_etl_calls")
    (call,) = re.findall(r"`(shim\.run\(count, [^`]*\))`", section)
    assert mod.count("x") == 1  # outside a running task: the plain function
    assert eval(call, {"shim": shim, "count": mod.count}) == 1
    assert shim.with_runcontext(name="readme-count").run(mod.count, word=" Hi ") == 2
    assert "`shim inspect <output prefix>/trace.json`" in section
    trace_json = tmp_path / "runs" / "readme-count" / "outputs" / "trace.json"
    r = CliRunner().invoke(cli, ["inspect", str(trace_json)])
    assert r.exit_code == 0, r.output
    (span,) = json.loads(r.stdout)["document"]["spans"]
    assert span["name"].endswith(".clean") and span["outputs"] == "hi"


def test_plugins_guide_runs_a_plugin_through_each_local_form(tmp_path, monkeypatch):
    """docs/plugins.md: shim.run and with_runcontext(runner="subprocess") run a plugin task,
    its pre and post inside the execution (the report post writes is next to the outputs)."""
    guide = (REPO / "docs" / "plugins.md").read_text()
    assert 'shim.with_runcontext(runner="subprocess").run(task, **inputs)' in guide
    monkeypatch.syspath_prepend(str(REPO))
    from examples.plugins import tasks as examples

    store = tmp_path / "runs"
    assert shim.with_runcontext(store=str(store), name="direct").run(examples.count_rows, n=5) == 5
    assert (
        shim.with_runcontext(store=str(store), name="sub", runner="subprocess").run(
            examples.count_rows, n=3
        )
        == 3
    )
    for name in ("direct", "sub"):
        assert (store / name / "outputs" / "scratch-db.json").exists()
