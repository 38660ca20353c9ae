"""``TaskEnvironment``: settings shared by a group of tasks (flyte-sdk's name for it).

Settings flow environment -> ``@env.task(...)`` -> ``task.override(...)``; the more specific
level wins, and a value passed explicitly always applies, even a falsy one (``retries=0``,
``queue=""``, ``interruptible=False``). ``resources``, ``env_vars`` and ``secrets`` are set on
the environment only (``@env.task`` does not take them; ``override`` does).
"""

from __future__ import annotations

import dataclasses
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shim.task.resources import (
    Cache,
    Documentation,
    PodTemplate,
    Resources,
    RetryStrategy,
    ReusePolicy,
    Secret,
    Timeout,
    as_timedelta,
    retry_count,
)
from shim.task.template import TaskTemplate

T = TypeVar("T", bound=TaskTemplate)

#: environment names: snake_case or kebab-case, digits allowed (flyte-sdk's rule)
NAME_PATTERN = re.compile(r"^[a-z0-9]+([_-][a-z0-9]+)*$")
CACHE_BEHAVIORS = ("auto", "override", "disable")

#: settings ``env.add(task)`` hands to a task that kept the default (``override`` accepts them)
SHARED = (
    "resources",
    "cache",
    "retries",
    "timeout",
    "reusable",
    "secrets",
    "pod_template",
    "queue",
    "interruptible",
    "max_inline_io_bytes",
    "service_account",
)

_UNSET: Any = object()


