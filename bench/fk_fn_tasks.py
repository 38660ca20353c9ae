"""flytekit's side of the function-task cold start: a no-op ``@task`` (flytekit's venv)."""

from __future__ import annotations

from flytekit import task


@task
def noop(x: int) -> int:
    return x
