"""The type engine: Python values ↔ Flyte Literals, Python types ↔ LiteralTypes (WIRE.md §3).

Importing this package loads no heavy library: pyarrow and pandas are imported only when a
dataframe is read or written, fsspec only by storage for remote URLs.
"""

from shim.types import containers, dataframe, files, primitives, structs  # noqa: F401 - register
from shim.types.containers import UnionVariants
from shim.types.context import TransferContext
from shim.types.dataframe import Columns, DataFrame
from shim.types.engine import (
    Handler,
    UnsupportedTypeError,
    literal_type_of,
    python_type_of,
    register,
    to_literal,
    to_python,
    type_name,
    union_tag,
)
from shim.types.files import Directory, File
from shim.types.interface import (
    InterfaceMismatchError,
    bind_names,
    interface_from_idl,
    interface_to_idl,
    literal_map_to_python,
    python_to_literal_map,
)
from shim.types.structs import from_jsonable, json_schema, to_jsonable

__all__ = [
    "Columns",
    "DataFrame",
    "Directory",
    "File",
    "Handler",
    "InterfaceMismatchError",
    "TransferContext",
    "UnionVariants",
    "UnsupportedTypeError",
    "bind_names",
    "from_jsonable",
    "interface_from_idl",
    "interface_to_idl",
    "json_schema",
    "literal_map_to_python",
    "literal_type_of",
    "python_to_literal_map",
    "python_type_of",
    "register",
    "to_jsonable",
    "to_literal",
    "to_python",
    "type_name",
    "union_tag",
]
