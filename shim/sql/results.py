"""Query results to parquet, shared by the SQL executors (pyarrow: imported when a query runs).

:func:`array_from_values`
    The Arrow array of a chunk of Python values (one column of the fetched rows), built
    without importing pandas. ``pa.array`` asks pyarrow's pandas shim whether its argument is
    "array-like", and that first question imports pandas when it is installed: ~35 MiB of
    RSS and ~0.3-0.8 s for a process that never uses pandas. So when pandas is installed but
    not imported yet (:func:`avoid_pandas`), the array is assembled from its buffers (the
    value bytes, the offsets, the validity bitmap) for the types query results hold: bool,
    integers, floats, string, binary, date32, time64[us], timestamp[us] (with or without a
    time zone) and lists and structs of those. Otherwise (no pandas, as in the images, or
    pandas already imported) ``pa.array`` is used, which is a little faster. Both give the
    same array (tested value by value).
:func:`unique_names`
    Column names made unique (``id``, ``id_1``): parquet readers reject duplicates.
:func:`gc_paused`
    The cyclic garbage collector paused while rows stream through (every fetched row is a
    tuple the collector tracks; its collections find nothing and cost ~10-30 % of the run).
:class:`RowGroupWriter`
    Record batches gathered into parquet row groups of at most ``batch_rows`` rows (or about
    16 MiB), written by one background thread (pyarrow releases the GIL while it encodes),
    so that writing overlaps fetching; at most one row group is being written while the next
    one gathers, so memory stays flat however many rows come back.
"""

from __future__ import annotations

import array
import contextlib
import datetime as _dt
import functools
import gc
import importlib.util
import itertools
import operator
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "MAX_ROW_GROUP_BYTES",
    "RESULT_FILE",
    "RowGroupWriter",
    "array_from_values",
    "avoid_pandas",
    "gc_paused",
    "unique_names",
]

#: Name of the (single) parquet file a SQL executor writes in its output directory.
RESULT_FILE = "00000"
#: A row group is written once the batches gathered for it hold this much (rows of 100 KB:
#: peak RSS ~250 MiB at 16 MiB, ~330 MiB at 64 MiB; narrow rows reach ``batch_rows`` first).
MAX_ROW_GROUP_BYTES = 16 * 1024 * 1024


