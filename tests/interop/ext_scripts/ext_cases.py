"""EXTENSION.md sections 1-4, case by case, against flyte-sdk or shimkit (same code, two SDKs).

Run as ``python ext_cases.py flyte`` in a virtualenv with ``flyte==2.12.1``, or as
``python ext_cases.py shim`` with shimkit. Prints one JSON object: case name -> outcome,
where an outcome is ``{"value": ...}`` or ``{"error": <builtin or named error class>}``.
tests/interop/test_extension_crosscheck.py compares the two.
"""

from __future__ import annotations

import asyncio
import json
import sys
import typing
from dataclasses import dataclass

SDK = sys.argv[1] if len(sys.argv) > 1 else "shim"

if SDK == "flyte":
    import flyte
    from flyte.extend import AsyncFunctionTaskTemplate, TaskPluginRegistry

    TaskEnvironment = flyte.TaskEnvironment
    ReusePolicy = flyte.ReusePolicy
    Resources = flyte.Resources
    trace = flyte.trace
    flyte.init()

    def run(task, **inputs):
        try:
            out = flyte.run(task, **inputs).outputs()
        except Exception as e:
            return {"failed": e.code}
        return out[0] if len(out) == 1 else tuple(out)

    def ctx_data() -> dict:
        return dict(flyte.ctx().data or {})

    def cache_behavior(task) -> str:
        return task.cache.behavior

    def retries(task) -> int:
        return task.retries.count

    def error_name(e: BaseException) -> str:
        return e.code

else:
    import shim
    from shim.extend import AsyncFunctionTaskTemplate, TaskPluginRegistry

    TaskEnvironment = shim.TaskEnvironment
    ReusePolicy = shim.ReusePolicy
    Resources = shim.Resources
    trace = shim.trace

    def run(task, **inputs):
        try:
            return shim.run(task, **inputs)
        except shim.TaskFailedError as e:
            return {"failed": e.code.split(":", 1)[-1]}

    def ctx_data() -> dict:
        return dict(shim.current_context().data)

    def cache_behavior(task) -> str:
        return task.cache_policy.behavior

    def retries(task) -> int:
        r = task.retries
        return r if isinstance(r, int) else r.count

    def error_name(e: BaseException) -> str:
        return e.code.split(":", 1)[-1]


NAMED_ERRORS = ("TraceDoesNotAllowNestedTasksError", "SyncTaskCallInAsyncContextError")


def outcome(fn: typing.Callable[[], typing.Any]) -> dict:
    try:
        return {"value": fn()}
    except BaseException as e:
        for klass in type(e).__mro__:
            if klass.__name__ in NAMED_ERRORS:
                return {"error": klass.__name__}
        for klass in type(e).__mro__:
            if klass.__module__ == "builtins":
                return {"error": klass.__name__}
        return {"error": type(e).__name__}


def seconds(t) -> float | None:
    if t is None:
        return None
    if hasattr(t, "max_runtime"):
        t = t.max_runtime
    if hasattr(t, "total_seconds"):
        return t.total_seconds()
    return float(t)


# --- plugins ------------------------------------------------------------------------------


@dataclass
class EchoConfig:
    message: str


@dataclass(kw_only=True)
class EchoTask(AsyncFunctionTaskTemplate):
    task_type: str = "echo"
    plugin_config: EchoConfig

    def custom_config(self, sctx):
        return {"echo": self.plugin_config.message}


@dataclass
class AddConfig:
    amount: int


@dataclass(kw_only=True)
class AddTask(AsyncFunctionTaskTemplate):
    """pre hands a value to the body; post returns the result plus the amount."""

    task_type: str = "adder"
    plugin_config: AddConfig

    async def pre(self, *args, **kwargs):
        return {"amount": self.plugin_config.amount}

    async def post(self, return_vals):
        return return_vals + self.plugin_config.amount


@dataclass
class BaseConfig:
    pass


@dataclass
class SubConfig(BaseConfig):
    pass


@dataclass(kw_only=True)
class BaseTask(AsyncFunctionTaskTemplate):
    task_type: str = "base"


class NotATask:
    pass


TaskPluginRegistry.register(EchoConfig, EchoTask)
TaskPluginRegistry.register(AddConfig, AddTask)
TaskPluginRegistry.register(BaseConfig, BaseTask)


@dataclass
class ArgsConfig:
    pass


@dataclass(kw_only=True)
class ArgsTask(AsyncFunctionTaskTemplate):
    """pre reports how it was called: positional arguments and keyword names."""

    task_type: str = "args"
    plugin_config: ArgsConfig

    async def pre(self, *args, **kwargs):
        return {"seen": f"{len(args)} positional, keywords {sorted(kwargs)}"}


