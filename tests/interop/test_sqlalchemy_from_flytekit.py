"""flytekit -> shimkit: flytekitplugins-sqlalchemy's own SQLAlchemyTask, run unchanged.

flytekit (in its virtualenv) serializes its SQLAlchemyTask — task.pb, inputs.pb and the
container args naming ``flytekitplugins.sqlalchemy.task.SQLAlchemyTaskExecutor`` — with the
password in ``secret_connect_args``. flytekit's own ``pyflyte-execute`` runs it against the
test PostgreSQL server to give the reference. The very same files and args then run through
shimkit's entrypoint (as ``pyflyte-execute``) and in shimkit's sqlalchemy image, and flytekit
decodes shimkit's outputs.pb into the same DataFrame as its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.interop.test_sqlite_from_flytekit import Staged, run_shim_subprocess

pytestmark = pytest.mark.interop

FLYTEKIT_EXECUTOR = "flytekitplugins.sqlalchemy.task.SQLAlchemyTaskExecutor"
SECRET = ("pg", "password")
SECRET_ENV = "_FSEC_PG_PASSWORD"
# flytekit's habits: a quoted placeholder, newlines it collapses. Column types on which
# flytekit's pandas and shimkit's Arrow agree (bigint, float8, text, bool, timestamptz, NULLs).
# Where they deliberately differ: int4 is int32 in shimkit (PostgreSQL's width), int64 in
# pandas; numeric(p, s) is an exact decimal in shimkit, a float in flytekit (pandas'
# read_sql coerces Decimal to float) — see test_numeric_is_exact_where_flytekit_rounds.
QUERY = """
    SELECT id, name, score, flag, placed
    FROM   fk_items
    WHERE  id >= {{ .inputs.lo }} AND name != '{{.inputs.skip}}'
    ORDER  BY id
    LIMIT  {{ .inputs.limit }}
"""
INPUTS = {"lo": ["int", 3], "skip": ["str", "n05"], "limit": ["int", 6]}


@pytest.fixture(scope="module")
def table(postgres):
    postgres.psql(
        "DROP TABLE IF EXISTS fk_items; CREATE TABLE fk_items AS SELECT g::int8 AS id, "
        "'n' || lpad(g::text, 2, '0') AS name, CASE WHEN g % 4 > 0 THEN g * 1.25 END::float8 "
        "AS score, g % 2 = 0 AS flag, (g * 2.5)::numeric(8,2) AS price, "
        "timestamptz '2024-03-01 12:00:00+00' + g * interval '1 day' AS placed "
        "FROM generate_series(0, 19) g",
        user="shim_test",
    )
    return postgres


def stage(fk: Any, pg: Any, root: Path, *, output: str, query: str = QUERY) -> tuple[Staged, dict]:
    root.mkdir(parents=True, exist_ok=True)
    spec = {
        "name": "interop.flytekit_sqlalchemy",
        "query": query,
        "uri": pg.url(),
        "connect_args": {"connect_timeout": 10},
        "secret": list(SECRET),
        "inputs": INPUTS,
        "output": output,
    }
    info = fk.json("fk_sqlalchemy_template.py", root, json.dumps(spec))
    return Staged(root, info["args"]), info


def flytekit_reference(fk: Any, s: Staged) -> dict:
    args = s.rendered("flytekit")
    proc = fk.command(args[0], *args[1:])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert s.outputs("flytekit").exists(), f"flytekit wrote no outputs.pb:\n{proc.stderr[-4000:]}"
    return fk.json("fk_read_dataframe.py", s.outputs("flytekit"), "results")


@pytest.fixture(scope="module", params=["schema", "dataframe"])
def staged(request, fk, table, tmp_path_factory):
    """flytekit's SQLAlchemyTask with its default output (FlyteSchema) and a pd.DataFrame."""
    mp = pytest.MonkeyPatch()
    mp.setenv(SECRET_ENV, table.password)
    try:
        s, info = stage(
            fk, table, tmp_path_factory.mktemp(f"fk-sqla-{request.param}"), output=request.param
        )
        yield s, info, flytekit_reference(fk, s)
    finally:
        mp.undo()


