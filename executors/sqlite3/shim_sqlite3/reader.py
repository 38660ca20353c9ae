"""Run one read-only query against an SQLite file and stream the rows into parquet.

:func:`query_to_parquet` is what the SQLite3 executor calls. Memory stays flat however many
rows the query returns: rows are fetched a few thousand at a time, turned into Arrow arrays
and written as parquet row groups of at most ``batch_rows`` rows (or about 64 MiB).

Read-only, for real
    The database is opened with the URI ``file:<path>?mode=ro&immutable=1``, with
    ``PRAGMA query_only`` on and ``ATTACH`` disabled (limit 0, which also stops
    ``VACUUM [INTO]``). Writes fail inside SQLite with SQLite's own message and the file is
    never modified. ``immutable=1`` tells SQLite that nobody changes the file while it is
    open, so it takes no locks and creates no ``-wal``/``-shm``/journal files (the directory
    may be read-only). That holds for the two places a task's database comes from: a copy
    downloaded for this run, and a file inside the image. A caller that points at a database
    another process writes concurrently must pass ``immutable=False``. A ``-wal`` file lying
    next to the database is ignored: checkpoint a WAL database before shipping it.

One statement
    The query must be a single statement that returns rows (``SELECT``, ``WITH``,
    ``VALUES``, a read-only ``PRAGMA``). Several statements, a statement that returns no
    columns, a syntax error, a write: :class:`QueryError` with SQLite's message.

Types (SQLite is dynamically typed: a column's values may have different storage classes)
    The parquet type of a column is the narrowest of ``null < int64 < float64 < string <
    binary`` that holds every value the query returned in it, whatever the declared types:

    ==================================== ==========================================
    values in the column (NULLs aside)    parquet column
    ==================================== ==========================================
    none (all NULL, or no rows)          ``null``
    INTEGER                              ``int64``
    REAL, or INTEGER and REAL            ``float64`` (integers beyond 2**53 round)
    TEXT with or without numbers         ``string``: numbers as Python's ``str()``
                                         (``1`` -> ``"1"``, ``0.5`` -> ``"0.5"``, shortest
                                         round-trip form for floats)
    BLOB with anything else              ``binary``: TEXT as its UTF-8 bytes, numbers as
                                         the bytes of their ``str()``
    ==================================== ==========================================

    The result does not depend on batch boundaries: when a later batch needs a wider type,
    the part already written is rewritten with it (rare, and at most four times a column).
    TEXT that is not valid UTF-8 cannot be a string: :class:`QueryError` suggesting
    ``CAST(col AS BLOB)``. Column names come from SQLite; a repeated name gets a suffix
    (``id``, ``id_1``) because parquet readers reject duplicates.

Speed: the native reader
    Rows are read by ``shim_sqlite3._native`` (C, ``src/_native.c``, built when the package
    is installed): it steps the statement with the GIL released and appends each value, by
    its own storage class and with the rules above, to Arrow buffers (validity bitmap, int64
    / float64 values, int32 offsets + bytes), ``batch_rows`` rows at a time. A column starts
    each batch at the widest type reached so far, so only batches written before a widening
    are ever rewritten. Parquet row groups are encoded by a background thread (pyarrow
    releases the GIL), so writing overlaps reading. It links against the system's
    libsqlite3, the library the stdlib module uses.

    When the extension is not built (no C compiler at install time) the stdlib ``sqlite3``
    module reads the rows instead (``fetchmany``, one Python object per value): the same
    results, several times slower, with a warning. ``SHIM_SQLITE3_READER`` (or the
    ``engine`` argument) chooses: ``auto`` (default), ``native`` (fail if it is not built),
    ``python``. ``bench/readers.py`` compares the candidates (ADBC, connectorx, apsw,
    DuckDB's sqlite scanner, the stdlib module, this reader) on speed, memory and these
    typing rules: ``bench/READERS.md``.
"""

from __future__ import annotations

