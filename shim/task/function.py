"""Function tasks: ``AsyncFunctionTaskTemplate``, a task whose body is a Python function.

``@env.task`` (see :mod:`shim.task.environment`) wraps a sync or async function into one. The
task's interface comes from the function's annotations; its template runs ``shim execute``
with the function resolver, which imports the function's module in the image (or the local
code, for local runs) and runs the task there: ``pre`` -> the function -> ``post``.

Calling the task:

- outside a running task, ``task(...)`` is ``task.forward(...)``: the plain function (an async
  task gives a coroutine). Run it through the same path as a cluster with ``shim.run(task,
  ...)`` / ``shim.with_runcontext(...).run(task, ...)`` (or ``shim run file.py:task``);
- inside a running task, ``task(...)`` goes to the controller (:mod:`shim.runtime.controller`),
  which runs the child through the same path as any task and returns its decoded outputs.
  A sync task called in a blocking way from async code raises
  :class:`~shim.errors.SyncTaskCallInAsyncContextError`: use ``await task.aio(...)``;
- ``task.aio(...)`` is an awaitable of the task's value, for sync and async tasks alike.

``post``'s return value: when ``post`` returns something other than ``None`` it **replaces**
the function's result (flyte-sdk discards it); returning ``None`` keeps the result.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shim.errors import TaskDefinitionError
from shim.task.container_task import entrypoint_args
from shim.task.interface import NativeInterface
from shim.task.plugins import TaskPluginRegistry
from shim.task.template import (
    SerializationContext,
    TaskTemplate,
    refuse_blocking_call_in_async_code,
)

#: the resolver of function tasks (what goes after ``--resolver`` in their container args)
FUNCTION_RESOLVER = "shim.runtime.function_resolver.function_task_resolver"
#: the task type of a plain function task (Flyte 1's name for Python function tasks)
PYTHON_TASK_TYPE = "python-task"


# --- the interface from a function's annotations --------------------------------------------


def interface_from_callable(func: Callable[..., Any], *, what: str = "") -> NativeInterface:
    """Inputs (with defaults) and outputs of ``func`` from its annotations.

    Every parameter must be annotated with a type the type engine carries (WIRE.md section 3):
    nothing is ever pickled. Outputs: no annotation or ``None`` -> none; a ``NamedTuple`` ->
    its fields; ``tuple[A, B]`` -> ``o0``, ``o1``; anything else -> one output ``o0``.
    Raises :class:`~shim.errors.TaskDefinitionError` naming the parameter and the type.
    """
    label = what or getattr(func, "__qualname__", repr(func))
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as e:
        raise TaskDefinitionError(f"{label}: cannot read the function's signature ({e})") from None
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as e:  # a forward reference that does not resolve
        raise TaskDefinitionError(
            f"{label}: its annotations cannot be resolved ({type(e).__name__}: {e}); define "
            "the types they name at module level"
        ) from None
    inputs: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TaskDefinitionError(
                f"{label}: parameter {p}: a task's inputs are named and typed; *args and "
                "**kwargs cannot be inputs"
            )
        if p.kind is p.POSITIONAL_ONLY:
            raise TaskDefinitionError(
                f"{label}: parameter {name!r} is positional-only; inputs are passed by name"
            )
        if name not in hints:
            raise TaskDefinitionError(
                f"{label}: parameter {name!r} has no type annotation; annotate it (e.g. "
                f"'{name}: int') - inputs are typed values on the wire, never pickled"
            )
        inputs[name] = hints[name]
        if p.default is not p.empty:
            defaults[name] = p.default
    outputs = _outputs(hints.get("return", inspect.Signature.empty), label)
    for kind, types in (("input", inputs), ("output", outputs)):
        for name, t in types.items():
            _check_type(label, kind, name, t)
    return NativeInterface(inputs, outputs, defaults=defaults)


def _outputs(ret: Any, label: str) -> dict[str, Any]:
    if ret is inspect.Signature.empty or ret is None or ret is type(None):
        return {}
    if isinstance(ret, type) and issubclass(ret, tuple) and hasattr(ret, "_fields"):
        hints = typing.get_type_hints(ret)
        missing = [f for f in ret._fields if f not in hints]
        if missing:
            raise TaskDefinitionError(
                f"{label}: NamedTuple {ret.__name__} leaves {missing} untyped"
            )
        return {f: hints[f] for f in ret._fields}
    if typing.get_origin(ret) is tuple:
        args = typing.get_args(ret)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            raise TaskDefinitionError(
                f"{label}: return type {ret!r} has no fixed length; return a list[...] for a "
                "variable number of values, or tuple[A, B] for several outputs"
            )
        return {f"o{i}": t for i, t in enumerate(args)}
    return {"o0": ret}


def _check_type(label: str, kind: str, name: str, t: Any) -> None:
    from shim.types import literal_type_of

    try:
        literal_type_of(t)
    except Exception as e:
        raise TaskDefinitionError(
            f"{label}: {kind} {name!r} has type {getattr(t, '__name__', t)!r}, which shimkit "
            f"cannot carry ({e}); use int, float, str, bool, datetime, timedelta, list, dict, "
            "a dataclass, Optional/Union, an Enum, File, Directory or DataFrame"
        ) from None


# --- where the function lives ---------------------------------------------------------------


def function_location(func: Callable[..., Any]) -> tuple[str, str | None]:
    """``(module, source root)`` by which ``func`` is imported in another process.

    The module is ``func.__module__`` (for ``__main__``, the script file's name); the source
    root is the directory that must be on ``sys.path`` for it (None when unknown). Lambdas,
    nested functions and functions of an interactive session cannot be imported by module
    path: :class:`~shim.errors.TaskDefinitionError`.
    """
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "")
    where = f"{getattr(func, '__module__', '?')}.{name}"
    if name == "<lambda>" or "<lambda>" in name:
        raise TaskDefinitionError(
            f"a task cannot be a lambda ({where}): it has no name to be imported by in the "
            "container; define it with def at module level"
        )
    if "<locals>" in name:
        raise TaskDefinitionError(
            f"a task's function must be defined at module level, not inside a function "
            f"({where}): the container imports it by module path"
        )
    module = getattr(func, "__module__", None)
    if not module:
        raise TaskDefinitionError(f"{where}: the function has no module to be imported from")
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    if module == "__main__":
        if not path:
            raise TaskDefinitionError(
                f"task function {name!r} is defined in an interactive session; put it in a "
                "module (a .py file) so the container can import it"
            )
        module = os.path.splitext(os.path.basename(path))[0]
        return module, os.path.dirname(os.path.abspath(path))
    if not path:
        return module, None
    root = os.path.dirname(os.path.abspath(path))
    depth = module.count(".") + (1 if os.path.basename(path).startswith("__init__.") else 0)
    for _ in range(depth):
        root = os.path.dirname(root)
    return module, root


def _attribute_name(task: AsyncFunctionTaskTemplate, module: str) -> str:
    """The module-level name bound to ``task`` (or to the task it was derived from)."""
    mod = sys.modules.get(module)
    if mod is None and module == function_location(task.func)[0]:
        mod = sys.modules.get("__main__")
    if mod is not None:
        items = list(vars(mod).items())
        for attr, value in items:
            if value is task:
                return attr
        for attr, value in items:
            if isinstance(value, AsyncFunctionTaskTemplate) and value.name == task.name:
                return attr
    return task.func.__name__


# --- the task -------------------------------------------------------------------------------


@dataclass(eq=False, kw_only=True)
class AsyncFunctionTaskTemplate(TaskTemplate):
    """A task whose body is ``func`` (sync or async), run as ``pre`` -> ``func`` -> ``post``.

    Plugins subclass it: set ``task_type``, give ``plugin_config`` a type, and override
    :meth:`custom_config` (what goes into the template's ``custom``), :meth:`pre` and
    :meth:`post`; register the class with ``TaskPluginRegistry.register(Config, Class)``.
    """

    func: Callable[..., Any]
    task_type: str = PYTHON_TASK_TYPE
    plugin_config: Any = None
    parent_env_name: str | None = None
    parent_env: Any = field(default=None, repr=False, compare=False)

    #: marks function task classes (the plugin registry accepts only these)
    function_task: ClassVar[bool] = True

    def __post_init__(self) -> None:
        func = self.func
        if isinstance(func, TaskTemplate):
            raise TaskDefinitionError(f"{func.name!r} is already a task; decorate a function")
        if not callable(func) or not (inspect.isfunction(func) or inspect.ismethod(func)):
            raise TaskDefinitionError(
                f"a function task wraps a function defined with def, got {type(func).__name__}"
            )
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TaskDefinitionError(
                f"{func.__qualname__}: a task cannot be a generator; return a list"
            )
        self._module, self._source_root = function_location(func)
        self.interface = interface_from_callable(func, what=f"task {self.name!r}")
        if not self.short_name:
            self.short_name = func.__name__
        if self.docs is None and func.__doc__:
            from shim.task.resources import Documentation

            self.docs = Documentation(short_description=inspect.cleandoc(func.__doc__))
        super().__post_init__()

    # --- what the runtime and the local runners read -------------------------------------

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    @property
    def source_file(self) -> str | None:
        code = getattr(self.func, "__code__", None)
        return code.co_filename if code is not None else None

    @property
    def source_root(self) -> str | None:
        """The directory to put on ``sys.path`` to import the function's module."""
        return self._source_root

    @property
    def module(self) -> str:
        return self._module

    def container_args(self, sctx: SerializationContext) -> list[str]:
        """``pyflyte-execute ... --resolver <function resolver> -- <template> task-module M
        task-name N``: the image (or the mounted local code) must import ``M``."""
        return entrypoint_args(
            FUNCTION_RESOLVER,
            ["task-module", self._module, "task-name", _attribute_name(self, self._module)],
        )

    # --- calling -------------------------------------------------------------------------

    def bind(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Arguments of a call -> inputs by name (defaults applied); TypeError as Python's."""
        try:
            bound = inspect.signature(self.func).bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}(): {e}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def bind_inputs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Inputs by name for ``shim.run`` / ``shim run``: as the function binds them."""
        return self.bind(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The plain function (an async task returns a coroutine)."""
        return self.func(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from shim.runtime import trace

        if not trace.in_task():
            return self.forward(*args, **kwargs)
        trace.check_task_call_allowed(self.name)
        inputs = self.bind(*args, **kwargs)
        from shim.runtime.controller import get_controller

        controller = get_controller()
        if self.is_async:
            return controller.submit(self, inputs)
        refuse_blocking_call_in_async_code(self.name)
        return controller.submit_sync(self, inputs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Await the task's value from async code, for a sync or an async task."""
        from shim.runtime import trace

        if not trace.in_task():
            result = self.forward(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        trace.check_task_call_allowed(self.name)
        from shim.runtime.controller import get_controller

        return await get_controller().submit(self, self.bind(*args, **kwargs))

    def run_locally(self, inputs: dict[str, Any], **options: Any) -> Any:
        """Run through the controller (``shim.run``, ``shim run``): ``pre`` and ``post`` run
        inside the execution, not here."""
        from shim.runtime.controller import get_controller

        return get_controller().submit_sync(self, inputs, **options)

    @property
    def needs_event_loop(self) -> bool:
        """False for a sync function without plugin pre/post: it runs without asyncio."""
        cls = type(self)
        return (
            self.is_async
            or cls.pre is not AsyncFunctionTaskTemplate.pre
            or cls.post is not AsyncFunctionTaskTemplate.post
        )

    def execute_sync(self, **inputs: Any) -> Any:
        """The function itself, for a task that does not need an event loop (see
        :attr:`needs_event_loop`); no event loop runs, so ``asyncio.run()`` works inside."""
        return self.func(**inputs)

    async def execute(self, **inputs: Any) -> Any:  # type: ignore[override]
        """``pre`` -> the function -> ``post``: what the runtime runs (a coroutine).

        ``pre``'s dict is ``shim.current_context().data`` while the function runs; a sync
        function runs in a worker thread with no event loop, so ``asyncio.run()`` works inside.
        """
        data = await self.pre(**inputs)
        ctx = _execution_context()
        if ctx is not None and data:
            ctx.data.update(dict(data))
        if self.is_async:
            result = await self.func(**inputs)
        else:  # stopped with the task (Ctrl-C), not left running in its thread
            from shim.runtime.interrupt import to_thread

            result = await to_thread(self.func, **inputs)
        replaced = await self.post(result)
        return result if replaced is None else replaced

    async def pre(self, **inputs: Any) -> dict[str, Any]:  # type: ignore[override]
        """Runs before the function with its inputs; the dict it returns is available to the
        function as ``shim.current_context().data``."""
        return {}

    async def post(self, return_vals: Any) -> Any:  # type: ignore[override]
        """Runs after the function with its result; a value other than None replaces it."""
        return None

    # --- outputs -------------------------------------------------------------------------

    def outputs_by_name(self, result: Any) -> dict[str, Any]:
        """The function's result bound to the output names (positional for tuples)."""
        names = list(self.interface.outputs)
        if not names:
            if result is not None:
                raise TypeError(
                    f"task {self.name!r} returned a {type(result).__name__} but its function "
                    "declares no return type; annotate the return type"
                )
            return {}
        if len(names) == 1 and not self._returns_named_tuple():
            return {names[0]: result}
        if isinstance(result, Mapping) and set(result) == set(names):
            return dict(result)
        if not isinstance(result, tuple) or len(result) != len(names):
            raise TypeError(
                f"task {self.name!r} must return {len(names)} values ({', '.join(names)}), "
                f"got {type(result).__name__}"
            )
        return dict(zip(names, result, strict=True))

    def native_outputs(self, value: Any) -> Any:
        """Decoded outputs as the function declared them: its NamedTuple class (one of a
        single field too); else as decoded (one value, or :class:`shim.Outputs`)."""
        if not self._returns_named_tuple():
            return value
        ret = self._return_annotation()
        if isinstance(value, tuple) and hasattr(value, "_asdict"):
            return ret(**value._asdict())
        if len(ret._fields) == 1:
            return ret(value)
        return value

    def _return_annotation(self) -> Any:
        return typing.get_type_hints(self.func).get("return")

    def _returns_named_tuple(self) -> bool:
        ret = self._return_annotation()
        return isinstance(ret, type) and issubclass(ret, tuple) and hasattr(ret, "_fields")

    # --- override ------------------------------------------------------------------------

    def override(self, *, plugin_config: Any = None, **kwargs: Any) -> AsyncFunctionTaskTemplate:  # type: ignore[override]
        """As :meth:`TaskTemplate.override`; ``plugin_config`` rebuilds the task as the plugin
        class registered for its type, keeping the fields set on this task."""
        new = super().override(**kwargs)
        if plugin_config is None:
            return new
        plugin_cls = TaskPluginRegistry.find_for(plugin_config)
        return rebuild_as(new, plugin_cls, plugin_config=plugin_config)


def rebuild_as(task: AsyncFunctionTaskTemplate, cls: type, **changes: Any) -> Any:
    """``task`` as an instance of ``cls`` (a plugin class), with ``changes`` applied.

    Every init field of ``task`` is carried over, except a field whose default ``cls``
    redefines (``task_type``, say) while ``task`` still holds its own class's default: there
    the plugin's default wins, so an untouched field picks up the plugin's value and anything
    set explicitly is kept.
    """
    own = {f.name: f for f in dataclasses.fields(type(task))}
    theirs = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for name, f in own.items():
        if not f.init or name not in theirs or name in changes:
            continue
        value = getattr(task, name)
        mine, plugin = _default_of(f), _default_of(theirs[name])
        if plugin is not _NO_DEFAULT and plugin != mine and value == mine:
            continue
        values[name] = value
    values.update(changes)
    env_ref = task.parent_env
    new = cls(**values)
    new.parent_env = env_ref
    return new


_NO_DEFAULT: Any = object()


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return _NO_DEFAULT


def _execution_context() -> Any:
    from shim.runtime.context import _current

    return _current.get()


__all__ = [
    "FUNCTION_RESOLVER",
    "PYTHON_TASK_TYPE",
    "AsyncFunctionTaskTemplate",
    "function_location",
    "interface_from_callable",
    "rebuild_as",
]
