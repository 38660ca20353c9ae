"""Registry and dispatch of the type engine.

A :class:`Handler` knows one family of Python types (``int``, ``list[T]``, dataclasses, ...):
its :class:`~shim.idl.LiteralType`, how a value becomes a :class:`~shim.idl.Literal` and back,
which Python type to guess from a LiteralType, and the union ``structure.tag`` flytekit uses for
it (flytekit picks a union variant by that tag when it decodes, so the tags must match).

Handlers register themselves with :func:`register`; the package ``__init__`` imports every
handler module. Dispatch walks the registry in order and picks the first handler that claims
the (normalized) type.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import types
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shim import idl
from shim.errors import ShimError, TypeMismatchError

if TYPE_CHECKING:
    from shim.types.context import TransferContext


class UnsupportedTypeError(ShimError, TypeError):
    """A Python type (or LiteralType) that the type engine cannot represent, e.g. ``typing.Any``."""

    code = "UnsupportedType"


class Handler:
    """One family of Python types. Subclasses override what they support."""

    #: flytekit's transformer name, used as ``structure.tag`` on union variants.
    tag: str = ""

    def claims(self, py_type: Any) -> bool:
        """Whether this handler is responsible for the (normalized) ``py_type``."""
        raise NotImplementedError

    def literal_type(self, py_type: Any) -> idl.LiteralType:
        """The LiteralType of ``py_type``."""
        raise NotImplementedError

    def to_literal(self, value: Any, py_type: Any, ctx: TransferContext, name: str) -> idl.Literal:
        """Encode ``value``; raise :class:`TypeMismatchError` when it does not fit."""
        raise NotImplementedError

    def to_python(self, lit: idl.Literal, py_type: Any, ctx: TransferContext, name: str) -> Any:
        """Decode ``lit``; raise :class:`TypeMismatchError` when it does not fit."""
        raise NotImplementedError

    def guess(self, lt: idl.LiteralType) -> Any:
        """A Python type for ``lt``, or ``None`` when this handler does not recognize it."""
        return None

    def union_tag(self, py_type: Any) -> str:
        """The ``structure.tag`` for ``py_type`` as a union variant."""
        return self.tag


_HANDLERS: list[Handler] = []


H = typing.TypeVar("H", bound=type[Handler])


def register(handler_cls: H) -> H:
    """Class decorator: add an instance of ``handler_cls`` to the registry.

    Later registrations are consulted first, so a plugin can override a built-in handler.
    """
    _HANDLERS.insert(0, handler_cls())
    return handler_cls


# --- strictness for union variant selection ---------------------------------------------------

_STRICT: contextvars.ContextVar[bool] = contextvars.ContextVar("shim_types_strict", default=False)


def strict() -> bool:
    """True while a union tries its variants strictly (``int`` is then not a ``float``)."""
    return _STRICT.get()


@contextlib.contextmanager
def strictness(value: bool) -> Iterator[None]:
    """Run a block with union strictness switched on or off."""
    token = _STRICT.set(value)
    try:
        yield
    finally:
        _STRICT.reset(token)


# --- type normalization -----------------------------------------------------------------------


def is_marker(obj: Any) -> bool:
    """Annotated metadata that the engine itself interprets (columns, union variants)."""
    return getattr(obj, "__shim_marker__", False)


def normalize(py_type: Any) -> Any:
    """Strip foreign ``Annotated`` metadata and turn ``X | Y`` into ``typing.Union[X, Y]``."""
    if py_type is None:
        return type(None)
    origin = typing.get_origin(py_type)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(py_type)
        ours = tuple(m for m in meta if is_marker(m))
        base = normalize(base)
        if not ours:
            return base
        return typing.Annotated[(base, *ours)]
    if isinstance(py_type, types.UnionType):
        return typing.Union[typing.get_args(py_type)]  # noqa: UP007
    return py_type


def _handler_for(py_type: Any) -> Handler:
    if py_type is typing.Any or py_type is object:
        raise UnsupportedTypeError(
            "typing.Any / object is not supported by the type engine: declare a concrete type "
            "(int, str, dict, a dataclass, File, DataFrame, ...)"
        )
    for handler in _HANDLERS:
        if handler.claims(py_type):
            return handler
    raise UnsupportedTypeError(f"type {type_name(py_type)} is not supported by the type engine")


def handler_for(py_type: Any) -> tuple[Handler, Any]:
    """The handler for ``py_type`` and the normalized type it should be called with."""
    t = normalize(py_type)
    return _handler_for(t), t


# --- public API -------------------------------------------------------------------------------


def literal_type_of(py_type: Any) -> idl.LiteralType:
    """The Flyte LiteralType of a Python type (WIRE.md section 3)."""
    handler, t = handler_for(py_type)
    return handler.literal_type(t)


def to_literal(value: Any, py_type: Any, ctx: TransferContext, *, name: str = "") -> idl.Literal:
    """Encode ``value`` as a Literal of ``py_type``; offloaded data goes through ``ctx``.

    Raises :class:`TypeMismatchError` naming ``name`` when the value does not fit.
    """
    handler, t = handler_for(py_type)
    return handler.to_literal(value, t, ctx, name)


def to_python(lit: idl.Literal, py_type: Any, ctx: TransferContext, *, name: str = "") -> Any:
    """Decode a Literal into a value of ``py_type``.

    Raises :class:`TypeMismatchError` naming ``name`` when the literal does not fit.
    """
    handler, t = handler_for(py_type)
    if lit.WhichOneof("value") == "offloaded_metadata":
        lit = _load_offloaded(lit, ctx, name)
    return handler.to_python(lit, t, ctx, name)


def python_type_of(lt: idl.LiteralType) -> Any:
    """Guess a Python type from a LiteralType: what the runtime uses to decode and encode.

    STRUCT becomes ``dict`` (accepts dicts and dataclass instances), ``enum_type`` a dynamic
    ``enum.Enum`` (which also accepts its plain string values), blobs :class:`File` /
    :class:`Directory`, structured datasets :class:`DataFrame` (with columns when declared),
    unions ``typing.Annotated[typing.Union[...], UnionVariants]`` that keep the template's
    variant types and tags so encoded unions carry exactly those.
    """
    for handler in _HANDLERS:
        guessed = handler.guess(lt)
        if guessed is not None:
            return guessed
    raise UnsupportedTypeError(f"cannot find a Python type for literal type {describe_type(lt)}")


def union_tag(py_type: Any) -> str:
    """flytekit's ``structure.tag`` for ``py_type`` as a union variant."""
    handler, t = handler_for(py_type)
    return handler.union_tag(t)


