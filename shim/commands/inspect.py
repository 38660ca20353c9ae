"""``shim inspect``: read any artifact shimkit writes, as JSON or as a table.

What it reads, by content (names are only a hint):

- one document: a ``task.pb`` (``TaskTemplate``), ``inputs.pb`` / ``outputs.pb``
  (``LiteralMap``), ``error.pb`` (``ErrorDocument``), a member of a registration package
  (``TaskSpec``; a ``pyflyte package`` archive's workflows and launch plans: ``WorkflowSpec``,
  ``LaunchPlan``), a function task's ``trace.json`` (``Trace``), a connector run's
  ``connector/state.json`` (``ConnectorState``), a local run's ``run.json`` (``RunRecord``);
- a ``shim package`` or ``pyflyte package`` archive (``Package``: each member's document);
- a run directory (``RunDirectory``): the template, inputs, outputs or error, trace, timings
  and connector state it holds, read by their files (``task.pb``, ``inputs.pb``,
  ``outputs/outputs.pb`` or ``outputs/error*.pb``, ``outputs/trace.json``, ``timings.json``
  or ``outputs/timings.json``, ``connector/state.json``, ``run.json``);

at a local path or any storage URL (``s3://bucket/run/`` is a run directory when objects lie
below it). Every answer names its ``kind``.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

import click

from shim.commands.common import ShimCommand
from shim.errors import ShimError, StorageNotFoundError, UserError


class NotAShimDocument(UserError):
    code = "NotADocument"


KINDS = ("TaskTemplate", "LiteralMap", "ErrorDocument", "TaskSpec", "WorkflowSpec", "LaunchPlan")
#: package members are named ``<index>_<entity name>_<resource type>.pb`` (flyteidl's
#: ResourceType: 1 task, 2 workflow, 3 launch plan), as ``pyflyte package`` names them
MEMBER_SUFFIXES = {"_1.pb": "TaskSpec", "_2.pb": "WorkflowSpec", "_3.pb": "LaunchPlan"}
#: JSON documents shimkit writes, told apart by their keys
JSON_KINDS = ("Trace", "ConnectorState", "RunRecord", "Timings")


def _candidates(name: str) -> list[str]:
    base = name.rstrip("/").rsplit("/", 1)[-1].lower()
    if base.startswith("error"):
        first = "ErrorDocument"
    elif base.startswith(("inputs", "outputs")):
        first = "LiteralMap"
    elif base.startswith("task"):
        first = "TaskTemplate"
    elif base[-5:] in MEMBER_SUFFIXES:
        first = MEMBER_SUFFIXES[base[-5:]]
    else:
        return list(KINDS)
    return [first] + [k for k in KINDS if k != first]


def _plausible(kind: str, msg: Any) -> bool:
    if not msg.ListFields():
        return False
    if kind == "TaskTemplate":
        return bool(msg.type or msg.HasField("interface") or msg.HasField("container"))
    if kind == "TaskSpec":
        return msg.HasField("template") and _plausible("TaskTemplate", msg.template)
    if kind == "ErrorDocument":
        return msg.HasField("error") and bool(msg.error.code or msg.error.message)
    if kind == "WorkflowSpec":
        return bool(msg.template.id.name) and msg.template.HasField("interface")
    if kind == "LaunchPlan":
        return bool(msg.id.name) and bool(msg.spec.workflow_id.name)
    return all(lit.ListFields() for lit in msg.literals.values())


def detect(data: bytes, name: str = "") -> tuple[str, Any]:
    """Parse ``data`` as the first document kind that fits; raise NotAShimDocument otherwise."""
    from google.protobuf.message import DecodeError

    from shim import idl

    if not data:
        if _candidates(name)[0] == "LiteralMap":  # no values: an empty map is 0 bytes
            return "LiteralMap", idl.LiteralMap()
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
        f"{name or 'input'} ({len(data)} bytes) is not a document shimkit reads: expected a "
        "serialized flyteidl TaskTemplate, LiteralMap, ErrorDocument, TaskSpec, WorkflowSpec or "
        "LaunchPlan, a package archive, a trace.json, a connector state.json or a run directory"
    )


def _has_unknown_fields(msg: Any) -> bool:
    try:
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:  # pragma: no cover - old protobuf
        return False
    if len(UnknownFieldSet(msg)):
        return True
    for field_, value in msg.ListFields():
        if field_.message_type is None:
            continue
        if field_.message_type.GetOptions().map_entry:
            if field_.message_type.fields_by_name["value"].message_type is None:
                continue
            items = list(value.values())
        elif _repeated(field_):
            items = list(value)
        else:
            items = [value]
        if any(_has_unknown_fields(v) for v in items):
            return True
    return False


def _repeated(field_: Any) -> bool:
    flag = getattr(field_, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return field_.label == field_.LABEL_REPEATED


def to_json(msg: Any) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def trace_document(data: bytes) -> dict | None:
    """The spans of a ``trace.json`` written next to a function task's outputs, else None."""
    doc = _json_object(data)
    if doc is not None and _json_kind(doc) == "Trace":
        return {k: v for k, v in doc.items() if k != "kind"}
    return None


