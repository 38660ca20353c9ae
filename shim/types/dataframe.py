"""DataFrame: a lazy handle over parquet data, and its StructuredDataset encoding.

Layout (flytekit's): a dataset is a directory holding parquet files named ``00000``,
``00001``, ...; files whose names start with ``.`` or ``_`` are ignored when reading, and a
``uri`` that is a single parquet file is read as well.

Reading a remote dataset downloads it (through ``ctx.storage``) into the scratch directory on
first use and reads the local copy: memory stays bounded by one row group at a time with
:meth:`DataFrame.iter_batches`, disk holds one copy.

Column types in the literal come from the arrow schema: int*/uint* → INTEGER, float*/decimal →
FLOAT, string → STRING, bool → BOOLEAN, timestamp/date → DATETIME, duration → DURATION,
binary → BINARY, null → NONE, dictionary → its value type, list → collection of the item
type, map with string keys → map of the value type, struct → STRUCT. Columns of any other type
(time of day, unions, extension types, ...) are left out of ``columns``.

pyarrow and pandas are imported only inside the functions that need them.
"""

from __future__ import annotations

import datetime
import os
import sys
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shim import idl
from shim.errors import TypeMismatchError
from shim.types.engine import (
    Handler,
    UnsupportedTypeError,
    literal_mismatch,
    literal_type_of,
    mismatch,
    python_type_of,
    register,
)

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from shim.types.context import TransferContext

PARQUET = "parquet"
DEFAULT_BATCH_SIZE = 65536
ROW_GROUP_ROWS = 65536
Column = idl.StructuredDatasetType.DatasetColumn


@dataclass(frozen=True)
class Columns:
    """``Annotated`` metadata of ``DataFrame[{...}]``: the declared columns, in order."""

    items: tuple[tuple[str, Any], ...]
    __shim_marker__ = True

    def as_dict(self) -> dict[str, Any]:
        return dict(self.items)


def columns_of(py_type: Any) -> dict[str, Any] | None:
    """The declared columns of ``DataFrame[{...}]`` (``None`` for a bare ``DataFrame``)."""
    if typing.get_origin(py_type) is typing.Annotated:
        for meta in typing.get_args(py_type)[1:]:
            if isinstance(meta, Columns):
                return meta.as_dict()
    return None


