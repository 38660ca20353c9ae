"""list[T], dict[str, T], Optional / Union and Enum."""

from __future__ import annotations

import enum
import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shim import idl
from shim.errors import TypeMismatchError
from shim.types.engine import (
    Handler,
    UnsupportedTypeError,
    child,
    is_enum_type,
    literal_mismatch,
    literal_type_of,
    mismatch,
    normalize,
    python_type_of,
    register,
    short_repr,
    strictness,
    to_literal,
    to_python,
    type_name,
    union_tag,
)


def _kind(lit: idl.Literal) -> str | None:
    return lit.WhichOneof("value")


@register
class ListHandler(Handler):
    """list[T] ↔ ``collection_type`` / ``collection.literals``. Tuples encode as lists."""

    tag = "Typed List"

    def claims(self, py_type):
        return typing.get_origin(py_type) is list or py_type is list

    def _item(self, py_type: Any) -> Any:
        args = typing.get_args(py_type)
        if not args:
            raise UnsupportedTypeError("a bare list is not supported: declare list[T]")
        return args[0]

    def literal_type(self, py_type):
        return idl.LiteralType(collection_type=literal_type_of(self._item(py_type)))

    def to_literal(self, value, py_type, ctx, name):
        if not isinstance(value, list | tuple):
            raise mismatch(name, py_type, value)
        item = self._item(py_type)
        lits = [to_literal(v, item, ctx, name=child(name, i)) for i, v in enumerate(value)]
        return idl.Literal(collection=idl.LiteralCollection(literals=lits))

    def to_python(self, lit, py_type, ctx, name):
        if _kind(lit) != "collection":
            raise literal_mismatch(name, py_type, lit)
        item = self._item(py_type)
        return [
            to_python(v, item, ctx, name=child(name, i))
            for i, v in enumerate(lit.collection.literals)
        ]

    def guess(self, lt):
        if lt.WhichOneof("type") == "collection_type":
            return list[python_type_of(lt.collection_type)]
        return None


@register
class DictHandler(Handler):
    """dict[str, T] ↔ ``map_value_type`` / ``map.literals``."""

    tag = "Typed Dict"

    def claims(self, py_type):
        return typing.get_origin(py_type) is dict and bool(typing.get_args(py_type))

    def _value(self, py_type: Any) -> Any:
        key, value = typing.get_args(py_type)
        if key is not str:
            raise UnsupportedTypeError(
                f"{type_name(py_type)}: only str keys are supported (dict[str, T])"
            )
        return value

    def literal_type(self, py_type):
        return idl.LiteralType(map_value_type=literal_type_of(self._value(py_type)))

    def to_literal(self, value, py_type, ctx, name):
        vt = self._value(py_type)
        if not isinstance(value, Mapping):
            raise mismatch(name, py_type, value)
        lits = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise mismatch(child(name, k), str, k, f"dict key {short_repr(k)} is not a str")
            lits[k] = to_literal(v, vt, ctx, name=child(name, k))
        return idl.Literal(map=idl.LiteralMap(literals=lits))

    def to_python(self, lit, py_type, ctx, name):
        if _kind(lit) != "map":
            raise literal_mismatch(name, py_type, lit)
        vt = self._value(py_type)
        return {
            k: to_python(v, vt, ctx, name=child(name, k))
            for k, v in sorted(lit.map.literals.items())
        }

    def guess(self, lt):
        if lt.WhichOneof("type") == "map_value_type":
            return dict[str, python_type_of(lt.map_value_type)]
        return None


# --- unions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnionVariants:
    """``Annotated`` metadata on a union guessed from IDL: the template's exact variants.

    ``types`` are the guessed Python types (possibly repeated, e.g. two dataclasses both
    guessed as ``dict``) and ``variants`` the serialized variant LiteralTypes with their tags,
    so an encoded union carries exactly the type the template declares.
    """

    types: tuple[Any, ...]
    variants: tuple[bytes, ...]
    __shim_marker__ = True

    def literal_types(self) -> list[idl.LiteralType]:
        out = []
        for raw in self.variants:
            lt = idl.LiteralType()
            lt.ParseFromString(raw)
            out.append(lt)
        return out


def _variant_type(py_type: Any) -> idl.LiteralType:
    lt = literal_type_of(py_type)
    lt.ClearField("structure")
    lt.structure.tag = union_tag(py_type)
    return lt


def _variants(py_type: Any) -> list[tuple[Any, idl.LiteralType]]:
    """(python type, tagged variant LiteralType) pairs of a union type."""
    if typing.get_origin(py_type) is typing.Annotated:
        base, *meta = typing.get_args(py_type)
        for m in meta:
            if isinstance(m, UnionVariants):
                return list(zip(m.types, m.literal_types(), strict=True))
        py_type = base
    return [(t, _variant_type(t)) for t in typing.get_args(py_type)]


def _is_union(py_type: Any) -> bool:
    if typing.get_origin(py_type) is typing.Annotated:
        base, *meta = typing.get_args(py_type)
        return any(isinstance(m, UnionVariants) for m in meta) or _is_union(base)
    return typing.get_origin(py_type) is typing.Union


def _exact(value: Any, py_type: Any) -> bool:
    t = normalize(py_type)
    if typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    return type(value) is (typing.get_origin(t) or t)


def _without_structure(lt: idl.LiteralType) -> bytes:
    copy = idl.LiteralType()
    copy.CopyFrom(lt)
    copy.ClearField("structure")
    return idl.serialize(copy)


