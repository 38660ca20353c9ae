"""list / dict / Optional / Union / Enum, both ways, and the union tags flytekit matches on."""

from __future__ import annotations

import datetime as dt
import enum
import typing
from dataclasses import dataclass

import pytest

from shim import idl
from shim.errors import TypeMismatchError
from shim.types import (
    DataFrame,
    Directory,
    File,
    UnsupportedTypeError,
    literal_type_of,
    python_type_of,
    to_literal,
    to_python,
)

S = idl.SimpleType


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@dataclass
class Point:
    x: int
    y: int


def roundtrip(value, py, ctx):
    lit = to_literal(value, py, ctx)
    parsed = idl.Literal()
    parsed.ParseFromString(idl.serialize(lit))
    return to_python(parsed, py, ctx)


# --- list / dict -----------------------------------------------------------------------------


def test_list_type_and_value(ctx):
    assert literal_type_of(list[int]) == idl.LiteralType(
        collection_type=idl.LiteralType(simple=S.INTEGER)
    )
    assert literal_type_of(typing.List[str]) == literal_type_of(list[str])  # noqa: UP006
    lit = to_literal([1, 2, 3], list[int], ctx)
    assert [v.scalar.primitive.integer for v in lit.collection.literals] == [1, 2, 3]
    assert to_python(lit, list[int], ctx) == [1, 2, 3]
    assert roundtrip((1, 2), list[int], ctx) == [1, 2]
    assert roundtrip([], list[str], ctx) == []


def test_dict_type_and_value(ctx):
    assert literal_type_of(dict[str, float]) == idl.LiteralType(
        map_value_type=idl.LiteralType(simple=S.FLOAT)
    )
    lit = to_literal({"a": 1.5, "b": 2}, dict[str, float], ctx)
    assert lit.map.literals["b"].scalar.primitive.float_value == 2.0
    assert to_python(lit, dict[str, float], ctx) == {"a": 1.5, "b": 2.0}


def test_nested_containers(ctx):
    t = dict[str, list[dict[str, list[int]]]]
    value = {"x": [{"a": [1, 2]}, {}], "y": []}
    assert roundtrip(value, t, ctx) == value
    assert python_type_of(literal_type_of(t)) == t


def test_container_errors_name_the_element(ctx):
    with pytest.raises(TypeMismatchError) as e:
        to_literal([1, "two"], list[int], ctx, name="xs")
    assert "'xs[1]'" in str(e.value) and "expected int, got str" in str(e.value)
    with pytest.raises(TypeMismatchError) as e:
        to_literal({"a": [1, 2.5]}, dict[str, list[int]], ctx, name="m")
    assert "m['a'][1]" in str(e.value)
    with pytest.raises(TypeMismatchError) as e:
        to_literal({1: 2}, dict[str, int], ctx, name="m")
    assert "not a str" in str(e.value)
    with pytest.raises(TypeMismatchError):
        to_literal("abc", list[str], ctx)
    with pytest.raises(TypeMismatchError):
        to_literal([1], dict[str, int], ctx)
    with pytest.raises(TypeMismatchError):
        to_python(to_literal([1], list[int], ctx), dict[str, int], ctx)


def test_unsupported_container_types():
    with pytest.raises(UnsupportedTypeError):
        literal_type_of(dict[int, str])
    with pytest.raises(UnsupportedTypeError):
        literal_type_of(list)
    with pytest.raises(UnsupportedTypeError, match="Any"):
        literal_type_of(typing.Any)
    with pytest.raises(UnsupportedTypeError, match="Any"):
        literal_type_of(list[typing.Any])
    with pytest.raises(UnsupportedTypeError):
        literal_type_of(set[int])


# --- unions ----------------------------------------------------------------------------------


def tags(py) -> list[str]:
    return [v.structure.tag for v in literal_type_of(py).union_type.variants]


def test_optional_type_has_flytekit_tags():
    lt = literal_type_of(typing.Optional[int])  # noqa: UP045
    assert [v.simple for v in lt.union_type.variants] == [S.INTEGER, S.NONE]
    assert tags(typing.Optional[int]) == ["int", "none"]  # noqa: UP045
    assert literal_type_of(int | None) == lt


def test_union_tags_match_flytekit_transformer_names():
    t = typing.Union[  # noqa: UP007
        int,
        float,
        str,
        bool,
        dt.datetime,
        dt.timedelta,
        list[int],
        dict[str, int],
        dict,
        Color,
        Point,
        File,
        Directory,
        DataFrame,
        None,
    ]
    assert tags(t) == [
        "int", "float", "str", "bool", "datetime", "timedelta", "Typed List", "Typed Dict",
        "Typed Dict", "DefaultEnumTransformer", "Object-Dataclass-Transformer", "FlyteFilePath",
        "FlyteDirectory", "StructuredDataset Transformer", "none",
    ]  # fmt: skip


def test_union_variant_structure_is_only_the_tag():
    (variant, _) = literal_type_of(Point | None).union_type.variants
    assert variant.simple == S.STRUCT
    assert not variant.structure.dataclass_type  # flytekit replaces the structure with the tag
    assert variant.metadata["title"] == "Point"


