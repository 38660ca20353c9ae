"""``TaskEnvironment``: settings shared by a group of tasks (flyte-sdk's name for it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shim.task.resources import Cache, PodTemplate, Resources, ReusePolicy, Secret, Timeout
from shim.task.template import TaskTemplate

T = TypeVar("T", bound=TaskTemplate)

#: settings an environment hands to its tasks (the ones ``TaskTemplate.override`` accepts)
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
)


@dataclass
class TaskEnvironment:
    """Settings shared by the tasks added to it: resources, env vars, secrets, retries, ...

    ``env.add(task)`` returns the task with the environment's settings wherever the task
    kept the default, and with the environment's ``env_vars`` merged under its own (the task
    wins on a conflict). The task passed in is left untouched; ``env.tasks`` lists what was
    added, e.g. for packaging.
    """

    name: str
    resources: Resources | None = None
    env_vars: dict[str, str] | None = None
    secrets: Secret | str | list[Secret | str] | None = None
    cache: Cache | str = "disable"
    retries: int = 0
    timeout: Timeout | int | Any | None = None
    reusable: ReusePolicy | None = None
    pod_template: str | PodTemplate | None = None
    queue: str | None = None
    interruptible: bool = False
    max_inline_io_bytes: int = TaskTemplate.__dataclass_fields__["max_inline_io_bytes"].default
    tasks: list[TaskTemplate] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"environment name must be a non-empty string, got {self.name!r}")

    def add(self, task: T) -> T:
        """The task with this environment's settings where it kept the defaults."""
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
        self.tasks.append(new)
        return new


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None
