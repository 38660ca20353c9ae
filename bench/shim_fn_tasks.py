"""shimkit function tasks of the benchmark (imported by `shim execute` through PYTHONPATH)."""

from __future__ import annotations

from shim import TaskEnvironment

env = TaskEnvironment(name="bench")


@env.task
def noop(x: int) -> int:
    return x


@env.task
def parent(n: int) -> int:
    total = 0
    for i in range(n):
        total += noop(i)
    return total
