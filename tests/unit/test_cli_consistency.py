"""Every ``shim`` command follows one rule: errors are ``shim <command>: error: ...`` on
stderr (a usage error adds ``(see 'shim <command> --help')``); exit status 0 done, 1 failed,
2 a wrong command line; ``-i`` means ``--input`` wherever it exists."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shim.commands import cli

REPO = Path(__file__).resolve().parents[2]

TASKS = """
from tests.support import executors as ex
from tests.support.tasks import make_task

echo = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int}, name="cc.echo")
fails = make_task(ex.RaisesValueError, outputs={"y": int}, name="cc.fails")
"""


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the tree (groups included)."""
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append((*path, name))
        if isinstance(cmd, click.Group):
            out += commands(cmd, (*path, name))
    return out


ALL = commands()


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def assert_error(r, path: tuple[str, ...], code: int, needle: str = "") -> None:
    name = " ".join(("shim", *path))
    assert r.exit_code == code, (r.exit_code, r.output)
    lines = r.stderr.splitlines()
    assert lines and lines[0].startswith(f"{name}: error: "), r.stderr
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.output
    if code == 2:
        assert lines[-1] == f"(see '{name} --help')", r.stderr


def test_the_tree_is_what_the_docs_list():
    assert set(ALL) >= {
        ("execute",),
        ("run",),
        ("inspect",),
        ("package",),
        ("executors",),
        ("images",),
        ("images", "build"),
        ("images", "list"),
        ("connectors",),
        ("connectors", "serve"),
        ("connectors", "status"),
        ("runs",),
        ("runs", "list"),
        ("runs", "show"),
        ("runs", "clean"),
        ("runs", "resume"),
        ("new",),
        ("new", "executor"),
    }


@pytest.mark.parametrize("path", [p for p in ALL if p != ("execute",)], ids=" ".join)
def test_help_exits_0(path):
    r = invoke(*path, "--help")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Usage: shim {' '.join(path)}")


@pytest.mark.parametrize("path", [p for p in ALL if p != ("execute",)], ids=" ".join)
def test_an_unknown_option_is_a_usage_error(path):
    assert_error(invoke(*path, "--bogus"), path, 2, "--bogus")


def test_an_unknown_command_is_a_usage_error():
    r = invoke("nosuch")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "shim: error: No such command 'nosuch'.",
        "(see 'shim --help')",
    ]


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cctasks.py").write_text(TASKS)
    (tmp_path / "notasks.py").write_text("x = 1\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    return tmp_path


# (command path, arguments, exit status, a piece of the message)
USAGE = [
    (("run",), ["cctasks.py:nope"], "tasks in cctasks.py: echo, fails"),
    (("run",), ["cctasks.py"], "name the task to run"),
    (("run",), ["missing.py:x"], "no such file"),
    (("run",), ["cctasks.py:echo", "-i", "x=abc"], "expected int"),
    (("run",), ["cctasks.py:echo", "-i", "z=1"], "has no input 'z'; its inputs: x"),
    (("run",), ["cctasks.py:echo", "-i", "x"], "must be NAME=VALUE"),
    (("run",), ["cctasks.py:echo", "--runner", "cloud"], "'cloud' is not one of"),
    (("run",), ["nomodule_here:echo"], "cannot import module 'nomodule_here'"),
    (("run",), ["notasks.py:x"], "notasks.py defines no shimkit task"),
    (("inspect",), [], "Missing argument 'LOCATION'"),
    (("package",), [], "name the modules or packages"),
    (("package",), ["-i", "img:1", "cctasks"], "-i means --input in shim"),
    (("package",), ["no_such_module_xyz"], "no module named 'no_such_module_xyz'"),
    (("images", "build"), ["nosuchimage"], "unknown image(s) nosuchimage"),
    (("images", "build"), ["empty"], "--tag is needed to build the directory empty"),
    (("images", "build"), ["base", "sqlite3", "--tag", "x:1"], "--tag needs exactly one"),
    (("connectors", "serve"), ["--host", "0.0.0.0"], "refusing to serve without TLS"),
    (("new", "executor"), ["Bad Name"], "not a usable name"),
    (("runs", "show"), ["no-such-run"], "no run 'no-such-run'"),
    (("runs", "resume"), ["no-such-run"], "no run 'no-such-run'"),
    (("run",), ["cctasks.py:echo", "-i", "x=1", "--name", "bad name"], "run name"),
    (("new", "executor"), ["greet", "--dir", "full"], "already exists and is not empty"),
]


@pytest.mark.parametrize("path, args, needle", USAGE, ids=lambda v: str(v))
def test_usage_errors_exit_2(files, path, args, needle):
    assert_error(invoke(*path, *args), path, 2, needle)


FAILED = [
    (("run",), ["cctasks.py:fails"], {}, "task failed: USER:ValueError (NON_RECOVERABLE, USER)"),
    (("inspect",), ["nope.pb"], {}, "nope.pb"),
    (("inspect",), ["empty"], {}, "not a run directory"),
    (("package",), ["notasks.py"], {}, "no shimkit tasks were found"),
    (("connectors", "status"), ["empty"], {}, "empty"),
    (
        ("images", "build"),
        ["base"],
        {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        "cannot reach a container engine at unix:///nonexistent/docker.sock",
    ),
]


@pytest.mark.parametrize("path, args, env, needle", FAILED, ids=lambda v: str(v))
def test_failures_exit_1(files, path, args, env, needle):
    assert_error(invoke(*path, *args, env=env), path, 1, needle)


def test_a_port_in_use_is_a_failure_not_a_usage_error(files):
    pytest.importorskip("grpc")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = invoke("connectors", "serve", "--port", str(port))
    assert_error(r, ("connectors", "serve"), 1, "cannot listen on")


def test_dash_i_is_input_wherever_it_exists():
    """Every visible -i of every command is --input."""
    seen = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        for p in cmd.params:
            if isinstance(p, click.Option) and "-i" in p.opts and not p.hidden:
                seen.append((path, p.name, tuple(p.opts)))
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))

    walk(cli, ())
    assert seen == [(("run",), "inputs", ("-i", "--input"))]


# --- the real program (python -m shim), shim execute included ---------------------------------


def shim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shim", *args], cwd=REPO, capture_output=True, text=True
    )


def test_the_program_uses_the_same_form():
    p = shim("run", "--bogus")
    assert p.returncode == 2
    assert p.stderr.splitlines()[0].startswith("shim run: error: ")
    p = shim("inspect", "/nonexistent/x.pb")
    assert p.returncode == 1 and p.stderr.startswith("shim inspect: error: ")


def test_execute_usage_error_and_help():
    p = shim("execute", "--bogus")
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "shim execute: error: unrecognized arguments: --bogus (see 'shim execute --help')"
    ]
    h = shim("execute", "--help")
    assert h.returncode == 0
    assert h.stdout.startswith("usage: shim execute [options] -- TEMPLATE RESOLVER-ARGS...")
    assert "  TEMPLATE " in h.stdout and "  RESOLVER-ARGS... " in h.stdout
    assert "task-module MODULE task-name NAME" in h.stdout


def test_execute_without_an_output_prefix_is_a_usage_error():
    p = shim("execute", "--", "task.pb", "x.Executor")
    assert p.returncode == 2
    assert p.stderr.startswith("shim execute: error: --output-prefix is required")