def _json_object(data: bytes) -> dict | None:
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _json_kind(doc: dict) -> str | None:
    from shim.runtime.trace import TRACE_KIND

    if doc.get("kind") == TRACE_KIND and "spans" in doc:
        return "Trace"
    if {"run", "task_type", "connector", "status"} <= doc.keys():
        return "ConnectorState"
    if "timings" in doc and len(doc) <= 3:
        return "Timings"
    if {"name", "status"} <= doc.keys() and ("task" in doc or "runner" in doc):
        return "RunRecord"
    return None


# --- what a location holds ---------------------------------------------------------------------


@dataclass
class Found:
    """One artifact read from a location: its kind, where it is and its content as JSON."""

    kind: str
    location: str
    document: Any = None
    msg: Any = None  # the protobuf message, for the table
    parts: dict[str, Found] = field(default_factory=dict)  # a run directory's documents
    members: list[tuple[str, Found]] = field(default_factory=list)  # a package's

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "location": self.location}
        if self.kind == "Package":
            out["members"] = [{"member": m, **f.to_json()} for m, f in self.members]
        elif self.kind == "RunDirectory":
            out["status"] = run_status(self)
            out["parts"] = {k: f.to_json() for k, f in self.parts.items()}
        else:
            out["document"] = self.document
        return out


def read_document(data: bytes, location: str) -> Found:
    """One document from its bytes (a package archive included)."""
    if data[:2] == b"\x1f\x8b":
        return read_package(data, location)
    doc = _json_object(data)
    if doc is not None:
        kind = _json_kind(doc)
        if kind == "Trace":
            return Found(kind, location, {k: v for k, v in doc.items() if k != "kind"})
        if kind is not None:
            return Found(kind, location, doc)
        raise NotAShimDocument(
            f"{location} is JSON but not a document shimkit writes (a trace.json, a connector "
            "state.json, a run.json or timings.json)"
        )
    kind, msg = detect(data, location)
    return Found(kind, location, to_json(msg), msg)


def read_package(data: bytes, location: str) -> Found:
    """Each member of a ``shim package`` (or ``pyflyte package``) archive: a TaskSpec, a
    WorkflowSpec or a LaunchPlan (``Unknown`` for a member that is none of these)."""
    try:
        raw = gzip.decompress(data)
        infos = _members(raw)
    except (OSError, EOFError, tarfile.TarError) as e:
        raise NotAShimDocument(f"{location} is gzip data but not a package archive: {e}") from None
    members: list[tuple[str, Found]] = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for info in infos:
            if not info.isfile():
                continue
            f = tar.extractfile(info)
            assert f is not None
            body = f.read()
            try:
                kind, msg = detect(body, info.name)
            except NotAShimDocument:
                members.append((info.name, Found("Unknown", f"{location}!{info.name}", None)))
                continue
            members.append((info.name, Found(kind, f"{location}!{info.name}", to_json(msg), msg)))
    if not members:
        raise NotAShimDocument(f"{location} is an archive without any member")
    return Found("Package", location, members=members)