import array
import itertools
import operator
import os
import sqlite3
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shim.errors import RecoverableError, UserError
from shim.sql import errors as _sql_errors
from shim.sql.results import avoid_pandas as _avoid_pandas
from shim.sql.results import unique_names as _unique_names

__all__ = [
    "DatabaseBusyError",
    "DatabaseError",
    "QueryError",
    "ReaderSettingError",
    "ResultInfo",
    "connect_readonly",
    "query_to_parquet",
]

#: Name of the (single) parquet file written in ``out_dir``.
RESULT_FILE = "00000"

_FETCH_ROWS = 8192  # rows fetched from SQLite per call
_MAX_BATCH_BYTES = 64 * 1024 * 1024  # a row group is written once it holds this much
_MAX_SQL_IN_MESSAGE = 1000
_DICTIONARY_PAGE_BYTES = 64 * 1024  # see _ParquetSink._new_writer

# type ranks: a column's type only ever widens along this order
_NULL, _INT, _FLOAT, _STR, _BLOB = range(5)
_ARROW_TYPES = [pa.null(), pa.int64(), pa.float64(), pa.string(), pa.binary()]
_RANK_OF_PYTYPE = {int: _INT, float: _FLOAT, str: _STR, bytes: _BLOB}
_ARROW_PYTYPES = [type(None), int, float, str, bytes]


class QueryError(_sql_errors.QueryError):
    """The query failed in SQLite: syntax, unknown table, a write attempt, several statements."""


class DatabaseError(UserError):
    """The database file cannot be read: missing, not an SQLite database, or corrupt."""

    code = "BadDatabase"


class DatabaseBusyError(RecoverableError):
    """The database is locked by another process (only possible with ``immutable=False``)."""

    code = "DatabaseBusy"


class ReaderSettingError(UserError):
    """``SHIM_SQLITE3_READER`` (or ``engine=``) names no reader, or asks for the native one
    where it is not built."""

    code = "ReaderSetting"


@dataclass(frozen=True)
class ResultInfo:
    """What :func:`query_to_parquet` wrote."""

    num_rows: int
    schema: pa.Schema
    files: list[Path] = field(default_factory=list)


# --- connection and errors ----------------------------------------------------------------------


def connect_readonly(
    db_path: str | os.PathLike[str], *, immutable: bool = True
) -> sqlite3.Connection:
    """Open ``db_path`` read-only (see the module docstring). Raises :class:`DatabaseError`."""
    path = Path(db_path)
    uri = _readonly_uri(path, immutable)
    try:
        con = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise _database_error(exc, path) from exc
    try:
        con.execute("PRAGMA query_only = ON")
        con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    except sqlite3.Error as exc:
        con.close()
        raise _database_error(exc, path) from exc
    return con


def _readonly_uri(path: Path, immutable: bool) -> str:
    if not path.is_file():
        raise DatabaseError(f"database file {str(path)!r} does not exist or is not a file")
    return path.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")


def _database_error(exc: Exception, path: Path) -> DatabaseError:
    return DatabaseError(
        f"cannot read the SQLite database {str(path)!r}: {exc}; check that the task's uri "
        "points to an SQLite 3 database file (and set compressed=True for an archive)"
    )


_DB_FILE_ERRORS = {"SQLITE_NOTADB", "SQLITE_CORRUPT", "SQLITE_CANTOPEN", "SQLITE_IOERR"}


def _query_error(exc: Exception, sql: str, path: Path) -> UserError:
    name = getattr(exc, "sqlite_errorname", None) or ""
    if name.split("_")[:2] == ["SQLITE", "IOERR"] or name in _DB_FILE_ERRORS:
        return _database_error(exc, path)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DatabaseBusyError(f"the SQLite database {str(path)!r} is locked: {exc}")
    msg = str(exc)
    if name.startswith("SQLITE_READONLY"):
        msg += " (the database is opened read-only: a task's query can only read)"
    elif "too many attached databases" in msg:
        msg += " (ATTACH and VACUUM are not allowed: a task's query reads one database)"
    elif "one statement at a time" in msg:
        msg = f"the query must be a single SQL statement ({msg})"
    elif "Could not decode to UTF-8" in msg:
        msg += (
            " (the column holds TEXT that is not valid UTF-8; select it as CAST(col AS BLOB)"
            " to get its bytes)"
        )
    shown = sql if len(sql) <= _MAX_SQL_IN_MESSAGE else sql[:_MAX_SQL_IN_MESSAGE] + "..."
    return QueryError(f"{msg}\nquery: {shown}")