TaskPluginRegistry.register(ArgsConfig, ArgsTask)

# --- tasks -------------------------------------------------------------------------------

env = TaskEnvironment(name="xc")
add_env = TaskEnvironment(name="adder", plugin_config=AddConfig(amount=100))


class MyErr(Exception):
    pass


@env.task
def double(x: int) -> int:
    return 2 * x


@env.task
async def adouble(x: int) -> int:
    return 2 * x


@env.task
def failing(x: int) -> int:
    raise MyErr(f"bad {x}")


@env.task
async def gather_parent(n: int) -> list[int]:
    return list(await asyncio.gather(*(adouble(i) for i in range(n))))


@env.task
async def mixed_parent(n: int) -> list[int]:
    return list(await asyncio.gather(*(double.aio(i) for i in range(n))))


@env.task
def sync_parent(x: int) -> int:
    return double(x) + 1


@env.task
async def catch_code(x: int) -> str:
    try:
        await failing.aio(x)
    except Exception as e:
        return error_name(e)
    return "none"


@env.task
async def catch_class(x: int) -> bool:
    try:
        await failing.aio(x)
    except MyErr:
        return True
    except Exception:
        return False
    return False


@env.task
async def blocking_sync_call(x: int) -> int:
    return double(x)


@env.task
def uses_asyncio_run(x: int) -> int:
    async def inner() -> int:
        return x + 1

    return asyncio.run(inner())


@add_env.task
def add_body(x: int) -> int:
    return x + ctx_data()["amount"]


@trace
def t_square(x: int) -> int:
    return x * x


@trace
async def t_asquare(x: int) -> int:
    return x * x


@trace
def t_gen(n: int):
    yield from range(n)


@trace
async def t_agen(n: int):
    for i in range(n):
        yield i


@trace
def t_broken(x: int) -> int:
    raise KeyError(x)


@trace
async def t_calls_task(x: int) -> int:
    return await adouble(x)


@trace
async def t_calls_aio(x: int) -> int:
    return await double.aio(x)


@trace
async def t_forward(x: int) -> int:
    return double.forward(x)


@env.task
async def trace_value(x: int) -> int:
    return await t_asquare(x)


@env.task
def trace_sync_gen(n: int) -> list[int]:
    return list(t_gen(n))


@env.task
async def trace_async_gen(n: int) -> list[int]:
    return [i async for i in t_agen(n)]


@env.task
async def trace_error(x: int) -> str:
    try:
        await asyncio.to_thread(t_broken, x)
    except KeyError:
        return "KeyError"
    return "none"


@env.task
async def trace_task_call(x: int) -> int:
    return await t_calls_task(x)


@env.task
async def trace_aio_call(x: int) -> int:
    return await t_calls_aio(x)


@env.task
async def trace_forward(x: int) -> int:
    return await t_forward(x)


@env.task
async def sync_trace_in_async(x: int) -> int:
    return t_square(x)


@trace
async def t_outer(x: int) -> int:
    return await t_asquare(x) + 1  # a trace inside a trace


@env.task
async def trace_nested(x: int) -> int:
    return await t_outer(x)


@trace
def t_outer_gen(n: int):
    for i in t_gen(n):  # a traced generator inside a traced generator
        yield i * 10


@env.task
def trace_nested_gen(n: int) -> list[int]:
    return list(t_outer_gen(n))


args_env = TaskEnvironment(name="args", plugin_config=ArgsConfig())


@args_env.task
def pre_seen(x: int, y: str = "d") -> str:
    return ctx_data()["seen"]


# --- plain functions the cases turn into tasks (module level: importable by path) ---------


def ident(x: int) -> int:
    return x


async def aident(x: int) -> int:
    return x


def untyped(a):
    return a


class Pair(typing.NamedTuple):
    total: int
    label: str


def two_outputs(a: int, b: str = "x") -> tuple[int, str]:
    return a, b


def named_outputs(a: int) -> Pair:
    return Pair(a, "x")


two_task = env.task(two_outputs)
named_task = env.task(named_outputs)


# --- cases -------------------------------------------------------------------------------

CASES: dict[str, typing.Callable[[], typing.Any]] = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# section 1: TaskEnvironment


@case
def env_name_invalid():
    TaskEnvironment(name="Bad Name")


@case
def env_name_kebab_digits():
    return TaskEnvironment(name="daily-report2").name


