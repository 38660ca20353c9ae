"""Interfaces (TypedInterface) and whole LiteralMaps of inputs or outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shim import idl
from shim.errors import ShimError, TypeMismatchError
from shim.types.engine import (
    describe_literal,
    literal_type_of,
    normalize,
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


def is_optional(py_type: Any) -> bool:
    """Whether ``py_type`` admits None (``T | None``, ``Optional[T]``, ``None``), also when
    annotated (the runtime's guessed unions are ``Annotated[Union[...], UnionVariants]``)."""
    import typing

    t = normalize(py_type)
    if typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    return t is type(None) or (
        typing.get_origin(t) is typing.Union and type(None) in typing.get_args(t)
    )


class InterfaceMismatchError(TypeMismatchError):
    """Named values do not match an interface: required names are missing or names are not
    declared. A ``TypeError`` (a Python call with wrong arguments) and a
    :class:`~shim.errors.TypeMismatchError` naming the first offending variable."""

    def __init__(
        self,
        what: str,
        missing: list[str],
        unexpected: list[str],
        declared: list[str],
        *,
        where: str = "",
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        first = (missing or unexpected)[0]
        self.variable = first
        self.expected = "a value" if missing else f"no such {what}"
        self.actual = "nothing" if missing else "a value"
        parts = []
        if missing:
            parts.append(f"missing {what}s {missing}")
        if unexpected:
            parts.append(f"unexpected {what}s {unexpected}")
        self.what, self.declared = what, declared
        ShimError.__init__(
            self,
            (f"{where}: " if where else "")
            + f"{'; '.join(parts)} (declared {what}s: {', '.join(declared) or 'none'})",
        )


def bind_names(values: Mapping[str, Any], types: Mapping[str, Any], *, what: str) -> dict:
    """The one rule matching named values against an interface, on both sides (a local call,
    the inputs a local run stages, what ``shim execute`` reads from inputs.pb, the outputs a
    local run decodes).

    Every declared name needs a value, except an Optional one (``T | None``), which is None
    when absent — as flytekit binds a missing Optional input to None when it compiles a call.
    A name the interface does not declare is an error. Returns ``{name: value or None}`` in
    declaration order; raises :class:`InterfaceMismatchError` naming every missing and every
    unexpected name.
    """
    unexpected = sorted(n for n in values if n not in types)
    missing = [n for n, t in types.items() if n not in values and not is_optional(t)]
    if missing or unexpected:
        raise InterfaceMismatchError(what, missing, unexpected, list(types))
    return {n: values.get(n) for n in types}


def _guard(name: str, py_type: Any, actual: str, run: Any) -> Any:
    """``run()``; anything it raises that is not one of shimkit's errors (nor an OSError or a
    MemoryError, which say nothing about the value) becomes a :class:`TypeMismatchError`
    naming the variable: the value cannot be converted, and trying again will not change
    that (an integer above 2**64 in an untyped dict, an Arrow conversion error, ...)."""
    try:
        return run()
    except (ShimError, OSError, MemoryError):
        raise
    except Exception as e:
        raise TypeMismatchError(name, type_name(py_type), actual, f"{type(e).__name__}: {e}") from e


def literal_map_to_python(
    lm: idl.LiteralMap, types: Mapping[str, Any], ctx: TransferContext, *, what: str
) -> dict[str, Any]:
    """Decode every declared variable of ``lm`` (names matched by :func:`bind_names`: an
    absent Optional is None). ``what`` ("input" / "output") goes into the messages."""
    bound = bind_names(lm.literals, types, what=what)
    out = {}
    for n, t in types.items():
        lit = bound[n]
        if lit is None:
            out[n] = None
            continue
        out[n] = _guard(
            n, t, describe_literal(lit), lambda lit=lit, t=t, n=n: to_python(lit, t, ctx, name=n)
        )
    return out


def python_to_literal_map(
    values: Mapping[str, Any], types: Mapping[str, Any], ctx: TransferContext, *, what: str
) -> idl.LiteralMap:
    """Encode every declared variable of ``values`` into a LiteralMap (names matched by
    :func:`bind_names`: an absent Optional is encoded as None). ``what`` ("input" /
    "output") goes into the messages."""
    bound = bind_names(values, types, what=what)
    literals = {}
    for n, t in types.items():
        v = bound[n]
        literals[n] = _guard(
            n, t, type(v).__name__, lambda v=v, t=t, n=n: to_literal(v, t, ctx, name=n)
        )
    return idl.LiteralMap(literals=literals)