class DataFrame:
    """A lazy handle over parquet data at ``uri``, or over in-memory arrow / pandas data.

    ``DataFrame[{"a": int, "b": str}]`` is a type that declares columns.
    """

    def __init__(
        self,
        uri: str | os.PathLike[str] | None = None,
        *,
        columns: Mapping[str, Any] | None = None,
        ctx: TransferContext | None = None,
        dataset_type: idl.StructuredDatasetType | None = None,
    ) -> None:
        self._uri = os.fspath(uri) if uri is not None else None
        self._columns = dict(columns) if columns is not None else None
        self._ctx = ctx
        self._dataset_type = dataset_type
        self._local: Path | None = None
        self._table: pyarrow.Table | None = None
        self._reader: pyarrow.RecordBatchReader | None = None

    def __class_getitem__(cls, columns: Mapping[str, Any]) -> Any:
        if not isinstance(columns, Mapping):
            raise TypeError('DataFrame[...] takes a mapping of column names to types: {"a": int}')
        return typing.Annotated[cls, Columns(tuple(columns.items()))]

    # --- constructors -----------------------------------------------------------------------

    @classmethod
    def from_arrow(cls, data: pyarrow.Table | pyarrow.RecordBatchReader) -> DataFrame:
        """Wrap an arrow Table or RecordBatchReader (a reader is consumed once, when encoded)."""
        import pyarrow as pa

        df = cls()
        if isinstance(data, pa.RecordBatchReader):
            df._reader = data
        elif isinstance(data, pa.Table):
            df._table = data
        elif isinstance(data, pa.RecordBatch):
            df._table = pa.Table.from_batches([data])
        else:
            raise TypeError(f"expected a pyarrow Table or RecordBatchReader, got {type(data)}")
        return df

    @classmethod
    def from_pandas(cls, df: pandas.DataFrame) -> DataFrame:
        """Wrap a pandas DataFrame (the index is dropped)."""
        import pyarrow as pa

        return cls.from_arrow(pa.Table.from_pandas(df, preserve_index=False))

    # --- properties -------------------------------------------------------------------------

    @property
    def uri(self) -> str | None:
        """Where the parquet data lives (``None`` for in-memory data not yet encoded)."""
        return self._uri

    @property
    def columns(self) -> dict[str, Any] | None:
        """The declared columns (name → Python type), if any."""
        return self._columns

    @property
    def schema(self) -> pyarrow.Schema:
        """The arrow schema, read from parquet metadata only (no data is loaded)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._table is not None:
            return self._table.schema
        if self._reader is not None:
            return self._reader.schema
        files = self._files()
        return pq.read_schema(files[0]) if files else pa.schema([])

    @property
    def num_rows(self) -> int:
        """The number of rows, read from the parquet footers only (no data is loaded)."""
        import pyarrow.parquet as pq

        if self._reader is not None:
            self._table, self._reader = self._reader.read_all(), None
        if self._table is not None:
            return self._table.num_rows
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self._files())

    # --- reading ----------------------------------------------------------------------------

    def to_arrow(self) -> pyarrow.Table:
        """All the data as one arrow Table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._reader is not None:
            self._table, self._reader = self._reader.read_all(), None
        if self._table is not None:
            return self._table
        tables = [pq.read_table(f) for f in self._files()]
        if not tables:
            return pa.table({})
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def to_pandas(self) -> pandas.DataFrame:
        """All the data as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def iter_batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pyarrow.RecordBatch]:
        """Stream the data as record batches, file by file and row group by row group."""
        import pyarrow.parquet as pq

        if self._reader is not None:
            reader, self._reader = self._reader, None
            yield from reader
            return
        if self._table is not None:
            yield from self._table.to_batches(max_chunksize=batch_size)
            return
        for f in self._files():
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size)

    def download(self) -> Path:
        """Make the parquet data local (once) and return its local path: a directory of
        parquet files, or a single file. In-memory data has none (``ValueError``)."""
        return self._local_root()

    def _files(self) -> list[Path]:
        root = self._local_root()
        if root.is_file():
            return [root]
        return sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not any(part[0] in "._" for part in p.relative_to(root).parts)
        )

    def _local_root(self) -> Path:
        if self._local is not None:
            return self._local
        if self._uri is None:
            raise ValueError("this DataFrame has no uri")
        from shim.storage import is_local, local_path

        if is_local(self._uri):
            self._local = Path(local_path(self._uri))
        else:
            self._local = _download(self._uri, self._context())
        return self._local

    def _context(self) -> TransferContext:
        if self._ctx is None:
            from shim.types.context import TransferContext

            self._ctx = TransferContext()
        return self._ctx

    def __repr__(self) -> str:
        where = self._uri if self._uri is not None else "<in memory>"
        return f"DataFrame({where!r})"

    def __eq__(self, other: object) -> bool:
        """Handles are equal when they point at the same uri (in-memory ones only to themselves)."""
        if not isinstance(other, DataFrame):
            return NotImplemented
        if self._uri is None or other._uri is None:
            return self is other
        return self._uri == other._uri

    def __hash__(self) -> int:
        return hash(self._uri) if self._uri is not None else id(self)


def _download(uri: str, ctx: TransferContext) -> Path:
    target = ctx.new_scratch_dir()
    urls = ctx.storage.list(uri)
    if len(urls) == 1 and urls[0].rstrip("/") == uri.rstrip("/"):
        ctx.storage.get_file(uri, target / "00000")
    else:
        ctx.storage.get_dir(uri, target)
    return target


# --- arrow schema -> column literal types -----------------------------------------------------


def arrow_literal_type(t: pyarrow.DataType) -> idl.LiteralType | None:
    """The LiteralType of an arrow column type, or ``None`` when there is no fitting one."""
    import pyarrow.types as pat

    simple = idl.SimpleType
    checks = [
        (pat.is_integer, simple.INTEGER),
        (pat.is_floating, simple.FLOAT),
        (pat.is_decimal, simple.FLOAT),
        (lambda x: pat.is_string(x) or pat.is_large_string(x), simple.STRING),
        (pat.is_boolean, simple.BOOLEAN),
        (lambda x: pat.is_timestamp(x) or pat.is_date(x), simple.DATETIME),
        (pat.is_duration, simple.DURATION),
        (
            lambda x: pat.is_binary(x) or pat.is_large_binary(x) or pat.is_fixed_size_binary(x),
            simple.BINARY,
        ),
        (pat.is_null, simple.NONE),
        (pat.is_struct, simple.STRUCT),
    ]
    for check, kind in checks:
        if check(t):
            return idl.LiteralType(simple=kind)
    if pat.is_dictionary(t):
        return arrow_literal_type(t.value_type)
    if pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t):
        item = arrow_literal_type(t.value_type)
        return idl.LiteralType(collection_type=item) if item is not None else None
    if pat.is_map(t) and (pat.is_string(t.key_type) or pat.is_large_string(t.key_type)):
        item = arrow_literal_type(t.item_type)
        return idl.LiteralType(map_value_type=item) if item is not None else None
    return None


def arrow_columns(schema: pyarrow.Schema) -> list[Column]:
    """Dataset columns for an arrow schema (unmappable columns are left out)."""
    out = []
    for f in schema:
        lt = arrow_literal_type(f.type)
        if lt is not None:
            out.append(Column(name=f.name, literal_type=lt))
    return out


def column_literal_type(py_type: Any) -> idl.LiteralType:
    """The LiteralType of a declared column type (``bytes`` is BINARY; a LiteralType is kept)."""
    if isinstance(py_type, idl.LiteralType):
        return py_type
    if py_type is bytes:
        return idl.LiteralType(simple=idl.SimpleType.BINARY)
    return literal_type_of(py_type)


def _declared_columns(py_type: Any) -> list[Column]:
    cols = columns_of(py_type) or {}
    return [Column(name=n, literal_type=column_literal_type(t)) for n, t in cols.items()]


# --- writing ----------------------------------------------------------------------------------


def _write(data: Any, ctx: TransferContext) -> tuple[Path, pyarrow.Schema]:
    """Write arrow data as ``<scratch>/<hex>/00000``.

    A RecordBatchReader is consumed batch by batch; batches are grouped into row groups of
    about ``ROW_GROUP_ROWS`` rows, so at most one row group is held in memory.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = ctx.new_scratch_dir()
    path = target / "00000"
    if isinstance(data, pa.RecordBatchReader):
        with pq.ParquetWriter(path, data.schema) as writer:
            pending: list[pyarrow.RecordBatch] = []
            rows = 0
            for batch in data:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= ROW_GROUP_ROWS:  # small batches are grouped: memory stays bounded
                    writer.write_table(pa.Table.from_batches(pending, schema=data.schema))
                    pending, rows = [], 0
            if pending:
                writer.write_table(pa.Table.from_batches(pending, schema=data.schema))
        return target, data.schema
    pq.write_table(data, path)
    return target, data.schema


