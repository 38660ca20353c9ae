"""What a plugin author needs: function task classes, the plugin registry, traces, controllers.

A function-based plugin is a config type plus a subclass of :class:`AsyncFunctionTaskTemplate`
(set ``task_type``; override ``custom_config``, ``pre``, ``post``), registered with
``TaskPluginRegistry.register(Config, PluginTask)``. See docs/plugins.md.
"""

from __future__ import annotations

from shim._lazy import lazy_exports

_EXPORTS = {
    # tasks
    "AsyncFunctionTaskTemplate": "shim.task.function",
    "interface_from_callable": "shim.task.function",
    "TaskTemplate": "shim.task.template",
    "SerializationContext": "shim.task.template",
    "NativeInterface": "shim.task.interface",
    # plugins
    "TaskPluginRegistry": "shim.task.plugins",
    "PluginRegistry": "shim.task.plugins",
    # while a task runs
    "current_context": "shim.runtime.context",
    "ExecutionContext": "shim.runtime.context",
    "trace": "shim.runtime.trace",
    "current_run": "shim.runtime.trace",
    "in_task": "shim.runtime.trace",
    "in_trace": "shim.runtime.trace",
    "TRACE_FILE": "shim.runtime.trace",
    # controllers (who runs a task call)
    "Controller": "shim.runtime.controller",
    "get_controller": "shim.runtime.controller",
    "install_controller": "shim.runtime.controller",
    # errors
    "TaskDefinitionError": "shim.errors",
    "TraceDoesNotAllowNestedTasksError": "shim.errors",
    "SyncTaskCallInAsyncContextError": "shim.errors",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("shim.extend", _EXPORTS, globals())
