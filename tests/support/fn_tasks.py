"""Function tasks the tests run through every runner (importable by module path)."""

from __future__ import annotations

import asyncio
import enum
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from shim import File, TaskEnvironment, TaskPluginRegistry, current_context, trace
from shim.extend import AsyncFunctionTaskTemplate

env = TaskEnvironment(name="fn", env_vars={"FN_ENV": "from-env"})


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: float


class Stats(NamedTuple):
    total: int
    label: str


class ChildFailed(Exception):
    """Raised by a child task on purpose."""


@env.task
def add(a: int, b: int = 10) -> int:
    return a + b


@env.task
async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@env.task
def noop() -> None:
    return None


@env.task
def kinds(p: Point, c: Color, names: list[str], m: dict[str, float]) -> tuple[Point, Color, int]:
    return Point(p.x + 1, p.y * 2), Color.BLUE if c is Color.RED else Color.RED, len(names) + len(m)


@env.task
def stats(values: list[int]) -> Stats:
    return Stats(total=sum(values), label=f"{len(values)} values")


@env.task
def fails(message: str) -> int:
    raise ChildFailed(message)


@env.task
def value_error(message: str) -> int:
    raise ValueError(message)


@env.task
def environ(name: str) -> str:
    return os.environ.get(name, "")


@env.task
def sync_uses_asyncio_run(x: int) -> int:
    async def inner() -> int:
        return x + 1

    loop_here = True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop_here = False
    assert not loop_here, "a sync body must not see a running event loop"
    return asyncio.run(inner())


# --- nested calls ---------------------------------------------------------------------------


@env.task
async def fan_out(n: int) -> list[int]:
    return list(await asyncio.gather(*(double(i) for i in range(n))))


@env.task
async def fan_out_sync_children(n: int) -> list[int]:
    return list(await asyncio.gather(*(add.aio(i, b=1) for i in range(n))))


@env.task
def sync_parent(x: int) -> int:
    return add(x, b=1) + add(x)


@env.task
async def catches_child(message: str) -> str:
    try:
        await fails.aio(message)
    except ChildFailed as e:
        return f"caught {type(e).__name__} {e.code}"
    return "not raised"


@env.task
def catches_value_error(message: str) -> str:
    try:
        value_error(message)
    except ValueError as e:
        return f"caught {e.code}"
    return "not raised"


@env.task
async def blocking_call_in_async() -> int:
    return add(1)  # a sync task called in a blocking way from async code


@env.task
def uncaught_child(message: str) -> int:
    return fails(message)


# --- concurrency probe ------------------------------------------------------------------------

_active = 0
_peak = 0
_probe_lock = threading.Lock()


@env.task
async def slow(x: int) -> int:
    global _active, _peak
    with _probe_lock:
        _active += 1
        _peak = max(_peak, _active)
    await asyncio.sleep(0.2)
    with _probe_lock:
        _active -= 1
    return x


@env.task
async def gather_slow(n: int) -> int:
    global _peak
    _peak = 0
    await asyncio.gather(*(slow(i) for i in range(n)))
    return _peak


# --- traces -----------------------------------------------------------------------------------


@trace
def square(x: int) -> int:
    return x * x


@trace
async def async_square(x: int) -> int:
    return square(x)  # nested trace


@trace
def countdown(n: int):
    yield from range(n, 0, -1)


@trace
async def acount(n: int):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


@trace
def broken(x: int) -> int:
    raise KeyError(f"no {x}")


@trace
def calls_task(x: int) -> int:
    return add(x)


@trace
def forwards_task(x: int) -> int:
    return add.forward(x, 1)


@env.task
async def traced(x: int) -> int:
    a = square(x)  # a sync trace from an async task
    b = await async_square(x)
    c = sum(countdown(3))
    d = [i async for i in acount(3)]
    try:
        broken(x)
    except KeyError:
        pass
    return a + b + c + sum(d) + forwards_task(x)


@trace
def log_in(token: str) -> str:
    raise ConnectionError(f"login refused for token {token}")


@env.task
def traced_secret(group: str) -> int:
    token = current_context().secrets.get(group, "token")
    try:
        log_in(token)
    except ConnectionError:
        pass
    return len(token)


@env.task
def trace_calls_task(x: int) -> int:
    return calls_task(x)


