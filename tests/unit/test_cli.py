"""The `shim` command line: run, inspect, executors, images list, execute's usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shim import idl, to_bytes
from shim.commands import cli
from shim.commands.inspect import NotAShimDocument, detect
from tests.support import executors as ex
from tests.support.tasks import make_task

REPO = Path(__file__).resolve().parents[2]

TASK_FILE = """
from tests.support import executors as ex
from tests.support.tasks import make_task

echo = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int}, name="cli.echo")
fails = make_task(ex.RaisesValueError, outputs={"y": int}, name="cli.fails")
not_a_task = 3


class Gone(ex.NoOpExecutor):
    pass


Gone.__module__ = "no_such_executor_package.executors"  # not importable where it runs
missing_executor = make_task(Gone, name="cli.missing_executor")
dies = make_task(ex.SelfKillExecutor, outputs={"y": int}, name="cli.dies")
"""

SQL_FILE = """
from shim_sqlite3 import SQLite3Config, SQLite3Task

bad_sql = SQLite3Task(
    name="cli.bad_sql", query_template="SELEC id FROM t", task_config=SQLite3Config(uri={db!r})
)
missing_db = SQLite3Task(
    name="cli.missing_db",
    query_template="SELECT 1",
    task_config=SQLite3Config(uri={missing!r}),
)
"""


@pytest.fixture
def task_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    path = tmp_path / "mytasks.py"
    path.write_text(TASK_FILE)
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_run_prints_outputs(task_file):
    r = invoke("run", f"{task_file}:echo", "-i", "x=41")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "41"


def test_run_that_leaves_no_document_prints_its_directory(task_file, tmp_path, monkeypatch):
    """A run that ends without outputs.pb or error.pb (an unsupervised worker killed) is a
    failure too: `shim run` says so and where the run is."""
    monkeypatch.delenv("SHIM_SUPERVISE", raising=False)
    r = invoke("run", f"{task_file}:dies", "--runner", "subprocess", "--name", "killed")
    assert r.exit_code == 1
    first, *rest = r.stderr.splitlines()
    assert first.startswith(
        "shim run: error: task 'cli.dies' wrote neither outputs.pb nor error.pb"
    )
    assert f"run killed: {tmp_path / 'store' / 'killed'}" in rest


def test_run_task_failure_is_one_clear_message(task_file):
    r = invoke("run", f"{task_file}:fails")
    assert r.exit_code == 1
    assert "USER:ValueError (NON_RECOVERABLE, USER)" in r.stderr


@pytest.fixture
def sql_file(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    db = tmp_path / "db.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id INTEGER)")
    con.commit()
    con.close()
    path = tmp_path / "sqltasks.py"
    path.write_text(SQL_FILE.format(db=str(db), missing=str(tmp_path / "nope.sqlite")))
    return path


@pytest.mark.parametrize("runner", ["inprocess", "subprocess"])
@pytest.mark.parametrize(
    "which, head, reason",
    [
        ("bad_sql", "USER:QueryError (NON_RECOVERABLE, USER)", 'near "SELEC": syntax error'),
        ("missing_db", "USER:DatabaseNotFound (NON_RECOVERABLE, USER)", "does not exist"),
        ("missing_executor", "USER:ExecutorNotFound (NON_RECOVERABLE, USER)", "not installed"),
    ],
)
def test_run_failure_prints_code_kind_and_reason_once(
    sql_file, task_file, runner, which, head, reason
):
    """No traceback of shimkit's own, the reason exactly once; --verbose adds the trace."""
    target = f"{task_file if which == 'missing_executor' else sql_file}:{which}"
    r = CliRunner().invoke(cli, ["run", target, "--runner", runner])
    assert r.exit_code == 1
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"shim run: error: task failed: {head}: "), r.stderr
    assert reason in first
    assert r.stderr.count(reason) == 1, r.stderr
    assert "Traceback" not in r.stderr and "shim execute:" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 4, r.stderr
    v = CliRunner().invoke(cli, ["run", target, "--runner", runner, "--verbose"])
    assert v.exit_code == 1
    assert "Traceback" in v.stderr and "Message:" in v.stderr
    assert f"shim run: error: task failed: {head}: " in v.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["-i", "x=abc"], "expected int"),
        (["-i", "z=1"], "no input 'z'"),
        (["-i", "x"], "NAME=VALUE"),
    ],
)
def test_run_bad_inputs(task_file, args, needle):
    r = CliRunner().invoke(cli, ["run", f"{task_file}:echo", *args])
    assert r.exit_code != 0
    assert needle in r.output