@register
class UnionHandler(Handler):
    """Optional[T] / Union ↔ ``union_type`` with tagged variants; ``scalar.union{value, type}``.

    Encoding tries every variant, strictly first (an int is then not a float), then leniently;
    when several fit, the variant whose type is exactly the value's type wins, otherwise the
    value is ambiguous. Decoding picks the variant by ``structure.tag`` (as flytekit does).
    """

    tag = "Typed Union"

    def claims(self, py_type):
        return _is_union(py_type)

    def literal_type(self, py_type):
        return idl.LiteralType(
            union_type=idl.UnionType(variants=[lt for _, lt in _variants(py_type)])
        )

    def to_literal(self, value, py_type, ctx, name):
        variants = _variants(py_type)
        for strict_pass in (True, False):
            matches = []
            with strictness(strict_pass):
                for t, lt in variants:
                    try:
                        matches.append((t, lt, to_literal(value, t, ctx, name=name)))
                    except TypeMismatchError:
                        continue
            if matches:
                break
        if not matches:
            raise mismatch(name, py_type, value)
        if len(matches) > 1:
            exact = [m for m in matches if _exact(value, m[0])]
            if len(exact) != 1:
                raise mismatch(
                    name,
                    py_type,
                    value,
                    f"ambiguous: fits {', '.join(type_name(m[0]) for m in matches)}",
                )
            matches = exact
        _, lt, lit = matches[0]
        return idl.Literal(scalar=idl.Scalar(union=idl.Union(value=lit, type=lt)))

    def to_python(self, lit, py_type, ctx, name):
        variants = _variants(py_type)
        if _kind(lit) == "scalar" and lit.scalar.WhichOneof("value") == "union":
            stored = lit.scalar.union.type
            inner = lit.scalar.union.value
            tagged = [(t, lt) for t, lt in variants if lt.structure.tag == stored.structure.tag]
            if stored.structure.tag and tagged:
                same = _without_structure(stored)
                tagged.sort(key=lambda v: _without_structure(v[1]) != same)
                candidates = tagged
            else:
                candidates = variants
        else:
            inner, candidates = lit, variants
        for t, _ in candidates:
            try:
                return to_python(inner, t, ctx, name=name)
            except TypeMismatchError:
                continue
        raise literal_mismatch(name, py_type, lit)

    def guess(self, lt):
        if lt.WhichOneof("type") != "union_type":
            return None
        lts = list(lt.union_type.variants)
        types = tuple(python_type_of(v) for v in lts)
        meta = UnionVariants(types, tuple(idl.serialize(v) for v in lts))
        return typing.Annotated[typing.Union[types], meta]  # noqa: UP007


# --- enums ----------------------------------------------------------------------------------


@register
class EnumHandler(Handler):
    """Enum (string values) ↔ ``enum_type``; the literal is the member's value as a string.

    The encoder accepts members and their plain string values.
    """

    tag = "DefaultEnumTransformer"

    def claims(self, py_type):
        return is_enum_type(py_type)

    def _values(self, py_type: type[enum.Enum]) -> list[str]:
        values = [m.value for m in py_type]
        if not all(isinstance(v, str) for v in values):
            raise UnsupportedTypeError(
                f"enum {py_type.__name__}: only enums with string values are supported"
            )
        return values

    def literal_type(self, py_type):
        return idl.LiteralType(enum_type=idl.EnumType(values=self._values(py_type)))

    def to_literal(self, value, py_type, ctx, name):
        values = self._values(py_type)
        if isinstance(value, py_type):
            text = value.value
        elif (
            isinstance(value, enum.Enum) and isinstance(value.value, str) and value.value in values
        ):
            text = (
                value.value
            )  # a member of another enum with a declared value (the wire is the value)
        elif isinstance(value, str) and not isinstance(value, enum.Enum) and value in values:
            text = str.__str__(value)
        else:
            raise mismatch(name, py_type, value, f"{short_repr(value)} not in {values}")
        return idl.Literal(scalar=idl.Scalar(primitive=idl.Primitive(string_value=text)))

    def to_python(self, lit, py_type, ctx, name):
        if (
            _kind(lit) == "scalar"
            and lit.scalar.WhichOneof("value") == "primitive"
            and lit.scalar.primitive.WhichOneof("value") == "string_value"
        ):
            text = lit.scalar.primitive.string_value
            try:
                return py_type(text)
            except ValueError:
                raise literal_mismatch(
                    name, py_type, lit, f"{text!r} not in {self._values(py_type)}"
                ) from None
        raise literal_mismatch(name, py_type, lit)

    def guess(self, lt):
        if lt.WhichOneof("type") != "enum_type":
            return None
        return _dynamic_enum(tuple(lt.enum_type.values))  # one class per set of values


@functools.lru_cache(maxsize=256)
def _dynamic_enum(values: tuple[str, ...]) -> type[enum.Enum]:
    return dynamic_enum(list(values))


def dynamic_enum(values: list[str]) -> type[enum.Enum]:
    """An Enum whose members have exactly ``values`` as values (duplicates collapse).

    Members are named after their values where Python allows it (``RED`` -> ``.RED``); any
    legal Flyte enum value is accepted, also those Python cannot name (``""``, ``"mro"``,
    ``"_sunder_"``, ``"__init__"``, ``"a b"``): then every member is named ``v<index>``.
    """
    unique = list(dict.fromkeys(values))
    try:
        e = enum.Enum("DynamicEnum", [(v, v) for v in unique])
        if [m.value for m in e] == unique and all(e[v].value == v for v in unique):
            return e
    except (ValueError, TypeError, KeyError):
        pass
    return enum.Enum("DynamicEnum", [(f"v{i}", v) for i, v in enumerate(unique)])
