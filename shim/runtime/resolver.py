"""Finds what to run: the task template (from any storage URL) and the executor class."""

from __future__ import annotations

import importlib
from typing import Any

from shim.errors import ExecutorNotFoundError, StorageNotFoundError, TemplateError
from shim.runtime.args import FLYTEKIT_RESOLVER, SHIM_RESOLVER
from shim.runtime.executor import ShimTaskExecutor
from shim.runtime.template import TaskTemplateModel

ALIAS_GROUP = "shim.executor_aliases"


class ResolverNotFoundError(ExecutorNotFoundError):
    code = "ResolverNotFound"


def load_template(url: str, storage: Any) -> TaskTemplateModel:
    """Read and parse ``task.pb``; a missing or corrupt file is a :class:`TemplateError`."""
    from google.protobuf.message import DecodeError

    try:
        data = storage.get_bytes(url)
    except StorageNotFoundError:
        raise TemplateError(
            f"task template not found at {url}: the platform should upload it "
            "({{.taskTemplatePath}}); check the container args",
            code="TemplateNotFound",
        ) from None
    if not data:
        raise TemplateError(f"task template at {url} is empty (0 bytes)", code="TemplateCorrupt")
    try:
        tt = TaskTemplateModel.from_bytes(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise TemplateError(
            f"task template at {url} is not a flyteidl TaskTemplate ({len(data)} bytes): {e}",
            code="TemplateCorrupt",
        ) from None
    if not tt.pb.HasField("interface") and not tt.pb.type and not tt.pb.HasField("container"):
        raise TemplateError(
            f"task template at {url} has no type, interface or container: "
            f"not a TaskTemplate ({len(data)} bytes)",
            code="TemplateCorrupt",
        )
    return tt


def load_executor_class(path: str) -> type[ShimTaskExecutor]:
    """Import ``module.Class`` (or ``module:Class``); fall back to installed aliases.

    Aliases (entry-point group ``shim.executor_aliases``) map another toolkit's executor path,
    e.g. flytekit's ``flytekit.extras.sqlite3.task.SQLite3TaskExecutor``, to the shimkit
    executor that runs the same templates.
    """
    module_name, sep, attr = path.replace(":", ".").rpartition(".")
    if not sep or not module_name or not attr:
        raise ExecutorNotFoundError(
            f"executor path {path!r} is not of the form 'package.module.Class'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (e.name == module_name or module_name.startswith(e.name + ".")):
            alias = _alias(path)
            if alias is not None:
                return alias
            raise ExecutorNotFoundError(
                f"executor module {module_name!r} is not installed in this image "
                f"(no module named {e.name!r}); installed executors: {_installed() or 'none'}"
            ) from None
        raise ExecutorNotFoundError(f"importing executor module {module_name!r} failed: {e}") from e
    except Exception as e:
        raise ExecutorNotFoundError(
            f"importing executor module {module_name!r} failed: {type(e).__name__}: {e}"
        ) from e
    cls = getattr(module, attr, None)
    if cls is None:
        raise ExecutorNotFoundError(f"module {module_name!r} has no executor class {attr!r}")
    if not isinstance(cls, type) or not hasattr(cls, "execute_from_model"):
        raise ExecutorNotFoundError(
            f"{path!r} is not an executor class (it needs an execute_from_model method)"
        )
    return cls


def _entry_points(group: str) -> list[Any]:
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


def _alias(path: str) -> type[ShimTaskExecutor] | None:
    keys = {path, path.replace(".", "__")}
    for ep in _entry_points(ALIAS_GROUP):
        if ep.name in keys:
            target = ep.value.replace(":", ".")
            return load_executor_class(target)
    return None


def _installed() -> str:
    return ", ".join(sorted(f"{ep.name} ({ep.value})" for ep in _entry_points("shim.executors")))


class TaskTemplateResolver:
    """Resolves ``[<template url>, <executor path>]`` into a template and an executor class."""

    def load_task(
        self, loader_args: list[str], storage: Any
    ) -> tuple[TaskTemplateModel, type[ShimTaskExecutor]]:
        if len(loader_args) != 2:
            raise TemplateError(
                "expected two resolver arguments after '--': <task template path> "
                f"<executor module.Class>, got {len(loader_args)}: {loader_args!r}",
                code="BadResolverArgs",
            )
        template_url, executor_path = loader_args
        from shim.runtime.args import absent

        if absent(template_url) is None:
            raise TemplateError(
                f"task template path is absent ({template_url!r}): the platform did not render "
                "{{.taskTemplatePath}}",
                code="TemplateNotFound",
            )
        tt = load_template(template_url, storage)
        return tt, load_executor_class(executor_path)


default_task_template_resolver = TaskTemplateResolver()


def get_resolver(path: str) -> TaskTemplateResolver:
    """The resolver named by ``--resolver``: shimkit's own, or flytekit's name for it."""
    if path in (SHIM_RESOLVER, FLYTEKIT_RESOLVER):
        return default_task_template_resolver
    module_name, _, attr = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except Exception as e:
        raise ResolverNotFoundError(
            f"task resolver {path!r} cannot be loaded ({type(e).__name__}: {e}); "
            f"shimkit runs templates with --resolver {SHIM_RESOLVER}"
        ) from None
    if not hasattr(obj, "load_task"):
        raise ResolverNotFoundError(f"{path!r} is not a task resolver (no load_task method)")
    return obj
