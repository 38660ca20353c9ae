"""Untyped dicts and dataclasses: STRUCT literal types, msgpack binary literals.

Wire form (flytekit 1.14+): ``scalar.binary{value: msgpack bytes, tag: "msgpack"}``. A
dataclass's LiteralType carries a JSON schema in ``metadata`` (mashumaro's layout), the
annotation ``cache-key-metadata.serialization-format = msgpack`` and
``structure.dataclass_type`` (field name → LiteralType). Inside the msgpack document values are
JSON-like, as mashumaro writes them: datetimes as ISO strings, timedeltas as float seconds,
enums as their value, files / directories as ``{"path": uri}``, dataframes as
``{"uri": uri, "file_format": "parquet"}``.

Older literals (``scalar.generic``, a protobuf Struct) decode too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import sys
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shim import idl
from shim.errors import TypeMismatchError
from shim.types import primitives as prim
from shim.types.engine import (
    Handler,
    UnsupportedTypeError,
    child,
    is_enum_type,
    literal_mismatch,
    literal_type_of,
    mismatch,
    normalize,
    register,
    short_repr,
    strictness,
    type_name,
)

if TYPE_CHECKING:
    from shim.types.context import TransferContext

MSGPACK = "msgpack"
_ANNOTATION = {"cache-key-metadata": {"serialization-format": MSGPACK}}


def is_dataclass_type(py_type: Any) -> bool:
    """True for dataclass classes (not instances)."""
    return isinstance(py_type, type) and dataclasses.is_dataclass(py_type)


@functools.lru_cache(maxsize=256)
def field_types(cls: type, *, resolvable_only: bool = False) -> dict[str, Any]:
    """Resolved field types of a dataclass (string annotations are evaluated).

    An annotation that cannot be resolved (a name its module imports only for type checkers)
    raises :class:`UnsupportedTypeError`; with ``resolvable_only`` that field is left out and
    the others are resolved one by one."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError) as exc:
        if not resolvable_only:
            raise UnsupportedTypeError(
                f"cannot resolve the field types of dataclass {cls.__name__}: {exc}"
            ) from exc
        return _resolvable_field_types(cls)
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(cls)}


def _resolvable_field_types(cls: type) -> dict[str, Any]:
    module = getattr(sys.modules.get(cls.__module__), "__dict__", {})
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not isinstance(f.type, str):
            out[f.name] = f.type
            continue
        one = type(cls.__name__, (), {"__annotations__": {f.name: f.type}})
        try:
            out[f.name] = typing.get_type_hints(one, globalns=module, include_extras=True)[f.name]
        except (NameError, TypeError, SyntaxError):
            continue
    return out


def _struct_type(metadata: dict | None = None) -> idl.LiteralType:
    lt = idl.LiteralType(simple=idl.SimpleType.STRUCT)
    lt.annotation.annotations.update(_ANNOTATION)
    if metadata is not None:
        lt.metadata.update(metadata)
    return lt


def _binary(doc: Any) -> idl.Literal:
    import msgpack  # only for a dict or dataclass value (3 ms of start-up otherwise)

    data = msgpack.packb(doc, use_bin_type=True)
    return idl.Literal(scalar=idl.Scalar(binary=idl.Binary(value=data, tag=MSGPACK)))


def _document(lit: idl.Literal, py_type: Any, name: str) -> Any:
    """The JSON-like document inside a binary (msgpack) or generic (Struct) literal."""
    if lit.WhichOneof("value") == "scalar":
        kind = lit.scalar.WhichOneof("value")
        if kind == "binary":
            if lit.scalar.binary.tag not in (MSGPACK, ""):
                raise literal_mismatch(
                    name, py_type, lit, f"binary tag {lit.scalar.binary.tag!r} is not msgpack"
                )
            import msgpack

            try:
                return msgpack.unpackb(lit.scalar.binary.value, raw=False, strict_map_key=False)
            except Exception as exc:
                raise literal_mismatch(name, py_type, lit, f"bad msgpack: {exc}") from exc
        if kind == "generic":
            from google.protobuf import json_format

            return json_format.MessageToDict(lit.scalar.generic)
    raise literal_mismatch(name, py_type, lit)


# --- python value -> JSON-like document -----------------------------------------------------