def _members(raw: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        return tar.getmembers()


#: the files of a run directory, by part, in the order they are looked for
RUN_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("record", ("run.json",)),
    ("template", ("task.pb",)),
    ("inputs", ("inputs.pb",)),
    ("outputs", ("outputs/outputs.pb", "outputs.pb")),
    ("error", ("outputs/error*.pb", "error*.pb")),
    ("trace", ("outputs/trace.json", "trace.json")),
    ("timings", ("timings.json", "outputs/timings.json")),
    ("connector", ("connector/state.json",)),
)


def _match(pattern: str, names: list[str]) -> str | None:
    import fnmatch

    hits = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    return hits[0] if hits else None


def read_run_directory(location: str, names: list[str], storage: Any) -> Found:
    """A run directory from the relative names of the files below it."""
    from shim.storage import join

    parts: dict[str, Found] = {}
    for part, patterns in RUN_PARTS:
        for pattern in patterns:
            rel = _match(pattern, names)
            if rel is None:
                continue
            url = join(location, rel)
            try:
                parts[part] = read_document(storage.get_bytes(url), url)
            except NotAShimDocument as e:
                parts[part] = Found("Unreadable", url, {"error": str(e)})
            break
    if not {"template", "inputs", "outputs", "error", "connector"} & parts.keys():
        raise NotAShimDocument(
            f"{location} is a directory but not a run directory: no task.pb, inputs.pb, "
            "outputs/outputs.pb, outputs/error.pb or connector/state.json below it"
        )
    return Found("RunDirectory", location, parts=parts)


def run_status(run: Found) -> str:
    if "error" in run.parts:
        doc = run.parts["error"].document or {}
        return f"failed ({doc.get('error', {}).get('code', '?')})"
    if "outputs" in run.parts:
        return "succeeded"
    state = run.parts.get("connector")
    if state is not None and isinstance(state.document, dict):
        return f"connector job {state.document.get('status', '?')}"
    record = run.parts.get("record")
    if record is not None and isinstance(record.document, dict):
        return str(record.document.get("status", "no outputs yet"))
    return "no outputs yet"


def inspect_location(location: str, storage: Any = None) -> Found:
    """Whatever ``location`` (a path or URL) holds; raises NotAShimDocument or
    StorageNotFoundError when it holds nothing shimkit reads."""
    import os

    from shim.storage import default_storage, is_local, local_path

    storage = storage or default_storage()
    if is_local(location):
        path = local_path(location)
        if os.path.isdir(path):
            names = []
            for root, _dirs, files in os.walk(path):
                rel_root = os.path.relpath(root, path)
                for f in files:
                    names.append(f if rel_root == "." else f"{rel_root}/{f}".replace(os.sep, "/"))
            return read_run_directory(location, names, storage)
        return read_document(storage.get_bytes(location), location)
    try:
        data = storage.get_bytes(location)
    except (StorageNotFoundError, IsADirectoryError):
        data = None
    if data is not None:
        return read_document(data, location)
    prefix = location.rstrip("/")
    below = storage.list(prefix)
    names = [u[len(prefix) :].lstrip("/") for u in below if u.startswith(prefix)]
    if not names:
        raise StorageNotFoundError(f"nothing at {location} (no object, and no objects below it)")
    return read_run_directory(prefix, names, storage)


# --- the table ---------------------------------------------------------------------------------


