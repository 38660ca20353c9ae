"""flytekit -> shimkit: flytekit's own SQLite3Task, run unchanged by shimkit's entrypoint and image.

flytekit (in its virtualenv) serializes its SQLite3Task: task.pb, inputs.pb and the container
args ``pyflyte-execute ... --resolver flytekit.core.python_customized_container_task.
default_task_template_resolver -- {{.taskTemplatePath}} flytekit.extras.sqlite3.task.
SQLite3TaskExecutor``. flytekit's own ``pyflyte-execute`` runs them to give the reference
result. The very same files and args (rendered the way the backend renders them) then run

- through shimkit's entrypoint as ``pyflyte-execute`` (a subprocess, no container), and
- in shimkit's sqlite3 image (which maps flytekit's resolver and executor paths to shimkit's),

and flytekit decodes shimkit's outputs.pb into a pandas DataFrame equal to its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from shim.local.staging import render_args

pytestmark = pytest.mark.interop

FLYTEKIT_RESOLVER = "flytekit.core.python_customized_container_task.default_task_template_resolver"
FLYTEKIT_EXECUTOR = "flytekit.extras.sqlite3.task.SQLite3TaskExecutor"
QUERY = """
    SELECT id, name, score, note
    FROM   items
    WHERE  id >= {{ .inputs.lo }} AND name != '{{.inputs.skip}}'
    ORDER  BY id
    LIMIT  {{ .inputs.limit }}
"""
INPUTS = {"lo": ["int", 3], "skip": ["str", "n05"], "limit": ["int", 6]}

#: the flytekit-compatible ``pyflyte-execute`` of shimkit's images, for runs without a container
PYFLYTE_EXECUTE = (
    "#!{python}\nimport sys\nfrom shim.runtime.main import execute_main\n"
    "sys.exit(execute_main(sys.argv[1:]))\n"
)


def make_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE items (id INTEGER, name TEXT, score REAL, note TEXT)")
    rows = [
        (i, f"n{i:02d}", i * 1.25 if i % 4 else None, "ünïcode ✓" if i % 3 else None)
        for i in range(20)
    ]
    con.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()


class Staged:
    """One flytekit-serialized task under ``root``: the files the backend would hand over."""

    def __init__(self, root: Path, args: list[str]):
        self.root = root
        self.args = args

    def rendered(self, run: str) -> list[str]:
        """The template's args as the backend renders them, for a run named ``run``."""
        return render_args(
            self.args,
            {
                "input": str(self.root / "inputs.pb"),
                "outputPrefix": str(self.root / run / "out"),
                "rawOutputDataPrefix": str(self.root / run / "raw"),
                "taskTemplatePath": str(self.root / "task.pb"),
            },
        )

    def outputs(self, run: str) -> Path:
        return self.root / run / "out" / "outputs.pb"


def stage(fk, root: Path, *, output: str, compressed: bool = False) -> Staged:
    root.mkdir(parents=True, exist_ok=True)
    db = root / "db.sqlite"
    make_db(db)
    uri = db
    if compressed:
        uri = root / "db.tar.gz"
        with tarfile.open(uri, "w:gz") as tar:
            tar.add(db, arcname="db.sqlite")
    spec = {
        "name": "interop.flytekit_sql",
        "query": QUERY,
        "uri": str(uri),
        "compressed": compressed,
        "inputs": INPUTS,
        "output": output,
    }
    info = fk.json("fk_sqlite_template.py", root, json.dumps(spec))
    return Staged(root, info["args"])


def flytekit_reference(fk, s: Staged) -> dict:
    """flytekit's own pyflyte-execute on the staged files, decoded by flytekit."""
    args = s.rendered("flytekit")
    proc = fk.command(args[0], *args[1:])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert s.outputs("flytekit").exists(), f"flytekit wrote no outputs.pb:\n{proc.stderr[-4000:]}"
    return fk.json("fk_read_dataframe.py", s.outputs("flytekit"), "results")


