"""flytekit's legacy ``schema`` LiteralType (FlyteSchema, its SQLite3Task's default output).

Found by the interop suite: templates flytekit serializes for its own SQLite3Task declare the
``results`` output as ``schema {}``; shimkit must run them unchanged. flytekit's own runtime
answers such an output with a parquet structured dataset, and so does shimkit.
"""

from __future__ import annotations

import datetime

import pyarrow as pa

from shim import idl
from shim.types import DataFrame, python_type_of, to_literal, to_python
from shim.types.dataframe import columns_of

INTEGER = idl.SchemaType.SchemaColumn.SchemaColumnType.Value("INTEGER")


def _schema(**columns: str) -> idl.LiteralType:
    lt = idl.LiteralType()
    lt.schema.SetInParent()
    for name, kind in columns.items():
        lt.schema.columns.add(
            name=name, type=idl.SchemaType.SchemaColumn.SchemaColumnType.Value(kind)
        )
    return lt


def test_bare_schema_is_a_dataframe():
    assert python_type_of(_schema()) is DataFrame


def test_schema_columns_become_declared_columns():
    py_type = python_type_of(
        _schema(a="INTEGER", b="FLOAT", c="STRING", d="BOOLEAN", e="DATETIME", f="DURATION")
    )
    assert columns_of(py_type) == {
        "a": int,
        "b": float,
        "c": str,
        "d": bool,
        "e": datetime.datetime,
        "f": datetime.timedelta,
    }


def test_a_schema_output_is_written_as_a_parquet_structured_dataset(ctx):
    table = pa.table({"id": [1, 2], "name": ["a", "b"]})
    lit = to_literal(DataFrame.from_arrow(table), python_type_of(_schema()), ctx, name="results")
    sd = lit.scalar.structured_dataset
    assert sd.uri.startswith(ctx.raw_output_prefix)
    assert sd.metadata.structured_dataset_type.format == "parquet"
    back = to_python(lit, DataFrame, ctx, name="results")
    assert back.to_arrow().to_pydict() == table.to_pydict()
