"""Stopping the threads of a running task when it is stopped (Ctrl-C, a cancelled call).

A running task's event loop runs sync bodies and nested task calls in worker threads.
Cancelling the coroutine that awaits one (Ctrl-C cancels the task's main coroutine; so does
``asyncio.wait_for``'s timeout, or a failing sibling in ``asyncio.gather``) does not stop the
thread: ``asyncio.to_thread`` leaves it running, and the event loop waits for it when it
closes, so Ctrl-C during ``asyncio.gather`` of nested calls used to wait for every child to
finish. Here:

- :func:`to_thread` is ``asyncio.to_thread`` whose cancellation interrupts the thread
  (:func:`interrupt`);
- :func:`run_loop` runs a coroutine in a new event loop of this thread, registered so that
  :func:`interrupt` can stop it: its main task is cancelled, and the run ends in
  ``KeyboardInterrupt`` (what a nested run records as ``interrupted``);
- :func:`interrupt` stops what a thread runs: the innermost :func:`run_loop` loop of that
  thread if it runs one, else ``KeyboardInterrupt`` raised in the thread's Python code at its
  next instruction (a blocking call in C, ``time.sleep`` say, returns first).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
#: thread ident -> the run_loop loops running in it, innermost last
_loops: dict[int, list[_Loop]] = {}


class _Loop:
    __slots__ = ("interrupted", "loop", "task")

    def __init__(self) -> None:
        self.loop: Any = None
        self.task: Any = None
        self.interrupted = False


def run_loop(coro: Any, *, workers: int | None = None) -> Any:
    """Run ``coro`` to completion in a new event loop of this thread; its default executor
    has ``workers`` threads (asyncio's default when None). Stopped by :func:`interrupt`, it
    raises ``KeyboardInterrupt``."""
    import asyncio

    entry = _Loop()
    ident = threading.get_ident()

    async def main() -> Any:
        entry.loop, entry.task = asyncio.get_running_loop(), asyncio.current_task()
        with _lock:
            _loops.setdefault(ident, []).append(entry)
        try:
            return await coro
        finally:
            with _lock:
                stack = _loops.get(ident, [])
                if entry in stack:
                    stack.remove(entry)
                if not stack:
                    _loops.pop(ident, None)

    with asyncio.Runner() as runner:
        if workers is not None:
            import concurrent.futures

            runner.get_loop().set_default_executor(
                concurrent.futures.ThreadPoolExecutor(
                    max_workers=workers, thread_name_prefix="shim-task"
                )
            )
        try:
            return runner.run(main())
        except asyncio.CancelledError:
            if entry.interrupted:
                raise KeyboardInterrupt from None
            raise


def interrupt(ident: int) -> None:
    """Stop what thread ``ident`` runs (see the module's docstring)."""
    with _lock:
        stack = _loops.get(ident)
        entry = stack[-1] if stack else None
    if entry is not None:
        entry.interrupted = True
        try:
            entry.loop.call_soon_threadsafe(entry.task.cancel)
            return
        except RuntimeError:  # the loop has just closed: the thread runs plain code again
            pass
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
    )


class _Work:
    """One call of :func:`to_thread`: the thread running it, while it runs."""

    __slots__ = ("cancelled", "lock", "thread")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: int | None = None
        self.cancelled = False


async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``asyncio.to_thread(func, *args, **kwargs)`` (same executor, context copied), except
    that cancelling the awaiting coroutine interrupts the thread (:func:`interrupt`) instead
    of leaving it running."""
    import asyncio
    import contextvars

    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    work = _Work()

    def call() -> Any:
        with work.lock:
            if work.cancelled:
                raise KeyboardInterrupt
            work.thread = threading.get_ident()
        try:
            return ctx.run(func, *args, **kwargs)
        finally:
            # interrupt() is only called under this lock while ``thread`` is set, so its
            # KeyboardInterrupt lands in this function, never in the executor's own code
            with work.lock:
                work.thread = None

    future = loop.run_in_executor(None, call)
    try:
        return await future
    except asyncio.CancelledError:
        with work.lock:
            work.cancelled = True
            if work.thread is not None:
                with contextlib.suppress(Exception):
                    interrupt(work.thread)
        raise
