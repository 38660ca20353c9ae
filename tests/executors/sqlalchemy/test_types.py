"""Column types: PostgreSQL's types to Arrow by the documented rule (shim_sqlalchemy.result),
read back from the parquet the task wrote; the value-based rule of other dialects (SQLite)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal

import pyarrow as pa
import pytest
from shim_sqlalchemy import SQLAlchemyConfig, SQLAlchemyTask
from shim_sqlalchemy.result import parse_interval

from shim import TaskFailedError

UTC = dt.UTC
U = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

#: (SQL expression, Arrow type, Python value read back)
CASES = [
    ("true", pa.bool_(), True),
    ("7::int2", pa.int16(), 7),
    ("-8::int4", pa.int32(), -8),
    ("9007199254740993::int8", pa.int64(), 9007199254740993),
    ("12::oid", pa.int64(), 12),
    ("1.5::float4", pa.float32(), 1.5),
    ("0.1::float8", pa.float64(), 0.1),
    ("12345.67::numeric(7,2)", pa.decimal128(7, 2), Decimal("12345.67")),
    ("42::numeric(5)", pa.decimal128(5, 0), Decimal("42")),
    (
        "1234567890123456789012345678901234567890.5::numeric(50,1)",
        pa.decimal256(50, 1),
        Decimal("1234567890123456789012345678901234567890.5"),
    ),
    ("3.141592653589793238462643383279::numeric", pa.string(), "3.141592653589793238462643383279"),
    ("0.0000001::numeric", pa.string(), "0.0000001"),
    ("'NaN'::numeric", pa.string(), "NaN"),
    ("'Infinity'::numeric", pa.string(), "Infinity"),
    ("'héllo'::text", pa.string(), "héllo"),
    ("'ab'::varchar(5)", pa.string(), "ab"),
    ("'a'::char(3)", pa.string(), "a  "),
    ("'\\x00ff'::bytea", pa.binary(), b"\x00\xff"),
    (f"'{U}'::uuid", pa.string(), U),
    ("'2024-02-29'::date", pa.date32(), dt.date(2024, 2, 29)),
    (
        "'2024-01-02 03:04:05.123456'::timestamp",
        pa.timestamp("us"),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
    ),
    (
        "'2024-01-02 03:04:05+02'::timestamptz",
        pa.timestamp("us", tz="UTC"),
        dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
    ),
    ("'03:04:05.5'::time", pa.time64("us"), dt.time(3, 4, 5, 500000)),
    ("'03:04:05+02'::timetz", pa.string(), "03:04:05+02"),
    (
        "'1 year 2 mons -3 days 04:05:06.7'::interval",
        pa.struct([("months", pa.int32()), ("days", pa.int32()), ("microseconds", pa.int64())]),
        {"months": 14, "days": -3, "microseconds": 14_706_700_000},
    ),
    ('\'{"b": [1, 2], "a": 1}\'::json', pa.string(), '{"b": [1, 2], "a": 1}'),
    ('\'{"b": [1, 2], "a": 1}\'::jsonb', pa.string(), '{"a": 1, "b": [1, 2]}'),
    ("ARRAY[1, NULL, 3]::int4[]", pa.list_(pa.int32()), [1, None, 3]),
    ("ARRAY['x', 'y']::text[]", pa.list_(pa.string()), ["x", "y"]),
    ("ARRAY[1.5, NULL]::numeric(4,1)[]", pa.list_(pa.decimal128(4, 1)), [Decimal("1.5"), None]),
    ("'{}'::int8[]", pa.list_(pa.int64()), []),
    (
        "ARRAY['2024-01-01'::date]",
        pa.list_(pa.date32()),
        [dt.date(2024, 1, 1)],
    ),
    ("ARRAY['{\"a\":1}'::jsonb]", pa.list_(pa.string()), ['{"a": 1}']),
    ("'192.168.0.1/24'::inet", pa.string(), "192.168.0.1/24"),
    ("12.34::money", pa.string(), "$12.34"),
    ("'[1,5)'::int4range", pa.string(), "[1,5)"),
    ("'<a>x</a>'::xml", pa.string(), "<a>x</a>"),
    ("ROW(1, 'a')", pa.string(), "(1,a)"),
    ("NULL", pa.string(), None),  # an untyped NULL literal is text in PostgreSQL
    # edges of each rule, values exact
    ("false", pa.bool_(), False),
    ("(-32768)::int2", pa.int16(), -32768),
    ("2147483647::int4", pa.int32(), 2147483647),
    ("(-9223372036854775808)::int8", pa.int64(), -9223372036854775808),
    ("'NaN'::float8", pa.float64(), "nan"),  # compared as text: NaN != NaN
    ("'-Infinity'::float8", pa.float64(), float("-inf")),
    ("'-0'::float8", pa.float64(), "-0.0"),
    ("1e308::float8", pa.float64(), 1e308),
    ("'Infinity'::float4", pa.float32(), float("inf")),
    ("(10::numeric ^ 38 - 1)::numeric(38,0)", pa.decimal128(38, 0), Decimal("9" * 38)),
    ("(-0.5)::numeric(1,1)", pa.decimal128(1, 1), Decimal("-0.5")),
    ("1.5::numeric(80,1)", pa.string(), "1.5"),  # beyond decimal256: its text
    ("123::numeric(5,-2)", pa.string(), "100"),  # negative scale (PostgreSQL 15+): its text
    ("0.00012::numeric(3,5)", pa.string(), "0.00012"),  # scale > precision: its text
    ("1e-20::numeric", pa.string(), "0.00000000000000000001"),
    ("''::text", pa.string(), ""),  # empty, not NULL
    ("'a\u00e9\u4e2d\U0001f600'::text", pa.string(), "a\u00e9\u4e2d\U0001f600"),
    ("'abc'::name", pa.string(), "abc"),
    ("''::bytea", pa.binary(), b""),
    (f"'{U.upper()}'::uuid", pa.string(), U),
    ("'1969-12-31'::date", pa.date32(), dt.date(1969, 12, 31)),
    ("'0001-01-01'::date", pa.date32(), dt.date(1, 1, 1)),
    (
        "'1969-12-31 23:59:59.999999'::timestamp",
        pa.timestamp("us"),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
    ),
    (
        "'1900-01-01 00:00:00+05:53:28'::timestamptz",  # an offset in seconds (LMT)
        pa.timestamp("us", tz="UTC"),
        dt.datetime(1899, 12, 31, 18, 6, 32, tzinfo=UTC),
    ),
    ("'00:00:00'::time", pa.time64("us"), dt.time(0, 0)),
    ("'23:59:59.999999'::time", pa.time64("us"), dt.time(23, 59, 59, 999999)),
    (
        "'-1.5 seconds'::interval",
        pa.struct([("months", pa.int32()), ("days", pa.int32()), ("microseconds", pa.int64())]),
        {"months": 0, "days": 0, "microseconds": -1_500_000},
    ),
    ("'null'::json", pa.string(), "null"),  # JSON's null: a value, not SQL's NULL
    ('\'{"\u00e9": "x"}\'::jsonb', pa.string(), '{"\u00e9": "x"}'),
    ("ARRAY[true, NULL]", pa.list_(pa.bool_()), [True, None]),
    ("ARRAY[1::int2]", pa.list_(pa.int16()), [1]),
    ("ARRAY[0.5::float8, 'NaN']", pa.list_(pa.float64()), "[0.5, nan]"),
    ("ARRAY['', NULL, 'z']::text[]", pa.list_(pa.string()), ["", None, "z"]),
    ("ARRAY['\\x01'::bytea, NULL]", pa.list_(pa.binary()), [b"\x01", None]),
    (f"ARRAY['{U}'::uuid]", pa.list_(pa.string()), [U]),
    (
        "ARRAY['2024-01-02 03:04:05'::timestamp]",
        pa.list_(pa.timestamp("us")),
        [dt.datetime(2024, 1, 2, 3, 4, 5)],
    ),
    (
        "ARRAY['2024-01-02 03:04:05+02'::timestamptz, NULL]",
        pa.list_(pa.timestamp("us", tz="UTC")),
        [dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC), None],
    ),
    ("ARRAY['03:04:05'::time]", pa.list_(pa.time64("us")), [dt.time(3, 4, 5)]),
    (
        "ARRAY['1 mon'::interval, NULL]",
        pa.list_(
            pa.struct([("months", pa.int32()), ("days", pa.int32()), ("microseconds", pa.int64())])
        ),
        [{"months": 1, "days": 0, "microseconds": 0}, None],
    ),
    ("ARRAY[1.25::numeric]", pa.list_(pa.string()), ["1.25"]),
    ("ARRAY['{\"a\": 1}'::json]", pa.list_(pa.string()), ['{"a": 1}']),
    ("ARRAY[NULL::int4, NULL]", pa.list_(pa.int32()), [None, None]),
]

#: every type of the rule, as a NULL-only column: typed by PostgreSQL's type, all NULL
NULL_TYPES = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "numeric(6,2)": pa.decimal128(6, 2),
    "numeric(50,2)": pa.decimal256(50, 2),
    "numeric": pa.string(),
    "text": pa.string(),
    "varchar(3)": pa.string(),
    "char(2)": pa.string(),
    "bytea": pa.binary(),
    "uuid": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "timetz": pa.string(),
    "interval": pa.struct(
        [("months", pa.int32()), ("days", pa.int32()), ("microseconds", pa.int64())]
    ),
    "json": pa.string(),
    "jsonb": pa.string(),
    "int4[]": pa.list_(pa.int32()),
    "numeric(4,1)[]": pa.list_(pa.decimal128(4, 1)),
    "timestamptz[]": pa.list_(pa.timestamp("us", tz="UTC")),
}


@pytest.fixture(scope="module")
def all_types(postgres, tmp_path_factory):
    """One query selecting every case, run once through a task (in-process)."""
    postgres.psql(
        "DO $$ BEGIN CREATE TYPE mood AS ENUM ('sad', 'happy'); "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        user="shim_test",
    )
    select = ", ".join(f"{expr} AS c{i}" for i, (expr, _, _) in enumerate(CASES))
    select += ", 'happy'::mood AS mood"
    return _select(postgres, tmp_path_factory, f"SELECT {select}")


def _select(postgres, tmp_path_factory, query: str) -> pa.Table:
    """``query`` run once through a task (in-process), its result as read from parquet."""
    import os

    old = {k: os.environ.get(k) for k in ("_FSEC_PG_PASSWORD", "SHIM_LOCAL_STORE")}
    os.environ["_FSEC_PG_PASSWORD"] = postgres.password
    os.environ["SHIM_LOCAL_STORE"] = str(tmp_path_factory.mktemp("store"))
    try:
        from tests.executors.sqlalchemy.conftest import make_task

        return make_task(postgres, query)().to_arrow()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _same(got: list, value: object) -> bool:
    """``got`` is ``[value]``; a str ``value`` for a float column compares the text (NaN)."""
    if isinstance(value, str) and got and not isinstance(got[0], str):
        return str(got[0]) == value
    return got == [value]


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0][:40] for c in CASES])
def test_postgres_type_maps_by_the_rule(all_types, i):
    expr, arrow_type, value = CASES[i]
    field = all_types.schema.field(f"c{i}")
    assert field.type == arrow_type, expr
    assert _same(all_types.column(f"c{i}").to_pylist(), value), expr


#: the cases a table column can hold (not an anonymous record)
IN_TABLES = [i for i, c in enumerate(CASES) if not c[0].startswith("ROW(")]


@pytest.fixture(scope="module")
def all_types_between_nulls(postgres, tmp_path_factory):
    """Every case in rows 1 and 3 of a three-row table, NULL in row 2 (a table keeps the
    type modifiers, numeric(p, s), that a CASE or a UNION would drop)."""
    cols = ", ".join(f"{CASES[i][0]} AS c{i}" for i in IN_TABLES)
    nulls = ", ".join(f"c{i} = NULL" for i in IN_TABLES)
    postgres.psql(
        "DROP TABLE IF EXISTS type_cases; "
        f"CREATE TABLE type_cases AS SELECT g, {cols} FROM generate_series(1, 3) g; "
        f"UPDATE type_cases SET {nulls} WHERE g = 2",
        user="shim_test",
    )
    select = ", ".join(f"c{i}" for i in IN_TABLES)
    return _select(postgres, tmp_path_factory, f"SELECT {select} FROM type_cases ORDER BY g")


@pytest.mark.parametrize("i", IN_TABLES, ids=[CASES[i][0][:40] for i in IN_TABLES])
def test_postgres_type_maps_by_the_rule_between_nulls(all_types_between_nulls, i):
    expr, arrow_type, value = CASES[i]
    col = all_types_between_nulls.column(f"c{i}")
    assert col.type == arrow_type, expr
    values = col.to_pylist()
    assert values[1] is None, expr
    assert _same(values[:1], value) and _same(values[2:], value), expr


def test_null_only_columns_keep_their_declared_types(postgres, tmp_path_factory):
    cols = ", ".join(f"NULL::{t} AS c{i}" for i, t in enumerate(NULL_TYPES))
    table = _select(postgres, tmp_path_factory, f"SELECT {cols} FROM generate_series(1, 3)")
    for i, (sql_type, arrow_type) in enumerate(NULL_TYPES.items()):
        col = table.column(f"c{i}")
        assert col.type == arrow_type, sql_type
        assert col.null_count == 3, sql_type


def test_postgres_type_names_are_kept_in_field_metadata(all_types):
    meta = {f.name: (f.metadata or {}).get(b"sql_type") for f in all_types.schema}
    assert meta["c7"] == b"numeric(7,2)"
    assert meta["c24"] == b"interval"
    assert meta["c27"] == b"int4[]"
    assert meta["mood"].startswith(b"oid ")


def test_enum_of_an_unknown_type_is_its_text(all_types):
    assert all_types.column("mood").to_pylist() == ["happy"]


def test_null_only_column_keeps_its_declared_type_across_batches(pg_task):
    """A column NULL in every row of every batch is still typed by PostgreSQL's type."""
    t = pg_task("SELECT g AS id, NULL::numeric(6,2) AS amount FROM generate_series(1, 25000) g")
    table = t().to_arrow()
    assert table.num_rows == 25000
    assert table.schema.field("amount").type == pa.decimal128(6, 2)
    assert table.column("amount").null_count == 25000


