"""The function resolver: runs a function task by importing the user's module.

Container args of a function task end with::

    --resolver shim.runtime.function_resolver.function_task_resolver
    -- {{.taskTemplatePath}} task-module <module> task-name <name>

The resolver loads the template, imports ``<module>`` (the image provides it, or the local
runners put the local code on ``sys.path``) and takes its attribute ``<name>``: the task
object. It never imports ``shim.task``: it drives the object through a small protocol (duck
typing, :data:`PROTOCOL`):

- ``interface.inputs`` / ``interface.outputs``: ``{name: python type}``, used to decode the
  inputs and encode the outputs with the function's own types;
- ``task_type``: must be the template's ``type``;
- ``execute(**inputs)``: a coroutine running ``pre`` -> the function -> ``post``;
  optionally ``needs_event_loop`` (False) and ``execute_sync(**inputs)``, for a plain sync
  function that runs without an event loop (and without importing asyncio);
- ``outputs_by_name(result)``: the result as ``{output name: value}``.

While the task runs, the context is marked as a running task (:mod:`shim.runtime.trace`):
nested task calls go to the controller, ``@trace`` records spans, and the spans are written
to ``<output prefix>/trace.json`` when it ends, also when it fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

from shim.errors import ExecutorNotFoundError, TemplateError
from shim.runtime import trace
from shim.runtime.executor import ShimTaskExecutor
from shim.runtime.template import TaskTemplateModel

#: what the resolver needs of the task object
PROTOCOL = ("interface", "task_type", "execute", "outputs_by_name")
#: worker threads of a running task's event loop (sync bodies, nested calls); made lazily
LOOP_WORKERS = 64


class TaskNotFoundError(ExecutorNotFoundError):
    """The module or the task named in the container args cannot be found."""

    code = "TaskNotFound"


def _parse(loader_args: list[str]) -> tuple[str, str, str]:
    if (
        len(loader_args) != 5
        or loader_args[1] != "task-module"
        or loader_args[3] != "task-name"
        or not loader_args[2]
        or not loader_args[4]
    ):
        raise TemplateError(
            "expected the resolver arguments <task template path> task-module <module> "
            f"task-name <name> after '--', got {loader_args!r}",
            code="BadResolverArgs",
        )
    return loader_args[0], loader_args[2], loader_args[4]


def _main_module(name: str) -> Any:
    """``__main__`` when it is the script ``<name>.py`` (a task defined in the script that
    runs it): importing the file again would run its top level a second time."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and os.path.splitext(os.path.basename(path))[0] == name:
        return main
    return None


