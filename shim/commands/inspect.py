"""``shim inspect``: a task.pb, inputs.pb, outputs.pb, error.pb or trace.json as readable JSON."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from shim.errors import ShimError, UserError


class NotAShimDocument(UserError):
    code = "NotADocument"


KINDS = ("TaskTemplate", "LiteralMap", "ErrorDocument")


def _candidates(name: str) -> list[str]:
    base = name.rsplit("/", 1)[-1].lower()
    if base.startswith("error"):
        first = "ErrorDocument"
    elif base.startswith(("inputs", "outputs")):
        first = "LiteralMap"
    elif base.startswith("task"):
        first = "TaskTemplate"
    else:
        return list(KINDS)
    return [first] + [k for k in KINDS if k != first]


def _plausible(kind: str, msg: Any) -> bool:
    if not msg.ListFields():
        return False
    if kind == "TaskTemplate":
        return bool(msg.type or msg.HasField("interface") or msg.HasField("container"))
    if kind == "ErrorDocument":
        return msg.HasField("error") and bool(msg.error.code or msg.error.message)
    return all(lit.ListFields() for lit in msg.literals.values())


def detect(data: bytes, name: str = "") -> tuple[str, Any]:
    """Parse ``data`` as the first document kind that fits; raise NotAShimDocument otherwise."""
    from google.protobuf.message import DecodeError

    from shim import idl

    if not data:
        raise NotAShimDocument(f"{name or 'input'} is empty (0 bytes)")
    for kind in _candidates(name):
        msg = getattr(idl, kind)()
        try:
            msg.ParseFromString(data)
        except (DecodeError, RuntimeError, ValueError):
            continue
        if _has_unknown_fields(msg):
            continue
        if _plausible(kind, msg):
            return kind, msg
    raise NotAShimDocument(
        f"{name or 'input'} ({len(data)} bytes) is not a task template, literal map or error "
        "document (expected a serialized flyteidl TaskTemplate, LiteralMap or ErrorDocument)"
    )


def _has_unknown_fields(msg: Any) -> bool:
    try:
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:  # pragma: no cover - old protobuf
        return False
    if len(UnknownFieldSet(msg)):
        return True
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            items = list(value.values())
        elif _repeated(field):
            items = list(value)
        else:
            items = [value]
        if any(_has_unknown_fields(v) for v in items):
            return True
    return False


def _repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return field.label == field.LABEL_REPEATED


def to_json(msg: Any) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


@click.command("inspect")
@click.argument("location")
def inspect_cmd(location: str) -> None:
    """Print a task.pb, inputs.pb, outputs.pb, error.pb or trace.json (path or URL) as JSON."""
    from shim.storage import default_storage

    try:
        data = default_storage().get_bytes(location)
        spans = trace_document(data)
        if spans is not None:
            click.echo(json.dumps({"kind": "Trace", "document": spans}, indent=2))
            return
        kind, msg = detect(data, location)
    except (ShimError, FileNotFoundError) as e:
        click.echo(f"shim inspect: {e}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"kind": kind, "document": to_json(msg)}, indent=2, sort_keys=False))


def trace_document(data: bytes) -> dict | None:
    """The spans of a ``trace.json`` written next to a function task's outputs, else None."""
    from shim.runtime.trace import TRACE_KIND

    if not data.lstrip().startswith(b"{"):
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("kind") == TRACE_KIND and "spans" in doc:
        return {k: v for k, v in doc.items() if k != "kind"}
    return None
