"""shimkit: pre-built container tasks, wire-compatible with Flyte.

The public API is importable from here. Attributes load lazily, so ``import shim`` stays
cheap on the container's start-up path.
"""

from __future__ import annotations

from shim._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # authoring
    "TaskTemplate": "shim.task.template",
    "SerializationContext": "shim.task.template",
    "PythonCustomizedContainerTask": "shim.task.container_task",
    "TaskEnvironment": "shim.task.environment",
    "AsyncFunctionTaskTemplate": "shim.task.function",
    "TaskPluginRegistry": "shim.task.plugins",
    "trace": "shim.runtime.trace",
    "NativeInterface": "shim.task.interface",
    "kwtypes": "shim.task.interface",
    "Resources": "shim.task.resources",
    "Cache": "shim.task.resources",
    "ReusePolicy": "shim.task.resources",
    "Secret": "shim.task.resources",
    "Documentation": "shim.task.resources",
    "PodTemplate": "shim.task.resources",
    "RetryStrategy": "shim.task.resources",
    "Timeout": "shim.task.resources",
    "to_idl": "shim.task.serialize",
    "to_bytes": "shim.task.serialize",
    # runtime
    "ShimTaskExecutor": "shim.runtime.executor",
    "TaskTemplateModel": "shim.runtime.template",
    "current_context": "shim.runtime.context",
    # types
    "File": "shim.types.files",
    "Directory": "shim.types.files",
    "DataFrame": "shim.types.dataframe",
    # local runs
    "run_task": "shim.local.runner",
    "run": "shim.local.runcontext",
    "with_runcontext": "shim.local.runcontext",
    "RunContext": "shim.local.runcontext",
    "Outputs": "shim.local.outputs",
    # errors
    "ShimError": "shim.errors",
    "UserError": "shim.errors",
    "RecoverableError": "shim.errors",
    "TaskFailedError": "shim.errors",
    "TypeMismatchError": "shim.errors",
    "IgnoreOutputs": "shim.errors",
    "TaskDefinitionError": "shim.errors",
    "TraceDoesNotAllowNestedTasksError": "shim.errors",
    "SyncTaskCallInAsyncContextError": "shim.errors",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("shim", _EXPORTS, globals())


def _local_controller():  # type: ignore[no-untyped-def]
    """The default controller of task calls: the local runners (imported on first call)."""
    from shim.local.controller import LocalController

    return LocalController()


def _install_default_controller() -> None:
    from shim.runtime import controller

    controller.set_default(_local_controller)


_install_default_controller()