def literal_text(lit: Any, depth: int = 0) -> str:
    """A flyteidl Literal as a short text (values, URIs of offloaded data)."""
    which = lit.WhichOneof("value")
    if which == "collection":
        items = [literal_text(x, depth + 1) for x in lit.collection.literals[:10]]
        more = ", ..." if len(lit.collection.literals) > 10 else ""
        return f"[{', '.join(items)}{more}]"
    if which == "map":
        items = [f"{k}: {literal_text(v, depth + 1)}" for k, v in list(lit.map.literals.items())]
        return "{" + ", ".join(items[:10]) + (", ..." if len(items) > 10 else "") + "}"
    if which == "offloaded_metadata":
        return f"offloaded at {lit.offloaded_metadata.uri}"
    if which != "scalar":
        return "?"
    s = lit.scalar
    kind = s.WhichOneof("value")
    if kind == "primitive":
        p = s.primitive
        v = p.WhichOneof("value")
        if v == "datetime":
            return p.datetime.ToJsonString()
        if v == "duration":
            return p.duration.ToJsonString()
        value = getattr(p, v) if v else None
        return json.dumps(value) if isinstance(value, str) else str(value)
    if kind == "blob":
        dim = "directory" if s.blob.metadata.type.dimensionality == 1 else "file"
        return f"{dim} {s.blob.uri}"
    if kind == "structured_dataset":
        return f"dataframe {s.structured_dataset.uri}"
    if kind == "schema":
        return f"schema {s.schema.uri}"
    if kind == "none_type":
        return "None"
    if kind == "union":
        return literal_text(s.union.value, depth)
    if kind == "generic":
        from google.protobuf import json_format

        return json.dumps(json_format.MessageToDict(s.generic), sort_keys=True)
    if kind == "binary":
        return _binary_text(s.binary)
    if kind == "error":
        return f"error: {s.error.message}"
    return kind or "?"


def _binary_text(b: Any) -> str:
    if b.tag == "msgpack":
        try:
            import msgpack

            return json.dumps(msgpack.unpackb(b.value), default=str, sort_keys=True)
        except Exception:  # an undecodable value is still shown by its size
            pass
    return f"binary ({b.tag}, {len(b.value)} bytes)"


def _type_text(lt: Any) -> str:
    which = lt.WhichOneof("type")
    if which == "simple":
        from shim import idl

        return idl.enum_name(idl.SimpleType, lt.simple).lower()
    if which == "collection_type":
        return f"list[{_type_text(lt.collection_type)}]"
    if which == "map_value_type":
        return f"dict[str, {_type_text(lt.map_value_type)}]"
    if which == "blob":
        return "directory" if lt.blob.dimensionality == 1 else "file"
    if which == "structured_dataset_type":
        return "dataframe"
    if which == "union_type":
        return " | ".join(_type_text(v) for v in lt.union_type.variants)
    if which == "enum_type":
        return f"enum{list(lt.enum_type.values)}"
    return which or "?"


