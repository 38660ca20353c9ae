"""Run options kept apart from a task's inputs: ``shim.run`` and ``shim.with_runcontext``.

``task(x=1)`` passes inputs only (plus ``runner=`` / ``store=`` for a task that has no input of
that name). ``shim.with_runcontext(runner=..., store=..., name=..., timeout=...).run(task,
...)`` sets the options of one run for any task, inputs named ``runner`` or ``name``
included; ``shim.run(task, ...)`` is the same with the defaults. The names follow flyte-sdk
2.x (``flyte.run``, ``flyte.with_runcontext``); unlike ``flyte.run`` in local mode, which
returns a run handle, these return the outputs, as calling the task does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shim.local.runner import resolve_runner
from shim.local.runs import validate_run_name

if TYPE_CHECKING:
    from shim.task.template import TaskTemplate

__all__ = ["RunContext", "run", "with_runcontext"]


@dataclass(frozen=True)
class RunContext:
    """The options of local runs (see :func:`with_runcontext`)."""

    runner: str | None = None
    store: str | None = None
    name: str | None = None
    timeout: float | None = None

    def run(self, task: TaskTemplate, /, *args: Any, **inputs: Any) -> Any:
        """Run ``task`` with these options; positional ``args`` bind to inputs in declaration
        order. Returns what calling the task returns."""
        if not callable(getattr(task, "bind_inputs", None)):
            raise TypeError(f"run() needs a shimkit task, got {type(task).__name__}")
        bound = task.bind_inputs(*args, **inputs)
        return task.run_locally(
            bound, runner=self.runner, store=self.store, timeout=self.timeout, name=self.name
        )


def with_runcontext(
    *,
    runner: str | None = None,
    store: str | None = None,
    name: str | None = None,
    timeout: float | None = None,
) -> RunContext:
    """Options for local runs, checked now: ``.run(task, *args, **inputs)`` runs with them.

    - ``runner``: ``"inprocess"`` (default, or ``SHIM_RUNNER``), ``"subprocess"`` or
      ``"container"`` (the task's image);
    - ``store``: where runs are kept (default ``SHIM_LOCAL_STORE``, else
      ``<tmp>/shimkit-runs``), a local path or any storage URL (``s3://bucket/runs``);
    - ``name``: the run's name (its directory in the store; ``shim runs show NAME``). Default:
      generated. A name used again starts a new attempt in the same directory, refused
      while the earlier one still runs;
    - ``timeout``: seconds before a subprocess or container run is stopped (default
      ``SHIM_LOCAL_TIMEOUT``, else one hour).
    """
    if runner is not None:
        resolve_runner(runner)
    if name is not None:
        validate_run_name(name)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return RunContext(runner=runner, store=store, name=name, timeout=timeout)


def run(task: TaskTemplate, /, *args: Any, **inputs: Any) -> Any:
    """Run ``task`` locally with default run options (``shim.run(task, 3, limit=10)``)."""
    return RunContext().run(task, *args, **inputs)