def _generic_jsonable(value: Any, name: str, ctx: TransferContext | None) -> Any:
    """An untyped value (inside ``dict``) as a msgpack-able document."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise mismatch(child(name, k), str, k, f"dict key {short_repr(k)} is not a str")
            out[k] = _generic_jsonable(v, child(name, k), ctx)
        return out
    if isinstance(value, list | tuple):
        return [_generic_jsonable(v, child(name, i), ctx) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(value, type(value), ctx, name=name)
    if isinstance(value, enum.Enum):
        return _generic_jsonable(value.value, name, ctx)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise mismatch(name, "JSON-like value", value, f"{type(value).__name__} cannot go in a dict")


def to_jsonable(
    value: Any, py_type: Any, ctx: TransferContext | None = None, *, name: str = ""
) -> Any:
    """``value`` of ``py_type`` as the JSON-like document mashumaro would write.

    Files, directories and dataframes are uploaded through ``ctx`` (required for them).
    """
    t = normalize(py_type)
    if typing.get_origin(t) is typing.Annotated and not _is_offloaded(t):
        t = typing.get_args(t)[0]
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is int:
        return prim.check_int(value, t, name)
    if t is float:
        return prim.check_float(value, t, name)
    if t is str:
        return prim.check_str(value, t, name)
    if t is bool:
        return prim.check_bool(value, t, name)
    if t is type(None):
        if value is not None:
            raise mismatch(name, t, value)
        return None
    if t is dt.datetime:
        return prim.check_datetime(value, t, name).isoformat()
    if t is dt.timedelta:
        if not isinstance(value, dt.timedelta):
            raise mismatch(name, t, value)
        return value.total_seconds()
    if is_enum_type(t):
        if isinstance(value, t):
            return value.value
        if isinstance(value, str) and value in [m.value for m in t]:
            return str.__str__(value)
        raise mismatch(name, t, value)
    if is_dataclass_type(t):
        if not isinstance(value, t):
            raise mismatch(name, t, value)
        return {
            f: to_jsonable(getattr(value, f), ft, ctx, name=f"{name}.{f}" if name else f)
            for f, ft in field_types(t).items()
        }
    if origin is list:
        if not isinstance(value, list | tuple):
            raise mismatch(name, t, value)
        return [to_jsonable(v, args[0], ctx, name=child(name, i)) for i, v in enumerate(value)]
    if origin is dict and args:
        if args[0] is not str:
            raise UnsupportedTypeError(f"{type_name(t)}: only str keys are supported")
        if not isinstance(value, Mapping):
            raise mismatch(name, t, value)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise mismatch(child(name, k), str, k, f"dict key {short_repr(k)} is not a str")
            out[k] = to_jsonable(v, args[1], ctx, name=child(name, k))
        return out
    if t is dict or (origin is dict and not args):
        if not isinstance(value, Mapping) and not (
            dataclasses.is_dataclass(value) and not isinstance(value, type)
        ):
            raise mismatch(name, t, value)
        return _generic_jsonable(value, name, ctx)
    if origin is typing.Union:
        return _union_jsonable(value, t, ctx, name)
    if _is_offloaded(t):
        return _offloaded_jsonable(value, t, ctx, name)
    if t is typing.Any or t is object:
        raise UnsupportedTypeError(f"typing.Any is not supported (field {name or '?'})")
    raise UnsupportedTypeError(f"type {type_name(t)} is not supported inside a dataclass")


def _union_jsonable(value: Any, t: Any, ctx: TransferContext | None, name: str) -> Any:
    for strict_pass in (True, False):
        with strictness(strict_pass):
            for variant in typing.get_args(t):
                try:
                    return to_jsonable(value, variant, ctx, name=name)
                except TypeMismatchError:
                    continue
    raise mismatch(name, t, value)


def _is_offloaded(t: Any) -> bool:
    from shim.types.dataframe import DataFrame
    from shim.types.files import Directory, File

    base = typing.get_args(t)[0] if typing.get_origin(t) is typing.Annotated else t
    return base in (File, Directory, DataFrame)


def _offloaded_jsonable(value: Any, t: Any, ctx: TransferContext | None, name: str) -> Any:
    from shim.types.engine import to_literal

    if ctx is None:
        raise UnsupportedTypeError(f"{name}: files and dataframes need a TransferContext")
    lit = to_literal(value, t, ctx, name=name)
    if lit.scalar.WhichOneof("value") == "blob":
        return {"path": lit.scalar.blob.uri}
    return {"uri": lit.scalar.structured_dataset.uri, "file_format": "parquet"}


# --- JSON-like document -> python value -----------------------------------------------------


def from_jsonable(
    cls: Any, data: Any, *, name: str = "", ctx: TransferContext | None = None
) -> Any:
    """Build a value of ``cls`` (typically a dataclass) from a JSON-like document.

    Accepts what a decoded protobuf Struct gives: numbers are floats there, so a whole float
    becomes an int where the field type is int; a fractional one raises TypeMismatchError.
    Missing fields with defaults take the default; unknown keys are ignored (as flytekit does).
    """
    t = normalize(cls)
    if typing.get_origin(t) is typing.Annotated and not _is_offloaded(t):
        t = typing.get_args(t)[0]
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is int:
        if isinstance(data, float):
            return prim.integral_float_to_int(data, t, name)
        return prim.check_int(data, t, name)
    if t is float:
        return prim.check_float(data, t, name)
    if t in (str, bool, type(None)):
        checker = {str: prim.check_str, bool: prim.check_bool}.get(t)
        if checker is None:
            if data is not None:
                raise mismatch(name, t, data)
            return None
        return checker(data, t, name)
    if t is dt.datetime:
        return _datetime_from(data, t, name)
    if t is dt.timedelta:
        if isinstance(data, dt.timedelta):
            return data
        if prim.is_int_value(data) or isinstance(data, float):
            return dt.timedelta(seconds=data)
        raise mismatch(name, t, data)
    if is_enum_type(t):
        try:
            return t(data.value if isinstance(data, enum.Enum) else data)
        except (ValueError, TypeError):
            values = [m.value for m in t]
            raise mismatch(name, t, data, f"{short_repr(data)} not in {values}") from None
    if is_dataclass_type(t):
        return _dataclass_from(t, data, name, ctx)
    if origin is list:
        if not isinstance(data, list | tuple):
            raise mismatch(name, t, data)
        return [from_jsonable(args[0], v, name=child(name, i), ctx=ctx) for i, v in enumerate(data)]
    if origin is dict and args:
        if not isinstance(data, Mapping):
            raise mismatch(name, t, data)
        return {k: from_jsonable(args[1], v, name=child(name, k), ctx=ctx) for k, v in data.items()}
    if t is dict or origin is dict:
        if not isinstance(data, Mapping):
            raise mismatch(name, t, data)
        return dict(data)
    if origin is typing.Union:
        return _union_from(t, data, name, ctx)
    if _is_offloaded(t):
        return _offloaded_from(t, data, name, ctx)
    raise UnsupportedTypeError(f"type {type_name(t)} is not supported inside a dataclass")


def _datetime_from(data: Any, t: Any, name: str) -> dt.datetime:
    if isinstance(data, dt.datetime):
        return data
    if isinstance(data, str):
        try:
            return dt.datetime.fromisoformat(data)
        except ValueError:
            pass
    raise mismatch(name, t, data)


def _dataclass_from(t: type, data: Any, name: str, ctx: TransferContext | None) -> Any:
    if isinstance(data, t):
        return data
    if not isinstance(data, Mapping):
        raise mismatch(name, t, data)
    kwargs = {}
    types = field_types(t)
    for f in dataclasses.fields(t):
        fname = f"{name}.{f.name}" if name else f.name
        if f.name in data:
            if not f.init:
                continue
            kwargs[f.name] = from_jsonable(types[f.name], data[f.name], name=fname, ctx=ctx)
        elif f.init and _required(f):
            raise TypeMismatchError(
                fname, type_name(types[f.name]), "nothing", f"field missing from {t.__name__}"
            )
    return t(**kwargs)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _union_from(t: Any, data: Any, name: str, ctx: TransferContext | None) -> Any:
    variants = typing.get_args(t)
    for strict_pass in (True, False):
        with strictness(strict_pass):
            for variant in variants:
                try:
                    return from_jsonable(variant, data, name=name, ctx=ctx)
                except TypeMismatchError:
                    continue
    raise mismatch(name, t, data)


def _offloaded_from(t: Any, data: Any, name: str, ctx: TransferContext | None) -> Any:
    from shim.types.dataframe import DataFrame, columns_of
    from shim.types.files import Directory, File

    base = typing.get_args(t)[0] if typing.get_origin(t) is typing.Annotated else t
    if isinstance(data, base):
        return data
    key = "uri" if base is DataFrame else "path"
    uri = data.get(key) if isinstance(data, Mapping) else data
    if not isinstance(uri, str) or not uri:
        raise mismatch(name, t, data)
    if base is DataFrame:
        return DataFrame(uri, columns=columns_of(t), ctx=ctx)
    return File(uri, ctx=ctx) if base is File else Directory(uri, ctx=ctx)


# --- JSON schema (mashumaro layout) ---------------------------------------------------------


def json_schema(py_type: Any) -> dict[str, Any]:
    """The JSON schema flytekit (mashumaro) puts in a dataclass LiteralType's ``metadata``."""
    t = normalize(py_type)
    if typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    origin, args = typing.get_origin(t), typing.get_args(t)
    simple = {
        int: {"type": "integer"},
        float: {"type": "number"},
        str: {"type": "string"},
        bool: {"type": "boolean"},
        type(None): {"type": "null"},
        dt.datetime: {"type": "string", "format": "date-time"},
        dt.timedelta: {"type": "number", "format": "time-delta"},
        dict: {"type": "object"},
    }
    if t in simple:
        return dict(simple[t])
    if is_enum_type(t):
        return {"enum": [m.value for m in t]}
    if is_dataclass_type(t):
        return _dataclass_schema(t)
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    if origin is dict:
        if not args:
            return {"type": "object"}
        return {
            "type": "object",
            "additionalProperties": json_schema(args[1]),
            "propertyNames": {"type": "string"},
        }
    if origin is typing.Union:
        return {"anyOf": [json_schema(a) for a in args]}
    return _offloaded_schema(t)