def _as_arrow(value: Any) -> Any:
    """A Table / RecordBatchReader for arrow or pandas values, ``None`` for anything else."""
    if isinstance(value, DataFrame):
        if value._reader is not None:
            reader, value._reader = value._reader, None
            return reader
        return value._table
    pa = sys.modules.get("pyarrow")
    if pa is not None:
        if isinstance(value, pa.Table | pa.RecordBatchReader):
            return value
        if isinstance(value, pa.RecordBatch):
            return pa.Table.from_batches([value])
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        import pyarrow as pa

        return pa.Table.from_pandas(value, preserve_index=False)
    return None


def _sd_literal(uri: str, columns: list[Column]) -> idl.Literal:
    sdt = idl.StructuredDatasetType(columns=columns, format=PARQUET)
    meta = idl.StructuredDatasetMetadata(structured_dataset_type=sdt)
    sd = idl.StructuredDataset(uri=uri, metadata=meta)
    return idl.Literal(scalar=idl.Scalar(structured_dataset=sd))


def _check_declared(py_type: Any, schema: pyarrow.Schema, name: str, value: Any) -> None:
    declared = columns_of(py_type)
    if not declared:
        return
    missing = [c for c in declared if c not in schema.names]
    if missing:
        raise mismatch(name, py_type, value, f"missing columns {missing}; has {schema.names}")


