"""The native reader (shim_sqlite3._native) against the stdlib one: same parquet, value for
value and type for type, wherever batches end; type changes late in large results; the
reader setting; the garbage collector left alone."""

from __future__ import annotations

import gc
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shim_sqlite3 import reader
from shim_sqlite3.reader import (
    RESULT_FILE,
    QueryError,
    ReaderSettingError,
    query_to_parquet,
)

from tests.executors.sqlite3.test_reader import MIXED_COLUMNS, MIXED_EXPECTED, MIXED_ROWS, make_db

ENGINES = ["native", "python"]
ROOT = Path(__file__).resolve().parents[3]


def read(db: Path, sql: str, out: Path, engine: str, **kw: Any) -> pa.Table:
    info = query_to_parquet(db, sql, kw.pop("params", None), out, engine=engine, **kw)
    table = pq.read_table(info.files[0])
    assert table.schema == info.schema and table.num_rows == info.num_rows
    table.validate(full=True)
    assert sorted(os.listdir(out)) == [RESULT_FILE]  # no spill file left behind
    return table


def test_native_reader_is_built() -> None:
    """make install builds it (SHIM_SQLITE3_NATIVE=require); so do the images."""
    assert reader._native_module() is not None, reader._NATIVE_IMPORT_ERROR


# --- the same result as the stdlib reader ----------------------------------------------------

VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 2**53 + 1, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=False),
    st.sampled_from([0.0, -0.0, 0.1 + 0.2, 1e16, 1e-5, 1e20, math.inf, -math.inf, 5e-324]),
    st.text(max_size=12),
    st.sampled_from(["", "é", "\x00", "✓" * 3, "1", "1.5"]),
    st.binary(max_size=12),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    rows=st.lists(st.lists(VALUES, min_size=3, max_size=3), min_size=0, max_size=40),
    batch_rows=st.sampled_from([1, 2, 3, 7, 65536]),
)
def test_native_matches_stdlib_on_any_mix(rows: list[list[Any]], batch_rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        db = make_db(
            d / "h.db",
            "create table h(k integer primary key, a, b, c);",
            [(i, *r) for i, r in enumerate(rows)],
            "h",
        )
        sql = "select a, b, c from h order by k"
        native = read(db, sql, d / "n", "native", batch_rows=batch_rows)
        stdlib = read(db, sql, d / "p", "python", batch_rows=batch_rows)
        assert native.schema == stdlib.schema
        assert native.to_pylist() == stdlib.to_pylist()
        # and neither depends on where batches end
        whole = read(db, sql, d / "w", "native")
        assert whole.schema == native.schema and whole.to_pylist() == native.to_pylist()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch_rows", [1, 2, 3, 4, 65536])
def test_pinned_mixed_columns(tmp_path: Path, engine: str, batch_rows: int) -> None:
    cols = ", ".join(MIXED_COLUMNS)
    db = make_db(
        tmp_path / "m.db",
        f"create table m(k integer primary key, {cols});",
        [(i, *r) for i, r in enumerate(MIXED_ROWS)],
        "m",
    )
    table = read(
        db, f"select {cols} from m order by k", tmp_path / "o", engine, batch_rows=batch_rows
    )
    for name, (typ, values) in MIXED_EXPECTED.items():
        assert table.schema.field(name).type == typ, name
        assert table.column(name).to_pylist() == values, name


# --- widening: within a batch (in C) and across batches (rewrite) -------------------------------

WIDENINGS = {
    # name: (values before, the last value, parquet type, expected values)
    "null->int": ([None, None], 5, pa.int64(), [None, None, 5]),
    "int->float": ([1, None, 2**53 + 1], 0.5, pa.float64(), [1.0, None, float(2**53 + 1), 0.5]),
    "int->text": ([-(2**63), None, 7], "x", pa.string(), [str(-(2**63)), None, "7", "x"]),
    "float->text": (
        [0.1 + 0.2, None, 1e20, -0.0, math.inf, 1e16, 5e-324],
        "t",
        pa.string(),
        ["0.30000000000000004", None, "1e+20", "-0.0", "inf", "1e+16", "5e-324", "t"],
    ),
    "int,float->text": ([1, 2.5], "é", pa.string(), ["1", "2.5", "é"]),
    "text->blob": (["a", None, "é"], b"\xff", pa.binary(), [b"a", None, "é".encode(), b"\xff"]),
    "int,float->blob": ([3, 1.5, None], b"\x00", pa.binary(), [b"3", b"1.5", None, b"\x00"]),
    "null->blob": ([None], b"", pa.binary(), [None, b""]),
    # INTEGER and REAL read as float64 first, then TEXT: the integers keep their str()
    "int,float,big int->text": (
        [1, 2.5, 2**53 + 1, None],
        "x",
        pa.string(),
        ["1", "2.5", "9007199254740993", None, "x"],
    ),
    "float,int->blob": ([2.5, -7], b"\x01", pa.binary(), [b"2.5", b"-7", b"\x01"]),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("batch_rows", [1, 2, 65536])
@pytest.mark.parametrize("case", list(WIDENINGS))
def test_widening_in_the_last_row(tmp_path: Path, engine: str, batch_rows: int, case: str) -> None:
    before, last, typ, expected = WIDENINGS[case]
    rows = [(v,) for v in [*before, last]]
    db = make_db(tmp_path / "w.db", "create table w(v);", rows, "w")
    table = read(
        db, "select v from w order by rowid", tmp_path / "o", engine, batch_rows=batch_rows
    )
    assert table.schema.field("v").type == typ
    assert table.column("v").to_pylist() == expected
    groups = pq.ParquetFile(tmp_path / "o" / RESULT_FILE).num_row_groups
    assert groups == math.ceil(len(rows) / batch_rows)


MANY = {
    # rows before the last, as SQL over i, and as Python
    "floats": ("i * 0.25", lambda i: repr(i * 0.25)),
    "ints and floats": (
        "case when i % 3 = 0 then i else i * 0.25 end",
        lambda i: str(i) if i % 3 == 0 else repr(i * 0.25),
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", list(MANY))
def test_type_change_in_the_last_row_of_many_batches(
    tmp_path: Path, engine: str, kind: str
) -> None:
    """200 row groups of numbers already written when the last row is text: all rewritten
    (floats), or read again as text from the start (integers among floats)."""
    n = 200_000
    expr, expected = MANY[kind]
    db = tmp_path / "l.db"
    con = sqlite3.connect(db)
    con.execute("create table l(v)")
    con.execute(
        "insert into l with recursive c(i) as (select 0 union all select i + 1 from c "
        f"where i < {n - 2}) select {expr} from c"
    )
    con.execute("insert into l values ('last')")
    con.commit()
    con.close()
    table = read(db, "select v from l order by rowid", tmp_path / "o", engine, batch_rows=1000)
    assert table.schema.field("v").type == pa.string()
    values = table.column("v").to_pylist()
    assert len(values) == n
    assert values[-1] == "last"
    assert values == [expected(i) for i in range(n - 1)] + ["last"]
    assert pq.ParquetFile(tmp_path / "o" / RESULT_FILE).num_row_groups == n // 1000


@pytest.mark.slow
def test_ten_million_rows_with_text_in_the_last_row(tmp_path: Path) -> None:
    """The real size: 10M integers, then one text; the whole file becomes strings."""
    n = 10_000_000
    db = tmp_path / "big.db"
    con = sqlite3.connect(db)
    con.execute("create table t(v)")
    con.execute(
        "insert into t with recursive c(i) as (select 0 union all select i + 1 from c "
        f"where i < {n - 2}) select i from c"
    )
    con.execute("insert into t values ('x')")
    con.commit()
    con.close()
    info = query_to_parquet(db, "select v from t order by rowid", None, tmp_path / "o")
    assert info.num_rows == n and info.schema.field("v").type == pa.string()
    f = pq.ParquetFile(info.files[0])
    first, last = f.read_row_group(0), f.read_row_group(f.num_row_groups - 1)
    assert first.column("v").to_pylist()[:3] == ["0", "1", "2"]
    assert last.column("v").to_pylist()[-2:] == [str(n - 2), "x"]
    assert sum(f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)) == n


# --- text that is not UTF-8, the same for both -------------------------------------------------

INVALID_UTF8 = ["c080", "eda080", "f4908080", "e282", "80", "ff", "f880808080", "e0809f"]
VALID_UTF8 = ["f48fbfbf", "efbfbf", "e0a080", "c280", "7f", "00", "f0908080"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("hexed", INVALID_UTF8)
def test_text_that_is_not_utf8_fails_in_both(tmp_path: Path, engine: str, hexed: str) -> None:
    db = make_db(tmp_path / "u.db", "create table u(v); insert into u values (1), (x'00');")
    con = sqlite3.connect(db)
    con.execute(f"insert into u values (cast(x'{hexed}' as text))")
    con.commit()
    con.close()
    with pytest.raises(QueryError, match=r"UTF-8.*CAST\(col AS BLOB\)"):
        query_to_parquet(db, "select v from u", None, tmp_path / "o", engine=engine)
    assert os.listdir(tmp_path / "o") == []


@pytest.mark.parametrize("hexed", VALID_UTF8)
def test_valid_utf8_edges_read_the_same(tmp_path: Path, hexed: str) -> None:
    db = make_db(
        tmp_path / "u.db", f"create table u(v); insert into u values (cast(x'{hexed}' as text));"
    )
    native = read(db, "select v from u", tmp_path / "n", "native")
    stdlib = read(db, "select v from u", tmp_path / "p", "python")
    assert native.to_pylist() == stdlib.to_pylist() == [{"v": bytes.fromhex(hexed).decode()}]


# --- parameters and statements --------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("sql", "params", "match"),
    [
        ("select :p_x", {}, "p_x"),
        ("select ?", (), "uses 1, and there are 0 supplied"),
        ("select ?", None, "uses 1, and there are 0 supplied"),
        ("select ?, ?", (1, 2, 3), "uses 2, and there are 3 supplied"),
        ("select ?", {"a": 1}, "Binding 1 has no name"),
        ("select :a", {"a": 2**63}, "too large"),
        ("select :a", {"a": object()}, r"Error binding parameter .*'object' is not supported"),
        ("select 1 -- x\n; select 2", None, "single SQL statement"),
        ("select 1; /* */ x", None, "single SQL statement"),
    ],
)
def test_binding_and_statement_errors(
    tmp_path: Path, engine: str, sql: str, params: Any, match: str
) -> None:
    db = make_db(tmp_path / "p.db", "create table p(a);")
    with pytest.raises(QueryError, match=match):
        query_to_parquet(db, sql, params, tmp_path / "o", engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        ("select :p_a as a, :p_b as b", {"p_a": True, "p_b": b"\x01"}, {"a": 1, "b": b"\x01"}),
        ("select ? as a, ? as b", [None, "é"], {"a": None, "b": "é"}),
        ("select ? as a", (2**63 - 1,), {"a": 2**63 - 1}),
        ("select ? as a", (0.5,), {"a": 0.5}),
        ("select ? as a", (bytearray(b"xy"),), {"a": b"xy"}),
        ("select 1 as a; -- done\n/* c */  ", None, {"a": 1}),
    ],
)
def test_parameters_bind_like_the_stdlib(
    tmp_path: Path, engine: str, sql: str, params: Any, expected: dict
) -> None:
    db = make_db(tmp_path / "p.db", "create table p(a);")
    assert read(db, sql, tmp_path / "o", engine, params=params).to_pylist() == [expected]


@pytest.mark.parametrize("engine", ENGINES)
def test_null_character_in_the_query(tmp_path: Path, engine: str) -> None:
    db = make_db(tmp_path / "p.db", "create table p(a);")
    with pytest.raises(QueryError, match="null character"):
        query_to_parquet(db, "select 1\x00; drop table p", None, tmp_path / "o", engine=engine)


def test_float_texts_are_python_reprs() -> None:
    native = reader._native_module()
    values = [0.0, -0.0, 0.1, 1 / 3, 1e16, 1e-5, 1e22, -1.5e-300, math.inf, -math.inf, 123456.0]
    offsets, data = native.float_texts(pa.array(values, pa.float64()).buffers()[1])
    arr = pa.Array.from_buffers(
        pa.string(), len(values), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    assert arr.to_pylist() == [repr(v) for v in values]


# --- which reader ----------------------------------------------------------------------------


def test_unknown_reader_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_db(tmp_path / "p.db", "create table p(a);")
    monkeypatch.setenv(reader.READER_ENV, "fast")
    with pytest.raises(
        ReaderSettingError, match=r"SHIM_SQLITE3_READER='fast'.*auto, native, python"
    ):
        query_to_parquet(db, "select 1", None, tmp_path / "o")
    with pytest.raises(ReaderSettingError, match="engine='C'"):
        query_to_parquet(db, "select 1", None, tmp_path / "o", engine="C")


def _run_without_native(tmp_path: Path, env_value: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter in which the extension cannot be imported, as after an install
    without a C compiler."""
    db = make_db(tmp_path / "p.db", "create table p(a); insert into p values (1.5), ('x');")
    script = textwrap.dedent(
        """
        import json, sys, warnings
        sys.modules["shim_sqlite3._native"] = None  # what an install without the build leaves
        warnings.simplefilter("always")
        from shim_sqlite3.reader import query_to_parquet
        import pyarrow.parquet as pq
        info = query_to_parquet(sys.argv[1], "select a from p", None, sys.argv[2])
        print(json.dumps(pq.read_table(info.files[0]).column("a").to_pylist()))
        """
    )
    env = {**os.environ, reader.READER_ENV: env_value}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "executors" / "sqlite3")])
    return subprocess.run(
        [sys.executable, "-c", script, str(db), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_without_the_extension_auto_falls_back_with_a_warning(tmp_path: Path) -> None:
    proc = _run_without_native(tmp_path, "")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["1.5", "x"]
    assert "native SQLite reader (shim_sqlite3._native) is not built" in proc.stderr
    assert "apt-get install gcc python3-dev libsqlite3-dev" in proc.stderr


def test_without_the_extension_native_fails_clearly(tmp_path: Path) -> None:
    proc = _run_without_native(tmp_path, "native")
    assert proc.returncode != 0
    assert "ReaderSettingError" in proc.stderr
    assert "SHIM_SQLITE3_READER=native but the native SQLite reader" in proc.stderr
    assert "set SHIM_SQLITE3_READER=python" in proc.stderr


# --- the garbage collector is the caller's ---------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_reading_leaves_the_garbage_collector_alone(tmp_path: Path, engine: str) -> None:
    """The reader once turned the cyclic GC off for the whole process while rows streamed:
    other threads of the caller ran without it. Watch it from another thread."""
    n = 300_000
    db = tmp_path / "g.db"
    con = sqlite3.connect(db)
    con.execute("create table g(a, b)")
    con.execute(
        "insert into g with recursive c(i) as (select 0 union all select i + 1 from c "
        f"where i < {n - 1}) select i, 'name-' || i from c"
    )
    con.commit()
    con.close()
    assert gc.isenabled()
    seen: set[bool] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.0005):
            seen.add(gc.isenabled())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        info = query_to_parquet(db, "select a, b from g", None, tmp_path / "o", engine=engine)
    finally:
        done.set()
        watcher.join()
    assert info.num_rows == n
    assert seen == {True}
    assert gc.isenabled()