@pytest.mark.parametrize(
    "target,needle",
    [
        ("nofile.py:echo", "no such file"),
        ("{file}:missing", "no attribute 'missing'"),
        ("{file}:not_a_task", "not a shimkit task"),
        ("justaname", "must look like"),
    ],
)
def test_run_bad_targets(task_file, target, needle):
    r = CliRunner().invoke(cli, ["run", target.format(file=task_file)])
    assert r.exit_code == 2
    assert needle in r.stderr
    assert r.stderr.startswith("shim run: error: ")


def test_inspect_each_document_kind(tmp_path):
    task = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int})
    (tmp_path / "task.pb").write_bytes(to_bytes(task))
    lm = idl.LiteralMap()
    lm.literals["x"].scalar.primitive.integer = 7
    (tmp_path / "inputs.pb").write_bytes(idl.serialize(lm))
    doc = idl.ErrorDocument()
    doc.error.code = "USER:ValueError"
    doc.error.message = "boom"
    (tmp_path / "error.pb").write_bytes(idl.serialize(doc))
    # names do not matter: detection is by content
    (tmp_path / "blob").write_bytes(to_bytes(task))
    expected = {
        "task.pb": "TaskTemplate",
        "inputs.pb": "LiteralMap",
        "error.pb": "ErrorDocument",
        "blob": "TaskTemplate",
    }
    for name, kind in expected.items():
        r = invoke("inspect", str(tmp_path / name))
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["kind"] == kind
    assert (
        json.loads(invoke("inspect", str(tmp_path / "inputs.pb")).stdout)["document"]["literals"][
            "x"
        ]["scalar"]["primitive"]["integer"]
        == "7"
    )


@pytest.mark.parametrize(
    "data", [b"", b"hello, this is plain text\n", os.urandom(64), b"\x08\x96\x01"]
)
def test_inspect_rejects_other_bytes(tmp_path, data):
    path = tmp_path / "thing.bin"
    path.write_bytes(data)
    r = CliRunner().invoke(cli, ["inspect", str(path)])
    assert r.exit_code == 1
    assert "shim inspect:" in r.stderr
    with pytest.raises(NotAShimDocument):
        detect(data, "thing.bin")


def test_inspect_missing_file(tmp_path):
    r = CliRunner().invoke(cli, ["inspect", str(tmp_path / "nope.pb")])
    assert r.exit_code == 1 and "nope.pb" in r.stderr


def test_executors_lists_sqlite3_and_alias():
    r = invoke("executors")
    assert "sqlite3\tshim_sqlite3.executor.SQLite3TaskExecutor" in r.stdout
    assert "flytekit.extras.sqlite3.task.SQLite3TaskExecutor" in r.stdout


def test_images_list():
    r = invoke("images", "list")
    assert "base\t" in r.stdout and "sqlite3\t" in r.stdout


def test_execute_usage_error_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "shim", "execute", "--bogus"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--bogus" in proc.stderr


