"""The local controller: every task call made here goes through it.

``shim`` registers it as the default controller (:mod:`shim.runtime.controller`), so a task
call reaches the local runners without ``shim.task`` importing ``shim.local``. It runs a task
through the same path a cluster uses (:func:`shim.local.runner.run_task`: serialize the
template, stage ``inputs.pb``, run ``shim execute``, decode ``outputs.pb`` or raise from
``error.pb``), for top-level calls and for **nested** calls alike: a task calling a task while
it runs.

Nested calls:

- the child runs with the runner of ``SHIM_RUNNER`` (default in-process) in the parent's
  process: in a container, a child runs in the parent's container, so on a Flyte 1 cluster a
  function task that calls others runs all of them in its own pod;
- the child's run is staged under the parent's raw output prefix (``<raw>/children/<id>``),
  so data it returns (files, dataframes) lives where the parent's outputs can point; the
  children do not prune that store (``SHIM_LOCAL_KEEP_RUNS`` counts top-level runs): it is
  removed with the parent's run;
- it is recorded as a span of kind ``"task"`` in the parent's ``trace.json``;
- ``await child(...)`` / ``await child.aio(...)`` run concurrently under ``asyncio.gather``,
  at most :attr:`LocalController.max_concurrency` at a time per parent
  (``SHIM_MAX_CONCURRENCY``, default 8); the others wait their turn;
- a child whose call is cancelled (Ctrl-C in the parent, ``asyncio.wait_for``'s timeout) is
  stopped, not left running: its run ends as ``interrupted`` (:mod:`shim.runtime.interrupt`).

A failed child raises :class:`~shim.errors.TaskFailedError` whose ``code`` names the original
exception class (``USER:ValueError``). When that class is already imported in the caller's
process, the error raised is also an instance of it, so ``except ValueError`` catches it.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import weakref
from typing import Any

from shim import envconf
from shim.errors import TaskFailedError
from shim.runtime import trace

DEFAULT_MAX_CONCURRENCY = 8


def _max_concurrency_from_env() -> int:
    return envconf.integer("SHIM_MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY, minimum=1)


class LocalController:
    """Runs tasks on this machine through :func:`~shim.local.runner.run_task`."""

    def __init__(self, max_concurrency: int | None = None) -> None:
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool)
            or not isinstance(max_concurrency, int)
            or max_concurrency < 1
        ):
            raise ValueError(f"max_concurrency must be a positive int, got {max_concurrency!r}")
        self._max = max_concurrency
        self._limits: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    @property
    def max_concurrency(self) -> int:
        """Children of one running task that run at once (``SHIM_MAX_CONCURRENCY``)."""
        return self._max if self._max is not None else _max_concurrency_from_env()

    def submit_sync(self, task: Any, inputs: dict[str, Any], **options: Any) -> Any:
        """Run ``task`` with ``inputs`` (bound by name); its decoded outputs."""
        return self._run(task, inputs, options)

    async def submit(self, task: Any, inputs: dict[str, Any], **options: Any) -> Any:
        """As :meth:`submit_sync`, from async code: the run happens in a worker thread."""
        from shim.runtime.interrupt import to_thread

        async with self._limit():
            # cancelled (Ctrl-C, a timeout, a failed sibling in gather): the child is stopped
            # (KeyboardInterrupt in its run: recorded as interrupted), not left running
            return await to_thread(self._run, task, inputs, options)

    def _limit(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._limits.get(loop)
            if sem is None:
                sem = self._limits[loop] = asyncio.Semaphore(self.max_concurrency)
        return sem

    def _run(self, task: Any, inputs: dict[str, Any], options: dict[str, Any]) -> Any:
        from shim.local.runner import run_task

        options = {k: v for k, v in options.items() if v is not None}
        try:
            if trace.in_task():
                # the children's store is the parent's: never pruned by them (the parent's
                # outputs may point at their data; it goes when the parent's run does)
                options.setdefault("store", children_store())
                options["prune"] = False
                with trace.span(task.name, "task", inputs) as span:
                    if span is not None:
                        span.extra["store"] = options["store"]
                    value = run_task(task, inputs, **options)
                    if span is not None:
                        span.outputs = trace.describe(value)
            else:
                value = run_task(task, inputs, **options)
        except TaskFailedError as e:
            raise catchable(e) from None
        return value


def children_store() -> str:
    """Where a running task's children are staged: under its raw output prefix."""
    from shim.runtime.context import current_context
    from shim.storage import join

    return join(current_context().raw_output_prefix, "children")


# --- the original exception class, where cheap ------------------------------------------------

_CLASSES: dict[type, type | None] = {}
_CLASSES_LOCK = threading.Lock()


def catchable(error: TaskFailedError) -> TaskFailedError:
    """``error``, as an instance of the failed task's own exception class too when that class
    is already imported here (a builtin, or a class of a loaded module); else unchanged."""
    original = original_class(error)
    if original is None:
        return error
    with _CLASSES_LOCK:
        if original not in _CLASSES:
            try:
                _CLASSES[original] = type(
                    original.__name__,
                    (type(error), original),
                    {"__module__": original.__module__, "__qualname__": original.__qualname__},
                )
            except TypeError:  # incompatible layouts (e.g. OSError's): keep the plain error
                _CLASSES[original] = None
        derived = _CLASSES[original]
    if derived is None:
        return error
    try:
        new = derived.__new__(derived)
    except Exception:
        return error
    new.__dict__.update(error.__dict__)
    new.args = error.args
    return new


def original_class(error: TaskFailedError) -> type | None:
    """The exception class named by ``error.code`` (``USER:<Type>``), found through the
    qualified name in the error document's traceback, if it is loaded in this process."""
    code = getattr(error, "code", "") or ""
    name = code.split(":", 1)[-1]
    if not name or not name.isidentifier():
        return None
    message = getattr(error, "error_message", "") or ""
    qualified = _last_exception_line(message)
    if qualified is None or qualified.rsplit(".", 1)[-1] != name:
        return None
    cls = _resolve(qualified)
    if (
        isinstance(cls, type)
        and issubclass(cls, Exception)
        and cls.__name__ == name
        and not issubclass(cls, TaskFailedError)
    ):
        return cls
    return None


def _last_exception_line(message: str) -> str | None:
    """The qualified class name on the last line of the message's ``Trace:`` part."""
    trace_part = message.split("\nMessage:", 1)[0]
    lines = [ln.strip() for ln in trace_part.splitlines() if ln.strip()]
    if not lines:
        return None
    head = lines[-1].split(":", 1)[0].strip()
    return head if head and all(p.isidentifier() for p in head.split(".")) else None


def _resolve(qualified: str) -> Any:
    parts = qualified.split(".")
    if len(parts) == 1:
        import builtins

        return getattr(builtins, parts[0], None)
    for i in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is None:
            continue
        obj: Any = module
        for attr in parts[i:]:
            obj = getattr(obj, attr, None)
            if obj is None:
                return None
        return obj
    return None
