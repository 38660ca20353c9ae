"""What the local loop and the service share: inputs for ``create``, outputs from ``get``,
secrets named in the template, and keeping those secrets out of every message."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shim import idl
from shim.errors import TypeMismatchError, UserError

#: keyword arguments of connector methods that a secret name cannot take
RESERVED_KWARGS = frozenset(
    {"task_template", "output_prefix", "inputs", "task_execution_metadata", "resource_meta"}
    | {"lines", "token", "self"}
)


class SecretSpecError(UserError):
    """``custom["secrets"]`` of a connector template is malformed."""

    code = "BadSecretSpec"


# --- secrets -------------------------------------------------------------------------------------


def secret_refs(secrets: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The JSON-able ``custom["secrets"]`` for ``{kwarg name: secret}``.

    A secret is a :class:`shim.Secret`, a ``"group"`` or ``"group/key"`` string, or a dict
    ``{"group": ..., "key": ...}``. The connector receives each resolved value as the keyword
    argument of that name.
    """
    out: dict[str, dict[str, str]] = {}
    for name, spec in secrets.items():
        group, key = _parse_ref(name, spec)
        out[name] = {"group": group, **({"key": key} if key else {})}
    return out


def _parse_ref(name: Any, spec: Any) -> tuple[str, str | None]:
    if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_KWARGS:
        raise SecretSpecError(
            f"secret name {name!r} must be a Python identifier other than "
            f"{', '.join(sorted(RESERVED_KWARGS))}: the connector receives it as a keyword argument"
        )
    group = key = None
    if isinstance(spec, str):
        group, _, key = spec.partition("/")
    elif isinstance(spec, Mapping):
        group, key = spec.get("group"), spec.get("key")
    elif hasattr(spec, "group"):
        group, key = spec.group, getattr(spec, "key", None)
    if not isinstance(group, str) or not group or (key is not None and not isinstance(key, str)):
        raise SecretSpecError(
            f"secret {name!r}: {spec!r} is not a secret reference; use 'group', 'group/key', "
            "{'group': ..., 'key': ...} or shim.Secret(group, key)"
        )
    return group, key or None


def resolve_secrets(
    custom: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Resolve the secrets named in ``custom["secrets"]`` as Flyte injects them (WIRE.md
    section 5): ``_FSEC_<GROUP>_<KEY>``, else ``<FLYTE_SECRETS_DEFAULT_DIR>/<group>/<key>``.

    Raises ``SecretNotFoundError`` naming where it looked (never a value)."""
    from shim.runtime.secrets import Secrets

    refs = custom.get("secrets") or {}
    if not isinstance(refs, Mapping):
        raise SecretSpecError(
            'custom["secrets"] must map keyword names to secret references, got '
            f"{type(refs).__name__}"
        )
    store = Secrets(None if environ is None else dict(environ))
    return {name: store.get(*_parse_ref(name, spec)) for name, spec in refs.items()}


def redactor(secrets: Mapping[str, str]) -> Callable[[str], str]:
    """A function removing the resolved ``secrets`` and every secret of this process's
    environment and secrets directory from a text, in every form
    (see :class:`shim.runtime.redaction.Redactor`)."""
    from shim.runtime.redaction import Redactor, secret_values

    return Redactor([*secret_values(), *(v for v in secrets.values() if v)])


# --- inputs ----------------------------------------------------------------------------------


def input_values(
    task_template: Any, literals: Any, scratch: Path, storage: Any = None
) -> dict[str, Any]:
    """The inputs LiteralMap as Python values, by name, typed from the template's interface.

    Files, directories and dataframes stay lazy handles (downloaded into ``scratch`` on use).
    Raises :class:`~shim.errors.InputError` when the inputs do not match the interface.
    """
    from shim.errors import InputError
    from shim.types import TransferContext, literal_map_to_python, python_type_of

    types = {n: python_type_of(v.type) for n, v in task_template.interface.inputs.variables.items()}
    ctx = TransferContext(storage=storage, raw_output_prefix=None, scratch_dir=scratch)
    try:
        return literal_map_to_python(literals, types, ctx, what="input")
    except TypeMismatchError as e:
        raise InputError(f"input {e}") from None


# --- outputs ---------------------------------------------------------------------------------


def typed_outputs(task_template: Any, outputs: Any, ctx: Any) -> Any:
    """A job's outputs as the LiteralMap the task declares, bound by name.

    ``outputs`` is ``{name: value}`` or a LiteralMap (whose names are checked). Raises
    :class:`~shim.errors.OutputError` for a missing, an undeclared or a mistyped output.
    """
    from shim.errors import OutputError
    from shim.runtime.entrypoint import encode_outputs
    from shim.runtime.template import TaskTemplateModel

    tt = TaskTemplateModel(pb=task_template, custom={})
    if isinstance(outputs, idl.LiteralMap):
        # names matched by the one rule (an absent Optional output is None, as everywhere)
        from shim.types import InterfaceMismatchError, bind_names, python_type_of

        types = {n: python_type_of(lt) for n, lt in tt.interface.outputs.items()}
        try:
            bind_names(outputs.literals, types, what="output")
        except InterfaceMismatchError as e:
            raise OutputError(f"the connector's outputs do not match the task's: {e}") from None
        return outputs
    return encode_outputs(outputs if outputs is not None else {}, tt, ctx)


def inferred_outputs(outputs: Any, ctx: Any) -> Any:
    """Outputs without a template (the service's GetTask): each value's type is inferred."""
    if outputs is None or isinstance(outputs, idl.LiteralMap):
        return outputs
    from shim.types import to_literal

    lm = idl.LiteralMap()
    for name, value in outputs.items():
        lm.literals[name].CopyFrom(to_literal(value, infer_type(value), ctx, name=name))
    return lm


def infer_type(value: Any) -> Any:
    """A Python type for a value (what the service encodes a connector's outputs with)."""
    import typing

    if value is None:
        return type(None)
    if isinstance(value, bool | int | float | str | dt.datetime | dt.timedelta | enum.Enum):
        return type(value)
    if isinstance(value, list | tuple):
        kinds = {infer_type(v) for v in value}
        if len(kinds) == 1:
            return list[kinds.pop()]
        if kinds <= {int, float}:
            return list[float]
        return list[dict] if all(isinstance(v, dict) for v in value) else list[str]
    if isinstance(value, dict):
        kinds = {infer_type(v) for v in value.values()}
        if value and len(kinds) == 1 and all(isinstance(k, str) for k in value):
            return dict[str, kinds.pop()]
        return dict
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value)
    return typing.cast(Any, type(value))