def test_execute_help():
    proc = subprocess.run(
        [sys.executable, "-m", "shim", "execute", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "--output-prefix" in proc.stdout


# --- the README's CLI reference is the CLI ------------------------------------------------------


def _reference_rows() -> list[tuple[str, str]]:
    """(command as the README writes it, its whole table cell) for each command of the table."""
    import re

    text = (REPO / "README.md").read_text()
    section = text.split("## CLI reference", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `shim"):
            continue
        cell = line.split("` |", 1)[0][3:].replace("\\|", "|")
        rows += [(usage.strip("` "), usage) for usage in re.split(r"` / `", cell)]
    return rows


def _command(words: list[str]):
    """The click command the words after ``shim`` name, and how many words that took."""
    import click

    cmd, n = cli, 0
    while isinstance(cmd, click.Group) and n < len(words) and words[n] in cmd.commands:
        cmd, n = cmd.commands[words[n]], n + 1
    return cmd, n


def test_cli_reference_matches_the_commands():
    """Every command of the README's CLI reference exists with every flag the table shows,
    and every flag of each command is in its row (so neither can drift from the other)."""
    import re

    from shim.runtime.args import execute_help

    rows = _reference_rows()
    assert len(rows) >= 12
    documented: dict[str, set[str]] = {}
    for usage, _ in rows:
        words = usage.split()[1:]
        flags = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", usage))
        flags = {part for f in flags for part in f.split("/")}
        cmd, n = _command(words)
        name = " ".join(words[:n])
        if name == "execute":
            help_text = execute_help()
            assert all(f in help_text for f in flags), (usage, flags)
            continue
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        assert flags <= known, f"{usage!r}: no such flags {sorted(flags - known)}"
        documented.setdefault(name, set()).update(flags)
    for name, flags in documented.items():
        cmd, _ = _command(name.split())
        options = [p for p in cmd.params if p.opts and p.opts[0].startswith("-")]
        for p in options:
            if p.name == "help" or getattr(p, "hidden", False):  # e.g. package's refused -i
                continue
            assert set(p.opts) & flags, f"`shim {name}` option {p.opts} is not in the README"


def test_readme_shim_runs_commands(tmp_path, monkeypatch):
    """The `shim runs` commands the README's "Local runs" section shows work as written."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Local runs", 1)[1].split("\n## ", 1)[0]
    (block,) = section.split("```bash\n")[1:]
    commands = [ln.split("#", 1)[0].split() for ln in block.split("```", 1)[0].splitlines()]
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "runs"))
    task = make_task(ex.EchoExecutor, inputs={"x": int}, outputs={"y": int}, name="cli.echo")
    shim_run = __import__("shim").with_runcontext(name="nl-top10").run
    assert shim_run(task, x=3) == 3
    outputs = []
    for words in filter(None, commands):
        assert words[:2] == ["shim", "runs"], words
        r = CliRunner().invoke(cli, words[1:])
        assert r.exit_code == 0, (words, r.output)
        outputs.append(r.stdout)
    listing, shown, cleaned = outputs
    assert listing.splitlines()[1].split()[:2] == ["nl-top10", "succeeded"]
    assert "nl-top10" in shown and "outputs.pb" in shown
    assert "removed 0 runs" in cleaned


def test_boolean_inputs_take_the_words_of_the_settings():
    """``-i flag=on`` means what ``SHIM_X=on`` means: one boolean dialect."""
    from shim.commands.run import parse_input
    from shim.envconf import FALSE_WORDS, TRUE_WORDS

    assert all(parse_input("b", w.upper(), bool) is True for w in TRUE_WORDS)
    assert all(parse_input("b", f" {w} ", bool) is False for w in FALSE_WORDS)
    with pytest.raises(click.BadParameter, match="input 'b': expected a boolean"):
        parse_input("b", "maybe", bool)


@pytest.mark.parametrize("supervise", ["--no-supervise", "--supervise"])
def test_execute_usage_error_with_an_output_prefix_writes_an_error_document(tmp_path, supervise):
    """A template whose args do not parse (an unknown flag) is the task's mistake: reported
    in error.pb as USER:BadArguments, non-recoverable, when the output prefix can be read."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "shim", "execute", supervise, f"--output-prefix={out}", "--bogus"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "shim execute: error: unrecognized arguments: --bogus (see 'shim execute --help')"
    ]
    doc = idl.ErrorDocument()
    doc.ParseFromString((out / "error.pb").read_bytes())
    assert doc.error.code == "USER:BadArguments"
    assert doc.error.kind == idl.ContainerError.Kind.Value("NON_RECOVERABLE")
    assert "unrecognized arguments: --bogus" in doc.error.message