def _offloaded_schema(t: Any) -> dict[str, Any]:
    from shim.types.dataframe import DataFrame
    from shim.types.files import Directory, File

    path = {"anyOf": [{"type": "string"}, {"type": "string", "format": "path"}], "default": None}
    if t is File:
        return {
            "type": "object",
            "title": "FlyteFile",
            "properties": {"path": path},
            "additionalProperties": False,
        }
    if t is Directory:
        return {
            "type": "object",
            "title": "FlyteDirectory",
            "properties": {"path": path},
            "additionalProperties": False,
        }
    if t is DataFrame:
        opt = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
        return {
            "type": "object",
            "title": "StructuredDataset",
            "properties": {"uri": opt, "file_format": opt},
            "additionalProperties": False,
        }
    raise UnsupportedTypeError(f"type {type_name(t)} is not supported inside a dataclass")


def _dataclass_schema(cls: type) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        schema = json_schema(field_types(cls)[f.name])
        if f.default is not dataclasses.MISSING:
            try:
                schema["default"] = to_jsonable(f.default, field_types(cls)[f.name])
            except (TypeMismatchError, UnsupportedTypeError):
                schema["default"] = None if f.default is None else repr(f.default)
        elif f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        props[f.name] = schema
    out: dict[str, Any] = {
        "type": "object",
        "title": cls.__name__,
        "properties": props,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out


# --- handlers -------------------------------------------------------------------------------


@register
class UntypedDictHandler(Handler):
    """Untyped ``dict`` ↔ STRUCT + msgpack binary. Also the type guessed for any STRUCT, so it
    accepts dataclass instances too (encoded as their fields) and decodes to a plain dict."""

    tag = "Typed Dict"

    def claims(self, py_type):
        bare = typing.get_origin(py_type) is dict and not typing.get_args(py_type)
        return py_type is dict or bare

    def literal_type(self, py_type):
        return _struct_type()

    def to_literal(self, value, py_type, ctx, name):
        is_dc = dataclasses.is_dataclass(value) and not isinstance(value, type)
        if not isinstance(value, Mapping) and not is_dc:
            raise mismatch(name, py_type, value)
        return _binary(_generic_jsonable(value, name, ctx))

    def to_python(self, lit, py_type, ctx, name):
        doc = _document(lit, py_type, name)
        if not isinstance(doc, dict):
            raise literal_mismatch(name, py_type, lit, f"document is a {type(doc).__name__}")
        return doc

    def guess(self, lt):
        if lt.WhichOneof("type") == "simple" and lt.simple == idl.SimpleType.STRUCT:
            return dict
        return None


@register
class DataclassHandler(Handler):
    """Dataclass ↔ STRUCT (+ JSON schema, ``structure.dataclass_type``) + msgpack binary."""

    tag = "Object-Dataclass-Transformer"

    def claims(self, py_type):
        return is_dataclass_type(py_type)

    def literal_type(self, py_type):
        lt = _struct_type(_dataclass_schema(py_type))
        for fname, ftype in field_types(py_type).items():
            lt.structure.dataclass_type[fname].CopyFrom(literal_type_of(ftype))
        return lt

    def to_literal(self, value, py_type, ctx, name):
        if not isinstance(value, py_type):
            raise mismatch(name, py_type, value)
        return _binary(to_jsonable(value, py_type, ctx, name=name))

    def to_python(self, lit, py_type, ctx, name):
        return from_jsonable(py_type, _document(lit, py_type, name), name=name, ctx=ctx)
