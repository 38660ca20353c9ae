"""What ``shim run`` prints: a string as its text, a DataFrame as a short table with its shape
and where the parquet is, several outputs by name, structures as JSON; ``--source DIR``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from shim.commands import cli

FUNCS = """
from dataclasses import dataclass
from typing import NamedTuple

from shim import File, TaskEnvironment

env = TaskEnvironment(name="out")


@dataclass
class Point:
    x: int
    y: float


class Pair(NamedTuple):
    text: str
    count: int


@env.task
def text() -> str:
    return "it's 'quoted'\\nand on two lines"


@env.task
def point() -> Point:
    return Point(1, 2.5)


@env.task
def pair() -> Pair:
    return Pair("two\\nlines", 3)


@env.task
def numbers() -> list[int]:
    return [1, 2, 3]


@env.task
def afile() -> File:
    import tempfile

    path = tempfile.mkdtemp() + "/report.txt"
    with open(path, "w") as f:
        f.write("hello")
    return File(path)
"""


@pytest.fixture
def funcs(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    (tmp_path / "outfuncs.py").write_text(FUNCS)
    return tmp_path / "outfuncs.py"


def run(*args: str) -> str:
    r = CliRunner().invoke(cli, ["run", *args])
    assert r.exit_code == 0, r.output
    return r.stdout


def test_a_string_is_printed_as_text(funcs):
    assert run(f"{funcs}:text") == "it's 'quoted'\nand on two lines\n"


def test_a_dataclass_and_a_list_as_json(funcs):
    assert run(f"{funcs}:point") == '{\n  "x": 1,\n  "y": 2.5\n}\n'
    assert run(f"{funcs}:numbers") == "[\n  1,\n  2,\n  3\n]\n"


def test_a_file_by_where_it_is(funcs, tmp_path):
    out = run(f"{funcs}:afile").strip()
    assert out.startswith("file at ") and out.endswith("/report.txt")
    assert str(tmp_path / "store") in out
    where = Path(out.removeprefix("file at ").removeprefix("file://"))
    assert where.read_text() == "hello"


def test_several_outputs_by_name(funcs):
    assert run(f"{funcs}:pair") == "text:\n  two\n  lines\ncount: 3\n"


def test_a_dataframe_is_a_short_table_with_shape_and_location(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    db = tmp_path / "db.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (id INTEGER, name TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(25)])
    con.commit()
    con.close()
    (tmp_path / "dftasks.py").write_text(
        "from shim_sqlite3 import SQLite3Config, SQLite3Task\n"
        "rows = SQLite3Task(name='out.rows', query_template='SELECT id, name FROM t ORDER BY id',"
        f" task_config=SQLite3Config(uri={str(db)!r}))\n"
    )
    out = run(f"{tmp_path / 'dftasks.py'}:rows", "--rows", "3").splitlines()
    assert [line.split() for line in out[:4]] == [
        ["id", "name"],
        ["0", "n0"],
        ["1", "n1"],
        ["2", "n2"],
    ]
    assert out[4].startswith("(25 rows x 2 columns, first 3 shown; parquet at ")
    assert str(tmp_path / "store") in out[4]
    assert len(out) == 5


def test_source_dir_is_where_modules_are_imported_from(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    pkg = tmp_path / "src" / "srcpkg_x"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "flows.py").write_text(FUNCS)
    r = CliRunner().invoke(cli, ["run", "srcpkg_x.flows:numbers"])
    assert r.exit_code == 2 and "--source DIR" in r.stderr
    assert run("srcpkg_x.flows:numbers", "--source", str(tmp_path / "src")).startswith("[")
    r = CliRunner().invoke(cli, ["run", "srcpkg_x.flows:nope", "-s", str(tmp_path / "src")])
    assert r.exit_code == 2
    assert "tasks in srcpkg_x.flows: text, point, pair, numbers" in r.stderr
