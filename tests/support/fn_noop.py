"""A plain sync function task in a module that imports nothing else (the lean-path test)."""

from __future__ import annotations

from shim import TaskEnvironment

env = TaskEnvironment(name="lean")


@env.task
def noop(x: int) -> int:
    return x