def test_flytekit_template_shape(staged, table):
    s, info, reference = staged
    assert info["type"] == "sqlalchemy" and info["version"] == 0
    assert s.args[0] == "pyflyte-execute" and s.args[-1] == FLYTEKIT_EXECUTOR
    assert info["custom"]["secret_connect_args"]["password"]["group"] == "pg"
    assert info["secrets"] == [list(SECRET)]
    assert table.password not in json.dumps(info)
    # a real result: ids 3..9 without n05, six rows
    assert [r[0] for r in reference["rows"]] == [3, 4, 6, 7, 8, 9]


def test_shim_entrypoint_runs_flytekit_template(staged, fk, table, tmp_path, monkeypatch):
    s, _, reference = staged
    monkeypatch.setenv(SECRET_ENV, table.password)
    proc = run_shim_subprocess(s.rendered("shim-subprocess"), tmp_path / "bin")
    assert proc.returncode == 0, proc.stderr
    assert not (s.root / "shim-subprocess" / "out" / "error.pb").exists(), proc.stderr
    got = fk.json("fk_read_dataframe.py", s.outputs("shim-subprocess"), "results")
    assert got == reference


@pytest.mark.container
def test_sqlalchemy_image_runs_flytekit_template(
    staged, fk, table, docker_client, base_image, monkeypatch
):
    from shim.local.container import run_task_in_container
    from tests.container.conftest import _build

    image = _build("sqlalchemy", docker_client)
    s, _, reference = staged
    monkeypatch.setenv(SECRET_ENV, table.password)
    args = s.rendered("shim-container")
    res = run_task_in_container(
        image, args, stage_dir=str(s.root), client=docker_client, timeout=300
    )
    assert res.exit_code == 0, res.logs
    assert not (s.root / "shim-container" / "out" / "error.pb").exists(), res.logs
    assert table.password not in res.logs
    got = fk.json("fk_read_dataframe.py", s.outputs("shim-container"), "results")
    assert got == reference


def test_numeric_is_exact_where_flytekit_rounds(fk, table, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, table.password)
    query = "SELECT id, price FROM fk_items WHERE id >= {{ .inputs.lo }} AND name != "
    query += "'{{ .inputs.skip }}' ORDER BY id LIMIT {{ .inputs.limit }}"
    s, _ = stage(fk, table, tmp_path / "stage", output="dataframe", query=query)
    reference = flytekit_reference(fk, s)
    proc = run_shim_subprocess(s.rendered("shim"), tmp_path / "bin")
    assert proc.returncode == 0, proc.stderr
    got = fk.json("fk_read_dataframe.py", s.outputs("shim"), "results")
    assert reference["dtypes"] == ["int64", "float64"]  # flytekit: a float
    assert got["dtypes"] == ["int64", "object"]  # shimkit: decimal.Decimal, as stored
    assert [r[0] for r in got["rows"]] == [r[0] for r in reference["rows"]]
    assert [r[1] for r in got["rows"]] == ["7.50", "10.00", "15.00", "17.50", "20.00", "22.50"]
    assert [float(r[1]) for r in got["rows"]] == [r[1] for r in reference["rows"]]


def test_wrong_password_in_flytekit_template_is_a_user_error(fk, table, tmp_path, monkeypatch):
    """flytekit reports this as a retryable SYSTEM error; shimkit: USER, not recoverable,
    the reason without the password (read back by flytekit)."""
    s, _ = stage(fk, table, tmp_path / "stage", output="schema")
    wrong = "Wr0ng-password-for-interop"
    monkeypatch.setenv(SECRET_ENV, wrong)
    proc = run_shim_subprocess(s.rendered("shim"), tmp_path / "bin")
    assert proc.returncode == 0, proc.stderr
    error = s.root / "shim" / "out" / "error.pb"
    assert error.is_file() and not s.outputs("shim").exists()
    doc = fk.json("fk_errors.py", error)[str(error)]
    assert doc["code"] == "USER:AuthenticationFailed", doc
    assert (doc["kind"], doc["origin"]) == ("NON_RECOVERABLE", "USER")
    assert 'password authentication failed for user "shim_test"' in doc["message"]
    assert wrong not in doc["message"] and wrong not in proc.stderr and wrong not in proc.stdout