# --- column names -------------------------------------------------------------------------------


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats renamed ``<name>_<n>`` (the first ``n`` not taken)."""
    taken = set(names)
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name in seen:
            n = 1
            while f"{name}_{n}" in taken:
                n += 1
            name = f"{name}_{n}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (see the module docstring); reference counting
    still frees every chunk at once."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- arrays ---------------------------------------------------------------------------------------


@functools.cache
def _pandas_installed() -> bool:
    try:
        return importlib.util.find_spec("pandas") is not None
    except (ImportError, ValueError):
        return False


def avoid_pandas() -> bool:
    """Whether arrays must be built without ``pa.array``: pandas is installed and not
    imported yet (see the module docstring)."""
    return "pandas" not in sys.modules and _pandas_installed()


def array_from_values(values: Sequence[Any], type: pa.DataType) -> pa.Array:
    """The Arrow array of ``type`` holding ``values`` (Python objects, ``None`` for NULL), as
    ``pa.array(values, type=type)`` makes it, without importing pandas (module docstring).
    Values that do not fit ``type`` raise ``TypeError``, ``ValueError``, ``OverflowError`` or
    an Arrow error, as ``pa.array`` does."""
    if avoid_pandas():
        built = _from_buffers(values, type)
        if built is not None:
            return built
    return pa.array(values, type=type)


_TO_BITS = bytes.maketrans(b"\x00\x01", b"01")
_INT_CODES = {8: "b", 16: "h", 32: "i", 64: "q"}
_UINT_CODES = {8: "B", 16: "H", 32: "I", 64: "Q"}
_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_EPOCH_DAY = _dt.date(1970, 1, 1).toordinal()
_US = _dt.timedelta(microseconds=1)


def _bitmap(flags: bytes) -> pa.Buffer:
    """One byte 0/1 per value -> Arrow's bitmap (bit i of byte i // 8, least significant
    first)."""
    if not flags:
        return pa.py_buffer(b"")
    bits = int(flags.translate(_TO_BITS)[::-1], 2)
    return pa.py_buffer(bits.to_bytes((len(flags) + 7) // 8, "little"))


def _validity(values: Sequence[Any]) -> tuple[pa.Buffer | None, int]:
    """The validity bitmap of ``values`` (``None`` when no value is NULL) and the NULL count."""
    present = bytes(map(operator.is_not, values, itertools.repeat(None)))
    nulls = present.count(0)
    return (_bitmap(present) if nulls else None), nulls


#: zone names whose offset is always 0 (a driver's UTC session hands out these)
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "Zulu", "Etc/Zulu"})


def _fixed_offset_us(tz: _dt.tzinfo) -> int | None:
    """The offset of a time zone that has only one, in microseconds; None for the others."""
    if isinstance(tz, _dt.timezone):
        return tz.utcoffset(None) // _US
    if getattr(tz, "key", None) in _UTC_NAMES:  # zoneinfo.ZoneInfo
        return 0
    return None


def _instants_us(values: Sequence[Any]) -> list[int]:
    """Microseconds since 1970-01-01 UTC of the aware datetimes ``values`` (a naive one is
    taken as UTC; ``None`` is 0). Values sharing one fixed-offset zone (a UTC session) are
    subtracted without calling the zone for each (three times faster)."""
    tz = next((v.tzinfo for v in values if v is not None), None)
    shift = _fixed_offset_us(tz) if tz is not None else None
    if shift is not None and all(v is None or v.tzinfo is tz for v in values):
        epoch = _EPOCH.replace(tzinfo=tz)  # same tzinfo: the wall-clock difference
        return [0 if v is None else (v - epoch) // _US - shift for v in values]
    return [
        0 if v is None else (v - (_EPOCH if v.tzinfo is None else _EPOCH_UTC)) // _US
        for v in values
    ]


def _timestamp_us(v: _dt.datetime) -> int:
    """Microseconds since 1970-01-01 of a wall time; an aware value as its UTC time."""
    if v.tzinfo is not None:
        v = v.astimezone(_dt.UTC).replace(tzinfo=None)
    return (v - _EPOCH) // _US


def _time_us(t: _dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _fixed(values: Sequence[Any], type: pa.DataType) -> tuple[str, Any] | None:
    """The ``array`` type code for a fixed-width ``type`` and how a value becomes a number."""
    if pa.types.is_signed_integer(type):
        return _INT_CODES[type.bit_width], None
    if pa.types.is_unsigned_integer(type):
        return _UINT_CODES[type.bit_width], None
    if pa.types.is_float32(type):
        return "f", None
    if pa.types.is_float64(type):
        return "d", None
    if pa.types.is_date32(type):
        return "i", lambda d: d.toordinal() - _EPOCH_DAY
    if pa.types.is_time64(type) and type.unit == "us":
        return "q", _time_us
    if pa.types.is_timestamp(type) and type.unit == "us":
        return ("q", _instants_us) if type.tz else ("q", _timestamp_us)
    return None


def _from_buffers(values: Sequence[Any], type: pa.DataType) -> pa.Array | None:
    """``values`` as an array of ``type`` assembled from its buffers; ``None`` for a type
    this does not build (or a chunk too large for 32-bit offsets): ``pa.array`` then."""
    n = len(values)
    validity, nulls = _validity(values)
    if pa.types.is_boolean(type):
        flags = bytes(v is not None and bool(v) for v in values)
        return pa.Array.from_buffers(type, n, [validity, _bitmap(flags)], null_count=nulls)
    fixed = _fixed(values, type)
    if fixed is not None:
        code, convert = fixed
        zero = 0.0 if code in "fd" else 0
        if convert is None:
            items = [zero if v is None else v for v in values] if nulls else values
        elif convert is _instants_us:  # converts the whole chunk at once
            items = _instants_us(values)
        else:
            items = [zero if v is None else convert(v) for v in values]
        data = array.array(code, items)
        return pa.Array.from_buffers(type, n, [validity, pa.py_buffer(data)], null_count=nulls)
    if pa.types.is_string(type) or pa.types.is_binary(type):
        present = [v for v in values if v is not None] if nulls else values
        if pa.types.is_string(type):
            text = "".join(present)
            if text.isascii():  # one byte per character: the lengths are the byte lengths
                data = text.encode("ascii")
                lengths: Any = (
                    [0 if v is None else len(v) for v in values] if nulls else map(len, values)
                )
            else:
                encoded = [b"" if v is None else v.encode("utf-8") for v in values]
                data, lengths = b"".join(encoded), map(len, encoded)
        else:
            data = b"".join(present)
            lengths = [0 if v is None else len(v) for v in values] if nulls else map(len, values)
        if len(data) >= 2**31:
            return None
        offsets = array.array("i", itertools.accumulate(lengths, initial=0))
        return pa.Array.from_buffers(
            type, n, [validity, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls
        )
    if pa.types.is_list(type):
        lengths = [0 if v is None else len(v) for v in values]
        offsets = array.array("i", itertools.accumulate(lengths, initial=0))
        flat = [x for v in values if v is not None for x in v]
        child = _from_buffers(flat, type.value_type)
        if child is None:
            return None
        return pa.Array.from_buffers(
            type, n, [validity, pa.py_buffer(offsets)], null_count=nulls, children=[child]
        )
    if pa.types.is_struct(type):
        children = []
        for field in type:
            name = field.name
            column = [None if v is None else v[name] for v in values]
            child = _from_buffers(column, field.type)
            if child is None:
                return None
            children.append(child)
        return pa.Array.from_buffers(type, n, [validity], null_count=nulls, children=children)
    return None


# --- writing --------------------------------------------------------------------------------------


class RowGroupWriter:
    """Writes record batches to one parquet file as row groups (module docstring).

    ``add(batch)`` gathers a batch (written once ``batch_rows`` rows or ``max_bytes`` are
    gathered); ``close(schema)`` writes the rest and returns the number of rows (an empty,
    valid file with ``schema``'s columns when there were none); on failure ``abort()``
    removes the file. ``started`` tells whether a row group has gone to the file: until then
    ``pending`` (the gathered batches) may be replaced. ``memory_pool``: where the parquet
    encoder allocates (pyarrow's default pool when None).
    """

    def __init__(
        self,
        target: Path,
        batch_rows: int,
        max_bytes: int = MAX_ROW_GROUP_BYTES,
        *,
        thread_name: str = "shim-sql-parquet",
        memory_pool: pa.MemoryPool | None = None,
    ) -> None:
        self.target = target
        self.batch_rows = batch_rows
        self.max_bytes = max_bytes
        self.pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.num_rows = 0
        self._thread_name = thread_name
        self._pool_options = {} if memory_pool is None else {"memory_pool": memory_pool}
        self._writer: pq.ParquetWriter | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._writing: Future[None] | None = None

    @property
    def started(self) -> bool:
        return self._writer is not None

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        self.pending_bytes += batch.nbytes
        self.num_rows += batch.num_rows
        if self.pending_rows >= self.batch_rows or self.pending_bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        """Hand the gathered batches to the writing thread as one row group."""
        if not self.pending:
            return
        table = pa.Table.from_batches(self.pending)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.target, table.schema, **self._pool_options)
        self._wait_written()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        self._writing = self._pool.submit(
            self._writer.write_table, table, row_group_size=max(len(table), 1)
        )

    def _wait_written(self) -> None:
        """Wait for the row group being written (re-raising its error)."""
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def close(self, schema: pa.Schema) -> int:
        try:
            self.flush()
            self._wait_written()
        finally:
            self._shutdown()
        if self._writer is None:  # no rows: a valid, empty file with the columns
            self._writer = pq.ParquetWriter(self.target, schema, **self._pool_options)
        self._writer.close()
        return self.num_rows

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # already failing; the file is removed anyway
            self._wait_written()
        self._shutdown()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self.target.unlink(missing_ok=True)
