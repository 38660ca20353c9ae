"""Rows of a query result -> Arrow record batches -> one parquet file, in constant memory.

Column types (the rule, documented in docs/sqlalchemy.md)
    With PostgreSQL through psycopg 3 the Arrow type of a column comes from the column's
    PostgreSQL type (its OID and type modifier in the result description), so it is the same
    whatever the values and however many rows come back, NULL-only columns included:

    ================================= ============================================
    PostgreSQL                        Arrow / parquet
    ================================= ============================================
    boolean                           bool
    smallint / integer / bigint       int16 / int32 / int64 (oid: int64)
    real / double precision           float32 / float64
    numeric(p, s), 0 <= s <= p <= 38  decimal128(p, s)
    numeric(p, s), 38 < p <= 76       decimal256(p, s)
    numeric without precision (or     string: the exact decimal text PostgreSQL
    other p, s)                       prints ("3.14159", "NaN", "Infinity"); never
                                      a float
    text, varchar, char(n), name      string (char(n) keeps its padding)
    bytea                             binary
    uuid                              string, canonical form
    date                              date32
    timestamp                         timestamp[us] (no time zone)
    timestamp with time zone          timestamp[us, tz=UTC] (the instant)
    time                              time64[us]
    interval                          struct<months: int32, days: int32,
                                      microseconds: int64> (PostgreSQL's own three
                                      fields: no month is ever turned into days)
    json, jsonb                       string: the JSON text as the server sends it
    T[] (one dimension)               list<the type of T by these rules>
    anything else (enums, inet, time  string: PostgreSQL's text output of the value
    with time zone, money, ranges,
    xml, composite, ...)
    ================================= ============================================

    A value a declared type cannot hold in Arrow fails the query with
    :class:`UnrepresentableValueError` naming the column and what to do (``NaN`` in a
    ``numeric(p, s)`` column, a multi-dimensional array, a date PostgreSQL allows but Python
    does not: ``infinity``, BC, after year 9999).

    Other dialects and drivers: the type is chosen from the first non-NULL value of the
    column (bool, int -> int64, float -> float64, Decimal -> string, str -> string, bytes ->
    binary, datetime -> timestamp[us] (UTC when aware), date -> date32, time -> time64[us],
    timedelta -> duration[us], dict/list -> JSON string, other -> str()); a column still all
    NULL when the first row group is written is ``null``. A later value that does not fit
    the column's type fails with :class:`UnrepresentableValueError` (cast it in the query).

Memory
    Rows are fetched ``fetch_rows`` at a time, each chunk becomes an Arrow record batch at
    once (:func:`shim.sql.results.array_from_values`: no pandas import), and row groups of at
    most ``batch_rows`` rows (or about 16 MiB) are encoded by a background thread
    (:class:`shim.sql.results.RowGroupWriter`). At most one row group is gathering while the
    previous one is written.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from shim.sql.results import RESULT_FILE, RowGroupWriter, array_from_values, unique_names
from shim_sqlalchemy.errors import UnrepresentableValueError

__all__ = [
    "RESULT_FILE",
    "Column",
    "ParquetSink",
    "generic_columns",
    "postgres_columns",
    "unique_names",
]

INTERVAL = pa.struct([("months", pa.int32()), ("days", pa.int32()), ("microseconds", pa.int64())])


@dataclass
class Column:
    """One result column: its name, Arrow type and how a chunk of its values becomes an array.

    ``kind``: ``native`` (``pa.array`` of the values), ``decimal`` (decimal text cast to the
    decimal type), ``interval`` (PostgreSQL interval text parsed), ``text`` (``str`` values),
    ``generic`` (type still to be chosen from the values); ``list_of`` the element kind of a
    list column. ``sql_type`` is the database's name of the type, kept in the field's
    metadata.
    """

    name: str
    type: pa.DataType
    kind: str = "native"
    sql_type: str = ""
    list_of: str | None = None
    convert: Callable[[Any], Any] | None = None

    def field(self) -> pa.Field:
        meta = {"sql_type": self.sql_type} if self.sql_type else None
        return pa.field(self.name, self.type, metadata=meta)

    def to_array(self, values: Sequence[Any]) -> pa.Array:
        try:
            if self.list_of is not None:
                return _list_array(self, values)
            return _CONVERT[self.kind](self, values)
        except UnrepresentableValueError:
            raise
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
            raise UnrepresentableValueError(_unrepresentable(self, e)) from None


def _unrepresentable(col: Column, e: BaseException) -> str:
    detail = str(e).splitlines()[0] if str(e) else type(e).__name__
    if col.kind == "decimal" or col.list_of == "decimal":
        advice = (
            f"a value does not fit {col.type} (NaN and infinities have no decimal form); cast "
            f"the column to text ({col.name}::text) or to double precision in the query"
        )
    elif col.list_of is not None:
        advice = (
            "only one-dimensional arrays are supported; unnest the array or cast it to text "
            "in the query"
        )
    else:
        advice = f"cast the column in the query so that every value fits one type ({col.type})"
    return f"column {col.name!r} ({col.sql_type or col.type}): {detail}; {advice}"


# --- converters --------------------------------------------------------------------------------


def _native(col: Column, values: Sequence[Any]) -> pa.Array:
    return array_from_values(values, col.type)


def _decimal(col: Column, values: Sequence[Any]) -> pa.Array:
    return array_from_values(values, pa.string()).cast(col.type)


def _text(col: Column, values: Sequence[Any]) -> pa.Array:
    return array_from_values(values, pa.string())


_INTERVAL_RE = re.compile(
    r"^(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?"
    r"(?:([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?$"
)


def parse_interval(text: str) -> tuple[int, int, int]:
    """PostgreSQL's interval text in the ``postgres`` IntervalStyle (which the executor's
    transaction sets), e.g.
    ``1 year 2 mons -3 days +04:05:06.5`` -> ``(months, days, microseconds)``."""
    m = _INTERVAL_RE.match(text.strip())
    if m is None or not text.strip():
        raise ValueError(
            f"interval {text!r} is not in PostgreSQL's 'postgres' IntervalStyle; cast the "
            "column to text"
        )
    years, months, days, sign, hh, mm, ss, frac = m.groups()
    total_months = int(years or 0) * 12 + int(months or 0)
    micros = 0
    if hh is not None:
        micros = ((int(hh) * 60 + int(mm)) * 60 + int(ss)) * 1_000_000
        micros += int((frac or "0").ljust(6, "0"))
        if sign == "-":
            micros = -micros
    return total_months, int(days or 0), micros


def _interval_value(v: Any) -> Any:
    if v is None:
        return None
    months, days, micros = parse_interval(v)
    return {"months": months, "days": days, "microseconds": micros}


def _interval(col: Column, values: Sequence[Any]) -> pa.Array:
    return array_from_values([_interval_value(v) for v in values], INTERVAL)


def _list_array(col: Column, values: Sequence[Any]) -> pa.Array:
    kind = col.list_of
    elem = col.type.value_type
    if kind == "decimal":
        return array_from_values(values, pa.list_(pa.string())).cast(col.type)
    if kind == "interval":
        values = [None if v is None else [_interval_value(x) for x in v] for v in values]
        return array_from_values(values, pa.list_(INTERVAL))
    return array_from_values(values, pa.list_(elem))


def _json_text(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=False, default=str)


def _generic_type(value: Any) -> tuple[pa.DataType, Callable[[Any], Any] | None]:
    """The Arrow type for a Python value of a non-PostgreSQL driver, and how to convert it."""
    if isinstance(value, bool):
        return pa.bool_(), None
    if isinstance(value, int):
        return pa.int64(), None
    if isinstance(value, float):
        return pa.float64(), None
    if isinstance(value, str):
        return pa.string(), None
    if isinstance(value, bytes | bytearray | memoryview):
        return pa.binary(), bytes
    if isinstance(value, _dt.datetime):
        aware = value.tzinfo is not None and value.utcoffset() is not None
        return pa.timestamp("us", tz="UTC" if aware else None), None
    if isinstance(value, _dt.date):
        return pa.date32(), None
    if isinstance(value, _dt.time):
        if value.tzinfo is not None:
            return pa.string(), _dt.time.isoformat
        return pa.time64("us"), None
    if isinstance(value, _dt.timedelta):
        return pa.duration("us"), None
    if isinstance(value, decimal.Decimal):
        return pa.string(), str
    if isinstance(value, dict | list):
        return pa.string(), _json_text
    return pa.string(), str


def _generic(col: Column, values: Sequence[Any]) -> pa.Array:
    if pa.types.is_null(col.type):
        first = next((v for v in values if v is not None), None)
        if first is None:
            return pa.nulls(len(values))
        col.type, col.convert = _generic_type(first)
    if col.convert is not None:
        convert = col.convert
        values = [None if v is None else convert(v) for v in values]
    return array_from_values(values, col.type)


_CONVERT: dict[str, Callable[[Column, Sequence[Any]], pa.Array]] = {
    "native": _native,
    "decimal": _decimal,
    "text": _text,
    "interval": _interval,
    "generic": _generic,
}


# --- planning from the result description -------------------------------------------------------

_PG_NATIVE: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "char": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
}

#: PostgreSQL types psycopg loads with its own (C) loaders: every other type is loaded as
#: the server's text (see :func:`text_loaded_oids`).
PG_NATIVE_TYPES = frozenset(_PG_NATIVE)


def _decimal_type(precision: int | None, scale: int | None) -> pa.DataType | None:
    if precision is None or scale is None or not 0 <= scale <= precision:
        return None
    if 1 <= precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    return None


def _pg_scalar(name: str, precision: int | None, scale: int | None) -> tuple[pa.DataType, str]:
    if name in _PG_NATIVE:
        return _PG_NATIVE[name], "native"
    if name == "numeric":
        t = _decimal_type(precision, scale)
        return (t, "decimal") if t is not None else (pa.string(), "text")
    if name == "interval":
        return INTERVAL, "interval"
    return pa.string(), "text"


def postgres_columns(description: Sequence[Any], types: Any, names: list[str]) -> list[Column]:
    """Columns for a psycopg 3 result ``description`` (``types``: psycopg's type registry,
    e.g. ``connection.adapters.types``); ``names`` are the unique column names."""
    cols = []
    for d, name in zip(description, names, strict=True):
        oid = d.type_code
        info = types.get(oid)  # psycopg's registry finds a type by its oid or its array's
        precision = getattr(d, "precision", None)
        scale = getattr(d, "scale", None)
        if info is None:  # a type psycopg does not know (an enum, an extension's): its text
            cols.append(Column(name, pa.string(), "text", f"oid {oid}"))
            continue
        t, kind = _pg_scalar(info.name, precision, scale)
        sql_type = info.name
        if info.name == "numeric" and precision is not None:
            sql_type = f"numeric({precision},{scale})"
        if info.oid != oid and getattr(info, "array_oid", None) == oid:
            cols.append(Column(name, pa.list_(t), kind, f"{sql_type}[]", list_of=kind))
        else:
            cols.append(Column(name, t, kind, sql_type))
    return cols


def _iter_types(types: Any) -> list[Any]:
    seen: dict[int, Any] = {}
    for info in types:
        seen.setdefault(id(info), info)
    return list(seen.values())


def text_loaded_oids(types: Any) -> list[int]:
    """OIDs of the base types psycopg knows whose values shimkit takes as the server's text
    (every type not in :data:`PG_NATIVE_TYPES`; arrays keep psycopg's array loader, which
    loads their elements the same way)."""
    return [info.oid for info in _iter_types(types) if info.name not in PG_NATIVE_TYPES]


def generic_columns(names: list[str]) -> list[Column]:
    """Columns whose types are chosen from the values (non-PostgreSQL drivers)."""
    return [Column(n, pa.null(), "generic") for n in names]


# --- writing ------------------------------------------------------------------------------------


class ParquetSink:
    """Turns chunks of rows into record batches for a :class:`RowGroupWriter`.

    ``close()`` returns the number of rows written. On failure call ``abort()``: the file is
    removed.
    """

    def __init__(self, target: Path, columns: list[Column], batch_rows: int) -> None:
        self.columns = columns
        self.writer = RowGroupWriter(
            target,
            batch_rows,
            thread_name="shim-sqlalchemy-parquet",
            memory_pool=pa.system_memory_pool(),
        )

    def schema(self) -> pa.Schema:
        return pa.schema([c.field() for c in self.columns])

    def add(self, rows: Sequence[Sequence[Any]]) -> int:
        """Add a chunk of rows; returns the size of their Arrow data in bytes."""
        if not self.columns:  # SELECT FROM t: rows without columns (counted, not stored)
            self.writer.num_rows += len(rows)
            return 0
        before = [c.type for c in self.columns]
        columns = zip(*rows, strict=True)
        arrays = [c.to_array(vals) for c, vals in zip(self.columns, columns, strict=True)]
        changed = [c.name for c, t in zip(self.columns, before, strict=True) if c.type != t]
        if changed:  # a value-typed column got its type from its first non-NULL value
            if self.writer.started:
                raise UnrepresentableValueError(
                    f"column(s) {', '.join(map(repr, changed))} were all NULL in the first "
                    f"{self.writer.num_rows} rows, written as null-typed; later values do not "
                    "fit: cast the column(s) to a type in the query"
                )
            self._settle_generic()
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema())
        self.writer.add(batch)
        return batch.nbytes

    def _settle_generic(self) -> None:
        """A generic column got its type: earlier pending chunks of all-NULL values follow."""
        schema = self.schema()
        self.writer.pending = [
            pa.RecordBatch.from_arrays(
                [
                    col if col.type == f.type else pa.nulls(len(col), type=f.type)
                    for col, f in zip(b.columns, schema, strict=True)
                ],
                schema=schema,
            )
            for b in self.writer.pending
        ]

    def close(self) -> int:
        return self.writer.close(self.schema())

    def abort(self) -> None:
        self.writer.abort()
