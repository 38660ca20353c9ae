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