def test_types_do_not_depend_on_batch_boundaries(pg_task):
    """Values change from NULL to present after the first fetch: same type throughout."""
    t = pg_task(
        "SELECT CASE WHEN g > 15000 THEN g * 1.5 END::numeric AS x FROM generate_series(1, 20000) g"
    )
    col = t().to_arrow().column("x")
    assert col.type == pa.string() and col.null_count == 15000
    assert col.to_pylist()[-1] == "30000.0"


def test_multi_dimensional_array_is_refused_with_advice(pg_task):
    with pytest.raises(TaskFailedError) as err:
        pg_task("SELECT ARRAY[[1, 2], [3, 4]] AS grid")()
    e = err.value
    assert (e.code, e.kind) == ("USER:UnrepresentableValue", "NON_RECOVERABLE")
    assert "'grid'" in str(e) and "one-dimensional" in str(e)


@pytest.mark.parametrize(
    "expr", ["'10000-01-01'::date", "'infinity'::date", "'24:00:00'::time", "'4713-01-01 BC'::date"]
)
def test_date_beyond_python_range_is_refused_with_advice(pg_task, expr):
    with pytest.raises(TaskFailedError) as err:
        pg_task(f"SELECT {expr} AS d")()
    assert err.value.code == "USER:UnrepresentableValue"
    assert "cast the column to text" in str(err.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("00:00:00", (0, 0, 0)),
        ("1 day", (0, 1, 0)),
        ("-1 days +02:03:00", (0, -1, 7_380_000_000)),
        ("2 years", (24, 0, 0)),
        ("1 mon -00:00:01.5", (1, 0, -1_500_000)),
        ("-1 years -2 mons", (-14, 0, 0)),
        ("1000000:00:00", (0, 0, 3_600_000_000_000_000)),
        ("00:00:00.000001", (0, 0, 1)),
    ],
)
def test_parse_interval(text, expected):
    assert parse_interval(text) == expected


