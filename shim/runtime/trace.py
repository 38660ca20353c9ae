"""``@trace`` and the spans of a running task.

While a function task runs (:func:`running`), every call of a ``@trace``-decorated function
records a span: its name, inputs, outputs (or error), start and end. Nested traces nest (a
span names its parent); calls of tasks from the running task are recorded as spans of kind
``"task"`` by the controller that runs them. When the task ends, its spans are written next
to its outputs as ``<output prefix>/trace.json`` (:data:`TRACE_FILE`), which ``shim inspect``
prints.

Outside a running task a traced function is a plain call: nothing is recorded.

Calling a task (directly or with ``.aio()``) inside a trace raises
:class:`~shim.errors.TraceDoesNotAllowNestedTasksError` (:func:`check_task_call_allowed`):
a trace is one step of its task, not a place to start others; ``task.forward(...)`` (the plain
function) and nested traces are fine. A sync trace called from an async task works: recording
a span never touches an event loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as _dt
import enum
import functools
import inspect
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

#: file name of the spans document, under the task's output prefix
TRACE_FILE = "trace.json"
#: the ``kind`` of the spans document (what ``shim inspect`` recognizes)
TRACE_KIND = "Trace"
#: bounds of what a span keeps of a value
MAX_ITEMS = 100
MAX_TEXT = 1000

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Span:
    """One traced call (``kind="trace"``) or task call (``kind="task"``)."""

    id: int
    name: str
    kind: str
    parent: int | None
    inputs: dict[str, Any]
    start: float
    end: float | None = None
    outputs: Any = None
    error: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "parent": self.parent,
            "kind": self.kind,
            "name": self.name,
            "inputs": self.inputs,
            "start": _iso(self.start),
            "end": _iso(self.end) if self.end is not None else None,
            "duration_ms": round((self.end - self.start) * 1000, 3) if self.end else None,
        }
        if self.error is not None:
            d["error"] = self.error
        else:
            d["outputs"] = self.outputs
        d.update(self.extra)
        return d


class TaskRun:
    """The spans of one running task (thread-safe: gathered children record concurrently)."""

    def __init__(self, task_name: str) -> None:
        self.task_name = task_name
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def open(self, name: str, kind: str, inputs: dict[str, Any]) -> Span:
        with self._lock:
            span = Span(
                id=next(self._ids),
                name=name,
                kind=kind,
                parent=_span.get(),
                inputs={k: describe(v) for k, v in inputs.items()},
                start=time.time(),
            )
            self.spans.append(span)
        return span

    def document(self) -> dict[str, Any]:
        with self._lock:
            spans = [s.to_json() for s in self.spans]
        return {"kind": TRACE_KIND, "task": self.task_name, "spans": spans}


_run: contextvars.ContextVar[TaskRun | None] = contextvars.ContextVar("shim_task_run", default=None)
_span: contextvars.ContextVar[int | None] = contextvars.ContextVar("shim_trace_span", default=None)


def current_run() -> TaskRun | None:
    """The running task's span recorder, or None outside a running task."""
    return _run.get()


def in_task() -> bool:
    """True while a task body (or its pre/post) runs."""
    return _run.get() is not None


def in_trace() -> bool:
    """True inside a traced call of a running task."""
    return _run.get() is not None and _span.get() is not None


@contextlib.contextmanager
def running(task_name: str) -> Iterator[TaskRun]:
    """Mark the current context as running ``task_name``; yields its span recorder."""
    run = TaskRun(task_name)
    token = _run.set(run)
    span_token = _span.set(None)
    try:
        yield run
    finally:
        _span.reset(span_token)
        _run.reset(token)


def write_spans(run: TaskRun, storage: Any, output_prefix: str) -> str | None:
    """Write ``run``'s spans to ``<output_prefix>/trace.json``; None when there are none.

    Spans hold the inputs, outputs and error messages of traced calls, which may carry a
    secret the task read: the document is redacted (:mod:`shim.runtime.redaction`) as an
    error document is."""
    if not run.spans:
        return None
    from shim.runtime.redaction import redactor
    from shim.storage import join

    url = join(output_prefix, TRACE_FILE)
    text = json.dumps(run.document(), indent=1, default=str)
    storage.put_bytes(url, redactor()(text).encode())
    return url


def check_task_call_allowed(task_name: str) -> None:
    """Raise if a task is called inside a trace of a running task."""
    if in_trace():
        from shim.errors import TraceDoesNotAllowNestedTasksError

        raise TraceDoesNotAllowNestedTasksError(
            f"task {task_name!r} is called inside a @trace function; a trace cannot start "
            f"tasks. Call {task_name.rsplit('.', 1)[-1]}.forward(...) to run its function "
            "as plain Python, or call the task outside the trace"
        )


