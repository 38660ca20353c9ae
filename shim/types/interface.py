"""Interfaces (TypedInterface) and whole LiteralMaps of inputs or outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shim import idl
from shim.errors import TypeMismatchError
from shim.types.engine import (
    describe_literal,
    literal_type_of,
    normalize,
    short_repr,
    to_literal,
    to_python,
    type_name,
)

if TYPE_CHECKING:
    from shim.types.context import TransferContext


def _variables(types: Mapping[str, Any]) -> idl.VariableMap:
    variables = {n: idl.Variable(type=literal_type_of(t), description="") for n, t in types.items()}
    return idl.VariableMap(variables=variables)


def interface_to_idl(inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> idl.TypedInterface:
    """A TypedInterface for named input and output types (descriptions are empty)."""
    return idl.TypedInterface(inputs=_variables(inputs), outputs=_variables(outputs))


def interface_from_idl(
    ti: idl.TypedInterface,
) -> tuple[dict[str, idl.LiteralType], dict[str, idl.LiteralType]]:
    """(inputs, outputs) of a TypedInterface as name → LiteralType, names sorted."""
    ins = {n: ti.inputs.variables[n].type for n in sorted(ti.inputs.variables)}
    outs = {n: ti.outputs.variables[n].type for n in sorted(ti.outputs.variables)}
    return ins, outs


def _optional(py_type: Any) -> bool:
    import typing

    t = normalize(py_type)
    if typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    return t is type(None) or (
        typing.get_origin(t) is typing.Union and type(None) in typing.get_args(t)
    )


def literal_map_to_python(
    lm: idl.LiteralMap, types: Mapping[str, Any], ctx: TransferContext, *, what: str
) -> dict[str, Any]:
    """Decode every declared variable of ``lm``.

    A missing variable is an error unless its type is optional (then ``None``); a literal for
    an undeclared name is an error. ``what`` ("input" / "output") goes into the messages.
    """
    unexpected = sorted(set(lm.literals) - set(types))
    if unexpected:
        n = unexpected[0]
        raise TypeMismatchError(
            n,
            f"no such {what}",
            describe_literal(lm.literals[n]),
            f"declared {what}s: {', '.join(sorted(types)) or 'none'}",
        )
    out = {}
    for n, t in types.items():
        if n not in lm.literals:
            if _optional(t):
                out[n] = None
                continue
            raise TypeMismatchError(n, type_name(t), "nothing", f"{what} missing")
        out[n] = to_python(lm.literals[n], t, ctx, name=n)
    return out


def python_to_literal_map(
    values: Mapping[str, Any], types: Mapping[str, Any], ctx: TransferContext, *, what: str
) -> idl.LiteralMap:
    """Encode every declared variable of ``values`` into a LiteralMap (bound by name).

    A missing value is an error unless its type is optional (then None is encoded); a value
    for an undeclared name is an error. ``what`` ("input" / "output") goes into the messages.
    """
    unexpected = sorted(set(values) - set(types))
    if unexpected:
        n = unexpected[0]
        raise TypeMismatchError(
            n,
            f"no such {what}",
            type(values[n]).__name__,
            f"{short_repr(values[n])}; declared {what}s: {', '.join(sorted(types)) or 'none'}",
        )
    literals = {}
    for n, t in types.items():
        if n not in values:
            if not _optional(t):
                raise TypeMismatchError(n, type_name(t), "nothing", f"{what} missing")
            literals[n] = to_literal(None, t, ctx, name=n)
            continue
        literals[n] = to_literal(values[n], t, ctx, name=n)
    return idl.LiteralMap(literals=literals)