# --- type handling ---------------------------------------------------------------------------


def _num_to_str(value: int | float) -> str:
    return repr(value) if type(value) is float else str(value)


def _column_rank(values: Sequence[Any]) -> tuple[int, set[type]]:
    """The rank of one column of one chunk and the storage classes seen (``NoneType``
    included when there are NULLs)."""
    kinds = set(map(type, values))
    ranks = [_RANK_OF_PYTYPE[k] for k in kinds if k is not _NONE_TYPE]
    return (max(ranks) if ranks else _NULL), kinds


_NONE_TYPE = type(None)


def _validity(values: Sequence[Any]) -> pa.Buffer:
    import numpy as np  # pandas is installed, so numpy is

    present = bytes(map(operator.is_not, values, itertools.repeat(None)))
    return pa.py_buffer(np.packbits(np.frombuffer(present, dtype=np.uint8), bitorder="little"))


def _array_from_buffers(values: Sequence[Any], rank: int, has_null: bool) -> pa.Array | None:
    """The arrow array of ``values`` (all of ``rank``'s Python type, or None) assembled from
    its buffers, with no pandas import; ``None`` when it does not fit 32-bit offsets."""
    n = len(values)
    validity = _validity(values) if has_null else None
    if rank in (_INT, _FLOAT):
        code, zero = ("q", 0) if rank == _INT else ("d", 0.0)
        data = array.array(code, [zero if v is None else v for v in values] if has_null else values)
        return pa.Array.from_buffers(_ARROW_TYPES[rank], n, [validity, pa.py_buffer(data)])
    present = list(filter(None, values)) if has_null else values  # "" and b"" add no bytes
    lengths: Any = [0 if v is None else len(v) for v in values] if has_null else map(len, values)
    if rank == _STR:
        text = "".join(present)
        if text.isascii():  # one character per byte: the lengths are the byte lengths
            data = text.encode("ascii")
        else:
            encoded = [b"" if v is None else v.encode("utf-8") for v in values]
            data, lengths = b"".join(encoded), map(len, encoded)
    else:
        data = b"".join(present)
    if len(data) >= 2**31:
        return None
    offsets = array.array("i", itertools.accumulate(lengths, initial=0))
    return pa.Array.from_buffers(
        _ARROW_TYPES[rank], n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _to_arrow(values: Sequence[Any], rank: int, has_null: bool, via_buffers: bool) -> pa.Array:
    if via_buffers:
        arr = _array_from_buffers(values, rank, has_null)
        if arr is not None:
            return arr
    return pa.array(values, type=_ARROW_TYPES[rank])


def _build_array(
    values: Sequence[Any], rank: int, kinds: set[type], via_buffers: bool = False
) -> pa.Array | pa.ChunkedArray:
    """Arrow array of ``rank`` (at least the rank of every value) from the Python values of one
    column of one chunk, whose storage classes are ``kinds``."""
    if rank == _NULL:
        return pa.nulls(len(values))
    has_null = _NONE_TYPE in kinds
    own = _ARROW_PYTYPES[rank]
    if any(k is not own and k is not _NONE_TYPE for k in kinds):  # convert, by the rules
        if rank == _FLOAT:
            values = [float(v) if type(v) is int else v for v in values]
        elif rank == _STR:
            values = [v if v is None or type(v) is str else _num_to_str(v) for v in values]
        else:  # _BLOB
            values = [
                v
                if v is None or type(v) is bytes
                else (v if type(v) is str else _num_to_str(v)).encode("utf-8")
                for v in values
            ]
    return _to_arrow(values, rank, has_null, via_buffers)


def _widen(arr: pa.Array | pa.ChunkedArray, old: int, new: int) -> pa.Array | pa.ChunkedArray:
    """Convert ``arr`` of rank ``old`` to rank ``new`` with the same rules as
    :func:`_build_array` (int->float as ``float()``, numbers->text as ``str()``, text->bytes as
    UTF-8)."""
    if old == new:
        return arr
    import pyarrow.compute as pc  # only when a column widens (rare): not on the start-up path

    target = _ARROW_TYPES[new]
    if old == _NULL:
        return pa.nulls(len(arr), type=target)
    if old == _INT and new == _FLOAT:
        return pc.cast(arr, target, safe=False)  # round to nearest, like float(int)
    if old == _INT:
        arr, old = pc.cast(arr, pa.string()), _STR  # decimal digits, like str(int)
    elif old == _FLOAT:
        arr, old = _float_texts(arr), _STR  # repr(float)
    if new == _STR:
        return arr
    return pc.cast(arr, pa.binary())  # the UTF-8 bytes


def _float_texts(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``arr`` (float64) as strings, each value as Python's ``repr()``."""
    native = _native_module()
    if native is None:
        texts = [None if v is None else repr(v) for v in arr.to_pylist()]
        return _to_arrow(texts, _STR, None in texts, _avoid_pandas())
    import pyarrow.compute as pc

    def one(chunk: pa.Array) -> pa.Array:
        n = len(chunk)
        if n == 0:
            return pa.Array.from_buffers(pa.string(), 0, [None, pa.py_buffer(bytes(4)), None])
        filled = pc.fill_null(chunk, 0.0) if chunk.null_count else chunk
        start = filled.offset * 8
        values = memoryview(filled.buffers()[1])[start : start + 8 * n]
        offsets, data = native.float_texts(values)
        texts = pa.Array.from_buffers(
            pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        )
        if chunk.null_count:
            texts = pc.if_else(chunk.is_valid(), texts, pa.scalar(None, pa.string()))
        return texts

    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([one(c) for c in arr.chunks], type=pa.string())
    return one(arr)


def _native_array(rows: int, column: tuple[int, int, Any, Any, Any, bool]) -> pa.Array:
    """The Arrow array of one column of a batch from the native reader."""
    rank, nulls, validity, offsets, data, _ = column
    if rank == _NULL:
        return pa.nulls(rows)
    buffers = [None if validity is None else pa.py_buffer(validity)]
    if offsets is not None:
        buffers.append(pa.py_buffer(offsets))
    buffers.append(pa.py_buffer(data))
    return pa.Array.from_buffers(_ARROW_TYPES[rank], rows, buffers, null_count=nulls)


# --- writing -----------------------------------------------------------------------------------


class _Restart(Exception):
    """Read the query again with each column starting at ``ranks``.

    A column that held both INTEGER and REAL values is float64 in what was already read (an
    INTEGER 1 became 1.0). When a later batch brings TEXT (or BLOB) into it, the rules give
    ``"1"`` for that INTEGER, which the float64 no longer tells apart from a REAL 1.0, so
    the result is read again from the start with the column typed text from the first row.
    Each restart moves at least one column past float64 for good: at most one per column,
    and only for this mix (INTEGER and REAL, then TEXT or BLOB in a later batch).
    """

    def __init__(self, ranks: list[int]) -> None:
        super().__init__(ranks)
        self.ranks = ranks


class _ParquetSink:
    """Accumulates chunks, widens column types when needed, writes row groups.

    Row groups are encoded and written by one background thread (pyarrow releases the GIL
    while it encodes parquet), so writing overlaps with fetching the next rows. At most one
    row group is being written while the next one accumulates: memory stays bounded.
    """

    def __init__(
        self,
        target: Path,
        names: list[str],
        batch_rows: int,
        max_batch_bytes: int,
        ranks: list[int] | None = None,
    ):
        self.target = target
        self.names = names
        self.ranks = list(ranks) if ranks else [_NULL] * len(names)
        # columns typed float64 that hold INTEGER values: widening them to text later would
        # write "1.0" where the rules say "1" (see _Restart)
        self.ints_as_floats = [False] * len(names)
        self.batch_rows = batch_rows
        self.max_batch_bytes = max_batch_bytes
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.writer: pq.ParquetWriter | None = None
        self.num_rows = 0
        self.via_buffers = _avoid_pandas()
        self._pool: ThreadPoolExecutor | None = None
        self._writing: Future[None] | None = None

    def _new_writer(self) -> pq.ParquetWriter:
        # A column chunk falls back from dictionary to plain encoding once its dictionary
        # outgrows this: at 64 Ki rows per row group pyarrow's default (1 MiB) keeps
        # dictionary-encoding columns of unique values (keys, names), which doubles the
        # encoding time and makes the file larger; low-cardinality columns stay dictionary.
        return pq.ParquetWriter(
            self.target, self.schema(), dictionary_pagesize_limit=_DICTIONARY_PAGE_BYTES
        )

    def _wait_written(self) -> None:
        """Wait for the row group being written (re-raising its error)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _write_async(self, writer: pq.ParquetWriter, table: pa.Table) -> None:
        self._wait_written()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="shim-sqlite3-parquet")
        self._writing = self._pool.submit(
            writer.write_table, table, row_group_size=max(len(table), 1)
        )

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(n, _ARROW_TYPES[r]) for n, r in zip(self.names, self.ranks, strict=True)]
        )

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        columns = list(zip(*rows, strict=True))
        analysed = [_column_rank(col) for col in columns]
        new_ranks = [max(r, a[0]) for r, a in zip(self.ranks, analysed, strict=True)]
        if new_ranks != self.ranks:
            self._widen_all(new_ranks)
        # each value converted straight to the column's type: building at the chunk's own
        # type first would turn an INTEGER into "0.0" in a text column whose chunk also holds
        # a REAL (and no TEXT), where the rules say "0"
        arrays = [
            _build_array(col, target, kinds, self.via_buffers)
            for col, (_, kinds), target in zip(columns, analysed, self.ranks, strict=True)
        ]
        for i, ((_, kinds), target) in enumerate(zip(analysed, self.ranks, strict=True)):
            if target == _FLOAT and int in kinds:
                self.ints_as_floats[i] = True
        self._append(pa.Table.from_arrays(arrays, schema=self.schema()))

    def add_native(self, rows: int, columns: list[tuple[int, int, Any, Any, Any, bool]]) -> None:
        """Add a batch of the native reader (its columns are at least as wide as ours)."""
        new_ranks = [max(r, c[0]) for r, c in zip(self.ranks, columns, strict=True)]
        if new_ranks != self.ranks:
            self._widen_all(new_ranks)
        arrays = [
            _widen(_native_array(rows, c), c[0], target)
            for c, target in zip(columns, self.ranks, strict=True)
        ]
        for i, c in enumerate(columns):
            if c[5] and self.ranks[i] == _FLOAT:
                self.ints_as_floats[i] = True
        self._append(pa.Table.from_arrays(arrays, schema=self.schema()))

    def _append(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.pending_bytes += table.nbytes
        self.num_rows += table.num_rows
        if self.pending_rows >= self.batch_rows or self.pending_bytes >= self.max_batch_bytes:
            self._flush()

    def _widen_table(self, table: pa.Table, old: list[int], new: list[int]) -> pa.Table:
        cols = [
            _widen(table.column(i), o, n) for i, (o, n) in enumerate(zip(old, new, strict=True))
        ]
        return pa.Table.from_arrays(cols, schema=self.schema())

    def _widen_all(self, new_ranks: list[int]) -> None:
        for i, (old, new) in enumerate(zip(self.ranks, new_ranks, strict=True)):
            if self.ints_as_floats[i] and new >= _STR:
                raise _Restart(new_ranks)
            if old == _INT and new == _FLOAT:
                self.ints_as_floats[i] = True
        old_ranks, self.ranks = self.ranks, new_ranks
        self.pending = [self._widen_table(t, old_ranks, new_ranks) for t in self.pending]
        if self.writer is None:
            return
        # rewrite what is on disk with the wider schema
        self._wait_written()
        self.writer.close()
        spill = self.target.with_name(f".{self.target.name}.widening")
        os.replace(self.target, spill)
        try:
            self.writer = self._new_writer()
            source = pq.ParquetFile(spill)
            for i in range(source.num_row_groups):
                group = source.read_row_group(i)
                self.writer.write_table(self._widen_table(group, old_ranks, new_ranks))
            source.close()
        finally:
            spill.unlink(missing_ok=True)

    def _flush(self) -> None:
        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        if self.writer is None:
            self.writer = self._new_writer()
        self._write_async(self.writer, table)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0

    def close(self) -> pa.Schema:
        self._flush()
        try:
            self._wait_written()
        finally:
            self._shutdown()
        if self.writer is None:  # no rows: a valid, empty file with the column names
            self.writer = self._new_writer()
        self.writer.close()
        return self.schema()

    def abort(self) -> None:
        try:
            self._wait_written()
        except Exception:  # already failing; the file is removed anyway
            pass
        self._shutdown()
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # already failing; the file is removed anyway
                pass
        self.target.unlink(missing_ok=True)


def query_to_parquet(
    db_path: str | os.PathLike[str],
    sql: str,
    params: Mapping[str, Any] | Sequence[Any] | None,
    out_dir: str | os.PathLike[str],
    *,
    batch_rows: int = 65536,
    immutable: bool = True,
    engine: str | None = None,
) -> ResultInfo:
    """Run ``sql`` (one statement, with ``params`` bound by the driver) against the SQLite
    file ``db_path`` opened read-only, and write the rows to ``out_dir/00000`` (parquet).

    ``batch_rows`` bounds the rows per parquet row group (and so the memory held); see the
    module docstring for the typing rules, ``immutable`` and ``engine`` (default: the
    ``SHIM_SQLITE3_READER`` setting, else ``auto``). Returns a :class:`ResultInfo` with the
    number of rows, the Arrow schema written and the file list. Raises :class:`QueryError`
    for a failing or non-read-only query and :class:`DatabaseError` for an unreadable
    database; nothing is left in ``out_dir`` then.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    native = _native_module() if _engine(engine) == "native" else None
    path = Path(db_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / RESULT_FILE
    sink: _ParquetSink | None = None
    ranks: list[int] | None = None
    try:
        while sink is None:
            try:
                if native is not None:
                    sink = _read_native(
                        native, path, sql, params, target, batch_rows, immutable, ranks
                    )
                else:
                    sink = _read_stdlib(path, sql, params, target, batch_rows, immutable, ranks)
            except _Restart as restart:
                ranks = restart.ranks
        schema = sink.close()
        return ResultInfo(num_rows=sink.num_rows, schema=schema, files=[target])
    except BaseException:
        if sink is not None:
            sink.abort()
        target.unlink(missing_ok=True)
        raise


def _no_rows(sql: str) -> QueryError:
    return QueryError(
        "the statement returns no rows; a task's query must be one statement that "
        f"reads, such as SELECT, WITH or VALUES\nquery: {sql[:_MAX_SQL_IN_MESSAGE]}"
    )


def _read_native(
    native: ModuleType,
    path: Path,
    sql: str,
    params: Any,
    target: Path,
    batch_rows: int,
    immutable: bool,
    ranks: list[int] | None,
) -> _ParquetSink:
    uri = _readonly_uri(path, immutable)
    try:
        reader = native.Reader(uri)
    except native.Error as exc:
        raise _database_error(exc, path) from exc
    sink: _ParquetSink | None = None
    try:
        try:
            names = reader.execute(sql, params if params is not None else (), ranks)
        except native.Error as exc:
            raise _query_error(exc, sql, path) from exc
        if names is None:
            raise _no_rows(sql)
        sink = _ParquetSink(target, _unique_names(names), batch_rows, _MAX_BATCH_BYTES, ranks)
        while True:
            try:
                batch = reader.fetch(batch_rows, _MAX_BATCH_BYTES)
            except native.Error as exc:
                raise _query_error(exc, sql, path) from exc
            if batch is None:
                return sink
            sink.add_native(*batch)
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        reader.close()


def _read_stdlib(
    path: Path,
    sql: str,
    params: Any,
    target: Path,
    batch_rows: int,
    immutable: bool,
    ranks: list[int] | None,
) -> _ParquetSink:
    con = connect_readonly(path, immutable=immutable)
    sink: _ParquetSink | None = None
    try:
        try:
            cursor = con.execute(sql, params if params is not None else ())
        except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError) as exc:
            # Warning: older "one statement" error; OverflowError: an int parameter beyond
            # 64 bits; ValueError: a NUL character in the query
            raise _query_error(exc, sql, path) from exc
        if cursor.description is None:
            raise _no_rows(sql)
        names = _unique_names([d[0] for d in cursor.description])
        sink = _ParquetSink(target, names, batch_rows, _MAX_BATCH_BYTES, ranks)
        fetch = min(batch_rows, _FETCH_ROWS)
        while True:
            try:
                rows = cursor.fetchmany(fetch)
            except sqlite3.Error as exc:
                raise _query_error(exc, sql, path) from exc
            if not rows:
                return sink
            sink.add(rows)
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        con.close()


# --- which reader ------------------------------------------------------------------------------

READER_ENV = "SHIM_SQLITE3_READER"
_ENGINES = ("auto", "native", "python")
_NATIVE: list[ModuleType | None] = []  # the imported extension (or None), once per process
_NATIVE_IMPORT_ERROR: list[str] = []


def _native_module() -> ModuleType | None:
    """``shim_sqlite3._native``, or None when it is not built."""
    if not _NATIVE:
        try:
            from shim_sqlite3 import _native
        except ImportError as exc:
            _NATIVE.append(None)
            _NATIVE_IMPORT_ERROR.append(str(exc))
        else:
            _NATIVE.append(_native)
    return _NATIVE[0]


def _engine(engine: str | None) -> str:
    """``"native"`` or ``"python"``: the reader to use for ``engine`` (else the setting)."""
    where = "engine" if engine is not None else READER_ENV
    if engine is None:
        from shim import envconf

        try:
            choice = envconf.choice(READER_ENV, _ENGINES, "auto") or "auto"
        except envconf.InvalidConfigError as e:
            raise ReaderSettingError(f"{e} (it names the SQLite reader)") from None
    else:
        choice = engine.strip().lower() or "auto"
        if choice not in _ENGINES:
            raise ReaderSettingError(
                f"engine={engine!r} names no SQLite reader; use one of: {', '.join(_ENGINES)}"
            )
    if choice == "python":
        return "python"
    if _native_module() is not None:
        return "native"
    why = _NATIVE_IMPORT_ERROR[0] if _NATIVE_IMPORT_ERROR else "not importable"
    hint = (
        "reinstall shimkit-sqlite3 where a C compiler and the headers of Python and SQLite are "
        "available (Debian: apt-get install gcc python3-dev libsqlite3-dev)"
    )
    if choice == "native":
        raise ReaderSettingError(
            f"{where}=native but the native SQLite reader (shim_sqlite3._native) is not built "
            f"({why}); {hint}, or set {READER_ENV}=python"
        )
    import warnings

    warnings.warn(
        f"the native SQLite reader (shim_sqlite3._native) is not built ({why}): reading with "
        f"the stdlib sqlite3 module, same results but several times slower; {hint}",
        RuntimeWarning,
        stacklevel=3,
    )
    return "python"