@pytest.fixture(scope="module", params=["schema", "dataframe"])
def staged(request, fk, tmp_path_factory) -> tuple[Staged, dict]:
    """flytekit's SQLite3Task with its default output (FlyteSchema) and with a pd.DataFrame."""
    s = stage(fk, tmp_path_factory.mktemp(f"fk-sql-{request.param}"), output=request.param)
    return s, flytekit_reference(fk, s)


def test_flytekit_template_has_flytekit_paths(staged):
    s, reference = staged
    assert s.args[0] == "pyflyte-execute"
    assert s.args[s.args.index("--resolver") + 1] == FLYTEKIT_RESOLVER
    assert s.args[-1] == FLYTEKIT_EXECUTOR
    assert "{{.taskTemplatePath}}" in s.args
    # the reference is a real query result: ids 3..9 minus n05, limited to 6
    assert [r[0] for r in reference["rows"]] == [3, 4, 6, 7, 8, 9]


def run_shim_subprocess(args: list[str], bindir: Path) -> subprocess.CompletedProcess:
    """The args exactly as given, with ``pyflyte-execute`` being shimkit's entrypoint."""
    bindir.mkdir(parents=True, exist_ok=True)
    exe = bindir / "pyflyte-execute"
    exe.write_text(PYFLYTE_EXECUTE.format(python=sys.executable))
    exe.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = ""
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_shim_entrypoint_runs_flytekit_template(staged, fk, tmp_path):
    s, reference = staged
    args = s.rendered("shim-subprocess")
    proc = run_shim_subprocess(args, tmp_path / "bin")
    assert proc.returncode == 0, proc.stderr
    assert not (s.root / "shim-subprocess" / "out" / "error.pb").exists(), proc.stderr
    got = fk.json("fk_read_dataframe.py", s.outputs("shim-subprocess"), "results")
    assert got == reference


@pytest.mark.container
def test_sqlite3_image_runs_flytekit_template(staged, fk, sqlite3_image, docker_client):
    from shim.local.container import run_task_in_container

    s, reference = staged
    args = s.rendered("shim-container")
    assert args[0] == "pyflyte-execute"  # unchanged: the image answers to flytekit's command
    res = run_task_in_container(
        sqlite3_image, args, stage_dir=str(s.root), client=docker_client, timeout=300
    )
    assert res.exit_code == 0, res.logs
    assert not (s.root / "shim-container" / "out" / "error.pb").exists(), res.logs
    got = fk.json("fk_read_dataframe.py", s.outputs("shim-container"), "results")
    assert got == reference


def test_compressed_database(fk, tmp_path):
    """flytekit's ``compressed=True`` (a tar.gz holding the database) runs the same."""
    s = stage(fk, tmp_path / "stage", output="schema", compressed=True)
    reference = flytekit_reference(fk, s)
    proc = run_shim_subprocess(s.rendered("shim"), tmp_path / "bin")
    assert proc.returncode == 0, proc.stderr
    assert fk.json("fk_read_dataframe.py", s.outputs("shim"), "results") == reference


def test_bad_query_in_flytekit_template_is_a_user_error(fk, tmp_path):
    """A flytekit template with a query error: shimkit's error.pb, parsed in flytekit, says USER.

    (flytekit's own runtime reports this as a retryable SYSTEM error; WIRE.md section 4.)
    """
    root = tmp_path / "stage"
    root.mkdir()
    make_db(root / "db.sqlite")
    spec = {
        "name": "interop.bad_sql",
        "query": "SELECT * FROM no_such_table LIMIT {{ .inputs.limit }}",
        "uri": str(root / "db.sqlite"),
        "inputs": {"limit": ["int", 3]},
        "output": "schema",
    }
    s = Staged(root, fk.json("fk_sqlite_template.py", root, json.dumps(spec))["args"])
    proc = run_shim_subprocess(s.rendered("shim"), tmp_path / "bin")
    assert proc.returncode == 0, proc.stderr
    error = root / "shim" / "out" / "error.pb"
    assert error.is_file() and not s.outputs("shim").exists()
    doc = fk.json("fk_errors.py", error)[str(error)]
    assert doc["code"].startswith("USER:"), doc
    assert (doc["kind"], doc["origin"]) == ("NON_RECOVERABLE", "USER")
    assert "no_such_table" in doc["message"]