@env.task
async def trace_calls_task_aio(x: int) -> int:
    @trace
    async def inner() -> int:
        return await add.aio(x)

    return await inner()


@env.task
def reads_context() -> str:
    return str(sorted(current_context().data))


# --- environments with other env vars -------------------------------------------------------

other_env = TaskEnvironment(name="fn-other", env_vars={"FN_ENV": "other"})


@other_env.task
def environ_other(name: str) -> str:
    return os.environ.get(name, "")


@env.task
def asks_other_env(name: str) -> list[str]:
    return [environ_other(name), os.environ.get(name, "")]


@env.task
async def traced_then_fails(x: int) -> int:
    square(x)
    raise RuntimeError("after the trace")


# --- children whose data the parent returns ---------------------------------------------------


@env.task
def writes_file(i: int) -> File:
    path = current_context().working_dir / f"child-{i}.txt"
    path.write_text(f"child {i}")
    return File(str(path))


@env.task
def collects_files(n: int) -> list[File]:
    return [writes_file(i) for i in range(n)]


# --- Ctrl-C while children run (tests/unit/test_local_interrupt.py) ----------------------------


def _started(marks: str, i: int) -> None:
    Path(marks, str(i)).write_text(str(os.getpid()))


@env.task
async def waits(marks: str, i: int) -> int:
    _started(marks, i)
    await asyncio.sleep(300)
    return i


@env.task
def works(marks: str, i: int) -> int:
    _started(marks, i)
    end = time.monotonic() + 300
    while time.monotonic() < end:  # Python code between short blocking calls
        time.sleep(0.02)
    return i


@env.task
async def gathers_waiting(marks: str, n: int) -> list[int]:
    return list(await asyncio.gather(*(waits(marks, i) for i in range(n))))


@env.task
async def gathers_working(marks: str, n: int) -> list[int]:
    return list(await asyncio.gather(*(works.aio(marks, i) for i in range(n))))


@env.task
def works_alone(marks: str, i: int) -> int:
    return works.forward(marks, i)


@dataclass(frozen=True)
class Noted:
    note: str


@dataclass(eq=False, kw_only=True)
class NotedTask(AsyncFunctionTaskTemplate):
    """A plugin with a ``pre``: its sync bodies run in a worker thread of an event loop."""

    plugin_config: Noted

    async def pre(self, **inputs: object) -> dict:
        return {"note": self.plugin_config.note}


TaskPluginRegistry.register(Noted, NotedTask)
noted = TaskEnvironment(name="fn-noted", plugin_config=Noted("n"))


@noted.task
def works_after_pre(marks: str, i: int) -> int:
    return works.forward(marks, i)


@env.task
async def times_out_child(marks: str) -> str:
    try:
        await asyncio.wait_for(works.aio(marks, 0), timeout=0.5)
    except TimeoutError:
        return "timed out"
    return "finished"


# --- outputs as the function declares them -----------------------------------------------------


class Total(NamedTuple):
    total: int


@env.task
def single_field(values: list[int]) -> Total:
    return Total(sum(values))


@env.task
async def checks_child_outputs(values: list[int]) -> list[str]:
    """What nested calls return: the child's own NamedTuple, or shim.Outputs for a tuple."""
    s = await stats.aio(values)
    one = await single_field.aio(values)
    both = await kinds.aio(Point(1, 1.0), Color.RED, [], {})
    return [type(s).__name__, type(one).__name__, str(one.total), type(both).__name__]


@env.task
def writes_beside_its_source() -> str:
    """What writing next to this module gives (the container runner mounts it read-only)."""
    import errno

    try:
        with open(Path(__file__).with_name(".probe-write"), "x"):
            pass
    except OSError as e:
        return errno.errorcode.get(e.errno or 0, str(e.errno))
    Path(__file__).with_name(".probe-write").unlink()
    return "written"


# --- inputs named like run options ------------------------------------------------------------


@env.task
def named_like_options(runner: str, store: str, name: str) -> str:
    return f"{runner}|{store}|{name}"


@env.task
async def async_runner_input(runner: str) -> str:
    return f"runner={runner}"


@env.task
async def calls_option_named_children(x: int) -> list[str]:
    return [
        await named_like_options.aio(runner="r", store="s", name="n"),
        await async_runner_input.aio(runner="a"),
        await async_runner_input(runner="b"),
    ]