def _whole(value: Any) -> Any:
    """Numbers of a protobuf Struct are doubles: show ``5432.0`` as ``5432``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def _args_lines(args: list[str]) -> list[str]:
    """The container args as what runs: the command and resolver, then the resolver's
    arguments after the template path (the executor class, or a function task's module and
    name)."""
    if "--" not in args:
        return [f"args: {' '.join(args)}"]
    cut = args.index("--")
    head, rest = args[:cut], args[cut + 1 :]
    resolver = head[head.index("--resolver") + 1] if "--resolver" in head[:-1] else "default"
    lines = [f"command: {head[0] if head else '?'} (resolver {resolver})"]
    lines.append(f"runs: {' '.join(rest[1:]) or '-'}")
    return lines


def _template_lines(t: Any) -> list[str]:
    lines = [f"name: {t.id.name}", f"type: {t.type} (version {t.task_type_version})"]
    if t.HasField("container"):
        lines.append(f"image: {t.container.image}")
        lines.extend(_args_lines(list(t.container.args)))
    if t.HasField("interface"):
        lines.extend(_interface_lines(t.interface))
    if t.HasField("custom"):
        from google.protobuf import json_format

        custom = json.dumps(_whole(json_format.MessageToDict(t.custom)), sort_keys=True)
        lines.append(f"custom: {custom if len(custom) <= 300 else custom[:297] + '...'}")
    if t.metadata.retries.retries:
        lines.append(f"retries: {t.metadata.retries.retries}")
    if t.metadata.timeout.seconds:
        lines.append(f"timeout: {t.metadata.timeout.seconds}s")
    return lines


def _interface_lines(interface: Any) -> list[str]:
    lines = []
    for label, variables in (("inputs", interface.inputs), ("outputs", interface.outputs)):
        typed = ", ".join(f"{k}: {_type_text(v.type)}" for k, v in variables.variables.items())
        lines.append(f"{label}: {typed or '-'}")
    return lines


def _workflow_lines(spec: Any) -> list[str]:
    t = spec.template
    lines = [f"name: {t.id.name}", *_interface_lines(t.interface)]
    nodes = [n for n in t.nodes if n.id not in ("start-node", "end-node")]
    lines.append(f"nodes: {len(nodes)}")
    for n in nodes[:20]:
        target = n.WhichOneof("target")
        if target == "task_node":
            what = f"task {n.task_node.reference_id.name}"
        elif target == "workflow_node":
            ref = n.workflow_node.WhichOneof("reference")
            ref_id = getattr(n.workflow_node, ref) if ref else None
            what = f"workflow {ref_id.name}" if ref_id is not None else "workflow"
        else:
            what = (target or "?").removesuffix("_node")
        lines.append(f"  {n.id}: {what}")
    if len(nodes) > 20:
        lines.append(f"  ... {len(nodes) - 20} more (--format json: all)")
    if spec.sub_workflows:
        lines.append(f"sub-workflows: {len(spec.sub_workflows)}")
    return lines


def _launch_plan_lines(lp: Any) -> list[str]:
    spec = lp.spec
    lines = [f"name: {lp.id.name}", f"workflow: {spec.workflow_id.name}"]
    defaults = []
    for k, p in spec.default_inputs.parameters.items():
        if p.HasField("default"):
            defaults.append(f"{k} = {literal_text(p.default)}")
        else:
            defaults.append(f"{k} (required)" if p.required else k)
    if defaults:
        lines.append(f"inputs: {', '.join(defaults)}")
    if spec.fixed_inputs.literals:
        fixed = ", ".join(f"{k} = {literal_text(v)}" for k, v in spec.fixed_inputs.literals.items())
        lines.append(f"fixed inputs: {fixed}")
    if spec.entity_metadata.HasField("schedule"):
        lines.append(f"schedule: {_schedule_text(spec.entity_metadata.schedule)}")
    return lines


def _schedule_text(sched: Any) -> str:
    which = sched.WhichOneof("ScheduleExpression")
    if which == "cron_schedule":
        c = sched.cron_schedule
        return c.schedule + (f" (offset {c.offset})" if c.offset else "")
    if which == "rate":
        units = sched.rate.DESCRIPTOR.fields_by_name["unit"].enum_type.values_by_number
        unit = units[sched.rate.unit].name.lower() if sched.rate.unit in units else "?"
        return f"every {sched.rate.value} {unit}(s)"
    if which == "cron_expression":
        return sched.cron_expression
    return "?"


def _body_lines(f: Found) -> list[str]:
    """The content of one document, as lines (no kind header)."""
    if f.kind == "TaskTemplate":
        return _template_lines(f.msg)
    if f.kind == "TaskSpec":
        lines = _template_lines(f.msg.template)
        if f.msg.description.short_description:
            lines.append(f"description: {f.msg.description.short_description}")
        return lines
    if f.kind == "WorkflowSpec":
        return _workflow_lines(f.msg)
    if f.kind == "LaunchPlan":
        return _launch_plan_lines(f.msg)
    if f.kind == "LiteralMap":
        if not f.msg.literals:
            return ["(no values)"]
        return [f"{k} = {literal_text(v)}" for k, v in f.msg.literals.items()]
    if f.kind == "ErrorDocument":
        from shim import idl
        from shim.errors import reason_of

        e = f.msg.error
        head = (
            f"{e.code} ({idl.enum_name(idl.ContainerError.Kind, e.kind)}, "
            f"{idl.enum_name(idl.ErrorOrigin, e.origin)})"
        )
        reason = reason_of(e.message, e.code).splitlines()
        return [
            f"{head}: {reason[0] if reason else ''}",
            *reason[1:12],
            "(--format json: the trace)",
        ]
    if f.kind == "Trace":
        spans = (f.document or {}).get("spans", [])
        lines = [f"task: {(f.document or {}).get('task', '?')}, {len(spans)} spans"]
        parents = {s.get("id"): s.get("parent") for s in spans}
        for s in spans[:50]:
            ms = s.get("duration_ms")
            status = f"error {s['error'].get('type', '')}".rstrip() if s.get("error") else "ok"
            dur = f"{ms:.2f} ms" if isinstance(ms, (int, float)) else "unfinished"
            depth, p = 0, s.get("parent")
            while p is not None and depth < 20:
                depth, p = depth + 1, parents.get(p)
            lines.append(
                f"{'  ' * depth}{s.get('kind', '?')} {s.get('name', '?')}: {dur}, {status}"
            )
        if len(spans) > 50:
            lines.append(f"... {len(spans) - 50} more (--format json: all)")
        return lines
    if f.kind == "ConnectorState":
        d = f.document or {}
        return [
            f"connector: {d.get('connector')} (task type {d.get('task_type')} "
            f"v{d.get('task_type_version')})",
            f"status: {d.get('status')}, attempt {d.get('attempt')}/{d.get('max_attempts')}, "
            f"last phase {d.get('last_phase') or '-'}, outcome {d.get('outcome') or '-'}",
        ]
    if f.kind == "Timings":
        t = (f.document or {}).get("timings", {})
        return [f"{k}: {v}" for k, v in t.items()] if isinstance(t, dict) else [str(t)]
    if f.kind == "RunRecord":
        d = f.document or {}
        keys = ("name", "task", "runner", "status", "started", "ended", "attempt")
        return [f"{k}: {d[k]}" for k in keys if k in d]
    if f.kind == "Unreadable":
        return [str((f.document or {}).get("error"))]
    if f.kind == "Unknown":
        return ["(not a document shimkit reads)"]
    return [json.dumps(f.document, default=str)[:300]]


def table_text(f: Found) -> str:
    """``--format table``: the kind first, then what a person wants to see."""
    lines = [f"kind: {f.kind}", f"location: {f.location}"]
    if f.kind == "Package":
        lines.append(f"members: {len(f.members)}")
        for member, m in f.members:
            lines.append(f"- {member} ({m.kind})")
            lines.extend(f"    {line}" for line in _body_lines(m))
    elif f.kind == "RunDirectory":
        lines.append(f"status: {run_status(f)}")
        for part, m in f.parts.items():
            lines.append(f"{part} ({m.kind}, {m.location.rsplit('/', 1)[-1]}):")
            lines.extend(f"    {line}" for line in _body_lines(m))
    else:
        lines.extend(_body_lines(f))
    return "\n".join(lines)


@click.command("inspect", cls=ShimCommand)
@click.argument("location")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json: the documents as flyteidl's JSON; table: a summary for people",
)
def inspect_cmd(location: str, fmt: str) -> None:
    """Show what LOCATION (a path or URL) holds: a task.pb, inputs.pb, outputs.pb, error.pb,
    trace.json, connector state.json, run.json or timings.json; a `shim package` or `pyflyte
    package` archive (each TaskSpec, WorkflowSpec, LaunchPlan); a run directory (template,
    inputs, outputs or error, trace, timings, connector state). Every answer names its kind."""
    try:
        found = inspect_location(location)
    except (FileNotFoundError, IsADirectoryError) as e:
        raise ShimError(f"cannot read {location}: {e}") from None
    if fmt == "table":
        click.echo(table_text(found))
    else:
        click.echo(json.dumps(found.to_json(), indent=2, default=str))