def load_function_task(module_name: str, attr: str) -> Any:
    """Import ``module_name`` and return its task ``attr`` (:class:`TaskNotFoundError`)."""
    module = sys.modules.get(module_name) or _main_module(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and (e.name == module_name or module_name.startswith(e.name + ".")):
                raise TaskNotFoundError(
                    f"the task's module {module_name!r} is not importable here (no module named "
                    f"{e.name!r}): install it in the image, or run locally with the code on "
                    "PYTHONPATH"
                ) from None
            raise TaskNotFoundError(
                f"importing the task's module {module_name!r} failed: {e}"
            ) from e
        except Exception as e:
            raise TaskNotFoundError(
                f"importing the task's module {module_name!r} failed: {type(e).__name__}: {e}"
            ) from e
    task = getattr(module, attr, None)
    if task is None:
        raise TaskNotFoundError(
            f"module {module_name!r} has no task {attr!r}; a task must be bound to a "
            "module-level name to run in another process"
        )
    missing = [p for p in PROTOCOL if not hasattr(task, p)]
    if missing:
        raise TaskNotFoundError(
            f"{module_name}.{attr} is a {type(task).__name__}, not a function task (it lacks "
            f"{', '.join(missing)}); a task must be bound to a module-level name to run in "
            "another process (e.g. 'task = env.task(function)')"
        )
    return task


#: the task object an in-process run of this context runs (set by the local runner)
_LOCAL: contextvars.ContextVar[Any] = contextvars.ContextVar("shim_local_task", default=None)


@contextlib.contextmanager
def local_task(task: Any) -> Iterator[None]:
    """Run ``task`` itself when the resolver is asked for it in this context.

    An in-process run hands over the object it runs, so a task that is not bound to a
    module-level name, or an override of one (``task.override(plugin_config=...)``), runs as
    it is. Another process imports the module and takes the task by name.
    """
    token = _LOCAL.set(task)
    try:
        yield
    finally:
        _LOCAL.reset(token)


def find_task(module_name: str, attr: str, task_name: str) -> Any:
    """The task named ``task_name`` that the args locate as ``module_name.attr``."""
    local = _LOCAL.get()
    if (
        local is not None
        and getattr(local, "name", None) == task_name
        and getattr(local, "module", None) == module_name
    ):
        return local
    task = load_function_task(module_name, attr)
    if getattr(task, "name", task_name) != task_name:
        raise TaskNotFoundError(
            f"{module_name}.{attr} is task {task.name!r}, but the template is of task "
            f"{task_name!r}; bind each task to a module-level name of its own"
        )
    return task


class FunctionTaskExecutor(ShimTaskExecutor):
    """Runs the task object :attr:`task` (set on a subclass made by the resolver)."""

    task: ClassVar[Any] = None

    def python_types(self, tt: TaskTemplateModel) -> tuple[dict[str, Any], dict[str, Any]]:
        iface = self.task.interface
        return dict(iface.inputs), dict(iface.outputs)

    def execute_from_model(self, tt: TaskTemplateModel, **inputs: Any) -> Any:
        from shim.runtime.context import current_context

        task = self.task
        ctx = current_context()
        with trace.running(task.name) as run:
            try:
                if getattr(task, "needs_event_loop", True):
                    result = run_coroutine(task.execute(**inputs))
                else:  # a plain sync function: no event loop, no asyncio import
                    result = task.execute_sync(**inputs)
                outputs = task.outputs_by_name(result)
            except BaseException as e:
                e.__traceback__ = _from_function(e.__traceback__, getattr(task, "func", None))
                try:
                    trace.write_spans(run, ctx.storage, ctx.output_prefix)
                except Exception as e:  # the task's own error is the one to report
                    print(f"shim execute: could not write trace spans: {e}", file=sys.stderr)
                raise
            trace.write_spans(run, ctx.storage, ctx.output_prefix)
        return outputs


def _from_function(tb: Any, func: Any) -> Any:
    """The traceback from the user's function on: the runtime's frames between this one and
    the function (event loop, worker thread) say nothing to a user reading the error."""
    code = getattr(func, "__code__", None)
    t = tb
    while code is not None and t is not None:
        if t.tb_frame.f_code is code:
            return t
        t = t.tb_next
    return tb


class FunctionTaskResolver:
    """Resolves ``[<template>, task-module, M, task-name, N]`` to the template and an executor
    running task ``M.N``."""

    def load_task(
        self, loader_args: list[str], storage: Any
    ) -> tuple[TaskTemplateModel, type[ShimTaskExecutor]]:
        from shim.runtime.args import absent
        from shim.runtime.resolver import load_template

        template_url, module_name, attr = _parse(loader_args)
        if absent(template_url) is None:
            raise TemplateError(
                f"task template path is absent ({template_url!r}): the platform did not render "
                "{{.taskTemplatePath}}",
                code="TemplateNotFound",
            )
        tt = load_template(template_url, storage)
        task = find_task(module_name, attr, tt.id.name)
        if task.task_type != tt.type:
            raise TemplateError(
                f"the template is of type {tt.type!r} but {module_name}.{attr} is a "
                f"{task.task_type!r} task: the image holds other code than the template was "
                "made from, or the template comes from task.override(plugin_config=...) - bind "
                "such a task to a module-level name and serialize that",
                code="TemplateMismatch",
            )
        executor = type(
            "FunctionTaskExecutor", (FunctionTaskExecutor,), {"task": task, "__module__": __name__}
        )
        executor.__qualname__ = f"FunctionTaskExecutor[{module_name}.{attr}]"
        return tt, executor


function_task_resolver = FunctionTaskResolver()


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion in a new event loop and return its result.

    The loop's default executor (where sync bodies and nested calls run) has up to
    :data:`LOOP_WORKERS` threads. When this thread already runs a loop (an in-process run
    started from async code), the coroutine runs in a new thread instead. The loop can be
    stopped from another thread (:func:`shim.runtime.interrupt.interrupt`: a cancelled
    nested call), which ends in ``KeyboardInterrupt``.
    """
    if not _loop_running():
        return _run(coro)
    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(_run, coro)
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=target, name="shim-task-loop")
    thread.start()
    try:
        thread.join()
    except BaseException:  # Ctrl-C: stop the task's loop too, and let it clean up
        from shim.runtime.interrupt import interrupt

        if thread.ident is not None:
            interrupt(thread.ident)
        thread.join()
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run(coro: Any) -> Any:
    from shim.runtime.interrupt import run_loop

    return run_loop(coro, workers=LOOP_WORKERS)