@case
def task_names():
    e = TaskEnvironment(name="names")

    f = e.task(ident)
    g = e.task(retries=2)(aident)
    return [f.name, f.short_name, g.name, g.short_name, retries(g), sorted(e.tasks)]


@case
def decorator_rejects_resources():
    TaskEnvironment(name="r").task(resources=Resources(cpu=1))


@case
def decorator_rejects_env_vars():
    TaskEnvironment(name="r").task(env_vars={"A": "1"})


@case
def decorator_rejects_secrets():
    TaskEnvironment(name="r").task(secrets="s")


@case
def settings_flow():
    e = TaskEnvironment(
        name="flow", cache="auto", interruptible=True, queue="q", env_vars={"A": "1"}
    )

    f = e.task(ident)

    return [cache_behavior(f), f.interruptible, f.queue, f.env_vars]


@case
def decorator_value_wins_even_false():
    e = TaskEnvironment(name="wins", interruptible=True, cache="auto")

    f = e.task(interruptible=False, cache="disable")(ident)

    return [f.interruptible, cache_behavior(f)]


@case
def fix_env_vars_copied():
    d = {"A": "1"}
    e = TaskEnvironment(name="copied", env_vars=d)

    f = e.task(ident)

    d["B"] = "2"
    e.env_vars["C"] = "3"
    return sorted(f.env_vars)


@case
def fix_cache_checked_at_environment():
    TaskEnvironment(name="cached", cache="always")
    return "accepted"


@case
def fix_add_dependency_ignores_duplicates():
    a, b = TaskEnvironment(name="a"), TaskEnvironment(name="b")
    a.add_dependency(b)
    a.add_dependency(b)
    return [d.name for d in a.depends_on]


@case
def fix_dependency_cycle():
    a = TaskEnvironment(name="a")
    b = TaskEnvironment(name="b", depends_on=[a])
    a.add_dependency(b)
    return "accepted"


@case
def add_dependency_self():
    a = TaskEnvironment(name="a")
    a.add_dependency(a)


@case
def fix_clone_with_every_field():
    e = TaskEnvironment(name="orig", env_vars={"A": "1"})
    c = e.clone_with("copy", queue="q", interruptible=True, plugin_config=None)
    return [c.name, c.queue, c.interruptible, c.env_vars]


@case
def clone_with_basic():
    e = TaskEnvironment(name="orig", env_vars={"A": "1"}, cache="auto")
    c = e.clone_with("copy2", env_vars={"B": "2"})
    return [c.name, c.env_vars, c.cache if isinstance(c.cache, str) else c.cache.behavior]


@case
def reusable_sync_concurrency():
    e = TaskEnvironment(name="reuse", reusable=ReusePolicy(replicas=1, concurrency=2))

    e.task(ident)


@case
def reusable_async_concurrency():
    e = TaskEnvironment(name="reuse", reusable=ReusePolicy(replicas=1, concurrency=2))

    f = e.task(aident)

    return f.name


@case
def reusable_pod_template():
    e = TaskEnvironment(name="reuse", reusable=ReusePolicy(replicas=1))
    e.task(pod_template="p")


@case
def reusable_service_account():
    e = TaskEnvironment(name="reuse", reusable=ReusePolicy(replicas=1))
    e.task(service_account="other")


def _reusable_task():
    e = TaskEnvironment(name="reuse", reusable=ReusePolicy(replicas=1))

    f = e.task(aident)

    return f


@case
def reusable_override_resources():
    _reusable_task().override(resources=Resources(cpu=1))


@case
def reusable_override_env_vars():
    _reusable_task().override(env_vars={"A": "1"})


@case
def reusable_override_secrets():
    _reusable_task().override(secrets="s")


@case
def reusable_override_off():
    t = _reusable_task().override(resources=Resources(cpu=1), reusable="off")
    return [t.reusable is None, t.resources is not None]


@case
def override_returns_new():
    o = double.override(retries=3)
    return [o is not double, retries(double), retries(o), o.parent_env is double.parent_env]


@case
def override_fixed_fields():
    out = []
    for name in ("name", "image", "docs", "interface"):
        out.append(outcome(lambda n=name: double.override(**{n: "x"})))
    return out


@case
def fix_override_falsy_values():
    e = TaskEnvironment(name="falsy", env_vars={"A": "1"}, queue="q")

    f = e.task(retries=3, timeout=10)(ident)

    o = f.override(retries=0, timeout=0, env_vars={}, queue="")
    return [retries(o), seconds(o.timeout), o.env_vars, o.queue]


# section 2: function tasks