@register
class DataFrameHandler(Handler):
    """DataFrame ↔ ``structured_dataset_type{columns, format: parquet}`` /
    ``scalar.structured_dataset{uri, metadata}``.

    Encodes DataFrame handles (local data is uploaded, remote data reused), pyarrow Tables,
    RecordBatchReaders (streamed to parquet batch by batch) and pandas DataFrames.
    """

    tag = "StructuredDataset Transformer"

    def claims(self, py_type):
        if typing.get_origin(py_type) is typing.Annotated:
            py_type = typing.get_args(py_type)[0]
        return py_type is DataFrame

    def literal_type(self, py_type):
        sdt = idl.StructuredDatasetType(columns=_declared_columns(py_type), format=PARQUET)
        return idl.LiteralType(structured_dataset_type=sdt)

    def to_literal(self, value, py_type, ctx, name):
        arrow = _as_arrow(value)
        if arrow is not None:
            local, schema = _write(arrow, ctx)
            if isinstance(value, DataFrame) and value._table is None:
                value._uri, value._local = str(local), local  # a consumed reader: read the copy
        elif isinstance(value, DataFrame) and value.uri is not None:
            from shim.storage import is_local

            if not is_local(value.uri):
                cols = (
                    list(value._dataset_type.columns)
                    if value._dataset_type is not None and value._dataset_type.columns
                    else _declared_columns(py_type)
                )
                return _sd_literal(value.uri, cols)
            local, schema = value._local_root(), value.schema
            if not local.exists():
                raise mismatch(name, py_type, value, f"{local} does not exist")
        else:
            raise mismatch(name, py_type, value)
        _check_declared(py_type, schema, name, value)
        columns = arrow_columns(schema)
        if not ctx.raw_output_prefix:
            return _sd_literal(str(local.absolute()), columns)
        dst = ctx.new_raw_location()
        if local.is_file():
            from shim.storage import join

            ctx.upload(str(local), join(dst, "00000"))
        else:
            ctx.upload(str(local), dst, is_dir=True)
        return _sd_literal(dst, columns)

    def to_python(self, lit, py_type, ctx, name):
        if (
            lit.WhichOneof("value") != "scalar"
            or lit.scalar.WhichOneof("value") != "structured_dataset"
        ):
            raise literal_mismatch(name, py_type, lit)
        sd = lit.scalar.structured_dataset
        sdt = sd.metadata.structured_dataset_type
        if sdt.format not in ("", PARQUET):
            raise TypeMismatchError(
                name, "DataFrame", f"{sdt.format} structured dataset", "only parquet is supported"
            )
        declared = columns_of(py_type)
        if declared is None and sdt.columns:
            declared = {c.name: _guess_column(c.literal_type) for c in sdt.columns}
        return DataFrame(sd.uri, columns=declared, ctx=ctx, dataset_type=sdt)

    def guess(self, lt):
        if lt.WhichOneof("type") == "schema":
            # flytekit's legacy FlyteSchema (its SQLite3Task's default output): flytekit's own
            # runtime answers it with a parquet structured dataset, and so does shimkit.
            cols = lt.schema.columns
            if not cols:
                return DataFrame
            unknown = [c for c in cols if c.type not in _SCHEMA_COLUMN_TYPES]
            if unknown:
                raise UnsupportedTypeError(
                    f"legacy schema column {unknown[0].name!r} has type {unknown[0].type}, which "
                    "is none of INTEGER, FLOAT, STRING, BOOLEAN, DATETIME, DURATION (0-5); "
                    "declare the output as a structured dataset (DataFrame) instead"
                )
            return DataFrame[{c.name: _SCHEMA_COLUMN_TYPES[c.type] for c in cols}]
        if lt.WhichOneof("type") != "structured_dataset_type":
            return None
        cols = lt.structured_dataset_type.columns
        if not cols:
            return DataFrame
        return DataFrame[{c.name: _guess_column(c.literal_type) for c in cols}]


#: ``SchemaType.SchemaColumn.SchemaColumnType`` values -> Python column types
_SCHEMA_COLUMN_TYPES: dict[int, Any] = {
    0: int,  # INTEGER
    1: float,  # FLOAT
    2: str,  # STRING
    3: bool,  # BOOLEAN
    4: datetime.datetime,  # DATETIME
    5: datetime.timedelta,  # DURATION
}


def _guess_column(lt: idl.LiteralType) -> Any:
    if lt.WhichOneof("type") == "simple" and lt.simple == idl.SimpleType.BINARY:
        return bytes
    try:
        return python_type_of(lt)
    except TypeError:
        return lt  # no Python type: keep the LiteralType itself
