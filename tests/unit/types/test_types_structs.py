"""Untyped dicts and dataclasses (STRUCT + msgpack), from_jsonable."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import pytest
from google.protobuf import json_format

from shim import idl
from shim.errors import TypeMismatchError
from shim.types import (
    File,
    UnsupportedTypeError,
    from_jsonable,
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
class Inner:
    x: int
    y: list[str]


@dataclass
class Config:
    a: int
    b: float
    c: str | None
    inner: Inner
    d: dict[str, int]
    when: dt.datetime
    dur: dt.timedelta
    color: Color
    opt: int | None = None
    f: float = 1.0
    m: dict[str, Inner] = field(default_factory=dict)
    u: int | str = 1
    flag: bool = False
    raw: dict = field(default_factory=dict)


def sample() -> Config:
    return Config(
        a=1, b=2.0, c=None, inner=Inner(2, ["q"]), d={"k": 3}, when=dt.datetime(2024, 1, 2),
        dur=dt.timedelta(seconds=1.5), color=Color.GREEN, m={"z": Inner(0, [])}, u="s",
        raw={"n": [1, None]},
    )  # fmt: skip


def test_untyped_dict_type(ctx):
    lt = literal_type_of(dict)
    assert lt.simple == S.STRUCT
    assert json_format.MessageToDict(lt.annotation.annotations) == {
        "cache-key-metadata": {"serialization-format": "msgpack"}
    }
    assert python_type_of(lt) is dict


def test_untyped_dict_value(ctx):
    value = {"a": 1, "b": [1, 2.5, "s", None, True], "c": {"d": None}}
    lit = to_literal(value, dict, ctx)
    assert lit.scalar.binary.tag == "msgpack"
    # the bytes flytekit 1.16 writes for this dict
    expected = (
        b"\x83\xa1a\x01\xa1b\x95\x01\xcb@\x04\x00\x00\x00\x00\x00\x00"
        b"\xa1s\xc0\xc3\xa1c\x81\xa1d\xc0"
    )
    assert lit.scalar.binary.value == expected
    assert to_python(lit, dict, ctx) == value


def test_untyped_dict_accepts_dataclass_instances(ctx):
    lit = to_literal(Inner(1, ["a"]), dict, ctx)
    assert lit == to_literal(Inner(1, ["a"]), Inner, ctx)
    assert to_python(lit, dict, ctx) == {"x": 1, "y": ["a"]}


def test_untyped_dict_rejects_non_json_values(ctx):
    with pytest.raises(TypeMismatchError) as e:
        to_literal({"a": {"b": object()}}, dict, ctx, name="cfg")
    assert "cfg['a']['b']" in str(e.value)
    with pytest.raises(TypeMismatchError):
        to_literal([1], dict, ctx)


def test_generic_struct_literal_decodes(ctx):
    """Literals from older flytekit (scalar.generic) decode too; whole floats become ints."""
    struct = idl.Struct()
    struct.update({"x": 5, "y": ["a"]})
    lit = idl.Literal(scalar=idl.Scalar(generic=struct))
    assert to_python(lit, dict, ctx) == {"x": 5.0, "y": ["a"]}
    assert to_python(lit, Inner, ctx) == Inner(5, ["a"])


def test_dataclass_literal_type_matches_flytekit():
    lt = literal_type_of(Inner)
    assert lt.simple == S.STRUCT
    assert json_format.MessageToDict(lt.metadata) == {
        "type": "object",
        "title": "Inner",
        "properties": {
            "x": {"type": "integer"},
            "y": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
        "required": ["x", "y"],
    }
    assert dict(lt.structure.dataclass_type) == {
        "x": literal_type_of(int),
        "y": literal_type_of(list[str]),
    }
    assert lt.annotation.annotations["cache-key-metadata"]["serialization-format"] == "msgpack"


def test_dataclass_schema_defaults_and_formats():
    meta = json_format.MessageToDict(literal_type_of(Config).metadata)
    props = meta["properties"]
    assert meta["required"] == ["a", "b", "c", "inner", "d", "when", "dur", "color"]
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["dur"] == {"type": "number", "format": "time-delta"}
    assert props["color"] == {"enum": ["red", "green"]}
    assert props["opt"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert props["f"] == {"type": "number", "default": 1.0}
    assert props["d"] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
        "propertyNames": {"type": "string"},
    }
    assert props["m"]["additionalProperties"]["title"] == "Inner"
    assert props["raw"] == {"type": "object"}
    nested = literal_type_of(Config).structure.dataclass_type["inner"]
    assert nested.structure.dataclass_type["x"] == literal_type_of(int)
    assert literal_type_of(Config).structure.dataclass_type["c"] == literal_type_of(str | None)


def test_dataclass_value(ctx):
    value = sample()
    lit = to_literal(value, Config, ctx)
    assert lit.scalar.binary.tag == "msgpack"
    doc = msgpack.unpackb(lit.scalar.binary.value)
    assert doc == {
        "a": 1, "b": 2.0, "c": None, "inner": {"x": 2, "y": ["q"]}, "d": {"k": 3},
        "when": "2024-01-02T00:00:00", "dur": 1.5, "color": "green", "opt": None, "f": 1.0,
        "m": {"z": {"x": 0, "y": []}}, "u": "s", "flag": False, "raw": {"n": [1, None]},
    }  # fmt: skip
    assert list(doc) == [f for f in Config.__dataclass_fields__]
    assert to_python(lit, Config, ctx) == value
    assert to_python(lit, dict, ctx) == doc


def test_dataclass_errors(ctx):
    with pytest.raises(TypeMismatchError, match="'cfg': expected Config, got dict"):
        to_literal({"a": 1}, Config, ctx, name="cfg")
    bad = sample()
    bad.inner.x = "no"
    with pytest.raises(TypeMismatchError) as e:
        to_literal(bad, Config, ctx, name="cfg")
    assert "'cfg.inner.x': expected int, got str" in str(e.value)
    lit = to_literal({"x": 1}, dict, ctx)
    with pytest.raises(TypeMismatchError, match=r"'p\.y': expected list\[str\], got nothing"):
        to_python(lit, Inner, ctx, name="p")


def test_optional_dataclass(ctx):
    t = Inner | None
    assert to_python(to_literal(Inner(1, []), t, ctx), t, ctx) == Inner(1, [])
    assert to_python(to_literal(None, t, ctx), t, ctx) is None


# --- from_jsonable ----------------------------------------------------------------------------


def test_from_jsonable_struct_numbers():
    struct = idl.Struct()
    struct.update({"x": 5, "y": ["a", "b"]})
    data = json_format.MessageToDict(struct)
    assert data["x"] == 5.0
    got = from_jsonable(Inner, data)
    assert got == Inner(5, ["a", "b"]) and type(got.x) is int


def test_from_jsonable_rejects_fractional_ints():
    with pytest.raises(TypeMismatchError) as e:
        from_jsonable(Inner, {"x": 5.5, "y": []})
    assert "'x': expected int, got float" in str(e.value)


def test_from_jsonable_full_config():
    data = {
        "a": 1.0, "b": 2, "c": "s", "inner": {"x": 2.0, "y": []}, "d": {"k": 3.0},
        "when": "2024-01-02T00:00:00+00:00", "dur": 1.5, "color": "red", "u": 4.0,
        "unknown": "ignored",
    }  # fmt: skip
    got = from_jsonable(Config, data)
    assert got.a == 1 and type(got.a) is int
    assert got.b == 2.0 and type(got.b) is float
    assert got.d == {"k": 3} and type(got.d["k"]) is int
    assert got.when == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert got.dur == dt.timedelta(seconds=1.5)
    assert got.color is Color.RED
    assert got.u == 4 and type(got.u) is int
    assert got.f == 1.0 and got.m == {}


def test_from_jsonable_errors():
    with pytest.raises(TypeMismatchError, match="'color'"):
        from_jsonable(Config, {**_minimal(), "color": "blue"})
    with pytest.raises(TypeMismatchError, match="'flag': expected bool, got float"):
        from_jsonable(Config, {**_minimal(), "flag": 1.0})
    with pytest.raises(TypeMismatchError, match="'cfg': expected Inner, got list"):
        from_jsonable(Inner, [1], name="cfg")


def _minimal() -> dict:
    return {
        "a": 1, "b": 2, "c": None, "inner": {"x": 2, "y": []}, "d": {},
        "when": "2024-01-02T00:00:00", "dur": 1, "color": "red",
    }  # fmt: skip


def test_dataclass_with_file_field(ctx, tmp_path):
    @dataclass
    class WithFile:
        f: File
        n: int = 0

    src = tmp_path / "a.txt"
    src.write_text("hi")
    lit = to_literal(WithFile(File(src)), WithFile, ctx)
    doc = msgpack.unpackb(lit.scalar.binary.value)
    assert doc["f"]["path"].startswith(ctx.raw_output_prefix) and doc["f"]["path"].endswith(
        "/a.txt"
    )
    back = to_python(lit, WithFile, ctx)
    assert isinstance(back.f, File) and Path(back.f).read_text() == "hi"
    schema = json_format.MessageToDict(literal_type_of(WithFile).metadata)
    assert schema["properties"]["f"]["title"] == "FlyteFile"


def test_unsupported_field_type():
    @dataclass
    class Bad:
        s: set[int]

    with pytest.raises(UnsupportedTypeError):
        literal_type_of(Bad)
