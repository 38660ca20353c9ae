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

Speed
    Parquet row groups are encoded by a background thread (pyarrow releases the GIL), so
    writing overlaps fetching; arrays are assembled without ``pa.array`` when that would import
    pandas. See the package README for the measurements.

Why not ADBC
    ``adbc-driver-sqlite`` (1.13) fetches about twice as fast but infers each column's type from
    the first batch and then, for mixed columns, either fails mid-stream or silently converts:
    a REAL in a text column becomes ``"1.500000e+00"`` within a batch but ``"1.5"`` across
    batches, and a BLOB after text becomes an invalid UTF-8 string. Guarding it needs a
    ``typeof`` pre-scan that runs the query twice, and it cannot disable ``ATTACH``; the
    stdlib ``sqlite3`` reader sees each value's real storage class and is used alone (the
    package README has the evaluation).
"""

from __future__ import annotations

import array
import contextlib
import gc
import importlib.util
import itertools
import operator
import os
import sqlite3
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shim.errors import RecoverableError, UserError

__all__ = [
    "DatabaseBusyError",
    "DatabaseError",
    "QueryError",
    "ResultInfo",
    "connect_readonly",
    "query_to_parquet",
]

#: Name of the (single) parquet file written in ``out_dir``.
RESULT_FILE = "00000"

_FETCH_ROWS = 8192  # rows fetched from SQLite per call
_MAX_BATCH_BYTES = 64 * 1024 * 1024  # a row group is written once it holds this much
_MAX_SQL_IN_MESSAGE = 1000

# type ranks: a column's type only ever widens along this order
_NULL, _INT, _FLOAT, _STR, _BLOB = range(5)
_ARROW_TYPES = [pa.null(), pa.int64(), pa.float64(), pa.string(), pa.binary()]
_RANK_OF_PYTYPE = {int: _INT, float: _FLOAT, str: _STR, bytes: _BLOB}


class QueryError(UserError):
    """The query failed in SQLite: syntax, unknown table, a write attempt, several statements."""

    code = "QueryError"


class DatabaseError(UserError):
    """The database file cannot be read: missing, not an SQLite database, or corrupt."""

    code = "BadDatabase"


class DatabaseBusyError(RecoverableError):
    """The database is locked by another process (only possible with ``immutable=False``)."""

    code = "DatabaseBusy"


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
    if not path.is_file():
        raise DatabaseError(f"database file {str(path)!r} does not exist or is not a file")
    uri = path.resolve().as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
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


def _avoid_pandas() -> bool:
    """Whether arrays must be built without ``pa.array`` so that pandas is not imported.

    ``pa.array`` (on a list or a numpy array alike) first asks pyarrow's pandas shim whether
    the object is "array-like", and that first question imports pandas when it is installed:
    ~0.25 s and ~40 MiB for a process that never uses pandas. So when pandas is installed but
    not imported yet, columns are assembled from their buffers instead (see
    :func:`_array_from_buffers`); otherwise (no pandas, as in the images, or pandas already
    imported) ``pa.array`` is used, which is a little faster.
    """
    if "pandas" in sys.modules:
        return False
    try:
        return importlib.util.find_spec("pandas") is not None
    except (ImportError, ValueError):
        return False


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
    """Arrow array of ``rank`` from the Python values of one column of one chunk."""
    if rank == _NULL:
        return pa.nulls(len(values))
    has_null = _NONE_TYPE in kinds
    if len(kinds) - has_null > 1:  # mixed storage classes: convert in Python, by the rules
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
        texts = [None if v is None else repr(v) for v in arr.to_pylist()]
        arr = _to_arrow(texts, _STR, None in texts, _avoid_pandas())
        old = _STR
    if new == _STR:
        return arr
    return pc.cast(arr, pa.binary())  # the UTF-8 bytes


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows stream through.

    Every fetched row is a new tuple, which the collector tracks; millions of them trigger
    thousands of collections that find nothing (the loop creates no reference cycles) and
    cost about a third of the run time. Reference counting still frees everything at once.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _unique_names(names: Sequence[str]) -> list[str]:
    taken = set(names)
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name in seen:
            n = 1
            while f"{name}_{n}" in taken:
                n += 1
            new = f"{name}_{n}"
            taken.add(new)
            name = new
        seen.add(name)
        out.append(name)
    return out


# --- writing -----------------------------------------------------------------------------------


class _ParquetSink:
    """Accumulates chunks, widens column types when needed, writes row groups.

    Row groups are encoded and written by one background thread (pyarrow releases the GIL
    while it encodes parquet), so writing overlaps with fetching the next rows. At most one
    row group is being written while the next one accumulates: memory stays bounded.
    """

    def __init__(self, target: Path, names: list[str], batch_rows: int, max_batch_bytes: int):
        self.target = target
        self.names = names
        self.ranks = [_NULL] * len(names)
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
        arrays = [
            _widen(_build_array(col, rank, kinds, self.via_buffers), rank, target)
            for col, (rank, kinds), target in zip(columns, analysed, self.ranks, strict=True)
        ]
        table = pa.Table.from_arrays(arrays, schema=self.schema())
        self.pending.append(table)
        self.pending_rows += len(rows)
        self.pending_bytes += table.nbytes
        self.num_rows += len(rows)
        if self.pending_rows >= self.batch_rows or self.pending_bytes >= self.max_batch_bytes:
            self._flush()

    def _widen_table(self, table: pa.Table, old: list[int], new: list[int]) -> pa.Table:
        cols = [
            _widen(table.column(i), o, n) for i, (o, n) in enumerate(zip(old, new, strict=True))
        ]
        return pa.Table.from_arrays(cols, schema=self.schema())

    def _widen_all(self, new_ranks: list[int]) -> None:
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
            self.writer = pq.ParquetWriter(self.target, self.schema())
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
            self.writer = pq.ParquetWriter(self.target, self.schema())
        self._write_async(self.writer, table)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0

    def close(self) -> pa.Schema:
        self._flush()
        try:
            self._wait_written()
        finally:
            self._shutdown()
        if self.writer is None:  # no rows: a valid, empty file with the column names
            self.writer = pq.ParquetWriter(self.target, self.schema())
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
) -> ResultInfo:
    """Run ``sql`` (one statement, with ``params`` bound by the driver) against the SQLite
    file ``db_path`` opened read-only, and write the rows to ``out_dir/00000`` (parquet).

    ``batch_rows`` bounds the rows per parquet row group (and so the memory held); see the
    module docstring for the typing rules and ``immutable``. Returns a :class:`ResultInfo`
    with the number of rows, the Arrow schema written and the file list. Raises
    :class:`QueryError` for a failing or non-read-only query and :class:`DatabaseError` for
    an unreadable database; nothing is left in ``out_dir`` then.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    path = Path(db_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / RESULT_FILE
    con = connect_readonly(path, immutable=immutable)
    sink: _ParquetSink | None = None
    try:
        try:
            cursor = con.execute(sql, params if params is not None else ())
        except (sqlite3.Error, sqlite3.Warning) as exc:  # Warning: older "one statement" error
            raise _query_error(exc, sql, path) from exc
        if cursor.description is None:
            raise QueryError(
                "the statement returns no rows; a task's query must be one statement that "
                f"reads, such as SELECT, WITH or VALUES\nquery: {sql[:_MAX_SQL_IN_MESSAGE]}"
            )
        names = _unique_names([d[0] for d in cursor.description])
        sink = _ParquetSink(target, names, batch_rows, _MAX_BATCH_BYTES)
        fetch = min(batch_rows, _FETCH_ROWS)
        with _gc_paused():
            while True:
                try:
                    rows = cursor.fetchmany(fetch)
                except sqlite3.Error as exc:
                    raise _query_error(exc, sql, path) from exc
                if not rows:
                    break
                sink.add(rows)
        schema = sink.close()
        return ResultInfo(num_rows=sink.num_rows, schema=schema, files=[target])
    except BaseException:
        if sink is not None:
            sink.abort()
        else:
            target.unlink(missing_ok=True)
        raise
    finally:
        con.close()