@case
def interface_from_annotations():
    e = TaskEnvironment(name="iface")
    tf, tg = e.task(two_outputs), e.task(named_outputs)
    return [list(tf.interface.inputs), list(tf.interface.outputs), list(tg.interface.outputs)]


@case
def fix_unannotated_parameter():
    TaskEnvironment(name="unannotated").task(untyped)
    return "accepted"


@case
def fix_lambda_task():
    TaskEnvironment(name="lam").task(lambda x: x)
    return "accepted"


@case
def forward_outside_task():
    return [double(3), double.forward(4), asyncio.run(adouble(5))]


@case
def aio_sync_task_outside():
    return asyncio.run(double.aio(3))


@case
def fix_aio_async_task_value():
    async def main():
        r = await adouble.aio(3)
        return type(r).__name__

    return asyncio.run(main())


@case
def run_sync_task():
    return run(double, x=21)


@case
def run_async_task():
    return run(adouble, x=21)


@case
def sync_body_may_use_asyncio_run():
    return run(uses_asyncio_run, x=1)


@case
def nested_gather_async_children():
    return run(gather_parent, n=4)


@case
def nested_gather_sync_children_aio():
    return run(mixed_parent, n=3)


@case
def nested_sync_in_sync():
    return run(sync_parent, x=5)


@case
def nested_error_code_names_class():
    return run(catch_code, x=1)


@case
def nested_error_class_catchable():
    return run(catch_class, x=1)


@case
def run_several_outputs():
    return [run(two_task, a=3), run(named_task, a=4)]


@case
def pre_gets_keyword_arguments():
    return [run(pre_seen, x=1), run(pre_seen, x=1, y="e")]


@case
def blocking_sync_call_from_async():
    return run(blocking_sync_call, x=1)


@case
def pre_data_reaches_body():
    # the body adds pre's amount (100); post's return value is where the SDKs differ
    return type(add_body).__name__


@case
def fix_post_return_replaces_result():
    return run(add_body, x=1)


# section 3: plugins


@case
def plugin_environment_builds_plugin_class():
    e = TaskEnvironment(name="echo", plugin_config=EchoConfig("hi"))

    f = e.task(ident)

    return [type(f).__name__, f.task_type, f.custom_config(None), f.plugin_config.message]


@case
def fix_unregistered_config_at_environment():
    class Unregistered:
        pass

    TaskEnvironment(name="unreg", plugin_config=Unregistered())
    return "accepted"


@case
def override_plugin_config_rebuilds():
    e = TaskEnvironment(name="plain")

    f = e.task(retries=2)(ident)

    o = f.override(plugin_config=EchoConfig("over"))
    return [type(f).__name__, type(o).__name__, o.task_type, o.custom_config(None), retries(o)]


@case
def fix_duplicate_registration():
    @dataclass(kw_only=True)
    class OtherEcho(AsyncFunctionTaskTemplate):
        task_type: str = "other"

    TaskPluginRegistry.register(EchoConfig, OtherEcho)
    found = TaskPluginRegistry.find(EchoConfig).__name__
    TaskPluginRegistry.register(
        EchoConfig, EchoTask, **({"override": True} if SDK == "shim" else {})
    )
    return found


@case
def fix_lookup_walks_mro():
    found = TaskPluginRegistry.find(SubConfig)
    return found.__name__ if found else None


@case
def list_plugins():
    return sorted(t.__name__ for t in TaskPluginRegistry.list_plugins())


@case
def fix_plugin_class_not_a_task():
    TaskPluginRegistry.register(SubConfig, NotATask)
    return "accepted"


# section 4: trace


@case
def trace_outside_task():
    return [t_square(3), asyncio.run(t_asquare(4)), list(t_gen(3))]


@case
def trace_inside_task():
    return run(trace_value, x=3)


@case
def trace_sync_generator():
    return run(trace_sync_gen, n=4)


@case
def trace_async_generator():
    return run(trace_async_gen, n=4)


@case
def trace_error_propagates():
    return run(trace_error, x=1)


@case
def trace_calling_task():
    return run(trace_task_call, x=1)


@case
def trace_calling_task_aio():
    return run(trace_aio_call, x=1)


@case
def trace_forward_allowed():
    return run(trace_forward, x=4)


@case
def trace_nested_traces_allowed():
    return [run(trace_nested, x=3), run(trace_nested_gen, n=3)]


@case
def fix_sync_trace_from_async_task():
    return run(sync_trace_in_async, x=3)


if __name__ == "__main__":
    results = {name: outcome(fn) for name, fn in CASES.items()}
    print(json.dumps(results, default=repr))
