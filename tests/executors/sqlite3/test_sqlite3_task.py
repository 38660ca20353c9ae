"""SQLite3Task end to end: definition checks, the real entrypoint, errors, storage, memory."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest
from shim_sqlite3 import SQLite3Config, SQLite3Task

from shim import DataFrame, TaskFailedError, to_idl
from tests.support.execute import read_error, read_outputs, shim_execute, stage_task
from tests.support.peak_rss import run_with_peak_rss


@pytest.fixture(autouse=True)
def _store(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))


def make_db(path: Path, rows: int = 100) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?)", ((i, f"name-{i}", i * 0.5) for i in range(rows))
    )
    con.commit()
    con.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def task(db_uri: str, query: str, inputs: dict | None = None, **kw) -> SQLite3Task:
    return SQLite3Task(
        name="tests.sqlite",
        query_template=query,
        inputs=inputs or {},
        task_config=SQLite3Config(uri=db_uri, **kw.pop("cfg", {})),
        **kw,
    )


def test_template_matches_wire_contract(tmp_path):
    t = task("s3://b/db.sqlite", "SELECT * FROM t LIMIT {{ .inputs.limit }}", {"limit": int})
    pb = to_idl(t)
    assert pb.type == "sqlite" and pb.task_type_version == 1
    assert dict(pb.custom) == {
        "query_template": "SELECT * FROM t LIMIT {{ .inputs.limit }}",
        "uri": "s3://b/db.sqlite",
        "compressed": False,
    }
    assert list(pb.interface.outputs.variables) == ["results"]
    assert pb.interface.outputs.variables["results"].type.HasField("structured_dataset_type")
    assert pb.container.args[-1] == "shim_sqlite3.executor.SQLite3TaskExecutor"


def test_declared_columns_are_in_the_interface():
    t = task("/db", "SELECT 1", output_schema_type={"id": int, "name": str})
    sd = to_idl(t).interface.outputs.variables["results"].type.structured_dataset_type
    assert [c.name for c in sd.columns] == ["id", "name"]


def test_placeholder_without_input_fails_at_definition():
    with pytest.raises(ValueError, match="limit"):
        task("/db", "SELECT * FROM t LIMIT {{ .inputs.limit }}")


def test_input_without_placeholder_fails_at_definition():
    with pytest.raises(ValueError, match="unused"):
        task("/db", "SELECT * FROM t", {"unused": int})


def test_query_returns_dataframe(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    t = task(
        str(db), "SELECT id, name, score FROM t WHERE id < {{ .inputs.n }} ORDER BY id", {"n": int}
    )
    df = t(n=5)
    assert isinstance(df, DataFrame)
    table = df.to_arrow()
    assert table.column("id").to_pylist() == [0, 1, 2, 3, 4]
    assert table.column("name").to_pylist()[0] == "name-0"


def test_injection_value_is_bound_not_spliced(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    before = digest(db)
    t = task(db.as_uri(), "SELECT * FROM t WHERE name = {{ .inputs.name }}", {"name": str})
    df = t(name="1; DROP TABLE t")
    assert df.to_arrow().num_rows == 0
    t2 = task(db.as_uri(), "SELECT * FROM t WHERE id = {{ .inputs.id }}", {"id": str})
    assert t2(id="1; DROP TABLE t").to_arrow().num_rows == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM t").fetchone() == (100,)
    con.close()
    assert digest(db) == before


def test_string_literals_and_comments_keep_working(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    q = (
        "SELECT name  FROM t -- a comment with  two spaces\n"
        "WHERE name = 'name-3' OR id = {{ .inputs.id }}"
    )
    assert sorted(task(str(db), q, {"id": int})(id=5).to_arrow().column("name").to_pylist()) == [
        "name-3",
        "name-5",
    ]


def test_write_query_is_a_user_error_and_file_unchanged(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    before = digest(db)
    with pytest.raises(TaskFailedError) as ei:
        task(str(db), "DELETE FROM t")()
    assert ei.value.origin == "USER" and ei.value.kind == "NON_RECOVERABLE"
    assert digest(db) == before


def test_syntax_error_is_user_non_recoverable(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    with pytest.raises(TaskFailedError) as ei:
        task(str(db), "SELEC * FROM t")()
    assert (ei.value.code, ei.value.kind, ei.value.origin) == (
        "USER:QueryError",
        "NON_RECOVERABLE",
        "USER",
    )
    assert "syntax error" in ei.value.error_message


@pytest.mark.parametrize("runner", ["inprocess", "subprocess"])
def test_the_reason_is_in_str_of_the_error(tmp_path, runner):
    """str(e) carries the Message: part (its first line, then the rest), not the last line."""
    db = make_db(tmp_path / "db.sqlite")
    with pytest.raises(TaskFailedError) as ei:
        task(str(db), "SELEC id FROM t")(runner=runner)
    text = str(ei.value)
    assert text.startswith(
        'USER:QueryError (NON_RECOVERABLE, USER): near "SELEC": syntax error\n'
    ), text
    assert text.endswith("query: SELEC id FROM t") and "Traceback" not in text
    assert ei.value.reason == text.split(": ", 1)[1]


def test_missing_database_is_user_error(tmp_path):
    with pytest.raises(TaskFailedError) as ei:
        task(str(tmp_path / "nope.db"), "SELECT 1")()
    assert ei.value.code == "USER:DatabaseNotFound"
    assert "nope.db does not exist" in str(ei.value)


def test_empty_result_is_valid_dataframe(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    table = task(str(db), "SELECT id, name FROM t WHERE id < 0")().to_arrow()
    assert table.num_rows == 0 and table.column_names == ["id", "name"]


def test_zipped_database(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    archive = tmp_path / "db.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(db, "inner.sqlite")
    t = task(str(archive), "SELECT count(*) AS n FROM t", cfg={"compressed": True})
    assert t().to_arrow().column("n").to_pylist() == [100]


def test_zip_slip_archive_is_rejected(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../../evil.sqlite", b"SQLite format 3\x00")
    with pytest.raises(TaskFailedError) as ei:
        task(str(archive), "SELECT 1", cfg={"compressed": True})()
    assert ei.value.origin == "USER" and ei.value.kind == "NON_RECOVERABLE"
    assert "BadArchive" in ei.value.code
    assert not (tmp_path.parent / "evil.sqlite").exists()


def test_flytekit_textual_mode_version_0(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    t = task(
        str(db), "SELECT id FROM t WHERE id < {{ .inputs.n }}", {"n": int}, task_type_version=0
    )
    assert to_idl(t).task_type_version == 0
    assert t(n=3).to_arrow().column("id").to_pylist() == [0, 1, 2]


def test_database_on_s3(s3_env, s3_bucket, tmp_path):
    from shim.storage import default_storage

    db = make_db(tmp_path / "db.sqlite")
    default_storage().put_file(db, f"{s3_bucket}/dbs/db.sqlite")
    t = task(f"{s3_bucket}/dbs/db.sqlite", "SELECT max(id) AS m FROM t")
    assert t(store=f"{s3_bucket}/runs").to_arrow().column("m").to_pylist() == [99]


def test_through_shim_execute_subprocess(tmp_path):
    db = make_db(tmp_path / "db.sqlite")
    t = task(str(db), "SELECT id FROM t WHERE id >= {{ .inputs.n }}", {"n": int})
    s = stage_task(t, {"n": 95}, str(tmp_path / "run"))
    proc = shim_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    assert read_error(s.outputs) is None
    lit = read_outputs(s.outputs).literals["results"].scalar.structured_dataset
    assert lit.metadata.structured_dataset_type.format == "parquet"
    assert [c.name for c in lit.metadata.structured_dataset_type.columns] == ["id"]
    assert DataFrame(lit.uri).to_arrow().column("id").to_pylist() == [95, 96, 97, 98, 99]


@pytest.mark.slow
def test_million_rows_peak_memory_through_entrypoint(tmp_path):
    db = tmp_path / "big.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE big (a INTEGER, b REAL, c TEXT, d INTEGER, e TEXT)")
    con.execute("""INSERT INTO big WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1
                   FROM n WHERE i < 999999) SELECT i, i * 0.25, 'row-' || i, i % 7,
                   printf('%08d', i) FROM n""")
    con.commit()
    con.close()
    t = task(str(db), "SELECT * FROM big")
    s = stage_task(t, {}, str(tmp_path / "run"))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    cmd = [sys.executable, "-m", "shim", "execute", "--no-supervise", *s.args]
    proc, peak_mib = run_with_peak_rss(cmd, workdir=tmp_path, env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert read_error(s.outputs) is None
    lit = read_outputs(s.outputs).literals["results"].scalar.structured_dataset
    assert DataFrame(lit.uri).to_arrow().num_rows == 1_000_000
    assert 20 < peak_mib < 200, f"peak RSS {peak_mib:.0f} MiB"


@pytest.mark.parametrize(
    "query,needle",
    [
        ("SELECT * FROM t WHERE id = {{ .inputs.missing }}", "missing"),
        ("SELECT * FROM t", "n"),
    ],
)
def test_foreign_template_with_mismatched_placeholders_is_user_error(tmp_path, query, needle):
    """A template from elsewhere is checked at run time: placeholders vs the inputs it gets."""
    from shim import idl

    db = make_db(tmp_path / "db.sqlite")
    t = task(str(db), "SELECT id FROM t WHERE id < {{ .inputs.n }}", {"n": int})
    s = stage_task(t, {"n": 3}, str(tmp_path / "run"))
    pb = idl.TaskTemplate()
    pb.ParseFromString(Path(s.stage.template).read_bytes())
    pb.custom["query_template"] = query
    Path(s.stage.template).write_bytes(idl.serialize(pb))
    proc = shim_execute(s.args)
    assert proc.returncode == 0, proc.stderr
    err = read_error(s.outputs)
    assert err is not None and read_outputs(s.outputs) is None
    assert err.code == "USER:QueryTemplateError"
    assert err.kind == idl.ContainerError.NON_RECOVERABLE
    assert needle in err.message