# --- recording --------------------------------------------------------------------------------


@contextlib.contextmanager
def span(name: str, kind: str, inputs: dict[str, Any]) -> Iterator[Span | None]:
    """Record a span around a block (None and nothing recorded outside a running task).

    The block sees this span as the current one (so traces inside it nest). Set
    ``span.outputs`` inside the block; an exception is recorded and re-raised.
    """
    run = _run.get()
    if run is None:
        yield None
        return
    s = run.open(name, kind, inputs)
    token = _span.set(s.id)
    try:
        yield s
    except BaseException as e:
        s.error = _error(e)
        raise
    finally:
        _span.reset(token)
        s.end = time.time()


def _error(e: BaseException) -> dict[str, str]:
    return {"type": type(e).__name__, "message": _cut(str(e))}


def _bind(func: Callable[..., Any], args: tuple, kwargs: dict) -> dict[str, Any]:
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return {"args": list(args), **kwargs}
    out: dict[str, Any] = {}
    for k, v in bound.arguments.items():
        out[k] = v
    return out


def _name(func: Callable[..., Any]) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def trace(func: F) -> F:
    """Record each call of ``func`` as a span of the running task (a plain call outside one).

    Works on sync and async functions and on (async) generators: a generator's span covers
    its whole iteration and its outputs are the items it yielded.
    """
    if not callable(func):
        raise TypeError(f"@trace decorates a function, got {type(func).__name__}")
    name = _name(func)

    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = _run.get()
            if run is None:
                async for item in func(*args, **kwargs):
                    yield item
                return
            s = run.open(name, "trace", _bind(func, args, kwargs))
            items: list[Any] = []
            agen = func(*args, **kwargs)
            try:
                while True:
                    token = _span.set(s.id)
                    try:
                        item = await agen.__anext__()
                    except StopAsyncIteration:
                        break
                    finally:
                        _span.reset(token)
                    items.append(item)
                    yield item
                s.outputs = describe(items)
            except GeneratorExit:
                s.outputs = describe(items)
                s.extra["stopped_early"] = True
                await agen.aclose()
                raise
            except BaseException as e:
                s.error = _error(e)
                raise
            finally:
                s.end = time.time()

        return agen_wrapper  # type: ignore[return-value]

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = _run.get()
            if run is None:
                return (yield from func(*args, **kwargs))
            s = run.open(name, "trace", _bind(func, args, kwargs))
            items: list[Any] = []
            gen = func(*args, **kwargs)
            try:
                while True:
                    token = _span.set(s.id)
                    try:
                        item = next(gen)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    finally:
                        _span.reset(token)
                    items.append(item)
                    yield item
                s.outputs = describe(items)
                return result
            except GeneratorExit:
                s.outputs = describe(items)
                s.extra["stopped_early"] = True
                gen.close()
                raise
            except BaseException as e:
                s.error = _error(e)
                raise
            finally:
                s.end = time.time()

        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with span(name, "trace", _bind(func, args, kwargs)) as s:
                result = await func(*args, **kwargs)
                if s is not None:
                    s.outputs = describe(result)
                return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        with span(name, "trace", _bind(func, args, kwargs)) as s:
            result = func(*args, **kwargs)
            if s is not None:
                s.outputs = describe(result)
            return result

    return sync_wrapper  # type: ignore[return-value]


# --- values in spans --------------------------------------------------------------------------


def describe(value: Any, depth: int = 0) -> Any:
    """A JSON-able, bounded description of ``value`` for a span."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if depth > 4:
        return _cut(repr(value))
    if isinstance(value, enum.Enum):
        return describe(value.value, depth + 1)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return f"{value.total_seconds()}s"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: describe(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): describe(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["..."] = f"{len(items) - MAX_ITEMS} more"
        return out
    if hasattr(value, "_asdict"):
        return describe(dict(value._asdict()), depth + 1)
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        out_list = [describe(v, depth + 1) for v in seq[:MAX_ITEMS]]
        if len(seq) > MAX_ITEMS:
            out_list.append(f"... {len(seq) - MAX_ITEMS} more")
        return out_list
    uri = getattr(value, "uri", None) or getattr(value, "path", None)
    if isinstance(uri, str):
        return {"type": type(value).__name__, "uri": uri}
    return _cut(repr(value))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"... ({len(text)} chars)"


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, tz=_dt.UTC).isoformat()
