"""int / float / str / bool / datetime / timedelta / None, both ways."""

from __future__ import annotations

import datetime as dt

import pytest

from shim import idl
from shim.errors import TypeMismatchError
from shim.types import literal_type_of, python_type_of, to_literal, to_python

UTC = dt.UTC
S = idl.SimpleType


def prim(**kw) -> idl.Literal:
    return idl.Literal(scalar=idl.Scalar(primitive=idl.Primitive(**kw)))


@pytest.mark.parametrize(
    ("py", "simple"),
    [
        (int, S.INTEGER),
        (float, S.FLOAT),
        (str, S.STRING),
        (bool, S.BOOLEAN),
        (dt.datetime, S.DATETIME),
        (dt.timedelta, S.DURATION),
        (type(None), S.NONE),
    ],
)
def test_simple_types_both_ways(py, simple):
    assert literal_type_of(py) == idl.LiteralType(simple=simple)
    assert python_type_of(idl.LiteralType(simple=simple)) is py


def test_none_annotation_is_none_type():
    assert literal_type_of(None) == idl.LiteralType(simple=S.NONE)


@pytest.mark.parametrize(
    ("value", "py", "field", "stored"),
    [
        (3, int, "integer", 3),
        (-(2**63), int, "integer", -(2**63)),
        (2.5, float, "float_value", 2.5),
        ("héllo", str, "string_value", "héllo"),
        (True, bool, "boolean", True),
        (False, bool, "boolean", False),
    ],
)
def test_primitive_values(ctx, value, py, field, stored):
    lit = to_literal(value, py, ctx)
    assert lit == prim(**{field: stored})
    back = to_python(lit, py, ctx)
    assert back == value and type(back) is py


def test_datetime_naive_is_utc_and_decodes_aware(ctx):
    naive = dt.datetime(2024, 1, 2, 3, 4, 5, 6)
    lit = to_literal(naive, dt.datetime, ctx)
    assert lit.scalar.primitive.datetime.seconds == int(naive.replace(tzinfo=UTC).timestamp())
    assert lit.scalar.primitive.datetime.nanos == 6000
    back = to_python(lit, dt.datetime, ctx)
    assert back == naive.replace(tzinfo=UTC)
    assert back.tzinfo is UTC


def test_datetime_aware_is_converted_to_utc(ctx):
    plus2 = dt.timezone(dt.timedelta(hours=2))
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=plus2)
    back = to_python(to_literal(aware, dt.datetime, ctx), dt.datetime, ctx)
    assert back == aware
    assert back.tzinfo is UTC and back.hour == 1


def test_timedelta(ctx):
    td = dt.timedelta(days=2, seconds=3, microseconds=500)
    lit = to_literal(td, dt.timedelta, ctx)
    assert lit.scalar.primitive.duration.seconds == 2 * 86400 + 3
    assert to_python(lit, dt.timedelta, ctx) == td
    neg = dt.timedelta(seconds=-1.5)
    assert to_python(to_literal(neg, dt.timedelta, ctx), dt.timedelta, ctx) == neg


def test_none(ctx):
    lit = to_literal(None, type(None), ctx)
    assert lit.scalar.WhichOneof("value") == "none_type"
    assert to_python(lit, type(None), ctx) is None


def test_integer_literal_decodes_into_float(ctx):
    back = to_python(prim(integer=3), float, ctx)
    assert back == 3.0 and type(back) is float


def test_whole_float_literal_decodes_into_int(ctx):
    back = to_python(prim(float_value=3.0), int, ctx)
    assert back == 3 and type(back) is int


def test_fractional_float_literal_does_not_truncate_into_int(ctx):
    with pytest.raises(TypeMismatchError) as e:
        to_python(prim(float_value=3.5), int, ctx, name="n")
    assert "'n'" in str(e.value) and "expected int" in str(e.value) and "3.5" in str(e.value)


def test_int_value_encodes_as_float(ctx):
    assert to_literal(3, float, ctx) == prim(float_value=3.0)


def test_mismatch_message_names_variable_expected_and_actual(ctx):
    with pytest.raises(TypeMismatchError) as e:
        to_literal("abc", int, ctx, name="limit")
    assert str(e.value) == "'limit': expected int, got str ('abc')"
    assert e.value.variable == "limit" and e.value.expected == "int" and e.value.actual == "str"


@pytest.mark.parametrize(
    ("value", "py"),
    [
        (True, int),
        (False, float),
        (1.0, int),
        (2.5, int),
        (1, bool),
        ("1", int),
        (1, str),
        (dt.date(2024, 1, 1), dt.datetime),
        (5, dt.timedelta),
        (0, type(None)),
        (2**63, int),
    ],
)
def test_values_that_do_not_fit(ctx, value, py):
    with pytest.raises(TypeMismatchError) as e:
        to_literal(value, py, ctx, name="v")
    assert "'v'" in str(e.value)
    assert type(value).__name__ in str(e.value)


@pytest.mark.parametrize(
    ("lit", "py"),
    [
        (prim(string_value="3"), int),
        (prim(integer=1), str),
        (prim(integer=1), bool),
        (prim(boolean=True), int),
        (prim(string_value="x"), dt.datetime),
        (idl.Literal(scalar=idl.Scalar(none_type=idl.Void())), int),
        (prim(integer=1), type(None)),
    ],
)
def test_literals_that_do_not_fit(ctx, lit, py):
    with pytest.raises(TypeMismatchError) as e:
        to_python(lit, py, ctx, name="x")
    assert "'x'" in str(e.value) and "literal" in str(e.value)


def test_numpy_scalars_are_accepted(ctx):
    import numpy as np  # a dev dependency (through pandas): never skipped

    assert to_literal(np.int64(7), int, ctx) == prim(integer=7)
    assert to_literal(np.float32(0.5), float, ctx) == prim(float_value=0.5)
    assert to_literal(np.bool_(True), bool, ctx) == prim(boolean=True)
    with pytest.raises(TypeMismatchError):
        to_literal(np.bool_(True), int, ctx)


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(-62_135_596_801, 0), (0, -1), (253_402_300_800, 0)]
)
def test_timestamp_outside_datetime_range_is_a_type_mismatch(seconds, nanos, ctx):
    """protobuf >= 5 raises a bare ValueError from ToDatetime for these; found by the fuzzer."""
    lit = idl.Literal()
    lit.scalar.primitive.datetime.seconds = seconds
    lit.scalar.primitive.datetime.nanos = nanos
    with pytest.raises(TypeMismatchError, match="out of range"):
        to_python(lit, dt.datetime, ctx, name="when")


def test_duration_outside_timedelta_range_is_a_type_mismatch(ctx):
    lit = idl.Literal()
    lit.scalar.primitive.duration.seconds = 10**14  # beyond timedelta.max
    with pytest.raises(TypeMismatchError, match="out of range"):
        to_python(lit, dt.timedelta, ctx, name="took")
