"""The authoring side: task templates, settings, and their serialization."""

from shim.task.container_task import PythonCustomizedContainerTask
from shim.task.environment import TaskEnvironment
from shim.task.interface import NativeInterface, kwtypes
from shim.task.resources import (
    Cache,
    Documentation,
    PodTemplate,
    Resources,
    RetryStrategy,
    ReusePolicy,
    Secret,
    Timeout,
)
from shim.task.serialize import to_bytes, to_idl
from shim.task.template import SerializationContext, TaskTemplate

__all__ = [
    "Cache",
    "Documentation",
    "NativeInterface",
    "PodTemplate",
    "PythonCustomizedContainerTask",
    "Resources",
    "RetryStrategy",
    "ReusePolicy",
    "Secret",
    "SerializationContext",
    "TaskEnvironment",
    "TaskTemplate",
    "Timeout",
    "kwtypes",
    "to_bytes",
    "to_idl",
]