@dataclass(eq=False, kw_only=True)
class TaskEnvironment:
    """Settings shared by the tasks of a group: image, resources, env vars, secrets, cache, ...

    ``@env.task`` (bare or with arguments) turns a sync or async function into a task named
    ``<env name>.<function name>``: an :class:`~shim.task.function.AsyncFunctionTaskTemplate`,
    or the plugin class registered for ``plugin_config``'s type. ``env.add(task)`` hands the
    environment's settings to a pre-built task where it kept the defaults. ``env.tasks`` maps
    task names to the tasks of the environment.
    """

    name: str = field(kw_only=False)
    image: str = "auto"
    resources: Resources | None = None
    env_vars: dict[str, str] | None = None
    secrets: Secret | str | list[Secret | str] | None = None
    cache: Cache | str = "disable"
    reusable: ReusePolicy | None = None
    plugin_config: Any = None
    pod_template: str | PodTemplate | None = None
    queue: str | None = None
    interruptible: bool = False
    depends_on: list[TaskEnvironment] = field(default_factory=list)
    description: str | None = None
    service_account: str | None = None
    retries: int | RetryStrategy = 0
    timeout: Timeout | int | Any | None = None
    max_inline_io_bytes: int = TaskTemplate.__dataclass_fields__["max_inline_io_bytes"].default
    _tasks: dict[str, TaskTemplate] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"environment name {self.name!r} must be snake_case or kebab-case: lower-case "
                "letters and digits, words joined by '_' or '-' (e.g. 'etl' or 'daily-report')"
            )
        if not isinstance(self.image, str) or not self.image:
            raise TypeError(
                f"environment {self.name!r}: image must be a string, got {self.image!r}"
            )
        if self.resources is not None and not isinstance(self.resources, Resources):
            raise TypeError(
                f"environment {self.name!r}: resources must be a Resources, got "
                f"{type(self.resources).__name__}"
            )
        if self.env_vars is not None:
            if not isinstance(self.env_vars, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.env_vars.items()
            ):
                raise TypeError(
                    f"environment {self.name!r}: env_vars must map str to str, got "
                    f"{self.env_vars!r}"
                )
            self.env_vars = dict(self.env_vars)  # the caller's dict stays theirs
        check_cache(self.cache, where=f"environment {self.name!r}")
        if self.reusable is not None and not isinstance(self.reusable, ReusePolicy):
            raise TypeError(
                f"environment {self.name!r}: reusable must be a ReusePolicy, got "
                f"{type(self.reusable).__name__}"
            )
        if self.plugin_config is not None:
            from shim.task.plugins import TaskPluginRegistry

            plugin = TaskPluginRegistry.find_for(self.plugin_config)
            if self.reusable is not None and not getattr(plugin, "supports_reuse_policy", False):
                raise ValueError(
                    f"environment {self.name!r}: plugin {plugin.__qualname__} does not support "
                    "reusable containers; drop reusable= or plugin_config="
                )
        retry_count(self.retries)
        as_timedelta(self.timeout)
        if self.service_account is not None and not isinstance(self.service_account, str):
            raise TypeError(f"environment {self.name!r}: service_account must be a string")
        deps = list(self.depends_on or [])
        self.depends_on = []
        self.add_dependency(*deps)

    # --- tasks ---------------------------------------------------------------------------

    @property
    def tasks(self) -> dict[str, TaskTemplate]:
        """The tasks of this environment by name (``@env.task`` and ``env.add``)."""
        return self._tasks

    def task(
        self,
        _func: Callable[..., Any] | None = None,
        /,
        *,
        short_name: str = _UNSET,
        cache: Cache | str = _UNSET,
        retries: int | RetryStrategy = _UNSET,
        timeout: Timeout | int | Any | None = _UNSET,
        docs: Documentation | None = None,
        pod_template: str | PodTemplate | None = _UNSET,
        report: bool = False,
        interruptible: bool = _UNSET,
        max_inline_io_bytes: int = _UNSET,
        queue: str | None = _UNSET,
        service_account: str | None = _UNSET,
    ) -> Any:
        """Decorate a function (sync or async) into a task of this environment.

        ``@env.task`` and ``@env.task(retries=3, ...)`` both work. A value given here wins
        over the environment's, including an explicit ``False``, ``0`` or ``""``.
        ``resources``, ``env_vars`` and ``secrets`` come from the environment only.
        """
        if self.reusable is not None:
            if pod_template is not _UNSET and pod_template is not None:
                raise ValueError(
                    f"environment {self.name!r} is reusable: its tasks share its containers, so "
                    "a task cannot set its own pod_template"
                )
            if service_account is not _UNSET and service_account != self.service_account:
                raise ValueError(
                    f"environment {self.name!r} is reusable: its tasks share its containers, so "
                    "a task cannot run as another service_account"
                )

        if cache is not _UNSET:
            check_cache(cache, where=f"@{self.name}.task")
        given = {
            "cache": cache,
            "retries": retries,
            "timeout": timeout,
            "pod_template": pod_template,
            "interruptible": interruptible,
            "max_inline_io_bytes": max_inline_io_bytes,
            "queue": queue,
            "service_account": service_account,
        }

        def decorator(func: Callable[..., Any]) -> Any:
            return self._make_task(func, short_name, docs, report, given)

        if _func is None:
            return decorator
        if not callable(_func):
            raise TypeError(
                f"@{self.name}.task decorates a function; got {type(_func).__name__} (pass "
                "settings by keyword: @env.task(retries=3))"
            )
        return decorator(_func)

    def _make_task(
        self,
        func: Callable[..., Any],
        short_name: str,
        docs: Documentation | None,
        report: bool,
        given: dict[str, Any],
    ) -> Any:
        import inspect

        from shim.task.function import AsyncFunctionTaskTemplate

        if (
            self.reusable is not None
            and not inspect.iscoroutinefunction(func)
            and self.reusable.concurrency > 1
        ):
            raise ValueError(
                f"{getattr(func, '__qualname__', func)}: a sync function cannot run in reusable "
                f"environment {self.name!r} with concurrency {self.reusable.concurrency}; make "
                "it async or set concurrency=1"
            )
        cls: type = AsyncFunctionTaskTemplate
        if self.plugin_config is not None:
            from shim.task.plugins import TaskPluginRegistry

            cls = TaskPluginRegistry.find_for(self.plugin_config)
        settings = {k: (v if v is not _UNSET else getattr(self, k)) for k, v in given.items()}
        check_cache(settings["cache"], where=f"task {getattr(func, '__name__', func)!r}")
        task = cls(
            func=func,
            name=f"{self.name}.{getattr(func, '__name__', '')}",
            short_name="" if short_name is _UNSET else short_name,
            image=self.image,
            resources=self.resources,
            env_vars=dict(self.env_vars) if self.env_vars is not None else None,
            secrets=_copy_secrets(self.secrets),
            reusable=self.reusable,
            docs=docs,
            report=report,
            plugin_config=self.plugin_config,
            parent_env=weakref.ref(self),
            parent_env_name=self.name,
            **settings,
        )
        self._tasks[task.name] = task
        return task

    def add(self, task: T) -> T:
        """The task with this environment's settings where it kept the defaults.

        The task passed in is left untouched; the environment's ``env_vars`` are merged under
        the task's own (the task wins on a conflict).
        """
        if not isinstance(task, TaskTemplate):
            raise TypeError(f"TaskEnvironment.add() takes a task, got {type(task).__name__}")
        defaults = {f.name: _default(f) for f in dataclasses.fields(TaskTemplate)}
        changes: dict[str, Any] = {}
        for name in SHARED:
            mine = getattr(self, name)
            if mine != defaults[name] and getattr(task, name) == defaults[name]:
                changes[name] = mine
        if self.env_vars:
            changes["env_vars"] = {**self.env_vars, **(task.env_vars or {})}
        new = task.override(**changes)  # a reusable task keeps its env: override says so
        self._tasks[new.name] = new
        return new

    # --- dependencies --------------------------------------------------------------------

    def add_dependency(self, *envs: TaskEnvironment) -> None:
        """Deploy ``envs`` with this one. Duplicates are ignored; a cycle is a ValueError."""
        for env in envs:
            if not isinstance(env, TaskEnvironment):
                raise TypeError(
                    f"environment {self.name!r} can depend on environments only, got "
                    f"{type(env).__name__}"
                )
            if env is self:
                raise ValueError(f"environment {self.name!r} cannot depend on itself")
            if any(d is env for d in self.depends_on):
                continue
            path = _path(env, self)
            if path is not None:
                chain = " -> ".join(e.name for e in [self, *path])
                raise ValueError(
                    f"environment {self.name!r} cannot depend on {env.name!r}: that would make "
                    f"a cycle ({chain})"
                )
            self.depends_on.append(env)

    def dependencies(self) -> list[TaskEnvironment]:
        """Every environment this one depends on, transitively, dependencies first."""
        out: list[TaskEnvironment] = []
        state: dict[int, str] = {}

        def visit(env: TaskEnvironment, chain: list[str]) -> None:
            mark = state.get(id(env))
            if mark == "done":
                return
            if mark == "open":
                raise ValueError(
                    f"environments depend on each other in a cycle: {' -> '.join(chain)}"
                )
            state[id(env)] = "open"
            for dep in env.depends_on:
                visit(dep, [*chain, dep.name])
            state[id(env)] = "done"
            if env is not self:
                out.append(env)

        visit(self, [self.name])
        return out

    # --- copies --------------------------------------------------------------------------

    def clone_with(self, name: str, **changes: Any) -> TaskEnvironment:
        """A new environment with this one's settings, named ``name``, ``changes`` applied.

        Every field of the constructor can be changed; the clone has no tasks.
        """
        fields = {f.name for f in dataclasses.fields(self) if f.init}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise TypeError(
                f"clone_with() got unknown settings {unknown}; environments have "
                f"{sorted(fields - {'name'})}"
            )
        values = {f: getattr(self, f) for f in fields if f != "name"}
        values["depends_on"] = list(self.depends_on)
        values.update(changes)
        return TaskEnvironment(name, **values)


