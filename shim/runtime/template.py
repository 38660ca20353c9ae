"""The task template as the runtime sees it: a thin, typed view over the flyteidl message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shim import idl

#: template ``config`` key under which shimkit stores ``max_inline_io_bytes``
MAX_INLINE_IO_KEY = "shim.max_inline_io_bytes"
DEFAULT_MAX_INLINE_IO_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class TaskId:
    """Identity of a task: project, domain, name, version."""

    project: str
    domain: str
    name: str
    version: str


@dataclass(frozen=True)
class Interface:
    """The typed interface of a template: variable name -> flyteidl LiteralType."""

    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class TaskTemplateModel:
    """What an executor receives in ``execute_from_model``: everything the task defined.

    ``custom`` is the JSON-like dict of the template's ``custom`` Struct (numbers come out of a
    Struct as floats); ``task_config`` is ``custom`` decoded into the executor's
    ``config_type`` dataclass, so ints stay ints. ``pb`` is the raw flyteidl message.
    """

    pb: Any
    custom: dict[str, Any]
    task_config: Any = None
    interface: Interface = field(init=False)

    def __post_init__(self) -> None:
        pb = self.pb
        self.interface = Interface(
            inputs={k: v.type for k, v in pb.interface.inputs.variables.items()},
            outputs={k: v.type for k, v in pb.interface.outputs.variables.items()},
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskTemplateModel:
        """Parse serialized ``TaskTemplate`` bytes (raises protobuf's ``DecodeError``)."""
        pb = idl.TaskTemplate()
        pb.ParseFromString(data)
        return cls(pb=pb, custom=struct_to_dict(pb.custom) if pb.HasField("custom") else {})

    @property
    def id(self) -> TaskId:
        i = self.pb.id
        return TaskId(i.project, i.domain, i.name, i.version)

    @property
    def type(self) -> str:
        return self.pb.type

    @property
    def task_type_version(self) -> int:
        return self.pb.task_type_version

    @property
    def config(self) -> dict[str, str]:
        return dict(self.pb.config)

    @property
    def env(self) -> dict[str, str]:
        return {kv.key: kv.value for kv in self.pb.container.env}

    @property
    def image(self) -> str:
        return self.pb.container.image

    @property
    def max_inline_io_bytes(self) -> int:
        raw = self.pb.config.get(MAX_INLINE_IO_KEY, "")
        try:
            return int(raw) if raw else DEFAULT_MAX_INLINE_IO_BYTES
        except ValueError:
            return DEFAULT_MAX_INLINE_IO_BYTES


def struct_to_dict(struct: Any) -> dict[str, Any]:
    """A protobuf ``Struct`` as plain Python (numbers stay floats, as the Struct stores them)."""
    return {k: _value_to_py(v) for k, v in struct.fields.items()}


def _value_to_py(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [_value_to_py(v) for v in value.list_value.values]
    if kind == "null_value" or kind is None:
        return None
    return getattr(value, kind)
