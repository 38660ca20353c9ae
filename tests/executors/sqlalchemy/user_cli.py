"""Each failure of the SQLAlchemy task as a user meets it: ``shim run file.py:task`` in a fresh
process, checked for one clear line naming the cause, the code, kind and origin of the error
document, no trace and no secret anywhere (stdout, stderr, every file of the run).

Used by test_shim_run.py (in-process runner) and tests/container (the sqlalchemy image)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from shim import idl
from tests.executors.sqlalchemy.conftest import SECRET_ENV
from tests.fixtures.postgres import PostgresServer, free_port

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Case:
    task: str
    code: str
    kind: str
    cause: str  # in the one line the user sees
    wrong_password: bool = False


CASES = [
    Case(
        "bad_password",
        "USER:AuthenticationFailed",
        "NON_RECOVERABLE",
        'password authentication failed for user "shim_test"',
        wrong_password=True,
    ),
    Case("unreachable", "USER:DatabaseUnavailable", "RECOVERABLE", "Connection refused"),
    Case(
        "unknown_database",
        "USER:DatabaseNotFound",
        "NON_RECOVERABLE",
        'database "no_such_db" does not exist',
    ),
    Case(
        "syntax_error",
        "USER:QuerySyntaxError",
        "NON_RECOVERABLE",
        'syntax error at or near "SELEC"',
    ),
    Case(
        "statement_timeout",
        "USER:StatementTimeout",
        "NON_RECOVERABLE",
        "canceling statement due to statement timeout",
    ),
    Case(
        "write_refused",
        "USER:WriteRefused",
        "NON_RECOVERABLE",
        "cannot execute DELETE in a read-only transaction",
    ),
    Case(
        "too_many_connections",
        "USER:TooManyConnections",
        "RECOVERABLE",
        'too many connections for role "limited"',
    ),
]

TASKS = """
import datetime
import os

from shim import Secret
from shim_sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask

URL = "postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"
IMAGE = os.environ.get("SQLALCHEMY_IMAGE")


def task(name, query, user="shim_test", port=@PORT@, database="shimdb", **kw):
    return SQLAlchemyTask(
        name=f"cli.{name}",
        query_template=query,
        task_config=SQLAlchemyConfig(
            uri=URL.format(user=user, port=port, database=database),
            secret_connect_args={"password": Secret(group="pg", key="password")},
        ),
        container_image=IMAGE,
        **kw,
    )


bad_password = task("bad_password", "SELECT 1 AS one")
unreachable = task("unreachable", "SELECT 1 AS one", port=@CLOSED@)
unknown_database = task("unknown_database", "SELECT 1 AS one", database="no_such_db")
syntax_error = task("syntax_error", "SELEC 1")
statement_timeout = task(
    "statement_timeout", "SELECT pg_sleep(30) AS s", timeout=datetime.timedelta(seconds=1)
)
write_refused = task("write_refused", "DELETE FROM cli_items WHERE id < 0 RETURNING id")
too_many_connections = task("too_many_connections", "SELECT 1 AS one", user="limited")
"""


def prepare(pg: PostgresServer, root: Path) -> Path:
    """The tasks' module under ``root`` (and what the server needs for the cases)."""
    pg.psql("CREATE TABLE IF NOT EXISTS cli_items (id int)", user="shim_test")
    pg.psql(
        "DO $$ BEGIN CREATE ROLE limited LOGIN CONNECTION LIMIT 0 PASSWORD "
        f"'{pg.password}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        database="postgres",
    )
    root.mkdir(parents=True, exist_ok=True)
    module = root / "sql_tasks.py"
    module.write_text(TASKS.replace("@PORT@", str(pg.port)).replace("@CLOSED@", str(free_port())))
    return module


def run_case(
    case: Case, pg: PostgresServer, module: Path, store: Path, *, runner: str, image: str = ""
) -> None:
    wrong = "Wr0ng-" + secrets.token_urlsafe(12)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), str(module.parent)]),
        SHIM_LOCAL_STORE=str(store),
        SQLALCHEMY_IMAGE=image,
        **{SECRET_ENV: wrong if case.wrong_password else pg.password},
    )
    cmd = [sys.executable, "-m", "shim", "run", f"{module}:{case.task}", "--runner", runner]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    # one line names the cause, with the code, kind and origin
    lines = [
        ln for ln in proc.stderr.splitlines() if ln.startswith("shim run: error: task failed: ")
    ]
    assert len(lines) == 1, out
    head = f"shim run: error: task failed: {case.code} ({case.kind}, USER): "
    assert lines[0].startswith(head), lines[0]
    assert case.cause in lines[0], lines[0]
    # the reason is not prefixed by an exception type, and no trace is printed
    reason = lines[0][len(head) :]
    assert not reason.split(":", 1)[0].endswith("Error"), reason
    assert "Traceback" not in out and 'File "' not in out, out
    # the error document of the run says the same
    run_dirs = [p for p in store.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    errors = list(run_dirs[0].rglob("error*.pb"))
    assert len(errors) == 1, errors
    doc = idl.ErrorDocument()
    doc.ParseFromString(errors[0].read_bytes())
    assert doc.error.code == case.code
    assert doc.error.kind == idl.ContainerError.Kind.Value(case.kind)
    assert doc.error.origin == idl.ErrorOrigin.Value("USER")
    assert case.cause in doc.error.message
    # no secret anywhere: output, error document, any file of the run
    files = [p for p in store.rglob("*") if p.is_file()]
    for secret in (wrong, pg.password):
        assert secret not in out
        for f in files:
            assert secret.encode() not in f.read_bytes(), f
