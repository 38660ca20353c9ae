"""TypedInterface and whole LiteralMaps of inputs / outputs."""

from __future__ import annotations

import pytest

from shim import idl
from shim.errors import TypeMismatchError
from shim.types import (
    DataFrame,
    InterfaceMismatchError,
    interface_from_idl,
    interface_to_idl,
    literal_map_to_python,
    literal_type_of,
    python_to_literal_map,
    python_type_of,
)


def test_interface_round_trip():
    ti = interface_to_idl({"limit": int, "name": str | None}, {"results": DataFrame})
    assert isinstance(ti, idl.TypedInterface)
    assert ti.inputs.variables["limit"].type == literal_type_of(int)
    assert ti.inputs.variables["limit"].description == ""
    parsed = idl.TypedInterface()
    parsed.ParseFromString(idl.serialize(ti))
    ins, outs = interface_from_idl(parsed)
    assert list(ins) == ["limit", "name"] and list(outs) == ["results"]
    assert ins["name"] == literal_type_of(str | None)
    assert python_type_of(outs["results"]) is DataFrame


def test_empty_interface():
    assert interface_from_idl(interface_to_idl({}, {})) == ({}, {})


def test_literal_maps_both_ways(ctx):
    types = {"limit": int, "ratio": float, "tags": list[str], "opt": int | None}
    lm = python_to_literal_map(
        {"limit": 3, "ratio": 1, "tags": ["a"], "opt": None}, types, ctx, what="input"
    )
    assert isinstance(lm, idl.LiteralMap)
    back = literal_map_to_python(lm, types, ctx, what="input")
    assert back == {"limit": 3, "ratio": 1.0, "tags": ["a"], "opt": None}


def test_missing_optional_is_none(ctx):
    types = {"opt": int | None}
    lm = python_to_literal_map({}, types, ctx, what="output")
    assert lm.literals["opt"].scalar.union.type.structure.tag == "none"
    assert literal_map_to_python(idl.LiteralMap(), types, ctx, what="input") == {"opt": None}


def test_mismatch_names_variable(ctx):
    with pytest.raises(TypeMismatchError) as e:
        python_to_literal_map({"limit": "abc"}, {"limit": int}, ctx, what="input")
    assert str(e.value) == "'limit': expected int, got str ('abc')"
    assert e.value.variable == "limit"


def test_missing_and_unexpected(ctx):
    """One rule (bind_names) on both sides: every missing and every unexpected name is named."""
    with pytest.raises(InterfaceMismatchError) as e:
        python_to_literal_map({}, {"limit": int}, ctx, what="output")
    assert str(e.value) == "missing outputs ['limit'] (declared outputs: limit)"
    assert isinstance(e.value, TypeMismatchError) and isinstance(e.value, TypeError)
    assert e.value.variable == "limit"
    with pytest.raises(InterfaceMismatchError) as e:
        literal_map_to_python(idl.LiteralMap(), {"limit": int}, ctx, what="input")
    assert "missing inputs ['limit']" in str(e.value)
    lm = python_to_literal_map({"a": 1}, {"a": int}, ctx, what="input")
    with pytest.raises(InterfaceMismatchError) as e:
        literal_map_to_python(lm, {"b": int | None, "c": str}, ctx, what="input")
    assert str(e.value) == "missing inputs ['c']; unexpected inputs ['a'] (declared inputs: b, c)"
    with pytest.raises(InterfaceMismatchError) as e:
        python_to_literal_map({"x": 1}, {}, ctx, what="output")
    assert str(e.value) == "unexpected outputs ['x'] (declared outputs: none)"
