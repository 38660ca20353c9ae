"""int, float, str, bool, datetime, timedelta and None."""

from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any

from shim import idl
from shim.types.engine import Handler, literal_mismatch, mismatch, register, strict

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_UTC = dt.UTC


def _primitive(**kw: Any) -> idl.Literal:
    return idl.Literal(scalar=idl.Scalar(primitive=idl.Primitive(**kw)))


def _primitive_kind(lit: idl.Literal) -> str | None:
    if lit.WhichOneof("value") != "scalar" or lit.scalar.WhichOneof("value") != "primitive":
        return None
    return lit.scalar.primitive.WhichOneof("value")


def is_int_value(value: Any) -> bool:
    """An integral number that is not a bool (numpy integers count)."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def _is_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    dtype = getattr(value, "dtype", None)  # numpy.bool_
    return dtype is not None and getattr(dtype, "kind", "") == "b"


def check_int(value: Any, py_type: Any, name: str) -> int:
    """``value`` as an int64, or a TypeMismatchError (bools and floats are refused)."""
    if not is_int_value(value):
        raise mismatch(name, py_type, value)
    result = int(value)
    if not INT64_MIN <= result <= INT64_MAX:
        raise mismatch(name, py_type, value, "out of the 64-bit integer range")
    return result


def check_float(value: Any, py_type: Any, name: str) -> float:
    """``value`` as a float; ints are accepted (not in strict union matching), bools are not."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise mismatch(name, py_type, value)
    if isinstance(value, numbers.Integral) and strict():
        raise mismatch(name, py_type, value)
    return float(value)


def check_bool(value: Any, py_type: Any, name: str) -> bool:
    """``value`` as a bool (numpy bools count)."""
    if not _is_bool(value):
        raise mismatch(name, py_type, value)
    return bool(value)


def check_str(value: Any, py_type: Any, name: str) -> str:
    """``value`` as a plain str."""
    if not isinstance(value, str):
        raise mismatch(name, py_type, value)
    return str.__str__(value)


def integral_float_to_int(value: float, py_type: Any, name: str) -> int:
    """A float that holds an integer (5.0) as an int; anything else is a mismatch."""
    if not math.isfinite(value) or value != int(value):
        raise mismatch(name, py_type, value, f"{value!r} is not a whole number")
    return check_int(int(value), py_type, name)


def check_datetime(value: Any, py_type: Any, name: str) -> dt.datetime:
    """A datetime (not a bare date); naive values mean UTC."""
    if not isinstance(value, dt.datetime):
        raise mismatch(name, py_type, value)
    return value


class _Simple(Handler):
    py: type
    simple: int

    def claims(self, py_type: Any) -> bool:
        return py_type is self.py

    def literal_type(self, py_type: Any) -> idl.LiteralType:
        return idl.LiteralType(simple=self.simple)

    def guess(self, lt: idl.LiteralType) -> Any:
        if lt.WhichOneof("type") == "simple" and lt.simple == self.simple:
            return self.py
        return None


@register
class IntHandler(_Simple):
    """int ↔ INTEGER; a FLOAT literal holding a whole number decodes too."""

    py, simple, tag = int, idl.SimpleType.INTEGER, "int"

    def to_literal(self, value, py_type, ctx, name):
        return _primitive(integer=check_int(value, py_type, name))

    def to_python(self, lit, py_type, ctx, name):
        kind = _primitive_kind(lit)
        if kind == "integer":
            return int(lit.scalar.primitive.integer)
        if kind == "float_value":
            return integral_float_to_int(lit.scalar.primitive.float_value, py_type, name)
        raise literal_mismatch(name, py_type, lit)


@register
class FloatHandler(_Simple):
    """float ↔ FLOAT; ints encode as floats, INTEGER literals decode as floats."""

    py, simple, tag = float, idl.SimpleType.FLOAT, "float"

    def to_literal(self, value, py_type, ctx, name):
        return _primitive(float_value=check_float(value, py_type, name))

    def to_python(self, lit, py_type, ctx, name):
        kind = _primitive_kind(lit)
        if kind == "float_value":
            return float(lit.scalar.primitive.float_value)
        if kind == "integer":
            return float(lit.scalar.primitive.integer)
        raise literal_mismatch(name, py_type, lit)


@register
class StrHandler(_Simple):
    """str ↔ STRING."""

    py, simple, tag = str, idl.SimpleType.STRING, "str"

    def to_literal(self, value, py_type, ctx, name):
        return _primitive(string_value=check_str(value, py_type, name))

    def to_python(self, lit, py_type, ctx, name):
        if _primitive_kind(lit) == "string_value":
            return lit.scalar.primitive.string_value
        raise literal_mismatch(name, py_type, lit)


@register
class BoolHandler(_Simple):
    """bool ↔ BOOLEAN."""

    py, simple, tag = bool, idl.SimpleType.BOOLEAN, "bool"

    def to_literal(self, value, py_type, ctx, name):
        return _primitive(boolean=check_bool(value, py_type, name))

    def to_python(self, lit, py_type, ctx, name):
        if _primitive_kind(lit) == "boolean":
            return lit.scalar.primitive.boolean
        raise literal_mismatch(name, py_type, lit)


@register
class DatetimeHandler(_Simple):
    """datetime ↔ DATETIME (Timestamp). Naive datetimes are UTC; decoding gives aware UTC."""

    py, simple, tag = dt.datetime, idl.SimpleType.DATETIME, "datetime"

    def to_literal(self, value, py_type, ctx, name):
        ts = idl.Timestamp()
        value = check_datetime(value, py_type, name)
        if value.tzinfo is not None:
            value = value.astimezone(_UTC)
        ts.FromDatetime(value.replace(tzinfo=None))
        return _primitive(datetime=ts)

    def to_python(self, lit, py_type, ctx, name):
        if _primitive_kind(lit) == "datetime":
            ts = lit.scalar.primitive.datetime
            try:
                return ts.ToDatetime(tzinfo=_UTC)
            except (ValueError, OverflowError) as e:  # outside datetime's range, bad nanos
                raise literal_mismatch(name, py_type, lit, f"timestamp out of range: {e}") from None
        raise literal_mismatch(name, py_type, lit)


@register
class TimedeltaHandler(_Simple):
    """timedelta ↔ DURATION."""

    py, simple, tag = dt.timedelta, idl.SimpleType.DURATION, "timedelta"

    def to_literal(self, value, py_type, ctx, name):
        if not isinstance(value, dt.timedelta):
            raise mismatch(name, py_type, value)
        d = idl.Duration()
        d.FromTimedelta(value)
        return _primitive(duration=d)

    def to_python(self, lit, py_type, ctx, name):
        if _primitive_kind(lit) == "duration":
            try:
                return lit.scalar.primitive.duration.ToTimedelta()
            except (ValueError, OverflowError) as e:  # outside timedelta's range, bad nanos
                raise literal_mismatch(name, py_type, lit, f"duration out of range: {e}") from None
        raise literal_mismatch(name, py_type, lit)


@register
class NoneHandler(_Simple):
    """None ↔ NONE (``scalar.none_type``)."""

    py, simple, tag = type(None), idl.SimpleType.NONE, "none"

    def to_literal(self, value, py_type, ctx, name):
        if value is not None:
            raise mismatch(name, py_type, value)
        return idl.Literal(scalar=idl.Scalar(none_type=idl.Void()))

    def to_python(self, lit, py_type, ctx, name):
        if lit.WhichOneof("value") == "scalar" and lit.scalar.WhichOneof("value") == "none_type":
            return None
        raise literal_mismatch(name, py_type, lit)