def test_parse_interval_refuses_other_styles():
    with pytest.raises(ValueError, match="IntervalStyle"):
        parse_interval("P1Y2M")


def test_other_dialects_type_columns_from_values(tmp_path, monkeypatch):
    """SQLite through SQLAlchemy: the value-based rule, NULL-only columns null, read-only."""
    monkeypatch.setenv("SHIM_LOCAL_STORE", str(tmp_path / "store"))
    db = tmp_path / "x.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (i INTEGER, f REAL, s TEXT, b BLOB, n INTEGER)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, NULL)",
        [(i, i / 2, f"s{i}", bytes([i])) for i in range(3)],
    )
    con.commit()
    con.close()
    t = SQLAlchemyTask(
        name="tests.sqlite_via_sqlalchemy",
        query_template="SELECT * FROM t WHERE i >= {{ .inputs.lo }} ORDER BY i",
        inputs={"lo": int},
        task_config=SQLAlchemyConfig(uri=f"sqlite:///{db}"),
    )
    table = t(lo=1).to_arrow()
    assert [str(f.type) for f in table.schema] == ["int64", "double", "string", "binary", "null"]
    assert table.to_pylist() == [
        {"i": 1, "f": 0.5, "s": "s1", "b": b"\x01", "n": None},
        {"i": 2, "f": 1.0, "s": "s2", "b": b"\x02", "n": None},
    ]
    w = SQLAlchemyTask(
        name="tests.sqlite_write",
        query_template="DELETE FROM t RETURNING i",
        task_config=SQLAlchemyConfig(uri=f"sqlite:///{db}"),
    )
    with pytest.raises(TaskFailedError) as err:
        w()
    assert "readonly" in str(err.value).lower().replace("-", "")
    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_values_are_exact_whatever_the_role_sets_for_output(pg, pg_task):
    """A role (or database) may set DateStyle, IntervalStyle, extra_float_digits and TimeZone:
    the task reads the same values (psycopg parses only ISO dates; extra_float_digits <= 0
    rounds floats), and a date literal is still read in the role's DMY order."""
    pg.psql(
        "DO $$ BEGIN CREATE ROLE styled LOGIN PASSWORD "
        f"'{pg.password}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$; "
        "ALTER ROLE styled SET DateStyle = 'SQL, DMY'; "
        "ALTER ROLE styled SET IntervalStyle = 'iso_8601'; "
        "ALTER ROLE styled SET extra_float_digits = -3; "
        "ALTER ROLE styled SET TimeZone = 'Asia/Kolkata'",
        database="postgres",
    )
    query = (
        "SELECT '2024-02-29'::date AS d, '2024-01-02 03:04:05.5'::timestamp AS ts, "
        "'2024-01-02 03:04:05+02'::timestamptz AS tz, "
        "'1 year 2 mons -3 days 04:05:06.7'::interval AS iv, 1/3::float8 AS f8, "
        "0.1::float4 AS f4, ARRAY['2024-02-29'::date] AS ds, ARRAY[1/3::float8] AS fs, "
        "'01/02/2024'::date AS dmy, current_setting('DateStyle') AS style"
    )
    default = pg_task(query)().to_arrow().to_pylist()[0]
    styled = pg_task(query, uri=pg.url(user="styled"))().to_arrow().to_pylist()[0]
    assert styled.pop("style") == "ISO, DMY"  # the output part is set; the input order kept
    assert default.pop("style") == "ISO, MDY"
    assert styled.pop("dmy") == dt.date(2024, 2, 1)
    assert default.pop("dmy") == dt.date(2024, 1, 2)
    assert (
        styled
        == default
        == {
            "d": dt.date(2024, 2, 29),
            "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 500000),
            "tz": dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
            "iv": {"months": 14, "days": -3, "microseconds": 14_706_700_000},
            "f8": 1 / 3,
            "f4": pa.scalar(0.1, pa.float32()).as_py(),
            "ds": [dt.date(2024, 2, 29)],
            "fs": [1 / 3],
        }
    )