def test_optional_values(ctx):
    t = typing.Optional[int]  # noqa: UP045
    lit = to_literal(None, t, ctx)
    assert lit.scalar.union.value.scalar.WhichOneof("value") == "none_type"
    assert lit.scalar.union.type.structure.tag == "none"
    assert to_python(lit, t, ctx) is None
    lit = to_literal(5, t, ctx)
    assert lit.scalar.union.value.scalar.primitive.integer == 5
    assert lit.scalar.union.type == idl.LiteralType(
        simple=S.INTEGER, structure=idl.TypeStructure(tag="int")
    )
    assert to_python(lit, t, ctx) == 5


def test_union_prefers_exact_type(ctx):
    t = int | float
    assert to_literal(3, t, ctx).scalar.union.type.structure.tag == "int"
    assert to_literal(3.0, t, ctx).scalar.union.type.structure.tag == "float"
    # an int still fits a float-only union
    assert to_literal(3, float | None, ctx).scalar.union.value.scalar.primitive.float_value == 3.0
    # strictness: [1, 2] is list[int], not list[float]
    lit = to_literal([1, 2], list[float] | list[int], ctx)
    assert lit.scalar.union.value.collection.literals[0].scalar.primitive.integer == 1
    # a bare string matching an enum value goes to str
    assert to_literal("red", Color | str, ctx).scalar.union.type.structure.tag == "str"
    assert to_literal(Color.RED, Color | str, ctx).scalar.union.type.structure.tag == (
        "DefaultEnumTransformer"
    )


def test_union_ambiguous_and_no_fit(ctx):
    with pytest.raises(TypeMismatchError, match="ambiguous"):
        to_literal([], list[int] | list[str], ctx, name="u")
    with pytest.raises(TypeMismatchError) as e:
        to_literal(2.5, int | str, ctx, name="u")
    assert "'u': expected int | str, got float" in str(e.value)


def test_union_decodes_by_tag(ctx):
    t = int | str
    lit = to_literal("7", t, ctx)
    assert to_python(lit, t, ctx) == "7"
    assert to_python(to_literal(7, t, ctx), t, ctx) == 7
    # a FLOAT variant literal decodes into the float variant, not the int one
    lit = to_literal(2.0, float | int, ctx)
    back = to_python(lit, int | float, ctx)
    assert back == 2.0 and type(back) is float


def test_union_accepts_plain_literals(ctx):
    t = int | None
    assert to_python(to_literal(4, int, ctx), t, ctx) == 4
    assert to_python(idl.Literal(scalar=idl.Scalar(none_type=idl.Void())), t, ctx) is None
    with pytest.raises(TypeMismatchError):
        to_python(to_literal("x", str, ctx), t, ctx, name="o")


def test_guessed_union_keeps_template_variants(ctx):
    """Two dataclass variants both guess as dict: the template's tags survive encoding."""
    lt = literal_type_of(Point | None)
    guessed = python_type_of(lt)
    assert literal_type_of(guessed) == lt
    lit = to_literal({"x": 1, "y": 2}, guessed, ctx)
    assert lit.scalar.union.type.structure.tag == "Object-Dataclass-Transformer"
    assert lit.scalar.union.type.metadata["title"] == "Point"
    assert to_python(lit, guessed, ctx) == {"x": 1, "y": 2}
    assert to_python(lit, Point | None, ctx) == Point(1, 2)
    assert to_python(to_literal(None, guessed, ctx), guessed, ctx) is None
    # Point() instances fit the guessed (dict) variant as well
    assert to_literal(Point(3, 4), guessed, ctx) == to_literal(Point(3, 4), Point | None, ctx)


def test_guessed_union_plain_types():
    assert (
        typing.get_args(python_type_of(literal_type_of(int | str | None)))[0]
        == (
            typing.Union[int, str, None]  # noqa: UP007
        )
    )


# --- enums -----------------------------------------------------------------------------------


def test_enum_type_and_value(ctx):
    assert literal_type_of(Color) == idl.LiteralType(
        enum_type=idl.EnumType(values=["red", "green"])
    )
    lit = to_literal(Color.GREEN, Color, ctx)
    assert lit.scalar.primitive.string_value == "green"
    assert to_python(lit, Color, ctx) is Color.GREEN
    assert to_literal("red", Color, ctx).scalar.primitive.string_value == "red"


def test_enum_errors(ctx):
    with pytest.raises(TypeMismatchError, match="'c': expected Color, got str"):
        to_literal("blue", Color, ctx, name="c")
    with pytest.raises(TypeMismatchError, match="'blue' not in"):
        to_python(to_literal("blue", str, ctx), Color, ctx, name="c")

    class Num(enum.Enum):
        ONE = 1

    with pytest.raises(UnsupportedTypeError):
        literal_type_of(Num)


def test_guessed_enum_accepts_strings(ctx):
    guessed = python_type_of(literal_type_of(Color))
    assert issubclass(guessed, enum.Enum)
    assert [m.value for m in guessed] == ["red", "green"]
    assert to_literal("green", guessed, ctx).scalar.primitive.string_value == "green"
    assert to_literal(guessed("red"), guessed, ctx).scalar.primitive.string_value == "red"
    assert to_python(to_literal(Color.RED, Color, ctx), guessed, ctx).value == "red"
    with pytest.raises(TypeMismatchError):
        to_literal("blue", guessed, ctx)
