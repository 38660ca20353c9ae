"""(flytekit venv) Parse a serialized TaskTemplate with flytekit's models and report its fields.

usage: fk_template.py TASK_PB
Prints the fields flytekit reads (through flytekit.models.task.TaskTemplate), the Python
types flytekit's TypeEngine guesses for the interface, and the fields the model loses when it
writes the message back (none, for a template flytekit fully understands).
"""

import datetime
import sys

import flytekit.types.schema  # noqa: F401 - registers FlyteSchema (flytekit's own sqlite output)
from _fk import emit
from flyteidl.core import tasks_pb2
from flytekit.core.type_engine import TypeEngine
from flytekit.models.task import TaskTemplate
from google.protobuf.message import Message


def type_name(t):
    return getattr(t, "__name__", None) or str(t)


def lost(a, b, prefix=""):
    """Paths of the fields set in ``a`` that ``b`` lacks or holds with another value.

    Fields ``b`` sets on top of ``a`` (flytekit's defaults: ``metadata.generates_deck``, an
    empty ``container.resources``) are not losses.
    """
    out = []
    for field, va in a.ListFields():
        name = prefix + field.name
        vb = getattr(b, field.name)
        if isinstance(va, Message):
            if not b.HasField(field.name):
                out.append(name)
            else:
                out.extend(lost(va, vb, name + "."))
        elif va != vb:
            out.append(name)
    return out


def summarize(pb):
    """What flytekit reads from a ``flyteidl.core.TaskTemplate`` message, as JSON."""
    tt = TaskTemplate.from_flyte_idl(pb)
    md = tt.metadata
    c = tt.container
    return {
        "id": {
            "resource_type": int(tt.id.resource_type),
            "project": tt.id.project,
            "domain": tt.id.domain,
            "name": tt.id.name,
            "version": tt.id.version,
        },
        "type": tt.type,
        "task_type_version": tt.task_type_version,
        "custom": tt.custom,
        "config": dict(tt.config or {}),
        "metadata": {
            "runtime_flavor": md.runtime.flavor,
            "runtime_type": int(md.runtime.type),
            "retries": md.retries.retries,
            "timeout": md.timeout.total_seconds()
            if isinstance(md.timeout, datetime.timedelta)
            else None,
            "interruptible": md.interruptible,
            "discoverable": md.discoverable,
            "discovery_version": md.discovery_version,
            "cache_serializable": md.cache_serializable,
        },
        "container": {
            "image": c.image,
            "command": list(c.command),
            "args": list(c.args),
            "env": dict(c.env or {}),
            "requests": {int(r.name): r.value for r in c.resources.requests},
            "limits": {int(r.name): r.value for r in c.resources.limits},
        },
        "secrets": [
            {
                "group": s.group,
                "key": s.key,
                "mount": int(getattr(s.mount_requirement, "value", s.mount_requirement)),
            }
            for s in (tt.security_context.secrets if tt.security_context else [])
        ],
        "inputs": {
            k: type_name(t) for k, t in TypeEngine.guess_python_types(tt.interface.inputs).items()
        },
        "outputs": {
            k: type_name(t) for k, t in TypeEngine.guess_python_types(tt.interface.outputs).items()
        },
        "lost_in_roundtrip": lost(pb, tt.to_flyte_idl()),
    }


def main():
    pb = tasks_pb2.TaskTemplate()
    with open(sys.argv[1], "rb") as f:
        pb.ParseFromString(f.read())
    emit(summarize(pb))


if __name__ == "__main__":
    main()
