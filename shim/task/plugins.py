"""``TaskPluginRegistry``: which task class a plugin config type builds (function-based plugins).

A plugin author registers a config type with a subclass of
:class:`~shim.task.function.AsyncFunctionTaskTemplate`::

    TaskPluginRegistry.register(EchoConfig, EchoTask)

Then ``TaskEnvironment(plugin_config=EchoConfig(...))`` makes ``@env.task`` build ``EchoTask``
objects, and ``task.override(plugin_config=OtherConfig(...))`` rebuilds a task as the class
registered for ``OtherConfig``. Lookup walks the config type's MRO, so a subclass of a
registered config finds its base's plugin. Registering a second class for a config type is an
error unless ``override=True``.
"""

from __future__ import annotations

import threading
from typing import Any

from shim.errors import TaskDefinitionError
from shim.task.template import TaskTemplate


class PluginRegistry:
    """Config type -> plugin task class. ``shim.TaskPluginRegistry`` is the process's instance."""

    def __init__(self) -> None:
        self._plugins: dict[type, type] = {}
        self._lock = threading.Lock()

    def register(self, config_type: type, plugin: type, *, override: bool = False) -> None:
        """Make ``@env.task`` build ``plugin`` for environments whose config is a ``config_type``.

        ``plugin`` must be a subclass of ``AsyncFunctionTaskTemplate`` (a ``TypeError``
        otherwise); a config type that already has a different plugin is a ``ValueError``
        unless ``override=True``.
        """

        if not isinstance(config_type, type):
            raise TaskDefinitionError(
                f"TaskPluginRegistry.register(): the config type must be a class, got "
                f"{config_type!r}"
            )
        if not (
            isinstance(plugin, type)
            and issubclass(plugin, TaskTemplate)
            and getattr(plugin, "function_task", False)  # AsyncFunctionTaskTemplate and subclasses
        ):
            what = plugin.__name__ if isinstance(plugin, type) else repr(plugin)
            raise TaskDefinitionError(
                f"TaskPluginRegistry.register({config_type.__name__}, {what}): a plugin must be "
                "a subclass of shim.extend.AsyncFunctionTaskTemplate (set task_type, override "
                "custom_config/pre/post)"
            )
        with self._lock:
            existing = self._plugins.get(config_type)
            if existing is not None and existing is not plugin and not override:
                raise ValueError(
                    f"config type {config_type.__qualname__} already has the plugin "
                    f"{existing.__module__}.{existing.__qualname__}; pass override=True to "
                    f"replace it with {plugin.__module__}.{plugin.__qualname__}"
                )
            self._plugins[config_type] = plugin

    def unregister(self, config_type: type) -> None:
        """Forget the plugin of ``config_type`` (missing is fine)."""
        with self._lock:
            self._plugins.pop(config_type, None)

    def find(self, config_type: type) -> type | None:
        """The plugin class for ``config_type`` or its nearest registered base class."""
        for klass in getattr(config_type, "__mro__", (config_type,)):
            plugin = self._plugins.get(klass)
            if plugin is not None:
                return plugin
        return None

    def find_for(self, config: Any) -> type:
        """The plugin class for the config object ``config``; ValueError if none is registered."""
        plugin = self.find(type(config))
        if plugin is None:
            raise ValueError(
                f"no task plugin is registered for the config type {type(config).__qualname__}; "
                "import the plugin's module (it calls TaskPluginRegistry.register) or register "
                "one"
            )
        return plugin

    def list_plugins(self) -> list[type]:
        """The registered config types, in registration order."""
        with self._lock:
            return list(self._plugins)

    def __repr__(self) -> str:
        names = ", ".join(t.__qualname__ for t in self.list_plugins())
        return f"TaskPluginRegistry({names})"


#: the process's registry (flyte-sdk's name for it: an instance, ``TaskPluginRegistry.register``)
TaskPluginRegistry = PluginRegistry()