# --- helpers for handlers ---------------------------------------------------------------------


def _load_offloaded(lit: idl.Literal, ctx: TransferContext, name: str) -> idl.Literal:
    uri = lit.offloaded_metadata.uri
    data = ctx.storage.get_bytes(uri)
    inner = idl.Literal()
    try:
        inner.ParseFromString(data)
    except Exception as exc:  # protobuf DecodeError
        raise TypeMismatchError(name, "a Literal", "unreadable offloaded literal", uri) from exc
    return inner


def type_name(py_type: Any) -> str:
    """A short readable name: ``int``, ``list[str]``, ``int | None``, ``DataFrame``."""
    if py_type is None or py_type is type(None):
        return "None"
    origin = typing.get_origin(py_type)
    args = typing.get_args(py_type)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Union or isinstance(py_type, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        base = getattr(origin, "__name__", repr(origin))
        if args:
            return f"{base}[{', '.join(type_name(a) for a in args)}]"
        return base
    if isinstance(py_type, type):
        return py_type.__name__
    return repr(py_type).replace("typing.", "")


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mismatch(name: str, py_type: Any, value: Any, detail: str | None = None) -> TypeMismatchError:
    """A TypeMismatchError for a value: ``'limit': expected int, got str ('abc')``."""
    if detail is None:
        detail = short_repr(value)
    return TypeMismatchError(name, type_name(py_type), type(value).__name__, detail)


def describe_literal(lit: idl.Literal) -> str:
    """What kind of literal this is, for messages: ``string literal``, ``collection literal``."""
    kind = lit.WhichOneof("value")
    if kind != "scalar":
        return f"{kind or 'empty'} literal"
    skind = lit.scalar.WhichOneof("value")
    if skind == "primitive":
        pkind = lit.scalar.primitive.WhichOneof("value") or "empty"
        pkind = {"float_value": "float", "string_value": "string"}.get(pkind, pkind)
        return f"{pkind} literal"
    if skind == "none_type":
        return "none literal"
    if skind == "union":
        return f"union literal of {describe_literal(lit.scalar.union.value)}"
    return f"{skind or 'empty scalar'} literal"


def literal_mismatch(
    name: str, py_type: Any, lit: idl.Literal, detail: str = ""
) -> TypeMismatchError:
    """A TypeMismatchError for a literal that does not decode into ``py_type``."""
    return TypeMismatchError(name, type_name(py_type), describe_literal(lit), detail)


def describe_type(lt: idl.LiteralType) -> str:
    """A compact text form of a LiteralType, for messages."""
    kind = lt.WhichOneof("type")
    if kind == "simple":
        return idl.enum_name(idl.SimpleType, lt.simple)
    if kind == "collection_type":
        return f"collection<{describe_type(lt.collection_type)}>"
    if kind == "map_value_type":
        return f"map<{describe_type(lt.map_value_type)}>"
    if kind == "union_type":
        return " | ".join(describe_type(v) for v in lt.union_type.variants)
    if kind == "enum_type":
        return f"enum{list(lt.enum_type.values)}"
    if kind == "blob":
        return f"blob<{idl.enum_name(idl.BlobType.BlobDimensionality, lt.blob.dimensionality)}>"
    return kind or "empty"


def child(name: str, key: Any) -> str:
    """Name of an element: ``xs[3]``, ``m['k']``."""
    return f"{name}[{key!r}]"


def is_enum_type(py_type: Any) -> bool:
    """True for Enum subclasses."""
    return isinstance(py_type, type) and issubclass(py_type, enum.Enum)