def check_cache(cache: Any, *, where: str) -> None:
    """A cache setting is ``"auto"``, ``"override"``, ``"disable"`` or a :class:`Cache`."""
    if isinstance(cache, Cache):
        if cache.behavior not in CACHE_BEHAVIORS:
            raise ValueError(
                f"{where}: cache behavior must be one of {', '.join(CACHE_BEHAVIORS)}, got "
                f"{cache.behavior!r}"
            )
        return
    if not isinstance(cache, str) or cache not in CACHE_BEHAVIORS:
        raise ValueError(
            f"{where}: cache must be one of {', '.join(CACHE_BEHAVIORS)} or a Cache, got {cache!r}"
        )


def _path(start: TaskEnvironment, target: TaskEnvironment) -> list[TaskEnvironment] | None:
    """A dependency path from ``start`` to ``target`` (both included), or None."""
    stack: list[tuple[TaskEnvironment, list[TaskEnvironment]]] = [(start, [start])]
    seen: set[int] = set()
    while stack:
        env, path = stack.pop()
        if env is target:
            return path
        if id(env) in seen:
            continue
        seen.add(id(env))
        stack.extend((d, [*path, d]) for d in env.depends_on)
    return None


def _copy_secrets(secrets: Any) -> Any:
    return list(secrets) if isinstance(secrets, list) else secrets


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
