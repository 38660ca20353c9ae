"""Read-only queries streamed to parquet: types, errors, write protection, memory."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shim_sqlite3.query import render_parameterized
from shim_sqlite3.reader import (
    RESULT_FILE,
    DatabaseBusyError,
    DatabaseError,
    QueryError,
    ResultInfo,
    _query_error,
    query_to_parquet,
)

from shim.errors import UserError
from tests.support.peak_rss import run_with_peak_rss


def make_db(path: Path, script: str = "", rows: Iterable[tuple] = (), table: str = "") -> Path:
    con = sqlite3.connect(path)
    if script:
        con.executescript(script)
    if table:
        rows = list(rows)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"insert into {table} values ({marks})", rows)
    con.commit()
    con.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(
    db: Path, sql: str, out: Path, params: Any = None, **kw: Any
) -> tuple[ResultInfo, pa.Table]:
    info = query_to_parquet(db, sql, params, out, **kw)
    assert info.files == [out / RESULT_FILE]
    table = pq.read_table(info.files[0])
    assert table.schema == info.schema
    assert table.num_rows == info.num_rows
    return info, table


@pytest.fixture
def db(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return make_db(
        tmp_path / "data" / "db.sqlite",
        "create table t(id integer, x real, name text, data blob, n);",
        [(i, i / 2, f"name {i}", bytes([i % 256]), None) for i in range(1000)],
        "t",
    )


# --- basics -------------------------------------------------------------------------------------


def test_basic_types(db: Path, tmp_path: Path) -> None:
    info, table = run(db, "select * from t order by id", tmp_path / "out")
    assert info.num_rows == 1000
    assert info.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("x", pa.float64()),
            ("name", pa.string()),
            ("data", pa.binary()),
            ("n", pa.null()),
        ]
    )
    assert table.slice(3, 1).to_pylist() == [
        {"id": 3, "x": 1.5, "name": "name 3", "data": b"\x03", "n": None}
    ]


def test_output_dir_is_created_and_file_named_00000(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "er"
    info = query_to_parquet(db, "select 1 as one", None, out)
    assert info.files == [out / "00000"] and os.listdir(out) == ["00000"]


def test_huge_ints(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "h.db", "create table h(v integer);", [(2**63 - 1,), (-(2**63),), (0,)], "h"
    )
    _, table = run(db, "select v from h", tmp_path / "out")
    assert table.schema.field("v").type == pa.int64()
    assert table.column("v").to_pylist() == [2**63 - 1, -(2**63), 0]


def test_params_are_bound(db: Path, tmp_path: Path) -> None:
    sql, params = render_parameterized(
        "select id from t where id < {{ .inputs.n }} and name like {{ .inputs.p }} order by id",
        {"n": 20, "p": "name 1%"},
    )
    _, table = run(db, sql, tmp_path / "out", params)
    assert table.column("id").to_pylist() == [1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]


def test_injection_value_is_harmless(db: Path, tmp_path: Path) -> None:
    before = sha256(db)
    sql, params = render_parameterized(
        "select * from t where name = {{ .inputs.name }}", {"name": "1; DROP TABLE t"}
    )
    info, table = run(db, sql, tmp_path / "out", params)
    assert info.num_rows == 0 and table.column_names == ["id", "x", "name", "data", "n"]
    con = sqlite3.connect(db)
    assert con.execute("select count(*) from t").fetchone() == (1000,)
    con.close()
    assert sha256(db) == before


def test_empty_result_is_valid_parquet_with_column_names(db: Path, tmp_path: Path) -> None:
    info, table = run(db, "select id, name as label from t where 0", tmp_path / "out")
    assert info.num_rows == 0
    assert table.column_names == ["id", "label"]
    assert all(f.type == pa.null() for f in table.schema)
    df = pq.read_table(info.files[0]).to_pandas()
    assert list(df.columns) == ["id", "label"] and len(df) == 0


def test_null_only_column(tmp_path: Path) -> None:
    db = make_db(tmp_path / "n.db", "create table n(a integer, b text);", [(None, None)] * 50, "n")
    _, table = run(db, "select a, b, null as c from n", tmp_path / "out", batch_rows=7)
    assert [f.type for f in table.schema] == [pa.null()] * 3
    assert table.num_rows == 50 and table.column("a").null_count == 50


def test_nulls_first_then_values_across_row_groups(tmp_path: Path) -> None:
    rows = [(None,)] * 10 + [(5,)] + [(None,)] * 3
    db = make_db(tmp_path / "n.db", "create table n(a);", rows, "n")
    _, table = run(db, "select a from n", tmp_path / "out", batch_rows=4)
    assert table.schema.field("a").type == pa.int64()
    assert table.column("a").to_pylist() == [r[0] for r in rows]
    assert pq.ParquetFile(tmp_path / "out" / RESULT_FILE).num_row_groups == 4


def test_duplicate_column_names_get_suffixes(db: Path, tmp_path: Path) -> None:
    _, table = run(
        db, "select a.id, b.id, a.id as id_1 from t a join t b using (id) limit 1", tmp_path / "out"
    )
    assert table.column_names == ["id", "id_2", "id_1"]


def test_expression_column_names_kept(tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db", "create table e(a);")
    _, table = run(db, "select 1+1, 'x' as \"we ird\", count(*) from e", tmp_path / "out")
    assert table.column_names == ["1+1", "we ird", "count(*)"]


def test_with_values_and_pragma_reads(db: Path, tmp_path: Path) -> None:
    _, table = run(db, "with c(v) as (values (1), (2)) select v from c", tmp_path / "a")
    assert table.column("v").to_pylist() == [1, 2]
    _, table = run(db, "values (1, 'a')", tmp_path / "b")
    assert table.num_rows == 1
    _, table = run(db, "pragma table_info(t)", tmp_path / "c")
    assert table.column("name").to_pylist() == ["id", "x", "name", "data", "n"]


def test_trailing_semicolon_and_comment(db: Path, tmp_path: Path) -> None:
    _, table = run(db, "select count(*) as c from t; -- done\n", tmp_path / "out")
    assert table.to_pylist() == [{"c": 1000}]


def test_path_with_uri_special_characters(tmp_path: Path) -> None:
    folder = tmp_path / "a b?c#d%25e"
    folder.mkdir()
    db = make_db(folder / "my db?.sqlite", "create table t(a); insert into t values (1);")
    _, table = run(db, "select a from t", tmp_path / "out")
    assert table.to_pylist() == [{"a": 1}]


def test_wal_database_reads_without_side_files(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    db = folder / "wal.db"
    con = sqlite3.connect(db)
    con.execute("pragma journal_mode=wal")
    con.execute("create table t(a)")
    con.execute("insert into t values (1)")
    con.commit()
    con.execute("pragma wal_checkpoint(truncate)")
    con.close()
    for side in folder.glob("wal.db-*"):
        side.unlink()
    before = sha256(db)
    _, table = run(db, "select a from t", tmp_path / "out")
    assert table.to_pylist() == [{"a": 1}]
    assert os.listdir(folder) == ["wal.db"] and sha256(db) == before


# --- SQLite's dynamic typing ------------------------------------------------------------------

MIXED_ROWS: list[tuple[Any, ...]] = [
    # int_then_text, int_float, big_int_float, float_text, text_blob, int_blob, null_then_float
    (1, 1, 2**53 + 1, 0.5, "a", 7, None),
    (2, 2, 3, 0.1 + 0.2, "b", 8, None),
    (3, 2.5, 1.5, "t", b"\xff\x00", b"\x01", None),
    ("x", None, None, 1e20, None, None, 2.5),
    (None, 3, 2**62, 1.0, "é", -3, 1),
]
MIXED_COLUMNS = ["a", "b", "c", "d", "e", "f", "g"]
MIXED_EXPECTED = {
    "a": (pa.string(), ["1", "2", "3", "x", None]),
    "b": (pa.float64(), [1.0, 2.0, 2.5, None, 3.0]),
    "c": (pa.float64(), [float(2**53 + 1), 3.0, 1.5, None, float(2**62)]),
    "d": (pa.string(), ["0.5", "0.30000000000000004", "t", "1e+20", "1.0"]),
    "e": (pa.binary(), [b"a", b"b", b"\xff\x00", None, "é".encode()]),
    "f": (pa.binary(), [b"7", b"8", b"\x01", None, b"-3"]),
    "g": (pa.float64(), [None, None, None, 2.5, 1.0]),
}


@pytest.fixture
def mixed_db(tmp_path: Path) -> Path:
    cols = ", ".join(MIXED_COLUMNS)  # no declared types: values keep their storage class
    return make_db(
        tmp_path / "mixed.db",
        f"create table m(k integer primary key, {cols});",
        [(i, *r) for i, r in enumerate(MIXED_ROWS)],
        "m",
    )


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 4, 65536])
def test_mixed_types_widen_the_same_whatever_the_batches(
    mixed_db: Path, tmp_path: Path, batch_rows: int
) -> None:
    sql = f"select {', '.join(MIXED_COLUMNS)} from m order by k"
    info, table = run(mixed_db, sql, tmp_path / "out", batch_rows=batch_rows)
    assert info.num_rows == len(MIXED_ROWS)
    for name, (typ, values) in MIXED_EXPECTED.items():
        assert table.schema.field(name).type == typ, name
        assert table.column(name).to_pylist() == values, name
    table.validate(full=True)


def test_ints_then_text_in_later_rows_rewrites_written_row_groups(tmp_path: Path) -> None:
    rows = [(i,) for i in range(1000)] + [("later",)]
    db = make_db(tmp_path / "l.db", "create table l(v);", rows, "l")
    info, table = run(db, "select v from l", tmp_path / "out", batch_rows=100)
    assert info.schema.field("v").type == pa.string()
    assert table.column("v").to_pylist() == [str(i) for i in range(1000)] + ["later"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name != RESULT_FILE]


def test_ints_then_floats(tmp_path: Path) -> None:
    rows = [(i,) for i in range(10)] + [(0.5,)]
    db = make_db(tmp_path / "f.db", "create table f(v numeric);", rows, "f")
    _, table = run(db, "select v from f", tmp_path / "out", batch_rows=3)
    assert table.schema.field("v").type == pa.float64()
    assert table.column("v").to_pylist() == [float(i) for i in range(10)] + [0.5]


def test_declared_types_do_not_matter_storage_classes_do(tmp_path: Path) -> None:
    # an INTEGER column holding a text that does not look like a number stays text
    db = make_db(tmp_path / "d.db", "create table d(v integer);", [(1,), ("",), ("12",)], "d")
    _, table = run(db, "select v from d", tmp_path / "out")
    assert table.column("v").to_pylist() == ["1", "", "12"]  # "12" was stored as 12


def test_invalid_utf8_text_fails_with_hint_and_leaves_nothing(tmp_path: Path) -> None:
    db = make_db(tmp_path / "u.db", "create table u(v text);", [("ok",)] * 10, "u")
    con = sqlite3.connect(db)
    con.execute("insert into u values (cast(x'ff' as text))")
    con.commit()
    con.close()
    out = tmp_path / "out"
    with pytest.raises(QueryError, match=r"CAST\(col AS BLOB\)"):
        query_to_parquet(db, "select v from u", None, out, batch_rows=2)
    assert os.listdir(out) == []
    _, table = run(db, "select cast(v as blob) as v from u", tmp_path / "ok")
    assert table.column("v").to_pylist()[-1] == b"\xff"


# --- errors and write protection ------------------------------------------------------------

WRITES = [
    "insert into t values (1, 1, 'x', null, null)",
    "update t set id = 0",
    "delete from t",
    "drop table t",
    "create table u(a)",
    "create temp table u(a)",
    "create index i on t(id)",
    "alter table t add column z",
    "replace into t(id) values (1)",
    "with c as (select 1) insert into t(id) select * from c",
    "attach database 'other.db' as o",
    "pragma user_version = 7",
    "vacuum",
    "analyze",
]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_fail_and_file_is_unchanged(db: Path, tmp_path: Path, sql: str) -> None:
    before = sha256(db)
    listing = sorted(os.listdir(db.parent))
    with pytest.raises(QueryError) as err:
        query_to_parquet(db, sql, None, tmp_path / "out")
    msg = str(err.value)
    assert "readonly" in msg or "attached databases" in msg or "read-only" in msg, msg
    assert err.value.code == "QueryError" and isinstance(err.value, UserError)
    assert sha256(db) == before
    assert sorted(os.listdir(db.parent)) == listing  # no journal, wal, or attached file


def test_vacuum_into_cannot_write_a_file(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    with pytest.raises(QueryError):
        query_to_parquet(db, f"vacuum into '{target}'", None, tmp_path / "out")
    assert not target.exists()


def test_syntax_error_has_sqlites_message(db: Path, tmp_path: Path) -> None:
    with pytest.raises(QueryError) as err:
        query_to_parquet(db, "selec * from t", None, tmp_path / "out")
    assert 'near "selec": syntax error' in str(err.value)
    assert "selec * from t" in str(err.value)  # the query is shown
    assert not (tmp_path / "out" / RESULT_FILE).exists()


def test_unknown_table(db: Path, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="no such table: nope"):
        query_to_parquet(db, "select * from nope", None, tmp_path / "out")


def test_multiple_statements_rejected(db: Path, tmp_path: Path) -> None:
    before = sha256(db)
    with pytest.raises(QueryError, match="single SQL statement"):
        query_to_parquet(db, "select 1; drop table t", None, tmp_path / "out")
    assert sha256(db) == before


@pytest.mark.parametrize("sql", ["", "-- nothing", "begin", "savepoint s"])
def test_statement_without_rows_rejected(db: Path, tmp_path: Path, sql: str) -> None:
    with pytest.raises(QueryError, match="returns no rows"):
        query_to_parquet(db, sql, None, tmp_path / "out")


def test_missing_parameter_value(db: Path, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="p_x"):
        query_to_parquet(db, "select :p_x", {}, tmp_path / "out")


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        query_to_parquet(tmp_path / "nope.db", "select 1", None, tmp_path / "out")


def test_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError) as err:
        query_to_parquet(bogus, "select * from t", None, tmp_path / "out")
    assert "file is not a database" in str(err.value) and err.value.code == "BadDatabase"


def test_immutable_false_reads_and_locks_are_recoverable(db: Path, tmp_path: Path) -> None:
    _, table = run(db, "select count(*) as c from t", tmp_path / "out", immutable=False)
    assert table.to_pylist() == [{"c": 1000}]
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorname = "SQLITE_BUSY"  # type: ignore[attr-defined]
    err = _query_error(locked, "select 1", db)
    assert isinstance(err, DatabaseBusyError) and err.recoverable and err.code == "DatabaseBusy"


def test_batch_rows_must_be_positive(db: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        query_to_parquet(db, "select 1", None, tmp_path / "out", batch_rows=0)


# --- ADBC, pinned: why it is not used (see reader.py) ------------------------------------------


def test_adbc_sqlite_still_converts_silently(tmp_path: Path) -> None:
    """If this fails, adbc-driver-sqlite changed how it types mixed columns: reconsider it."""
    import adbc_driver_sqlite.dbapi as dbapi  # in the dev extras: never skipped

    con = dbapi.connect(":memory:")
    try:
        cur = con.cursor()
        cur.execute("select 'a' as v union all select 1.5")
        assert cur.fetch_arrow_table().column("v").to_pylist() == ["a", "1.500000e+00"]
        cur.close()
    finally:
        con.close()


# --- memory stays flat ----------------------------------------------------------------------


@pytest.mark.slow
def test_one_million_rows_in_flat_memory(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    con = sqlite3.connect(db)
    con.execute("create table t(id integer, x real, name text, cat text, n integer)")
    con.executemany(
        "insert into t values (?, ?, ?, ?, ?)",
        (
            (i, i * 0.5, f"name-{i}", "abc"[i % 3], i % 7 if i % 3 else None)
            for i in range(1_000_000)
        ),
    )
    con.commit()
    con.close()
    script = textwrap.dedent(
        """
        import json, sys, time
        from shim_sqlite3.reader import query_to_parquet
        t0 = time.monotonic()
        info = query_to_parquet(sys.argv[1], "select * from t", None, sys.argv[2])
        print(json.dumps({
            "rows": info.num_rows,
            "seconds": time.monotonic() - t0,
        }))
        """
    )
    env = dict(os.environ)
    here = Path(__file__).resolve()
    root = here.parents[3]
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root), str(root / "executors" / "sqlite3"), env.get("PYTHONPATH", "")]
    )
    started = time.monotonic()
    # peak RSS from a small launcher: ru_maxrss of a child of pytest includes pytest's own RSS
    proc, peak_mib = run_with_peak_rss(
        [sys.executable, "-c", script, str(db), str(tmp_path / "out")],
        workdir=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert 20 < peak_mib < 200, f"peak RSS {peak_mib:.0f} MiB"
    assert time.monotonic() - started < 30
    assert pq.ParquetFile(tmp_path / "out" / RESULT_FILE).metadata.num_rows == 1_000_000
